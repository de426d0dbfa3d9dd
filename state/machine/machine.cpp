// The transitions of the payment state machine (see machine.hpp and
// proto-docs/state-machine.md). One handler per event type; each dispatches on the phase with
// one switch. Helpers below build the decision: sending a call arms the answer guard, settling
// emits the merchant event, entering cancel sends the cancel at once.
#include "state/machine/machine.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "state/machine/phase.hpp"
#include "state/machine/schedule.hpp"

namespace cashier {

namespace {

/// The decision under construction and what it is decided from.
struct context {
  const payment& p;
  time_point now;
  const machine_params& params;
  phase ph;
  decision d;
  payment& next() { return d.next; }
};

bool is_verdict(char status) { return status == 'S' || status == 'F'; }

bool is_open(phase ph) {
  return ph == phase::init_pay || ph == phase::in_process_inquiry ||
         ph == phase::inquiry_abandoned;
}

std::string result_text(const aplus_result& r) { return std::string(1, r.status) + "/" + r.code; }

std::string money_text(const money& m) {
  return format_minor_units(m.minor_units) + " " + m.currency.str();
}

void emit(context& c, effect e) { c.d.effects.push_back(std::move(e)); }

void anomaly(context& c, anomaly_kind kind, std::string detail) {
  emit(c, record_anomaly{kind, std::move(detail)});
}

/// The anomaly detail naming the input and the phase it met, e.g. "notify:S in FAIL".
std::string where(const context& c) { return c.d.cause + " in " + std::string(to_string(c.ph)); }

void arm(context& c, time_point at) { c.next().next_action_at = at; }

std::uint64_t seed(const context& c) { return payment_seed(c.p.payment_request_id); }

duration last_interval(const machine_params& params) {
  return inquiry_delay(std::numeric_limits<std::int32_t>::max(), params.inquiry_intervals);
}

/// Sends the call of pending action `a` and waits answer_guard for its answer.
void send(context& c, pending_action a) {
  switch (a) {
    case pending_action::pay: emit(c, send_pay{}); break;
    case pending_action::inquiry: emit(c, send_inquiry{}); break;
    case pending_action::cancel: emit(c, send_cancel{}); break;
    case pending_action::none: return;
  }
  if (c.next().attempt < std::numeric_limits<std::int32_t>::max()) c.next().attempt += 1;
  arm(c, c.now + c.params.answer_guard);
}

/// Reaches a final state: stops every timer and queues the merchant event.
void settle(context& c, merchant_event_type type, const aplus_result& r) {
  payment& n = c.next();
  switch (type) {
    case merchant_event_type::succeeded: n.status = payment_status::success; break;
    case merchant_event_type::failed: n.status = payment_status::fail; break;
    case merchant_event_type::cancelled: n.status = payment_status::cancelled; break;
  }
  n.pending = pending_action::none;
  n.attempt = 0;
  n.next_action_at = never;
  n.result = r;
  n.event_seq += 1;
  emit(c, emit_merchant_event{type, n.event_seq});
}

/// Enters cancel pending over the current status and sends the cancel now.
void start_cancel(context& c, std::string reason) {
  payment& n = c.next();
  n.pending = pending_action::cancel;
  n.attempt = 0;
  n.cancel_abandoned = false;
  n.cancel_reason = std::move(reason);
  send(c, pending_action::cancel);
}

void absorb(payment& n, const payment_facts& f) {
  if (!f.payment_id.empty()) n.payment_id = f.payment_id;
  if (!f.payment_time.empty()) n.payment_time = f.payment_time;
  if (!f.customer_id.empty()) n.customer_id = f.customer_id;
  if (!f.wallet_brand_name.empty()) n.wallet_brand_name = f.wallet_brand_name;
  if (f.settlement_amount) n.settlement_amount = f.settlement_amount;
}

void absorb_checkout(payment& n, const pay_answer& e) {
  absorb(n, e.facts);
  if (!e.normal_url.empty()) n.normal_url = e.normal_url;
  if (!e.payment_data.empty()) n.payment_data = e.payment_data;
}

/// Whether final status `s` agrees with verdict `v`: S for SUCCESS, F for FAIL and CANCELLED.
bool agrees(payment_status s, char v) {
  switch (s) {
    case payment_status::success: return v == 'S';
    case payment_status::fail:
    case payment_status::cancelled: return v == 'F';
    case payment_status::init:
    case payment_status::in_process: return true;
  }
  return true;
}

/// A verified S or F about the payment, from pay, inquiry or notify. Returns true if applied.
bool on_verdict(context& c, const aplus_result& r, const payment_facts& facts) {
  const bool paid = r.status == 'S';
  switch (c.ph) {
    case phase::init_pay:
    case phase::in_process_inquiry:
    case phase::inquiry_abandoned:
      absorb(c.next(), facts);
      settle(c, paid ? merchant_event_type::succeeded : merchant_event_type::failed, r);
      if (paid && c.ph == phase::inquiry_abandoned) {
        anomaly(c, anomaly_kind::success_not_reversed, where(c));
      }
      return true;
    case phase::init_cancel:
    case phase::in_process_cancel: anomaly(c, anomaly_kind::result_during_cancel, where(c)); return false;
    case phase::success_cancel:
    case phase::fail_cancel:
    case phase::success:
    case phase::fail:
    case phase::cancelled:
      if (!agrees(c.p.status, r.status)) anomaly(c, anomaly_kind::contradicting_result, where(c));
      return false;
  }
  return false;
}

/// A verified statement of an amount other than the order's: cancel (refund) unless cancelling.
void on_mismatch(context& c, const money& stated) {
  anomaly(c, anomaly_kind::amount_mismatch,
          c.d.cause + ": stated " + money_text(stated) + ", order " + money_text(c.p.amount));
  switch (c.ph) {
    case phase::init_pay:
    case phase::in_process_inquiry:
    case phase::inquiry_abandoned:
    case phase::success:
    case phase::fail: start_cancel(c, "amount mismatch"); return;
    case phase::init_cancel:
    case phase::in_process_cancel:
    case phase::success_cancel:
    case phase::fail_cancel:
    case phase::cancelled: return;
  }
}

/// A hint that the payment may have moved: one inquiry now, at most every hint interval.
void on_hint(context& c) {
  if (!is_open(c.ph)) return;
  if (c.now - c.p.last_hint_inquiry_at < c.params.hint_inquiry_interval) return;
  emit(c, send_inquiry{});
  c.next().last_hint_inquiry_at = c.now;
}

/// A non-final inquiry outcome: schedule the next poll where polling is what is pending.
void poll_again(context& c) {
  switch (c.ph) {
    case phase::in_process_inquiry:
      arm(c, std::min(c.now + inquiry_delay(c.p.attempt, c.params.inquiry_intervals),
                      c.p.poll_deadline_at));
      return;
    case phase::inquiry_abandoned: arm(c, c.now + last_interval(c.params)); return;
    case phase::init_pay:
    case phase::init_cancel:
    case phase::in_process_cancel:
    case phase::success_cancel:
    case phase::fail_cancel:
    case phase::success:
    case phase::fail:
    case phase::cancelled: return;
  }
}

void retry_pay(context& c) {
  const duration d = pay_retry_delay(c.p.attempt, seed(c), c.params.pay_retry_base,
                                     c.params.pay_retry_cap);
  arm(c, std::min(c.now + d, c.p.expiry_at));
}

void retry_cancel(context& c) {
  arm(c, c.now + cancel_retry_delay(c.p.attempt, seed(c), c.params.cancel_retry_base,
                                    c.params.cancel_retry_cap));
}

void start_polling(context& c, const pay_answer& e) {
  payment& n = c.next();
  absorb_checkout(n, e);
  n.status = payment_status::in_process;
  n.pending = pending_action::inquiry;
  n.attempt = 0;
  n.result = e.result;
  arm(c, std::min(c.now + inquiry_delay(0, c.params.inquiry_intervals), c.p.poll_deadline_at));
}

/// Cancel F CANCEL_WINDOW_EXCEED: stop cancelling; an open payment is settled by inquiry.
void abandon_cancel(context& c, const aplus_result& r) {
  payment& n = c.next();
  n.cancel_abandoned = true;
  n.result = r;
  n.attempt = 0;
  n.pending = pending_action::none;
  n.next_action_at = never;
  switch (c.ph) {
    case phase::success_cancel: anomaly(c, anomaly_kind::success_not_reversed, where(c)); return;
    case phase::fail_cancel: anomaly(c, anomaly_kind::cancel_abandoned, where(c)); return;
    case phase::init_cancel:
    case phase::in_process_cancel:
      n.pending = pending_action::inquiry;
      arm(c, c.now + last_interval(c.params));
      anomaly(c, anomaly_kind::cancel_abandoned, where(c));
      return;
    case phase::init_pay:
    case phase::in_process_inquiry:
    case phase::inquiry_abandoned:
    case phase::success:
    case phase::fail:
    case phase::cancelled: return;  // not reached: only called while cancel is pending
  }
}

void on_cancel_failed(context& c, const aplus_result& r) {
  if (r.code == "ORDER_NOT_EXIST" || r.code == "ORDER_IS_CLOSED") {
    settle(c, merchant_event_type::cancelled, r);
    anomaly(c, anomaly_kind::cancel_order_gone, r.code);
  } else if (r.code == "CANCEL_WINDOW_EXCEED") {
    abandon_cancel(c, r);
  } else {
    anomaly(c, anomaly_kind::cancel_refused, r.code);
    arm(c, c.now + c.params.cancel_refused_retry);
  }
}

// ---- one handler per event type ----

void on(context& c, const created&) {
  c.d.cause = "created";
  if (c.ph != phase::init_pay) return;
  c.next().poll_deadline_at = poll_deadline(c.p.expiry_at, c.params.poll_grace);
  send(c, pending_action::pay);
}

void on(context& c, const pay_answer& e) {
  c.d.cause = "pay:" + result_text(e.result);
  if (is_verdict(e.result.status)) {
    if (on_verdict(c, e.result, e.facts)) absorb_checkout(c.next(), e);
  } else if (c.ph == phase::init_pay) {
    if (e.result.code == "PAYMENT_IN_PROCESS") {
      start_polling(c, e);
    } else {
      retry_pay(c);
    }
  }
}

void on(context& c, const pay_no_answer& e) {
  c.d.cause = "pay:none/" + std::string(to_string(e.reason));
  if (c.ph == phase::init_pay) retry_pay(c);
}

void on(context& c, const inquiry_answer& e) {
  const bool worked = e.result.status == 'S';
  c.d.cause = "inquiry:" + (worked && e.payment_result
                                ? "S/" + std::string(1, e.payment_result->status)
                                : result_text(e.result));
  if (worked && e.amount && *e.amount != c.p.amount) return on_mismatch(c, *e.amount);
  if (worked && e.payment_result && is_verdict(e.payment_result->status)) {
    on_verdict(c, *e.payment_result, e.facts);
    return;
  }
  const bool polling = c.ph == phase::in_process_inquiry || c.ph == phase::inquiry_abandoned;
  if (polling && e.result.status == 'F' && e.result.code != "ORDER_NOT_EXIST") {
    anomaly(c, anomaly_kind::inquiry_failed, e.result.code);
  }
  poll_again(c);
}

void on(context& c, const inquiry_no_answer& e) {
  c.d.cause = "inquiry:none/" + std::string(to_string(e.reason));
  poll_again(c);
}

void on(context& c, const cancel_answer& e) {
  c.d.cause = "cancel:" + result_text(e.result);
  if (!is_cancel_pending(c.ph)) return;
  if (e.result.status == 'S') {
    settle(c, merchant_event_type::cancelled, e.result);
  } else if (e.result.status == 'F') {
    on_cancel_failed(c, e.result);
  } else {
    retry_cancel(c);
  }
}

void on(context& c, const cancel_no_answer& e) {
  c.d.cause = "cancel:none/" + std::string(to_string(e.reason));
  if (is_cancel_pending(c.ph)) retry_cancel(c);
}

void on(context& c, const notify_verified& e) {
  c.d.cause = "notify:" + std::string(1, e.payment_result.status);
  if (e.amount != c.p.amount) return on_mismatch(c, e.amount);
  // Alipay+ never notifies U; a verified one is taken as a hint rather than ignored.
  if (!is_verdict(e.payment_result.status)) return on_hint(c);
  on_verdict(c, e.payment_result, e.facts);
}

void on(context& c, const notify_unverified&) {
  c.d.cause = "notify:unverified";
  on_hint(c);
}

void on(context& c, const cancel_requested& e) {
  c.d.cause = "cancel_request:" + std::string(to_string(e.who));
  switch (c.ph) {
    case phase::init_pay:
    case phase::in_process_inquiry:
    case phase::inquiry_abandoned:
    case phase::success:
      start_cancel(c, std::string(to_string(e.who)) + (e.reason.empty() ? "" : ": " + e.reason));
      return;
    case phase::init_cancel:
    case phase::in_process_cancel:
    case phase::success_cancel:
    case phase::fail_cancel:
    case phase::cancelled: return;  // idempotent: already cancelling or cancelled
    case phase::fail: c.d.rejected = rejection::already_final; return;
  }
}

void on(context& c, const inquiry_requested&) {
  c.d.cause = "inquiry_request";
  if (c.p.pending == pending_action::none) {
    c.d.rejected = rejection::already_final;
  } else {
    emit(c, send_inquiry{});
  }
}

void on(context& c, const deadline_reached&) {
  if (c.now < c.p.next_action_at) {
    c.d.cause = "timer:not_due";
    return;
  }
  const bool expired = c.now >= c.p.expiry_at;
  const bool past_poll = c.now >= c.p.poll_deadline_at;
  switch (c.ph) {
    case phase::init_pay:
      c.d.cause = expired ? "timer:expiry" : "timer:pay_retry";
      return expired ? start_cancel(c, "expiry") : send(c, pending_action::pay);
    case phase::in_process_inquiry:
      c.d.cause = past_poll ? "timer:poll_deadline" : "timer:inquiry";
      return past_poll ? start_cancel(c, "poll deadline") : send(c, pending_action::inquiry);
    case phase::inquiry_abandoned:
      c.d.cause = "timer:inquiry";
      return send(c, pending_action::inquiry);
    case phase::init_cancel:
    case phase::in_process_cancel:
    case phase::success_cancel:
    case phase::fail_cancel: c.d.cause = "timer:cancel_retry"; return send(c, pending_action::cancel);
    case phase::success:
    case phase::fail:
    case phase::cancelled: c.d.cause = "timer:settled"; return arm(c, never);
  }
}

/// A record whose status and pending action match no phase: park it for the operator.
void park(context& c) {
  c.d.cause = "impossible_state";
  anomaly(c, anomaly_kind::impossible_state,
          std::string(to_string(c.p.status)) + "/" + std::string(to_string(c.p.pending)));
  arm(c, never);
}

}  // namespace

payment_state state_of(const payment& p) { return {p.status, p.pending}; }

std::string_view to_string(rejection r) {
  switch (r) {
    case rejection::already_final: return "already_final";
  }
  return "?";
}

decision step(const payment& p, const event& e, time_point now, const machine_params& params) {
  const std::optional<phase> ph = phase_of(p);
  context c{p, now, params, ph.value_or(phase::init_pay), decision{}};
  c.d.next = p;
  c.d.ack = std::holds_alternative<notify_verified>(e);
  if (ph) {
    std::visit([&c](const auto& ev) { on(c, ev); }, e);
  } else {
    park(c);
  }
  c.d.changed = !(c.d.next == p);
  if (c.d.changed) c.d.next.updated_at = now;
  c.d.from = state_of(p);
  c.d.to = state_of(c.d.next);
  return std::move(c.d);
}

}  // namespace cashier
