// The transitions of the payment state machine (see machine.hpp and
// proto-docs/state-machine.md). One handler per event type; each dispatches on the phase with
// one switch. Helpers below build the decision: sending a call arms the answer guard, settling
// emits the merchant event, a cut-off takes a last look before any cancel, a cancel is only
// sent inside Alipay+'s cancel window, and "cancelled" needs proof.
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

/// What a verified S or F says about the money.
enum class verdict {
  paid,      ///< S: the payer paid
  unpaid,    ///< F: failed or closed unpaid
  reversed,  ///< inquiry S/S with a successful CANCEL, or REFUNDs of the whole amount, in transactions[]
};

/// Where a verdict came from: only an inquiry answer can settle a confirming phase.
enum class source {
  pay,      ///< a pay answer
  inquiry,  ///< an inquiryPayment answer
  notify,   ///< a verified notify
};

constexpr std::string_view window_code = "CANCEL_WINDOW_EXCEED";

bool is_verdict(char status) { return status == 'S' || status == 'F'; }

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

bool window_closed(const context& c) { return c.now >= cancel_window_closes(c.p.created_at); }

/// Whether the pending cancel was asked by the merchant or an operator (cancel_reason names who).
bool asked_by_someone(const payment& p) {
  return p.cancel_reason.starts_with("merchant") || p.cancel_reason.starts_with("operator");
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

/// Queues a merchant event with the next sequence number.
void announce(context& c, merchant_event_type type, std::string code = {}) {
  c.next().event_seq += 1;
  emit(c, emit_merchant_event{type, c.next().event_seq, std::move(code)});
}

/// A cancel someone asked for will not happen. When only the cancel window stopped it and the
/// payment is paid (SUCCESS after this step), the money goes back by a full refund instead: the
/// engine creates the refund in the same commit (issue 16). Otherwise the merchant hears
/// cancel_failed with the Alipay+ code.
void refuse_cancel(context& c, const std::string& code) {
  if (code == window_code && c.next().status == payment_status::success) return emit(c, start_refund{});
  announce(c, merchant_event_type::cancel_failed, code);
}

/// Nothing pending any more over the current status: every timer stops.
void rest(context& c) {
  payment& n = c.next();
  n.pending = pending_action::none;
  n.track = settle_track::normal;
  n.attempt = 0;
  n.cancel_refusals = 0;
  n.next_action_at = never;
}

/// Reaches a final state: stops every timer and queues the merchant event.
void settle(context& c, merchant_event_type type, const aplus_result& r) {
  payment& n = c.next();
  switch (type) {
    case merchant_event_type::succeeded: n.status = payment_status::success; break;
    case merchant_event_type::failed: n.status = payment_status::fail; break;
    case merchant_event_type::cancelled: n.status = payment_status::cancelled; break;
    case merchant_event_type::cancel_failed:
    case merchant_event_type::pending: return;  // not statuses; never passed here
  }
  rest(c);
  n.result = r;
  announce(c, type);
}

/// Enters cancel pending over the current status and sends the cancel now.
void start_cancel(context& c, std::string reason) {
  payment& n = c.next();
  n.pending = pending_action::cancel;
  n.track = settle_track::normal;
  n.attempt = 0;
  n.cancel_refusals = 0;
  n.cancel_reason = std::move(reason);
  send(c, pending_action::cancel);
}

/// Enters the slow path: no cancel can be sent; inquiries settle the payment or it is parked.
/// `ask_now` sends the first inquiry at once (coming from a cancel), else in slow_path_fast.
void start_slow_path(context& c, bool ask_now) {
  payment& n = c.next();
  n.pending = pending_action::inquiry;
  n.track = settle_track::slow_path;
  n.attempt = 0;
  n.cancel_refusals = 0;
  n.slow_path_since = c.now;
  if (ask_now) {
    send(c, pending_action::inquiry);
  } else {
    arm(c, c.now + c.params.slow_path_fast);
  }
}

/// The one last inquiry at a cut-off: its answer decides between a verdict and a cancel.
void start_last_look(context& c, std::string reason) {
  payment& n = c.next();
  n.pending = pending_action::inquiry;
  n.track = settle_track::last_look;
  n.attempt = 0;
  n.cancel_reason = std::move(reason);
  send(c, pending_action::inquiry);
}

/// Cancel F ORDER_NOT_EXIST / ORDER_IS_CLOSED (or the window closed over a SUCCESS): one
/// confirming inquiry decides; the cancel stays pending meanwhile.
void start_confirm(context& c) {
  payment& n = c.next();
  n.track = settle_track::confirm_cancel;
  n.attempt = 0;
  send(c, pending_action::inquiry);
}

/// A cancel the system wants (amount mismatch): sent inside the window, else the slow path.
void system_cancel(context& c, std::string reason) {
  if (!window_closed(c)) return start_cancel(c, std::move(reason));
  if (c.ph == phase::slow_path || c.ph == phase::parked) return;
  start_slow_path(c, false);
}

/// Stops cancelling: SUCCESS and FAIL stay; an unpaid payment is settled by the slow path.
/// `code` is the Alipay+ code the merchant hears in cancel_failed (when someone asked).
void abandon_cancel(context& c, const std::string& code, anomaly_kind kind) {
  anomaly(c, kind, where(c));
  if (asked_by_someone(c.p) || c.ph == phase::success_cancel) refuse_cancel(c, code);
  switch (c.ph) {
    case phase::success_cancel:
    case phase::fail_cancel: rest(c); break;
    case phase::init_cancel:
    case phase::in_process_cancel: start_slow_path(c, true); break;
    case phase::init_pay:
    case phase::in_process_inquiry:
    case phase::last_look:
    case phase::slow_path:
    case phase::parked:
    case phase::open_confirm:
    case phase::success_confirm:
    case phase::success:
    case phase::fail:
    case phase::cancelled: return;  // not reached: only called while cancel is pending
  }
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

/// Whether final status `s` agrees with verdict `v`.
bool agrees(payment_status s, verdict v) {
  switch (s) {
    case payment_status::success: return v == verdict::paid;
    case payment_status::fail: return v == verdict::unpaid;
    case payment_status::cancelled: return v != verdict::paid;
    case payment_status::init:
    case payment_status::in_process: return true;
  }
  return true;
}

merchant_event_type event_for(verdict v) {
  switch (v) {
    case verdict::paid: return merchant_event_type::succeeded;
    case verdict::unpaid: return merchant_event_type::failed;
    case verdict::reversed: return merchant_event_type::cancelled;
  }
  return merchant_event_type::failed;
}

/// The code a confirming inquiry's "paid, not reversed" reports: the cancel's refusal.
std::string refusal_code(const payment& p) {
  if (p.result && p.result->status == 'F') return p.result->code;
  return std::string(window_code);
}

/// A confirming inquiry's verdict: CANCELLED unless paid and not reversed.
void on_confirmation(context& c, verdict v, const aplus_result& r, const payment_facts& facts) {
  absorb(c.next(), facts);
  if (v != verdict::paid) return settle(c, merchant_event_type::cancelled, r);
  const std::string code = refusal_code(c.p);
  anomaly(c, anomaly_kind::success_not_reversed, where(c));
  if (c.ph == phase::open_confirm) {
    settle(c, merchant_event_type::succeeded, r);
  } else {
    rest(c);
  }
  refuse_cancel(c, code);
}

/// A verified S or F about the payment, from pay, inquiry or notify.
void on_verdict(context& c, verdict v, const aplus_result& r, const payment_facts& facts,
                source from) {
  switch (c.ph) {
    case phase::init_pay:
    case phase::in_process_inquiry:
    case phase::last_look:
    case phase::slow_path:
    case phase::parked:
      absorb(c.next(), facts);
      return settle(c, event_for(v), r);
    case phase::open_confirm:
    case phase::success_confirm:
      if (from == source::inquiry) return on_confirmation(c, v, r, facts);
      if (!agrees(c.p.status, v) || c.ph == phase::open_confirm)
        anomaly(c, anomaly_kind::result_during_cancel, where(c));
      return;
    case phase::init_cancel:
    case phase::in_process_cancel:
      if (v == verdict::reversed) return settle(c, merchant_event_type::cancelled, r);
      return anomaly(c, anomaly_kind::result_during_cancel, where(c));
    case phase::success_cancel:
    case phase::fail_cancel:
      if (v == verdict::reversed) return settle(c, merchant_event_type::cancelled, r);
      if (!agrees(c.p.status, v)) anomaly(c, anomaly_kind::contradicting_result, where(c));
      return;
    case phase::success:
    case phase::fail:
    case phase::cancelled:
      if (!agrees(c.p.status, v)) anomaly(c, anomaly_kind::contradicting_result, where(c));
      return;
  }
}

/// A verified statement of an amount other than the order's. Never applied; over a confirmed
/// result only an anomaly; an open payment is cancelled (inside the window).
void on_mismatch(context& c, const money& stated) {
  anomaly(c, anomaly_kind::amount_mismatch,
          c.d.cause + ": stated " + money_text(stated) + ", order " + money_text(c.p.amount));
  if (is_open(c.ph)) system_cancel(c, "amount mismatch");
}

/// A verified message naming a paymentId other than the stored one (both known).
bool other_payment_id(context& c, const payment_facts& f) {
  if (f.payment_id.empty() || c.p.payment_id.empty() || f.payment_id == c.p.payment_id) return false;
  anomaly(c, anomaly_kind::contradicting_result,
          c.d.cause + ": paymentId " + f.payment_id + ", stored " + c.p.payment_id);
  return true;
}

/// A hint that the payment may have moved: one inquiry now, at most every hint interval.
void on_hint(context& c) {
  if (!is_open(c.ph)) return;
  if (c.now - c.p.last_hint_inquiry_at < c.params.hint_inquiry_interval) return;
  emit(c, send_inquiry{});
  c.next().last_hint_inquiry_at = c.now;
}

void retry_cancel(context& c) {
  arm(c, c.now + cancel_retry_delay(c.p.attempt, seed(c), c.params.cancel_retry_base,
                                    c.params.cancel_retry_cap));
}

/// The last look found no verdict: cancel inside the window, else the slow path.
void after_last_look(context& c) {
  if (window_closed(c)) return start_slow_path(c, false);
  start_cancel(c, c.p.cancel_reason.empty() ? "poll deadline" : c.p.cancel_reason);
}

/// A non-final inquiry outcome: schedule the next step where an inquiry is what is pending.
void inquiry_again(context& c) {
  switch (c.ph) {
    case phase::in_process_inquiry:
      arm(c, std::min(c.now + inquiry_delay(c.p.attempt, c.params.inquiry_intervals),
                      c.p.poll_deadline_at));
      return;
    case phase::last_look: return after_last_look(c);
    case phase::slow_path: {
      const duration d = slow_path_delay(c.now - c.p.slow_path_since, c.params.slow_path_fast,
                                         c.params.slow_path_fast_for, c.params.slow_path_slow);
      arm(c, std::min(c.now + d, c.p.slow_path_since + c.params.slow_path_for));
      return;
    }
    case phase::open_confirm:
    case phase::success_confirm: return retry_cancel(c);
    case phase::init_pay:
    case phase::parked:
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

/// Emits payment.pending when the merchant's create was answered 202 and the checkout is known.
void announce_pending_if_owed(context& c) {
  payment& n = c.next();
  if (n.notice != pending_notice::wanted) return;
  n.notice = pending_notice::sent;
  announce(c, merchant_event_type::pending);
}

void start_polling(context& c, const pay_answer& e) {
  payment& n = c.next();
  absorb_checkout(n, e);
  n.status = payment_status::in_process;
  n.pending = pending_action::inquiry;
  n.attempt = 0;
  n.result = e.result;
  arm(c, std::min(c.now + inquiry_delay(0, c.params.inquiry_intervals), c.p.poll_deadline_at));
  announce_pending_if_owed(c);
}

void on_cancel_failed(context& c, const aplus_result& r) {
  if (r.code == "ORDER_NOT_EXIST" || r.code == "ORDER_IS_CLOSED") {
    anomaly(c, anomaly_kind::cancel_order_gone, r.code);
    if (c.ph == phase::fail_cancel) return rest(c);  // FAIL is a verdict already: nothing to reverse
    c.next().result = r;
    return start_confirm(c);
  }
  if (r.code == window_code) {
    c.next().result = r;
    const bool success = c.ph == phase::success_cancel;
    return abandon_cancel(c, r.code, success ? anomaly_kind::success_not_reversed
                                             : anomaly_kind::cancel_abandoned);
  }
  payment& n = c.next();
  if (n.cancel_refusals < std::numeric_limits<std::int32_t>::max()) n.cancel_refusals += 1;
  if (n.cancel_refusals < c.params.cancel_refused_limit) {
    anomaly(c, anomaly_kind::cancel_refused, r.code);
    return arm(c, c.now + c.params.cancel_refused_retry);
  }
  n.result = r;
  abandon_cancel(c, r.code, anomaly_kind::cancel_abandoned);
}

/// The timer of a cancel-pending phase: send the cancel, unless the window has closed.
void cancel_timer(context& c) {
  c.d.cause = "timer:cancel_retry";
  if (!window_closed(c)) return send(c, pending_action::cancel);
  c.d.cause = "timer:cancel_window";
  switch (c.ph) {
    // A cancel sent before the window closed may have gone through unanswered: ask, and settle
    // as a confirming inquiry does (CANCELLED on proof, else paid and not reversed).
    case phase::success_cancel:
    case phase::init_cancel:
    case phase::in_process_cancel: return start_confirm(c);
    case phase::fail_cancel: anomaly(c, anomaly_kind::cancel_abandoned, where(c)); return rest(c);
    case phase::init_pay:
    case phase::in_process_inquiry:
    case phase::last_look:
    case phase::slow_path:
    case phase::parked:
    case phase::open_confirm:
    case phase::success_confirm:
    case phase::success:
    case phase::fail:
    case phase::cancelled: return;  // not reached: only called while cancel is pending
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
    const bool was_open = is_open(c.ph);
    on_verdict(c, e.result.status == 'S' ? verdict::paid : verdict::unpaid, e.result, e.facts,
               source::pay);
    if (was_open) absorb_checkout(c.next(), e);
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

bool reverses(const payment& p, const inquiry_answer& e) { return reverses_in_full(e.transactions, p.amount); }

void on(context& c, const inquiry_answer& e) {
  const bool worked = e.result.status == 'S';
  c.d.cause = "inquiry:" + (worked && e.payment_result
                                ? "S/" + std::string(1, e.payment_result->status)
                                : result_text(e.result));
  if (worked && e.amount && *e.amount != c.p.amount) return on_mismatch(c, *e.amount);
  if (worked && other_payment_id(c, e.facts)) return inquiry_again(c);
  if (worked && e.payment_result && is_verdict(e.payment_result->status)) {
    const bool paid = e.payment_result->status == 'S';
    const verdict v = !paid ? verdict::unpaid : reverses(c.p, e) ? verdict::reversed : verdict::paid;
    return on_verdict(c, v, *e.payment_result, e.facts, source::inquiry);
  }
  const bool unknown_order = e.result.status == 'F' && e.result.code == "ORDER_NOT_EXIST";
  // A confirming inquiry that finds no order: nothing was paid, when that can be believed. Right
  // after a pay Alipay+ may not know an order it has (ALIPAYPLUS.md), so only when the cancel
  // said the same, or once the polling deadline has passed; else it is asked again.
  const bool cancel_said_so = c.p.result && c.p.result->code == "ORDER_NOT_EXIST";
  if (is_confirming(c.ph) && unknown_order && (cancel_said_so || c.now >= c.p.poll_deadline_at)) {
    return settle(c, merchant_event_type::cancelled, e.result);
  }
  // Settling by inquiry after the polling deadline: no pay is sent any more and Alipay+ refuses
  // one past paymentExpiryTime, so an order it does not know can no longer be paid.
  const bool settling = c.ph == phase::slow_path || c.ph == phase::parked;
  if (settling && unknown_order && c.now >= c.p.poll_deadline_at) {
    return settle(c, merchant_event_type::failed, e.result);
  }
  const bool asking = c.ph == phase::in_process_inquiry || c.ph == phase::last_look ||
                      c.ph == phase::slow_path || is_confirming(c.ph);
  if (asking && e.result.status == 'F' && !unknown_order) {
    anomaly(c, anomaly_kind::inquiry_failed, e.result.code);
  }
  inquiry_again(c);
}

void on(context& c, const inquiry_no_answer& e) {
  c.d.cause = "inquiry:none/" + std::string(to_string(e.reason));
  inquiry_again(c);
}

void on(context& c, const cancel_answer& e) {
  c.d.cause = "cancel:" + result_text(e.result);
  // A late cancel S while confirming is the proof the inquiry was looking for.
  if (is_confirming(c.ph) && e.result.status == 'S') {
    return settle(c, merchant_event_type::cancelled, e.result);
  }
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
  // Another paymentId is never applied; in an open phase it is a reason to ask Alipay+.
  if (other_payment_id(c, e.facts)) return on_hint(c);
  // Alipay+ never notifies U; a verified one is taken as a hint rather than ignored.
  if (!is_verdict(e.payment_result.status)) return on_hint(c);
  on_verdict(c, e.payment_result.status == 'S' ? verdict::paid : verdict::unpaid, e.payment_result,
             e.facts, source::notify);
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
    case phase::last_look:
    case phase::slow_path:
    case phase::parked:
    case phase::success:
      if (window_closed(c)) {
        // Alipay+ would refuse it: no call; an open payment keeps being settled by inquiry.
        if (e.who != requester::system) refuse_cancel(c, std::string(window_code));
        return;
      }
      return start_cancel(c, std::string(to_string(e.who)) + (e.reason.empty() ? "" : ": " + e.reason));
    case phase::init_cancel:
    case phase::in_process_cancel:
    case phase::open_confirm:
    case phase::success_cancel:
    case phase::success_confirm:
    case phase::fail_cancel:
    case phase::cancelled: return;  // idempotent: already cancelling or cancelled
    case phase::fail: c.d.rejected = rejection::already_final; return;
  }
}

void on(context& c, const inquiry_requested&) {
  c.d.cause = "inquiry_request";
  if (c.p.pending == pending_action::none && is_final(c.p.status)) {
    c.d.rejected = rejection::already_final;
  } else {
    emit(c, send_inquiry{});
  }
}

void on(context& c, const create_answered_early&) {
  c.d.cause = "create:202";
  if (c.p.notice != pending_notice::none) return;
  switch (c.ph) {
    case phase::init_pay:
    case phase::init_cancel:
    case phase::open_confirm:
    case phase::in_process_cancel: c.next().notice = pending_notice::wanted; return;
    case phase::last_look:
    case phase::slow_path:
    case phase::parked:
      c.next().notice = pending_notice::wanted;
      if (c.p.status == payment_status::in_process) announce_pending_if_owed(c);
      return;
    case phase::in_process_inquiry:
      c.next().notice = pending_notice::wanted;
      return announce_pending_if_owed(c);
    case phase::success_cancel:
    case phase::success_confirm:
    case phase::fail_cancel:
    case phase::success:
    case phase::fail:
    case phase::cancelled: return;  // the final event tells the merchant more
  }
}

void on(context& c, const deadline_reached&) {
  if (c.now < c.p.next_action_at) {
    c.d.cause = "timer:not_due";
    return;
  }
  switch (c.ph) {
    case phase::init_pay:
      if (c.now < c.p.expiry_at) {
        c.d.cause = "timer:pay_retry";
        return send(c, pending_action::pay);
      }
      c.d.cause = "timer:expiry";
      return start_last_look(c, "expiry");
    case phase::in_process_inquiry:
      if (c.now < c.p.poll_deadline_at) {
        c.d.cause = "timer:inquiry";
        return send(c, pending_action::inquiry);
      }
      c.d.cause = "timer:poll_deadline";
      return start_last_look(c, "poll deadline");
    case phase::last_look: c.d.cause = "timer:last_look"; return send(c, pending_action::inquiry);
    case phase::slow_path:
      if (c.now < c.p.slow_path_since + c.params.slow_path_for) {
        c.d.cause = "timer:slow_path";
        return send(c, pending_action::inquiry);
      }
      c.d.cause = "timer:slow_path_end";
      // Status and pending action stay (an open payment always waits on something; the
      // operator's `cashierctl inquire` or a notify still settles it); nothing is scheduled.
      anomaly(c, anomaly_kind::unresolved, where(c));
      c.next().track = settle_track::parked;
      c.next().attempt = 0;
      return arm(c, never);
    case phase::open_confirm:
    case phase::success_confirm: c.d.cause = "timer:confirm"; return send(c, pending_action::inquiry);
    case phase::init_cancel:
    case phase::in_process_cancel:
    case phase::success_cancel:
    case phase::fail_cancel: return cancel_timer(c);
    case phase::parked:
    case phase::success:
    case phase::fail:
    case phase::cancelled: c.d.cause = "timer:settled"; return arm(c, never);
  }
}

/// A record whose status, pending action and track match no phase: park it for the operator.
void park(context& c) {
  c.d.cause = "impossible_state";
  anomaly(c, anomaly_kind::impossible_state,
          std::string(to_string(c.p.status)) + "/" + std::string(to_string(c.p.pending)) + "/" +
              std::string(to_string(c.p.track)));
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
