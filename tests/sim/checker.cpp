// The invariant checks (see checker.hpp).
#include "state/machine/merchant_event.hpp"
#include "state/machine/phase.hpp"
#include "state/machine/schedule.hpp"
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

/// Parked after 7 days of slow path: an end the operator has to take up (anomaly unresolved).
bool parked(const payment& p) { return p.track == settle_track::parked; }

bool is_status_event(merchant_event_type t) {
  return t == merchant_event_type::succeeded || t == merchant_event_type::failed ||
         t == merchant_event_type::cancelled;
}

}  // namespace

checker::checker(const event_queue& queue, const fake_aplus& fake, violation_log& log)
    : queue_(queue), fake_(fake), log_(log) {}

void checker::fail(const payment& p, const std::string& what) {
  log_.add(queue_.now(), p.payment_request_id + " (id " + std::to_string(p.id) + "): " + what);
}

bool checker::is_open_phase(const payment& p) {
  const auto ph = phase_of(p);
  return ph && is_open(*ph);
}

void checker::on_call_sent(call_kind kind, const payment& p) {
  if (kind == call_kind::cancel && queue_.now() >= cancel_window_closes(p.created_at)) {
    fail(p, "a cancel was sent after the cancel window closed (" + state_text(p) + ")");
  }
  const auto it = mirror_.find(p.id);
  if (kind == call_kind::inquiry && it != mirror_.end()) it->second.last_look_asked = true;
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
    if (it != mirror_.end() && is_open_phase(it->second.p) && states_wrong_amount(it->second.p, in.ev))
      it->second.wrong_amount_seen = true;
  }
  switch (out.result) {
    case engine::outcome::applied: break;
    case engine::outcome::unchanged:
    case engine::outcome::duplicate:
    case engine::outcome::not_found:
    case engine::outcome::not_owner: return;  // cluster mode: the fence kept a former owner out
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
  if (!unverified && is_open_phase(t.p) && states_wrong_amount(t.p, in.ev)) t.wrong_amount_seen = true;
  check_change(t.p, after, out.made, unverified);
  if (after.track == settle_track::last_look && t.p.track != settle_track::last_look) {
    t.last_look_asked = false;  // the inquiry of this last look is sent after the commit
  }
  if (t.p.track == settle_track::last_look && after.pending == pending_action::cancel &&
      out.made.cause.starts_with("inquiry:") && !t.last_look_asked) {
    fail(after, "a deadline cancel started without a last inquiry sent after the cut-off (" +
                    out.made.cause + ")");
  }
  if (after.track == settle_track::slow_path) t.slow_path_seen = true;
  for (const auto& e : out.made.effects) {
    const auto* m = std::get_if<emit_merchant_event>(&e);
    if (m && m->type == merchant_event_type::cancel_failed) t.cancel_failed_seen = true;
    // Issue 16: a cancel the window stopped over a paid payment becomes a full refund instead of
    // cancel_failed; the cancel could not reverse it either (the refund path settles the money).
    if (std::holds_alternative<start_refund>(e)) t.cancel_failed_seen = true;
  }
  if (t.p.pending != pending_action::cancel && after.pending == pending_action::cancel) {
    t.open_ref = std::max(t.open_ref, queue_.now());
  }
  if (!settled(t.p) && settled(after)) {
    totals_.latest_final = std::max(totals_.latest_final, queue_.now() - t.open_ref);
  }
  t.p = after;
}

void checker::on_refund_commit(const payment& after) {
  const auto it = mirror_.find(after.id);
  if (it == mirror_.end()) return fail(after, "a refund of a payment never created");
  const payment& before = it->second.p;
  if (after.version != before.version && after.version != before.version + 1)
    fail(after, "version " + std::to_string(after.version) + " after " + std::to_string(before.version) + " (refund)");
  if (after.status != before.status || after.pending != before.pending)
    fail(after, "a refund commit changed the payment: " + state_text(before) + " -> " + state_text(after));
  it->second.p = after;
}

