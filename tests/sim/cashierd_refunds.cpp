// The simulated process's refunds (see cashierd.hpp): the merchant API's create through the
// refund engine, refund commits in the flush, refund calls handed to the world's network, and
// the refund a late cancel stores in its payment's commit, armed as the daemon's driver arms it.
// Kept apart from cashierd.cpp so that the payments' executor reads as before.
#include <algorithm>

#include "tests/sim/cashierd.hpp"

namespace cashier::sim {

std::string refund_request_text(const payment& p, const refund& r) {
  return "refund " + p.payment_request_id + " " + r.alipay_refund_request_id + " " +
         std::to_string(r.amount.minor_units) + " " + r.amount.currency.str();
}

std::optional<engine::refund_order_result> sim_cashierd::create_refund(const engine::refund_order& order) {
  if (!up() || store_fails()) return std::nullopt;  // connection refused, or 503: the merchant retries
  engine::refund_order_result res;
  try {
    res = refunds_->create(order, queue_.now());
  } catch (const store::store_error& e) {
    log_.add(queue_.now(), std::string("store_error from the refund engine: ") + e.what());
    return std::nullopt;
  }
  if (res.status == engine::refund_order_status::conflict) return std::nullopt;
  if (res.status != engine::refund_order_status::created) return res;
  ++commits_;
  if (refund_created_) refund_created_(res.r);
  if (rng_.chance(rates_.refund_crash_after_commit)) {
    // Killed between the refund's commit and its first send (and before the merchant's answer).
    faults_.add(fault::refund_crash_after_commit);
    crashed_after_commit_ = true;
    crash();
    return std::nullopt;
  }
  sched_->refund_created(res.r, res.effects, now());
  run();
  return res;
}

bool sim_cashierd::commit_refund(engine::refund_input& in) {
  engine::refund_output out;
  bool failed = store_fails();
  if (!failed) {
    try {
      out = refunds_->apply(in.refund_id, in.ev, in.calls, queue_.now());
    } catch (const store::store_error& e) {
      log_.add(queue_.now(), std::string("store_error from the refund engine: ") + e.what());
      failed = true;
    }
  }
  if (failed) {
    sched_->refund_commit_failed(in);
    run();
    return up();
  }
  ++commits_;
  if (refund_hook_ && out.result != engine::outcome::not_found) {
    if (const auto p = store_->load(out.after.payment_row)) refund_hook_(in, out, *p);
  }
  if (rng_.chance(rates_.refund_crash_after_commit)) {
    faults_.add(fault::refund_crash_after_commit);
    crashed_after_commit_ = true;
    crash();
    return false;
  }
  sched_->refund_committed(in, out, now());
  run();
  if (!up()) return false;
  if (std::any_of(out.made.effects.begin(), out.made.effects.end(),
                  [](const refund_effect& e) { return std::holds_alternative<emit_refund_event>(e); }))
    wake_webhooks(false);
  return up();
}

void sim_cashierd::start_refund_call(const engine::start_refund_call& c) {
  check_budget();
  const auto r = store_->load_refund(c.refund_id);
  const auto p = r ? store_->load(r->payment_row) : std::nullopt;
  if (!r || !p) {
    log_.add(queue_.now(), "a refund call for refund " + std::to_string(c.refund_id) + " that is not stored");
    return;
  }
  std::string request = r->request;
  if (bug_ == injected_bug::refund_new_id && c.kind == engine::refund_call::refund && r->attempt > 1) {
    // The bug: the resend is built again, under a new refundRequestId.
    refund again = *r;
    again.alipay_refund_request_id += "-" + std::to_string(r->attempt);
    request = refund_request_text(*p, again);
  }
  env_.send_refund_call(c.kind, *r, request, *p, incarnation_);
}

void sim_cashierd::on_refund_answer(int incarnation, engine::refund_input answer) {
  if (incarnation != incarnation_ || !up()) return;  // addressed to a crashed process
  sched_->refund_call_ended(std::move(answer), now());
  run();
}

}  // namespace cashier::sim
