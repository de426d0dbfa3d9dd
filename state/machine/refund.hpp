// The refund machine: one refund of a SUCCESS payment, PROCESSING → SUCCESS | FAIL, in the same
// pure style as the payment machine (machine.hpp): step_refund(refund, event, now, params,
// payment's event_seq) -> refund_decision, no I/O, no clock reads, no exceptions. The refund
// request bytes are built once (before the first send) and resent byte-identical on every
// retry; after `confirm_after` sends without a definitive answer one inquiryPayment looks for
// the refund in `transactions[]`. Merchant events share the payment's sequence numbers, so the
// engine commits the payment's new `event_seq` with the refund. The transition table is the
// "Refund machine" section of proto-docs/state-machine.md, replayed by
// tests/state/machine/refund_table_test.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "state/machine/effects.hpp"
#include "state/machine/events.hpp"
#include "state/machine/money.hpp"
#include "state/machine/payment.hpp"
#include "state/machine/time.hpp"

namespace cashier {

/// The public status of a refund. SUCCESS and FAIL are final.
enum class refund_status {
  processing,  ///< sent or being resent; no definitive answer yet
  success,     ///< Alipay+ refunded it (final)
  fail,        ///< Alipay+ refused it, with the code (final)
};

/// How a PROCESSING refund is being pursued (stored with the refund).
enum class refund_track {
  send,     ///< the refund request is being sent, byte-identical, with backoff
  confirm,  ///< one inquiryPayment looks for the refund in transactions[]
};

/// Who asked for a refund.
enum class refund_origin {
  merchant,  ///< POST /v1/payments/{id}/refunds
  operator_, ///< cashierctl refund (admin API)
  cancel,    ///< a merchant cancel of a SUCCESS payment after the cancel window (full refund)
};

/// One refund, as the store keeps it.
struct refund {
  std::int64_t id = 0;            ///< store row id; 0 until inserted
  std::int64_t version = 0;       ///< compare-and-set version
  std::int64_t payment_row = 0;   ///< the payment's store row id
  std::string refund_request_id;  ///< the merchant's key, unique per payment (≤ 64)
  std::string alipay_refund_request_id;  ///< cashierd's own refundRequestId (≤ 64), unique
  refund_origin origin = refund_origin::merchant;  ///< who asked
  refund_status status = refund_status::processing;  ///< public status
  refund_track track = refund_track::send;           ///< how PROCESSING is pursued
  std::int32_t attempt = 0;       ///< sends of the current track's call since it started
  money amount;                   ///< refundAmount
  std::string reason;             ///< refundReason, may be empty
  time_point next_action_at = never;  ///< deadline heap key
  time_point created_at{};        ///< payment clock
  time_point updated_at{};        ///< payment clock
  std::string request;            ///< the exact refund request body, sent byte-identical
  std::string merchant_request;   ///< the merchant's body, as received (idempotency check)
  std::string refund_id;          ///< Alipay+'s refundId, once known
  std::string refund_time;        ///< Alipay+'s refundTime as written, once known
  std::optional<aplus_result> result;  ///< the result that settled it (or the last U)
  friend bool operator==(const refund&, const refund&) = default;
};

/// The tunable numbers of the refund machine (defaults follow the cancel's backoff).
struct refund_params {
  duration retry_base = std::chrono::seconds{2};  ///< first resend delay (doubles)
  duration retry_cap = std::chrono::minutes{5};   ///< longest resend delay
  std::int32_t confirm_after = 5;  ///< sends without a definitive answer before an inquiry confirms
  duration answer_guard = std::chrono::seconds{20};  ///< wait for an in-flight answer
  /// The first problem with these parameters, naming the field, or nothing.
  std::optional<std::string> validate() const;
};

/// The refund was stored (request bytes built, PROCESSING/SEND).
struct refund_created {};

/// A verified refund response.
struct refund_answer {
  aplus_result result;           ///< result (S, F or U with its code)
  std::string refund_id;         ///< refundId ("" = absent)
  std::string refund_time;       ///< refundTime as written ("" = absent)
  std::optional<money> amount;   ///< refundAmount, when present
};

/// A refund call without a usable answer.
struct refund_no_answer {
  no_answer_reason reason;  ///< what went wrong
};

/// One input to the refund machine: the refund's own call, the confirming inquiry, its timer.
using refund_event = std::variant<refund_created, refund_answer, refund_no_answer, inquiry_answer,
                                  inquiry_no_answer, deadline_reached>;

/// Send the stored refund request bytes (refund::request), never rebuilt.
struct send_refund {
  friend bool operator==(const send_refund&, const send_refund&) = default;
};

/// Send inquiryPayment for the refund's payment, to find the refund in transactions[].
struct send_refund_inquiry {
  friend bool operator==(const send_refund_inquiry&, const send_refund_inquiry&) = default;
};

/// Queue a merchant webhook `refund.succeeded` / `refund.failed` (outbox row).
struct emit_refund_event {
  refund_status outcome{};   ///< success or fail
  std::int32_t seq = 0;      ///< the payment's sequence number (shared with its payment events)
  std::string code{};        ///< fail: the Alipay+ resultCode; else empty
  friend bool operator==(const emit_refund_event&, const emit_refund_event&) = default;
};

/// One thing for the driver to do after committing a refund decision.
using refund_effect = std::variant<send_refund, send_refund_inquiry, emit_refund_event, record_anomaly>;

/// What the refund machine decided for one event.
struct refund_decision {
  refund next;                        ///< the record after the event
  bool changed = false;               ///< next differs from the input
  std::vector<refund_effect> effects; ///< to execute after the commit, in order
  std::int32_t event_seq = 0;         ///< the payment's event_seq after this decision
  std::string cause;                  ///< e.g. "refund:U/UNKNOWN_EXCEPTION", "timer"
};

/// The refund phases the transition table names.
enum class refund_phase {
  processing_send,     ///< PROCESSING/SEND
  processing_confirm,  ///< PROCESSING/CONFIRM
  success,             ///< SUCCESS (final)
  fail,                ///< FAIL (final)
};

/// True for SUCCESS and FAIL.
constexpr bool is_final(refund_status s) {
  switch (s) {
    case refund_status::processing: return false;
    case refund_status::success:
    case refund_status::fail: return true;
  }
  return false;
}

/// The phase of `r`.
refund_phase refund_phase_of(const refund& r);
/// "PROCESSING/SEND", "PROCESSING/CONFIRM", "SUCCESS" or "FAIL".
std::string_view to_string(refund_phase ph);
/// "PROCESSING", "SUCCESS" or "FAIL".
std::string_view to_string(refund_status s);
/// The status named `text`, or nothing.
std::optional<refund_status> parse_refund_status(std::string_view text);
/// "send" or "confirm" (stored names).
std::string_view to_string(refund_track t);
/// The track named `text`, or nothing.
std::optional<refund_track> parse_refund_track(std::string_view text);
/// "merchant", "operator" or "cancel" (stored names).
std::string_view to_string(refund_origin o);
/// The origin named `text`, or nothing.
std::optional<refund_origin> parse_refund_origin(std::string_view text);
/// "refund.succeeded" or "refund.failed" for a final status; "" otherwise.
std::string_view refund_event_name(refund_status s);
/// The table's name of `e`: "send refund", "send inquiry", "emit refund.succeeded",
/// "anomaly amount_mismatch".
std::string describe(const refund_effect& e);
/// Delay before resending after `attempt` unanswered sends: capped, jittered backoff seeded by
/// the refund's own request id.
duration refund_retry_delay(const refund& r, const refund_params& params);

/// The refund machine's answer to `e` for refund `r` at `now`; `event_seq` is the payment's
/// current merchant-event count.
refund_decision step_refund(const refund& r, const refund_event& e, time_point now,
                            const refund_params& params, std::int32_t event_seq);

}  // namespace cashier
