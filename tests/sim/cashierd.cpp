// The simulated cashierd process (see cashierd.hpp). The loop mirrors
// orchestrator/daemon/driver.cpp step by step; where it differs, a comment says why.
#include "tests/sim/cashierd.hpp"

#include <algorithm>

#include "state/machine/schedule.hpp"
#include "state/store/sqlite_store.hpp"

namespace cashier::sim {
namespace {
/// Inputs committed together at most (driver.cpp: max_batch).
constexpr std::size_t max_batch = 512;
/// Due deadlines handled per timer tick (driver.cpp: max_due_per_tick).
constexpr std::size_t max_due_per_tick = 2048;
/// After a failed commit, when a popped deadline is tried again (driver.cpp).
constexpr auto retry_after_store_failure = std::chrono::seconds(1);
/// The longest the reactor is busy before it flushes the queued inputs.
constexpr auto reactor_turn = std::chrono::milliseconds(10);
}  // namespace

std::string_view api_name(call_kind k) {
  switch (k) {
    case call_kind::pay: return "pay";
    case call_kind::inquiry: return "inquiryPayment";
    case call_kind::cancel: return "cancelPayment";
  }
  return "?";
}

sim_cashierd::sim_cashierd(event_queue& queue, rng& random, cashierd_env& env, std::string db_path,
                           machine_params params, const fault_rates& rates, fault_counts& faults,
                           violation_log& log, injected_bug bug)
    : queue_(queue), rng_(random), env_(env), db_path_(std::move(db_path)), params_(std::move(params)),
      rates_(rates), faults_(faults), log_(log), bug_(bug) {}

void sim_cashierd::start() {
  // NORMAL: a commit survives a process crash, which is what the simulation crashes.
  store_ = store::open_sqlite_store(db_path_, {store::sync_mode::normal, false, 5000});
  engine::engine_config config;
  config.params = params_;
  config.webhook_url = [](const payment&) { return std::string("https://merchant.sim/hooks"); };
  engine_ = std::make_unique<engine::engine>(*store_, std::move(config));
  const auto open = engine_->recover();
  heap_.reserve(open.size());
  for (const auto& d : open) heap_.arm(d.payment_id, d.next_action_at);
  arm_timer();
  // The deliverer's timers are memory too: re-arm one per pending merchant event.
  for (const auto& r : store_->due_outbox(never, 1'000'000)) arm_webhook_wake(r.next_attempt_at);
}

void sim_cashierd::crash() {
  ++incarnation_;
  engine_.reset();
  store_.reset();
  heap_ = deadline_heap{};
  timer_at_ = never;
  queue_in_.clear();
  flush_scheduled_ = false;
  in_flight_.clear();
  delivering_.clear();
  env_.crashed();
}

bool sim_cashierd::submit(engine::input in, reply r, bool unverified) {
  if (!up()) return false;
  queue_in_.push_back({std::move(in), std::move(r), unverified});
  if (!flush_scheduled_) {
    // driver.cpp posts the flush; whatever completes while the reactor is busy (the previous
    // commit, other handlers) joins the same batch. A turn here lasts 0-10 ms.
    flush_scheduled_ = true;
    queue_.after(rng_.between(duration::zero(), reactor_turn), [this, inc = incarnation_] { flush(inc); });
  }
  return true;
}

std::optional<payment> sim_cashierd::find(std::string_view payment_request_id) {
  if (!up()) return std::nullopt;
  return store_->find(payment_request_id);
}

void sim_cashierd::flush(int inc) {
  if (inc != incarnation_) return;
  flush_scheduled_ = false;
  while (!queue_in_.empty()) {
    const auto n = static_cast<std::ptrdiff_t>(std::min(queue_in_.size(), max_batch));
    std::vector<queued> batch(std::make_move_iterator(queue_in_.begin()),
                              std::make_move_iterator(queue_in_.begin() + n));
    queue_in_.erase(queue_in_.begin(), queue_in_.begin() + n);
    if (!commit(batch)) return;  // crashed between the commit and its effects
  }
  arm_timer();
}

bool sim_cashierd::injected_store_failure() {
  if (!rng_.chance(rates_.store_failure)) return false;
  faults_.add(fault::store_failure);
  return true;
}

void sim_cashierd::count_sharing(const std::vector<queued>& batch) {
  if (batch.size() < 2) return;
  ++multi_;
  std::set<std::int64_t> ids;
  for (const auto& q : batch) {
    if (q.in.payment_id != 0 && !ids.insert(q.in.payment_id).second) {
      ++same_payment_;
      return;
    }
  }
}

bool sim_cashierd::commit(std::vector<queued>& batch) {
  std::vector<engine::input> inputs;
  inputs.reserve(batch.size());
  for (const auto& q : batch) inputs.push_back(q.in);
  std::vector<engine::output> outs;
  bool failed = injected_store_failure();  // as if the store threw before writing anything
  if (!failed) {
    try {
      outs = engine_->apply(inputs, queue_.now());
    } catch (const store::store_error& e) {
      log_.add(queue_.now(), std::string("store_error from the engine: ") + e.what());
      failed = true;
    }
  }
  if (failed) {
    // Timers and answers of existing payments come back through the deadline heap; the
    // callers of the others (merchant, Alipay+ notify) see an error and retry.
    for (const auto& q : batch) {
      if (q.in.payment_id != 0) heap_.arm(q.in.payment_id, queue_.now() + retry_after_store_failure);
    }
    return true;
  }
  ++commits_;
  count_sharing(batch);
  if (hook_) {
    for (std::size_t i = 0; i < batch.size(); ++i) hook_(batch[i].in, outs[i], batch[i].unverified);
  }
  if (rng_.chance(rates_.crash_after_commit)) {
    crashed_after_commit_ = true;
    crash();
    return false;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) after_commit(batch[i], outs[i]);
  return true;
}

void sim_cashierd::after_commit(queued& q, engine::output& out) {
  const auto id = out.after.id;
  if (id != 0 && (out.result == engine::outcome::applied || out.result == engine::outcome::unchanged)) {
    heap_.arm(id, out.after.next_action_at);
  }
  if (out.result == engine::outcome::conflict && q.in.payment_id != 0) heap_.arm(q.in.payment_id, queue_.now());
  if (out.result == engine::outcome::applied) {
    bool emitted = false;
    for (const auto& e : out.made.effects) {
      if (std::holds_alternative<send_pay>(e)) start_call(call_kind::pay, out.after);
      else if (std::holds_alternative<send_inquiry>(e)) start_call(call_kind::inquiry, out.after);
      else if (std::holds_alternative<send_cancel>(e)) start_call(call_kind::cancel, out.after);
      else if (std::holds_alternative<emit_merchant_event>(e)) emitted = true;
    }
    if (emitted) wake_webhooks();
  }
  if (q.r) q.r(out);
}

void sim_cashierd::start_call(call_kind kind, const payment& p) {
  const auto it = in_flight_.find(p.id);
  // A cancel racing its own pay could be answered ORDER_NOT_EXIST before the pay creates the
  // order; skip it: the answer guard armed with the cancel resends it after the pay's answer.
  if (kind == call_kind::cancel && it != in_flight_.end() && it->second.pays > 0 &&
      bug_ != injected_bug::cancel_over_pay) {
    ++cancels_deferred_;
    return;
  }
  auto& f = in_flight_[p.id];
  ++f.total;
  if (kind == call_kind::pay) ++f.pays;
  env_.send_call(kind, p, incarnation_);
}

void sim_cashierd::call_ended(std::int64_t id, call_kind kind) {
  const auto it = in_flight_.find(id);
  if (it == in_flight_.end()) return;
  if (kind == call_kind::pay) --it->second.pays;
  if (--it->second.total <= 0) in_flight_.erase(it);
}

void sim_cashierd::on_call_answer(int incarnation, call_kind kind, std::int64_t id, event ev,
                                  store::call_record call, bool unverified) {
  if (incarnation != incarnation_ || !up()) return;  // addressed to a crashed process
  call_ended(id, kind);
  engine::input in;
  in.payment_id = id;
  in.ev = std::move(ev);
  in.calls.push_back(std::move(call));
  submit(std::move(in), nullptr, unverified);
}

void sim_cashierd::arm_timer() {
  const auto earliest = heap_.earliest();
  if (!earliest) {
    timer_at_ = never;
    return;
  }
  if (*earliest == timer_at_) return;
  timer_at_ = *earliest;
  queue_.at(*earliest, [this, inc = incarnation_, at = *earliest] {
    if (inc != incarnation_ || timer_at_ != at) return;  // re-armed or crashed meanwhile
    timer_at_ = never;
    on_timer();
  });
}

void sim_cashierd::on_timer() {
  const auto now = queue_.now();
  for (std::size_t n = 0; n < max_due_per_tick; ++n) {
    const auto id = heap_.pop_due(now);
    if (!id) break;
    // A call in flight re-arms the payment when its answer is committed.
    if (in_flight_.contains(*id)) continue;
    engine::input in;
    in.payment_id = *id;
    in.ev = deadline_reached{};
    submit(std::move(in));
  }
  // driver.cpp re-arms here only when nothing was due; when every due payment had a call in
  // flight nothing is queued, no flush follows, and later deadlines wait for the next commit.
  arm_timer();
}

void sim_cashierd::wake_webhooks() {
  if (!up()) return;
  for (const auto& r : store_->due_outbox(queue_.now(), 256)) {
    if (!delivering_.insert(r.event_id).second) continue;  // already on its way
    env_.deliver_webhook(r, incarnation_);
  }
}

void sim_cashierd::arm_webhook_wake(time_point at) {
  queue_.at(at, [this, inc = incarnation_] {
    if (inc == incarnation_) wake_webhooks();
  });
}

void sim_cashierd::on_webhook_result(int incarnation, const store::outbox_record& r, int http_status) {
  if (incarnation != incarnation_ || !up()) return;
  delivering_.erase(r.event_id);
  const auto now = queue_.now();
  const bool ok = http_status >= 200 && http_status < 300;
  store::outbox_progress p{r.event_id, r.attempts + 1, now, store::outbox_state::delivered, http_status,
                           ok ? "" : "HTTP " + std::to_string(http_status)};
  if (!ok && bug_ != injected_bug::drop_event) {
    const auto delay = webhook_delay(p.attempts);
    p.state = delay ? store::outbox_state::pending : store::outbox_state::dead;
    if (delay) p.next_attempt_at = now + *delay;
  }
  store::transition t;
  t.deliveries.push_back(p);
  t.webhook_attempts.push_back({0, r.event_id, now, http_status, p.last_error, 0});
  if (injected_store_failure()) {
    arm_webhook_wake(now + retry_after_store_failure);
    return;
  }
  try {
    const auto outcome = store_->commit_one(t);
    if (outcome.status != store::commit_status::committed) {
      log_.add(now, "webhook progress of " + r.event_id + " not committed: " + outcome.detail);
    }
  } catch (const store::store_error& e) {
    log_.add(now, std::string("store_error on webhook progress: ") + e.what());
  }
  if (p.state == store::outbox_state::pending) arm_webhook_wake(p.next_attempt_at);
}

std::size_t sim_cashierd::redeliver_dead(const std::function<void(const store::outbox_record&)>& before) {
  if (!up()) return 0;
  const auto dead = store_->dead_outbox(1'000'000);
  store::transition t;
  for (const auto& r : dead) {
    before(r);
    t.deliveries.push_back(
        {r.event_id, 0, queue_.now(), store::outbox_state::pending, r.last_status, r.last_error});
  }
  if (dead.empty()) return 0;
  store_->commit_one(t);
  arm_webhook_wake(queue_.now());
  return dead.size();
}

}  // namespace cashier::sim
