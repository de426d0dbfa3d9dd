// The outputs of the payment state machine: what the driver must do after committing a
// decision (send a call, queue a merchant event, record an anomaly). Plain data; only the
// orchestrator executes effects. Arming a deadline is not an effect: it is the record's
// next_action_at.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace cashier {

/// The merchant-visible event types (webhook `payment.<type>`).
enum class merchant_event_type {
  succeeded,  ///< the payment reached SUCCESS
  failed,     ///< the payment reached FAIL
  cancelled,  ///< the payment reached CANCELLED
  cancel_failed,  ///< a cancel the merchant (or operator) asked for will not happen; carries the Alipay+ code
  pending,    ///< a create answered 202 has its checkout: pay answered PAYMENT_IN_PROCESS (normalUrl)
};

/// Disagreements and refusals worth an operator's attention (`cashierctl stuck`, metrics).
enum class anomaly_kind {
  inquiry_failed,        ///< inquiry answered F with a code other than ORDER_NOT_EXIST
  amount_mismatch,       ///< a notify or inquiry stated an amount or currency other than the order's
  contradicting_result,  ///< a verdict contradicting a final status (S on FAIL, F on SUCCESS, S on CANCELLED)
  result_during_cancel,  ///< a verdict arrived while cancel was pending over INIT or IN_PROCESS; not applied
  cancel_order_gone,     ///< cancel F ORDER_NOT_EXIST or ORDER_IS_CLOSED; a confirming inquiry decides
  cancel_abandoned,      ///< a cancel given up (window closed, or refused too often); settled by inquiry
  success_not_reversed,  ///< a SUCCESS that a wanted cancel could not reverse
  cancel_refused,        ///< cancel F with another code; retried hourly up to the configured count
  unresolved,            ///< the slow path ran out (7 days) without a verdict; parked for the operator
  impossible_state,      ///< the record's status and pending action match no phase; parked
};

/// Send the stored pay request bytes (payment::pay_request), never rebuilt.
struct send_pay {
  friend bool operator==(const send_pay&, const send_pay&) = default;
};

/// Send inquiryPayment for this payment.
struct send_inquiry {
  friend bool operator==(const send_inquiry&, const send_inquiry&) = default;
};

/// Send cancelPayment for this payment.
struct send_cancel {
  friend bool operator==(const send_cancel&, const send_cancel&) = default;
};

/// Refund the payment in full (what is left of its amount after its other refunds): a cancel
/// the merchant or an operator asked for of a SUCCESS payment after the cancel window. The
/// engine creates the refund row in the same commit; the refund machine takes it from there.
struct start_refund {
  friend bool operator==(const start_refund&, const start_refund&) = default;
};

/// Queue a merchant webhook (outbox row).
struct emit_merchant_event {
  merchant_event_type type{};///< what happened
  std::int32_t seq = 0;      ///< per-payment sequence number, 1, 2, ...
  std::string code{};        ///< cancel_failed: the Alipay+ resultCode that refused it; else empty
  friend bool operator==(const emit_merchant_event&, const emit_merchant_event&) = default;
};

/// Record an anomaly for the operator.
struct record_anomaly {
  anomaly_kind kind{}; ///< what kind
  std::string detail;  ///< the code or values involved
  friend bool operator==(const record_anomaly&, const record_anomaly&) = default;
};

/// One thing for the driver to do.
using effect = std::variant<send_pay, send_inquiry, send_cancel, emit_merchant_event, record_anomaly,
                            start_refund>;

/// "succeeded", "failed", "cancelled", "cancel_failed" or "pending".
std::string_view to_string(merchant_event_type t);
/// The enumerator's name, e.g. "amount_mismatch".
std::string_view to_string(anomaly_kind k);
/// A short name of `e` as the transition table writes it: "send pay", "emit succeeded",
/// "anomaly cancel_refused" (details and sequence numbers left out).
std::string describe(const effect& e);

}  // namespace cashier
