// Plain records the store keeps beside each payment: the transition log, the Alipay+ call log,
// inbound notifies, the merchant outbox and its delivery attempts, and anomalies. They are data
// only; no storage engine type appears here, so another engine can keep the same records.
// Every string that holds bytes from the wire (bodies, headers) is kept byte-exact, embedded NULs
// and invalid UTF-8 included. A payment id of 0 means "no payment" (an orphan notify, a consult
// call, a global anomaly); inside a transition that carries a payment the store sets it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "state/machine/payment.hpp"
#include "state/machine/time.hpp"

namespace cashier::store {

/// One row of the append-only transition log: every state change with its cause.
struct event_record {
  std::int64_t id = 0;          ///< row id; set by the store
  std::int64_t payment_id = 0;  ///< set by the store from the transition's payment
  std::int64_t version = 0;     ///< the payment version this transition wrote; set by the store
  time_point at{};              ///< payment clock
  std::optional<payment_status> from_status{};         ///< nothing when the payment was created
  pending_action from_pending = pending_action::none;  ///< pending action before
  payment_status to_status = payment_status::init;     ///< must equal the stored payment's status
  pending_action to_pending = pending_action::none;    ///< must equal the stored pending action
  std::string cause{};   ///< what caused it, e.g. "merchant_create", "inquiry S/SUCCESS"
  std::string detail{};  ///< free text (result message, operator note)
  friend bool operator==(const event_record&, const event_record&) = default;
};

/// One outbound Alipay+ call and its answer, raw, with latency.
struct call_record {
  std::int64_t id = 0;             ///< row id; set by the store
  std::int64_t payment_id = 0;     ///< 0 for calls tied to no payment (consultPayment)
  std::string api{};               ///< "pay", "inquiryPayment", "cancelPayment", "consultPayment"
  std::string request_body{};      ///< exact bytes sent
  std::string request_headers{};   ///< headers sent, one "Name: value" per line
  std::int32_t http_status = 0;    ///< 0 = no HTTP answer (timeout, connection failure)
  std::string response_body{};     ///< exact bytes received
  std::string response_headers{};  ///< headers received, one "Name: value" per line
  std::string outcome{};           ///< e.g. "S/PAYMENT_IN_PROCESS", "timeout", "bad_signature"
  time_point started_at{};         ///< payment clock
  std::int64_t latency_us = 0;     ///< wall-clock time from send to answer or failure
  std::int64_t refund_id = 0;      ///< the refund this call is for ("refund", its inquiry); 0 = none
  friend bool operator==(const call_record&, const call_record&) = default;
};

/// One inbound notifyPayment, raw, with the result of its verification.
struct notify_record {
  std::int64_t id = 0;               ///< row id; set by the store
  std::int64_t payment_id = 0;       ///< 0 for an orphan (no known payment)
  std::string payment_request_id{};  ///< as read from the body, if it could be read
  std::string body{};                ///< exact bytes received
  std::string headers{};             ///< headers received, one "Name: value" per line
  /// "ok" for a verified notify, "garbled" for one signed by Alipay+ whose body does not decode:
  /// both authentic, kept whole. Anything else ("bad_signature", "wrong_client_id", ...) is a
  /// rejected notify, kept only within the rejected-notify budget and with a bounded prefix of
  /// its body and headers (sqlite_options).
  std::string verification{};
  time_point received_at{};          ///< payment clock: when the first copy arrived
  /// Identity of the notify for de-duplication (a hash of its body and Signature header), or
  /// empty: a notify whose digest is already stored is counted on that row, not stored again.
  std::string digest{};
  /// Read back: bytes of the body as received (the stored body of a rejected notify may be a
  /// prefix of it). Ignored on write: the store takes the size of `body`.
  std::int64_t body_bytes = 0;
  std::int64_t times_received = 1;  ///< read back: copies received (1 + identical re-sends)
  time_point last_received_at{};    ///< read back: payment clock of the last copy
  friend bool operator==(const notify_record&, const notify_record&) = default;
};

/// Delivery state of a merchant event.
enum class outbox_state {
  pending,    ///< waiting for (another) delivery attempt
  delivered,  ///< the merchant answered 2xx
  dead,       ///< the retry schedule ran out; listed by the CLI, may be redelivered
};

/// "pending", "delivered" or "dead".
std::string_view to_string(outbox_state s);
/// The outbox state named `text`, or nothing.
std::optional<outbox_state> parse_outbox_state(std::string_view text);

/// One merchant event in the outbox; its feed_seq is the merchant's events-feed cursor.
struct outbox_record {
  std::int64_t id = 0;     ///< row id, monotonically increasing in commit order; set by the store
  std::string event_id{};  ///< stable id (webhook-id): random, "evt_" + 26 base32 characters
  std::int64_t payment_id = 0;   ///< set by the store from the transition's payment
  std::int32_t seq = 0;          ///< per-payment sequence number, unique per payment
  std::string type{};            ///< "payment.succeeded", "payment.failed", "payment.cancelled"
  std::string payload{};         ///< the webhook body (JSON), byte-exact
  std::string target_url{};      ///< where to POST it
  std::int32_t attempts = 0;     ///< delivery attempts so far
  time_point next_attempt_at{};  ///< payment clock; due when <= now and pending
  outbox_state state = outbox_state::pending;  ///< delivery state
  std::int32_t last_status = 0;                ///< HTTP status of the last attempt, 0 = none
  std::string last_error{};                    ///< error of the last attempt, empty = none
  time_point created_at{};                     ///< payment clock
  /// Position in its merchant's events feed (the /v1/events cursor), increasing in commit order
  /// per merchant, so a cursor says nothing of other merchants' volume; set by the store.
  std::int64_t feed_seq = 0;
  friend bool operator==(const outbox_record&, const outbox_record&) = default;
};

/// New delivery state of an existing outbox row (after an attempt, or an operator redeliver).
struct outbox_progress {
  std::string event_id{};                      ///< the row to change
  std::int32_t attempts = 0;                   ///< attempts so far
  time_point next_attempt_at{};                ///< next attempt, when pending
  outbox_state state = outbox_state::pending;  ///< new delivery state
  std::int32_t last_status = 0;                ///< HTTP status of the last attempt, 0 = none
  std::string last_error{};                    ///< error of the last attempt, empty = none
};

/// One merchant-webhook delivery attempt.
struct webhook_attempt_record {
  std::int64_t id = 0;           ///< row id; set by the store
  std::string event_id{};        ///< the outbox row attempted
  time_point at{};               ///< payment clock
  std::int32_t http_status = 0;  ///< 0 = no HTTP answer
  std::string error{};           ///< empty on a 2xx
  std::int64_t latency_us = 0;   ///< wall-clock duration of the attempt
  friend bool operator==(const webhook_attempt_record&, const webhook_attempt_record&) = default;
};

/// Something that disagrees with what we know: recorded, counted and listed, never dropped.
struct anomaly_record {
  std::int64_t id = 0;          ///< row id; set by the store
  std::int64_t payment_id = 0;  ///< 0 when tied to no known payment
  std::string kind{};           ///< e.g. "contradicting_notify", "cancel_refused"
  std::string detail{};         ///< free text
  time_point at{};              ///< payment clock
  friend bool operator==(const anomaly_record&, const anomaly_record&) = default;
};

}  // namespace cashier::store
