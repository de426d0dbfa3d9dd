// The encoding of an engine::input that travels through the cluster inbox (proto-docs/cluster.md
// "The inbox"): an instance that does not own a payment's shard posts the input as a row (kind,
// body) and the owner decodes it back and applies it. Pure: no I/O, no clock, no exceptions out.
// Only inputs that name an existing payment and come from outside the owner travel: a verified
// notifyPayment with its notify record (and the anomalies found on the way in), a cancel request
// (merchant, operator or system), an operator's inquiry, and the note that a create was answered
// early. A create (no payment yet), Alipay+ answers (the owner's own calls) and deadlines do not.
// A refund order (refunds.hpp) travels too, as the kind `refund`: it is not an engine::input (the
// owner creates it with driver::create_refund), so it has its own pair encode_refund_inbox() /
// decode_refund_inbox(); decode_inbox() answers unknown_format for it, as a build without refund
// rows does (the row is kept, never applied as something else).
// The body is JSON, versioned ("v": 1), byte strings as lowercase hex; the decoder treats it as
// hostile (it comes from a shared database): bounded sizes, every field checked, unknown keys
// refused, and it tells "a newer format" (keep the row for an instance that knows it) from
// "malformed" (never applicable: an anomaly).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "orchestrator/engine/engine.hpp"
#include "orchestrator/engine/refunds.hpp"

namespace cashier::engine {

/// The version of the body encode_inbox() writes; decode_inbox() reads this one only.
inline constexpr int inbox_body_version = 1;
/// An inbox body longer than this is refused by both sides (a notify body and its headers are at
/// most 64 KiB + 8 KiB on the wire, twice that as hex, plus the rest).
inline constexpr std::size_t max_inbox_body_bytes = 256 * 1024;

/// What an inbox row carries (its `kind` column).
enum class inbox_kind {
  notify,        ///< a verified notifyPayment (notify_verified) with its notify record
  cancel,        ///< a cancel request (cancel_requested)
  inquiry,       ///< the operator's inquiry (inquiry_requested)
  early_answer,  ///< the merchant's create was answered 202 (create_answered_early)
  refund,        ///< a refund order (engine::refund_order) made on a non-owner
  redeliver,     ///< the operator's redeliver of a merchant event (its event id) made on a non-owner
};

/// The `kind` column's text of `k` ("notify", "cancel", "inquiry", "early_answer", "refund",
/// "redeliver").
std::string_view to_string(inbox_kind k);

/// An input as an inbox row's kind and body.
struct inbox_message {
  std::string kind;  ///< to_string(inbox_kind)
  std::string body;  ///< JSON, version inbox_body_version
};

/// Why encode_inbox() refused an input.
enum class inbox_refusal {
  not_an_inbox_input,  ///< a create, a log-only input, calls, or an event only the owner produces
  too_large,           ///< a field beyond the decoder's bounds (cannot come from a valid request)
};

/// The row for `in`, or why it cannot travel. `in.payment_id` and `in.inbox_id` are not part of
/// the body: the row carries the payment id, and the applying instance sets inbox_id.
std::variant<inbox_message, inbox_refusal> encode_inbox(const input& in);

/// Why a row could not be decoded.
enum class inbox_failure {
  unknown_format,  ///< a kind or body version this build does not know (a newer poster): keep the row
  malformed,       ///< a known kind and version that breaks a rule: no build can apply it
};

/// A row that could not be decoded.
struct inbox_decode_error {
  inbox_failure failure = inbox_failure::malformed;  ///< which kind of failure
  std::string detail;                                ///< what is wrong (printable ASCII, bounded)
};

/// The input a row carries (payment_id and inbox_id left 0 for the caller to set from the row),
/// or why not. Never throws. A `refund` or `redeliver` row is not an input: unknown_format
/// (decode_refund_inbox, decode_redeliver_inbox).
std::variant<input, inbox_decode_error> decode_inbox(std::string_view kind, std::string_view body);

/// The row (kind `refund`) for `order`, or why it cannot travel (too_large; not_an_inbox_input
/// for an order without a payment or with a non-positive amount). `order.payment_id` is not part
/// of the body: the row carries it.
std::variant<inbox_message, inbox_refusal> encode_refund_inbox(const refund_order& order);

/// The refund order a `refund` row's body carries (payment_id left 0 for the caller to set from
/// the row), or why not, with the same classes of failure as decode_inbox(). Never throws.
std::variant<refund_order, inbox_decode_error> decode_refund_inbox(std::string_view body);

/// The row (kind `redeliver`) for the operator's redeliver of merchant event `event_id`, or why it
/// cannot travel (not_an_inbox_input when empty, too_large beyond max_event_id_bytes).
std::variant<inbox_message, inbox_refusal> encode_redeliver_inbox(std::string_view event_id);

/// The event id a `redeliver` row's body carries, or why not (as decode_inbox()). Never throws.
std::variant<std::string, inbox_decode_error> decode_redeliver_inbox(std::string_view body);

/// An event id longer than this does not travel (ours are "evt_" + 26 characters).
inline constexpr std::size_t max_event_id_bytes = 128;

}  // namespace cashier::engine
