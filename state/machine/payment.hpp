// The payment record: everything the machine needs to decide a payment's next step, and
// everything the store keeps in its payments row. Plain data; the machine (machine.hpp) is
// the only code that changes status, pending action or deadlines.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "state/machine/money.hpp"
#include "state/machine/time.hpp"

namespace cashier {

/// The public status of a payment (PRODUCT.md). SUCCESS, FAIL and CANCELLED are final.
enum class payment_status {
  init,        ///< created; pay not yet answered definitively
  in_process,  ///< pay answered U/PAYMENT_IN_PROCESS; the user is at the checkout
  success,     ///< paid (final)
  fail,        ///< failed, verified F from Alipay+ (final)
  cancelled,   ///< cancelled at Alipay+ (final)
};

/// What the payment is waiting on; null in the public object when `none`.
enum class pending_action {
  none,     ///< nothing: final, or a cancel was abandoned on a SUCCESS
  pay,      ///< the pay request is being sent or retried
  inquiry,  ///< inquiry polling
  cancel,   ///< cancel pending: no SUCCESS or FAIL may be applied any more
};

/// How the pending action is being pursued: the sub-state that, with status and pending
/// action, names a phase (state/machine/phase.hpp). Persisted with the payment.
enum class settle_track {
  normal,          ///< the ordinary course of the pending action
  last_look,       ///< pending INQUIRY: one last inquiry at the cut-off before any cancel
  confirm_cancel,  ///< pending CANCEL: cancel answered ORDER_NOT_EXIST/ORDER_IS_CLOSED (or the window closed); one confirming inquiry decides
  slow_path,       ///< pending INQUIRY: no cancel possible; inquiry every 10 min for 24 h, then hourly up to 7 days
  parked,          ///< pending INQUIRY, nothing scheduled: the slow path ran out; the operator decides
};

/// Whether the merchant is owed a `payment.pending` event (its create was answered 202).
enum class pending_notice {
  none,    ///< the create was answered with the payment (201), or not yet known
  wanted,  ///< answered 202: emit `payment.pending` once pay answers PAYMENT_IN_PROCESS
  sent,    ///< `payment.pending` was emitted
};

/// An Alipay+ result triple (`result` or `paymentResult`).
struct aplus_result {
  std::string code;     ///< resultCode, e.g. PAYMENT_IN_PROCESS
  char status = 'U';    ///< resultStatus: 'S', 'F' or 'U'
  std::string message;  ///< resultMessage
  friend bool operator==(const aplus_result&, const aplus_result&) = default;
};

/// One payment, as the store keeps it.
struct payment {
  std::int64_t id = 0;             ///< store row id; 0 until inserted
  std::int64_t version = 0;        ///< compare-and-set version, bumped on every write
  std::string payment_request_id;  ///< the merchant's idempotency key, unique per merchant (≤ 64)
  std::string merchant_id;         ///< the merchant that created it (config `merchants[].id`)
  /// cashierd's own paymentRequestId towards Alipay+ (≤ 64), unique across merchants; "" means
  /// the same as payment_request_id (store::alipay_request_id reads it that way).
  std::string alipay_payment_request_id;

  payment_status status = payment_status::init;   ///< public status
  pending_action pending = pending_action::pay;   ///< what it waits on
  settle_track track = settle_track::normal;  ///< how the pending action is pursued (last look, slow path, ...)
  pending_notice notice = pending_notice::none;  ///< the merchant's `payment.pending` (202 creates)
  std::int32_t cancel_refusals = 0;  ///< cancels answered F with an unlisted code since the cancel started
  std::int32_t attempt = 0;        ///< sends of the current pending action so far (pay, inquiry or cancel)
  std::int32_t event_seq = 0;      ///< merchant events emitted so far (the last event's sequence number)

  money amount;                    ///< paymentAmount
  time_point expiry_at{};          ///< paymentExpiryTime sent with pay
  time_point poll_deadline_at{};   ///< expiry_at + pollGrace: polling stops and cancel starts
  time_point next_action_at = never;  ///< when the machine wants to be woken (deadline heap key)
  time_point slow_path_since{};    ///< when the slow path started (its 24 h and 7 days count from here)
  time_point last_hint_inquiry_at{};  ///< last inquiry prompted by an unverified notify (rate limit)
  time_point created_at{};         ///< payment clock
  time_point updated_at{};         ///< payment clock

  std::string pay_request;         ///< the exact pay request body, sent byte-identical on every retry
  std::string merchant_request;    ///< the merchant's create body, as received (idempotency check)
  std::string merchant_notify_url; ///< per-payment webhook URL; empty = the merchant's default

  // What Alipay+ told us; empty strings mean "not known yet".
  std::string payment_id;          ///< Alipay+'s paymentId
  std::string normal_url;          ///< checkout URL for the user
  std::string payment_data;        ///< paymentData (a JSON string, kept verbatim)
  std::string wallet_brand_name;   ///< walletBrandName
  std::string customer_id;         ///< customerId
  std::string payment_time;        ///< paymentTime as Alipay+ wrote it (ISO 8601)
  std::optional<money> settlement_amount;  ///< settlementAmount
  std::optional<aplus_result> result;      ///< the last Alipay+ result that changed the payment
  std::string cancel_reason;       ///< why a cancel was asked (merchant, operator, expiry, mismatch)
  std::string checkout_id;         ///< the hosted page's unguessable id (/pay/<id>); fixed at create
  friend bool operator==(const payment&, const payment&) = default;
};

/// True for SUCCESS, FAIL and CANCELLED.
constexpr bool is_final(payment_status s) {
  switch (s) {
    case payment_status::init:
    case payment_status::in_process: return false;
    case payment_status::success:
    case payment_status::fail:
    case payment_status::cancelled: return true;
  }
  return false;
}

/// "INIT", "IN_PROCESS", "SUCCESS", "FAIL" or "CANCELLED".
std::string_view to_string(payment_status s);
/// The status named `text` (the public names above), or nothing.
std::optional<payment_status> parse_payment_status(std::string_view text);
/// "PAY", "INQUIRY", "CANCEL", or "" for none (null in JSON).
std::string_view to_string(pending_action a);
/// The pending action named `text` ("" = none), or nothing.
std::optional<pending_action> parse_pending_action(std::string_view text);
/// "normal", "last_look", "confirm_cancel", "slow_path" or "parked" (the stored names).
std::string_view to_string(settle_track t);
/// The track named `text`, or nothing.
std::optional<settle_track> parse_settle_track(std::string_view text);

}  // namespace cashier
