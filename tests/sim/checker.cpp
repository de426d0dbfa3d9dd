// The invariant checks (see checker.hpp).
#include "state/machine/merchant_event.hpp"
#include "tests/sim/checker.hpp"

#include <algorithm>
#include <variant>

namespace cashier::sim {
namespace {

std::string event_type_of(payment_status s) { return std::string(merchant_event_name(s)); }

std::string state_text(const payment& p) {
  return std::string(to_string(p.status)) + "/" +
         (p.pending == pending_action::none ? "-" : std::string(to_string(p.pending)));
}

bool settled(const payment& p) { return is_final(p.status) && p.pending == pending_action::none; }

}  // namespace

checker::checker(const event_queue& queue, const fake_aplus& fake, violation_log& log)
    : queue_(queue), fake_(fake), log_(log) {}

void checker::fail(const payment& p, const std::string& what) {
  log_.add(queue_.now(), p.payment_request_id + " (id " + std::to_string(p.id) + "): " + what);
}

bool checker::states_wrong_amount(const payment& p, const event& ev) {
  if (const auto* n = std::get_if<notify_verified>(&ev)) return n->amount != p.amount;
  if (const auto* q = std::get_if<inquiry_answer>(&ev)) {
    return q->result.status == 'S' && q->amount && *q->amount != p.amount;
  }
  return false;
}

void checker::on_commit(const engine::input& in, const engine::output& out, bool unverified) {
  if (out.result == engine::outcome::unchanged && !unverified) {
    const auto it = mirror_.find(out.after.id);
    if (it != mirror_.end() && states_wrong_amount(it->second.p, in.ev)) it->second.wrong_amount_seen = true;
  }
  switch (out.result) {
    case engine::outcome::applied: break;
    case engine::outcome::unchanged:
    case engine::outcome::duplicate:
    case engine::outcome::not_found: return;
    case engine::outcome::conflict:  // one writer: a conflict means the engine read a stale row
    case engine::outcome::rejected:
      log_.add(queue_.now(), "payment " + std::to_string(in.payment_id) + ": commit " +
                                 (out.result == engine::outcome::conflict ? "conflict" : "rejected: ") +
                                 out.detail);
      return;
  }
  const payment& after = out.after;
  if (in.create) {
    if (!out.made.effects.empty() && !std::holds_alternative<send_pay>(out.made.effects.front())) {
      fail(after, "create did not start with send pay");
    }
    mirror_[after.id] = tracked{after, after.poll_deadline_at};
    return;
  }
  const auto it = mirror_.find(after.id);
  if (it == mirror_.end()) {
    fail(after, "a commit for a payment never created");
    return;
  }
  tracked& t = it->second;
  if (!unverified && states_wrong_amount(t.p, in.ev)) t.wrong_amount_seen = true;
  check_change(t.p, after, out.made, unverified);
  if (t.p.pending != pending_action::cancel && after.pending == pending_action::cancel) {
    t.open_ref = std::max(t.open_ref, queue_.now());
  }
  if (!settled(t.p) && settled(after)) {
    totals_.latest_final = std::max(totals_.latest_final, queue_.now() - t.open_ref);
  }
  t.p = after;
}

void checker::check_change(const payment& before, const payment& after, const decision& d,
                           bool unverified) {
  if (after.version != before.version + 1) {
    fail(after, "version " + std::to_string(after.version) + " after " + std::to_string(before.version));
  }
  if (unverified && (state_of(after) != state_of(before) || after.result != before.result ||
                     after.event_seq != before.event_seq)) {
    fail(after, "an unverified answer changed the payment: " + state_text(before) + " -> " +
                    state_text(after) + " (" + d.cause + ")");
  }
  if (is_final(before.status) && after.status != before.status &&
      after.status != payment_status::cancelled) {
    fail(after, "a final status changed: " + state_text(before) + " -> " + state_text(after));
  }
  if (before.pending == pending_action::cancel && after.status != before.status &&
      after.status != payment_status::cancelled) {
    fail(after, "a verdict was applied while cancel was pending (" + d.cause + ")");
  }
  check_events(before, after, d);
  if (after.status != before.status) check_truth(after, false);
}

void checker::check_events(const payment& before, const payment& after, const decision& d) {
  int emits = 0;
  for (const auto& e : d.effects) {
    const auto* m = std::get_if<emit_merchant_event>(&e);
    if (m == nullptr) continue;
    ++emits;
    if (m->seq != before.event_seq + emits) fail(after, "merchant event seq " + std::to_string(m->seq));
    if ("payment." + std::string(to_string(m->type)) != event_type_of(after.status)) {
      fail(after, "merchant event " + std::string(to_string(m->type)) + " for " + state_text(after));
    }
  }
  const bool entered_final = after.status != before.status && is_final(after.status);
  if (emits != (entered_final ? 1 : 0)) {
    fail(after, std::to_string(emits) + " merchant events for " + state_text(before) + " -> " +
                    state_text(after) + " (" + d.cause + ")");
  }
  if (after.event_seq != before.event_seq + emits) fail(after, "event_seq out of step with events");
}

void checker::check_truth(const payment& p, bool at_end, bool wrong_amount_seen) {
  const order_truth* t = fake_.truth(p.payment_request_id);
  const bool exists = t != nullptr && t->exists;
  const bool paid_kept = exists && t->state == order_state::paid && !t->cancelled;
  switch (p.status) {
    case payment_status::success:
      if (!paid_kept) fail(p, "SUCCESS but Alipay+ holds no unrefunded payment");
      break;
    case payment_status::fail:
      if (!exists || t->cancelled ||
          (t->state != order_state::failed && t->state != order_state::closed)) {
        fail(p, "FAIL but Alipay+ never failed or closed the order");
      }
      break;
    case payment_status::cancelled:
      if (t == nullptr || (!t->cancelled && !t->cancel_gone)) {
        fail(p, "CANCELLED but Alipay+ accepted no cancel and still had the order");
      }
      break;
    case payment_status::init:
    case payment_status::in_process: break;
  }
  if (!at_end || t == nullptr) return;
  if (paid_kept && p.status != payment_status::success) {
    fail(p, "the payer paid (not refunded) but the payment ended " + state_text(p));
  }
  if (wrong_amount_seen && p.status != payment_status::cancelled && !t->window_exceeded) {
    fail(p, "a verified wrong amount was committed but the payment ended " + state_text(p));
  }
}

void checker::after_step(bool up, time_point up_since, duration downtime) {
  const time_point now = queue_.now();
  if (now == last_scan_) return;
  last_scan_ = now;
  for (auto& [id, t] : mirror_) {
    const payment& p = t.p;
    if (settled(p)) continue;
    std::optional<time_point> cut;
    if (p.status == payment_status::init && p.pending == pending_action::pay) cut = p.expiry_at;
    if (p.status == payment_status::in_process && p.pending == pending_action::inquiry &&
        !p.cancel_abandoned) {
      cut = p.poll_deadline_at;
    }
    if (up && cut && !t.cutoff_reported && now > std::max(*cut, up_since) + cutoff_slack) {
      t.cutoff_reported = true;
      fail(p, "still " + state_text(p) + " past its cut-off");
    }
    if (!t.open_reported && now > t.open_ref + open_allowance + downtime) {
      t.open_reported = true;
      fail(p, "open (" + state_text(p) + ") long past its polling deadline");
    }
  }
}

void checker::on_webhook(const store::outbox_record& r, bool accepted) {
  auto& v = sink_[r.event_id];
  if (v.refused + v.delivered == 0) {
    v.payload = r.payload;
  } else if (v.payload != r.payload) {
    log_.add(queue_.now(), "merchant event " + r.event_id + " redelivered with other bytes");
  }
  // The id of event (payment, seq) is made once and must never change between deliveries.
  if (const auto [it, fresh] = ids_.try_emplace({r.payment_id, r.seq}, r.event_id);
      !fresh && it->second != r.event_id) {
    log_.add(queue_.now(), "merchant event " + r.event_id + " has an unstable id");
  }
  ++(accepted ? v.delivered : v.refused);
}

void checker::on_dead(const store::outbox_record& r) {
  ++totals_.dead_events;
  const auto it = sink_.find(r.event_id);
  if (it == sink_.end() || it->second.delivered > 0 || it->second.refused < r.attempts) {
    log_.add(queue_.now(),
             "merchant event " + r.event_id + " dead though the merchant did not refuse every attempt");
  }
}

void checker::check_outbox(store::payment_store& s, const payment& p) {
  std::vector<std::string> expected;
  for (const auto& e : s.events_of(p.id)) {
    if (e.from_status && *e.from_status != e.to_status && is_final(e.to_status)) {
      expected.emplace_back(event_type_of(e.to_status));
    }
  }
  const auto outbox = s.outbox_of(p.id);
  totals_.merchant_events += outbox.size();
  if (outbox.size() != expected.size() || p.event_seq != static_cast<std::int32_t>(outbox.size())) {
    fail(p, std::to_string(outbox.size()) + " merchant events for " +
                std::to_string(expected.size()) + " changes into a final state");
  }
  for (std::size_t i = 0; i < outbox.size(); ++i) {
    const auto& r = outbox[i];
    const auto seq = static_cast<std::int32_t>(i + 1);
    const auto known = ids_.find({p.id, seq});
    if (r.seq != seq || (known != ids_.end() && known->second != r.event_id) ||
        (i < expected.size() && r.type != expected[i])) {
      fail(p, "merchant event " + r.event_id + " (" + r.type + ") out of sequence");
    }
    const auto it = sink_.find(r.event_id);
    const int delivered = it == sink_.end() ? 0 : it->second.delivered;
    switch (r.state) {
      case store::outbox_state::delivered:
        if (delivered == 0) fail(p, "merchant event " + r.event_id + " marked delivered, never received");
        break;
      case store::outbox_state::dead: fail(p, "merchant event " + r.event_id + " never delivered (dead)"); break;
      case store::outbox_state::pending: fail(p, "merchant event " + r.event_id + " still pending"); break;
    }
  }
}

void checker::at_end(store::payment_store& s, const std::vector<std::string>& payment_ids) {
  for (const auto& id : payment_ids) {
    const auto p = s.find(id);
    if (!p) {
      log_.add(queue_.now(), id + ": never created");
      continue;
    }
    const auto it = mirror_.find(p->id);
    if (it == mirror_.end() || !(it->second.p == *p)) {
      fail(*p, "the stored row differs from the committed decisions");
    }
    if (!settled(*p)) fail(*p, "still open at the end: " + state_text(*p));
    totals_.success += p->status == payment_status::success;
    totals_.fail += p->status == payment_status::fail;
    totals_.cancelled += p->status == payment_status::cancelled;
    check_truth(*p, true, it != mirror_.end() && it->second.wrong_amount_seen);
    check_outbox(s, *p);
  }
  for (const auto& a : s.anomalies({0, {}, 1'000'000})) {
    ++totals_.anomalies;
    if (a.kind == "impossible_state") log_.add(a.at, "anomaly impossible_state: " + a.detail);
  }
}

}  // namespace cashier::sim