void checker::check_change(const payment& before, const payment& after, const decision& d,
                           bool unverified) {
  if (after.version != before.version + 1) {
    fail(after, "version " + std::to_string(after.version) + " after " + std::to_string(before.version));
  }
  // An unverified answer reaches the machine as "no answer"; only the last look acts on that
  // (the cancel, or the slow path), as it does on a timeout.
  const bool last_look = before.track == settle_track::last_look;
  if (unverified && !last_look &&
      (state_of(after) != state_of(before) || after.result != before.result ||
       after.event_seq != before.event_seq)) {
    fail(after, "an unverified answer changed the payment: " + state_text(before) + " -> " +
                    state_text(after) + " (" + d.cause + ")");
  }
  if (is_final(before.status) && after.status != before.status &&
      after.status != payment_status::cancelled) {
    fail(after, "a final status changed: " + state_text(before) + " -> " + state_text(after));
  }
  // Only the confirming inquiry may settle SUCCESS over a pending cancel (paid, not reversed).
  const bool confirmed = before.track == settle_track::confirm_cancel &&
                         after.status == payment_status::success && d.cause.starts_with("inquiry:S/S");
  if (before.pending == pending_action::cancel && after.status != before.status &&
      after.status != payment_status::cancelled && !confirmed) {
    fail(after, "a verdict was applied while cancel was pending (" + d.cause + ")");
  }
  check_events(before, after, d);
  if (after.status != before.status) check_truth(after, false);
}

void checker::check_events(const payment& before, const payment& after, const decision& d) {
  int emits = 0;
  int status_emits = 0;
  for (const auto& e : d.effects) {
    const auto* m = std::get_if<emit_merchant_event>(&e);
    if (m == nullptr) continue;
    ++emits;
    if (m->seq != before.event_seq + emits) fail(after, "merchant event seq " + std::to_string(m->seq));
    if (is_status_event(m->type)) {
      ++status_emits;
      if ("payment." + std::string(to_string(m->type)) != event_type_of(after.status)) {
        fail(after, "merchant event " + std::string(to_string(m->type)) + " for " + state_text(after));
      }
    } else if (m->type == merchant_event_type::cancel_failed) {
      if (after.status == payment_status::cancelled || m->code.empty()) {
        fail(after, "payment.cancel_failed for " + state_text(after) + " (" + d.cause + ")");
      }
    } else if (after.status != payment_status::in_process || after.normal_url.empty()) {
      fail(after, "payment.pending without a checkout (" + state_text(after) + ")");
    }
  }
  const bool entered_final = after.status != before.status && is_final(after.status);
  if (status_emits != (entered_final ? 1 : 0)) {
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
      // An order Alipay+ never had fails too (the slow path's ORDER_NOT_EXIST after the deadline).
      if (exists && (t->cancelled ||
                     (t->state != order_state::failed && t->state != order_state::closed))) {
        fail(p, "FAIL but Alipay+ never failed or closed the order");
      }
      break;
    case payment_status::cancelled:
      // "Refunded" only on proof: Alipay+ keeps no payment of this order.
      if (paid_kept) fail(p, "CANCELLED but Alipay+ holds the payment paid and not refunded");
      if (exists && !t->cancelled && t->state == order_state::pending) {
        fail(p, "CANCELLED but Alipay+ accepted no cancel and the order is still open");
      }
      break;
    case payment_status::init:
    case payment_status::in_process: break;
  }
  if (!at_end || t == nullptr) return;
  if (paid_kept && p.status != payment_status::success) {
    fail(p, "the payer paid (not refunded) but the payment ended " + state_text(p));
  }
  if (wrong_amount_seen && p.status != payment_status::cancelled && !t->window_exceeded &&
      !t->closed_told_paid) {
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
        p.track == settle_track::normal) {
      cut = p.poll_deadline_at;
    }
    if (up && cut && !t.cutoff_reported && now > std::max(*cut, up_since) + cutoff_slack) {
      t.cutoff_reported = true;
      fail(p, "still " + state_text(p) + " past its cut-off");
    }
    // The slow path runs up to 7 days by design; parked is an end (with its anomaly).
    const bool slow = p.track == settle_track::slow_path || parked(p);
    const time_point allowed = slow ? p.slow_path_since + std::chrono::days{7} + open_allowance
                                    : t.open_ref + open_allowance + downtime;
    if (!parked(p) && !t.open_reported && now > allowed) {
      t.open_reported = true;
      fail(p, "open (" + state_text(p) + ") long past its polling deadline");
    }
  }
}

void checker::on_webhook(const store::outbox_record& r, bool accepted, bool confirmed) {
  if (accepted) {
    ++totals_.webhook_receipts;
    const auto seen = sink_.find(r.event_id);
    if (seen != sink_.end() && seen->second.delivered > 0) {
      ++totals_.webhook_duplicates;
    } else {
      // The first time the merchant takes this event: every earlier event of the payment must be
      // there already, or have failed as many times as the sender tries before giving up.
      int give_up = 1;
      while (webhook_delay(give_up)) ++give_up;
      for (std::int32_t seq = 1; seq < r.seq; ++seq) {
        const auto id = ids_.find({r.payment_id, seq});
        const auto earlier = id == ids_.end() ? sink_.end() : sink_.find(id->second);
        const bool there = earlier != sink_.end() && earlier->second.delivered > 0;
        const bool given_up = earlier != sink_.end() && earlier->second.failed_since_reset >= give_up;
        if (!there && !given_up) {
          log_.add(queue_.now(), "merchant event " + r.event_id + " (sequence " + std::to_string(r.seq) +
                                     ") delivered before sequence " + std::to_string(seq) + " of its payment");
          break;
        }
      }
      if (r.seq > 1) ++totals_.webhook_after_earlier;
    }
  }
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
  if (accepted && !confirmed) ++v.unconfirmed;
  if (!confirmed) ++v.failed_since_reset;
}

void checker::on_redelivered(const std::string& event_id) {
  if (const auto it = sink_.find(event_id); it != sink_.end()) it->second.failed_since_reset = 0;
}

void checker::on_dead(const store::outbox_record& r) {
  ++totals_.dead_events;
  const auto it = sink_.find(r.event_id);
  // Every recorded attempt must have been refused by the merchant. A delivery the merchant
  // accepted may still be followed by refusals when its success could not be recorded (the store
  // failed at that moment, so the event was sent again): the merchant has the event then, and the
  // refused re-sends rightly count towards dead. So does a delivery it took after the sender's
  // timeout: the sender saw it fail.
  if (it == sink_.end() || it->second.refused + it->second.unconfirmed < r.attempts) {
    log_.add(queue_.now(),
             "merchant event " + r.event_id + " dead though the merchant did not refuse every attempt");
  }
  if (it != sink_.end()) it->second.failed_since_reset = 0;  // redelivered: a fresh schedule
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
  std::size_t status_events = 0;
  // Refund events (refund.*) share the payment's sequence; refund_world.cpp checks them.
  const auto is_status = [](const store::outbox_record& r) {
    return r.type != "payment.cancel_failed" && r.type != "payment.pending" && !r.type.starts_with("refund.");
  };
  for (const auto& r : outbox) {
    if (r.type == "payment.cancel_failed") ++totals_.cancel_failed_events;
    if (is_status(r)) ++status_events;
  }
  if (status_events != expected.size() || p.event_seq != static_cast<std::int32_t>(outbox.size())) {
    fail(p, std::to_string(status_events) + " status events for " +
                std::to_string(expected.size()) + " changes into a final state");
  }
  std::size_t k = 0;
  for (std::size_t i = 0; i < outbox.size(); ++i) {
    const auto& r = outbox[i];
    const auto seq = static_cast<std::int32_t>(i + 1);
    const bool status_event = is_status(r);
    const std::size_t j = status_event ? k++ : expected.size();
    const auto known = ids_.find({p.id, seq});
    if (r.seq != seq || (known != ids_.end() && known->second != r.event_id) ||
        (j < expected.size() && r.type != expected[j])) {
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
    if (parked(*p)) {
      ++totals_.parked;
      bool flagged = false;
      for (const auto& a : s.anomalies({p->id, {}, 1000})) flagged = flagged || a.kind == "unresolved";
      if (!flagged) fail(*p, "parked without an unresolved anomaly");
    } else if (!settled(*p)) {
      fail(*p, "still open at the end: " + state_text(*p));
    }
    totals_.success += p->status == payment_status::success;
    totals_.fail += p->status == payment_status::fail;
    totals_.cancelled += p->status == payment_status::cancelled;
    // A wrong amount whose cancel could not reverse it (the window closed: slow path, or a
    // confirming inquiry found it paid, with payment.cancel_failed) is the operator's, or the
    // refunds issue's; any other must end CANCELLED.
    const bool unreversible =
        it != mirror_.end() && (it->second.slow_path_seen || it->second.cancel_failed_seen);
    check_truth(*p, true, it != mirror_.end() && it->second.wrong_amount_seen && !unreversible);
    check_outbox(s, *p);
  }
  for (const auto& a : s.anomalies({0, {}, 1'000'000})) {
    ++totals_.anomalies;
    if (a.kind == "impossible_state") log_.add(a.at, "anomaly impossible_state: " + a.detail);
  }
}

}  // namespace cashier::sim
