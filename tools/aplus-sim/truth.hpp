// What aplus-sim holds to be true about one payment (its "truth"): the order as first paid,
// whether the payer paid, failed or abandoned, whether it was cancelled (refunded when paid),
// every pay body seen, and every notify delivery. Plus the pure rules around it: the cancel
// window and the notify plan. No I/O and no clock reads: times are handed in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "orchestrator/alipayplus/messages.hpp"
#include "state/machine/time.hpp"
#include "tools/aplus-sim/scenario.hpp"

namespace cashier::sim {

/// The order's state at Alipay+.
enum class order_status {
  in_process,  ///< created by pay; the payer has not finished (or has abandoned)
  paid,        ///< the payer paid
  failed,      ///< the payer's wallet declined
  cancelled,   ///< cancelPayment closed it (and refunded it when it was paid)
};

/// What the payer did at the checkout.
enum class payer_action {
  pay,      ///< the payer paid
  fail,     ///< the payment failed at the wallet
  abandon,  ///< the payer left without paying
};

/// Where the notifyPayment deliveries of a payment stand.
enum class notify_state {
  not_due,    ///< the payer has not finished: nothing to notify yet
  scheduled,  ///< an attempt is due at next_notify_at
  acked,      ///< an attempt was acked: done
  exhausted,  ///< every attempt of the schedule went un-acked
  stopped,    ///< the order was cancelled: no notify after that
  none,       ///< notify-none: this payment is never notified
};

/// One notifyPayment sent (one copy of an attempt).
struct notify_delivery {
  std::int32_t attempt = 0;   ///< 0 for the first notify, 1.. for the retries
  time_point at;              ///< payment-clock instant it was sent
  std::int32_t http_status = 0;  ///< the answer's status, 0 when none came
  bool acked = false;         ///< HTTP 200, result S and a valid signature
  bool badly_signed = false;  ///< sent with a wrong signature on purpose (notify-badsig)
  std::string detail;         ///< why it was not an ack, or "acked"
};

/// One refund Alipay+ decided (S or F), by the ACQP's refundRequestId.
struct sim_refund {
  std::string refund_request_id;  ///< the ACQP's id (cashierd's own)
  std::string body;               ///< the first request's bytes
  std::int64_t amount = 0;        ///< refundAmount, minor units
  bool succeeded = false;         ///< S (money returned) or F
  std::string code;               ///< the result code (SUCCESS or why refused)
  std::string refund_id;          ///< ours, for an S
  time_point at;                  ///< when it was decided
  std::int32_t calls = 1;         ///< refund calls with this id
};

/// The simulator's truth about one payment.
struct truth {
  std::string payment_request_id;  ///< the ACQP's id
  std::string payment_id;          ///< ours
  aplus::pay_request request;      ///< the first accepted pay request
  std::string first_body;          ///< its bytes
  std::int32_t pay_bodies = 0;     ///< pay requests seen with this id
  bool pay_bodies_identical = true;  ///< every one byte-identical to the first
  std::vector<std::string> other_bodies;  ///< distinct pay bodies unlike the first (at most 10)
  std::int32_t inconsistent_pays = 0;  ///< answered F REPEAT_REQ_INCONSISTENT
  std::int32_t inquiries = 0;      ///< inquiryPayment calls for it
  std::int32_t cancels = 0;        ///< cancelPayment calls for it
  std::vector<sim_refund> refunds; ///< every refund decided, in order
  std::int32_t inconsistent_refunds = 0;  ///< refund repeats with another body (F REPEAT_REQ_INCONSISTENT)
  order_status status = order_status::in_process;  ///< where the order stands
  bool paid = false;               ///< the payer paid (stays true after a refund)
  bool refunded = false;           ///< a cancel returned the money
  bool abandoned = false;          ///< the payer left the checkout
  time_point created_at;           ///< when pay created it
  std::optional<time_point> finished_at;   ///< when the payer paid or failed (paymentTime)
  std::optional<time_point> cancelled_at;  ///< when it was cancelled
  std::string customer_id;         ///< the payer's wallet customer id
  std::string wallet_brand_name;   ///< the payer's wallet
  std::vector<notify_delivery> deliveries;  ///< every notify copy sent, in order
  std::optional<time_point> next_notify_at;  ///< when the next attempt is due, if any
  sim::notify_state notify = notify_state::not_due;  ///< where the notifies stand
};

/// The lower-case name of `s` for JSON ("in_process", "paid", "failed", "cancelled").
std::string_view to_string(order_status s);

/// The lower-case name of `s` for JSON ("not_due", "scheduled", ...).
std::string_view to_string(notify_state s);

/// A result {resultCode, resultStatus, resultMessage}.
aplus::api_result make_result(char status, std::string code, std::string message);

/// The payment's own result as inquiry and notify report it: U PAYMENT_IN_PROCESS, S SUCCESS,
/// F USER_BALANCE_NOT_ENOUGH (the payer's wallet declined) or F ORDER_IS_CLOSED (cancelled).
aplus::api_result payment_result_of(const truth& t);

/// The last instant a cancel is accepted for an order created at `created`: 00:15 (UTC+8) of
/// the next day, as Alipay+ documents.
time_point cancel_window_end(time_point created);

/// When the notifies are due, as offsets from the payer's finish: 0, then Alipay+'s retries
/// after 2 m, 10 m, 10 m, 1 h, 2 h, 6 h, 15 h (cumulative). With notify-late the attempts before
/// the 1 h retry are skipped (the first goes out 1 h 22 m after); notify-after adds its delay to
/// every attempt; with notify-none there is none.
std::vector<duration> notify_plan(const scenario& s);

/// The sum of `t`'s successful refunds, minor units.
std::int64_t refunded_minor(const truth& t);

/// The truth as JSON for GET /sim/payments/<id> (times as ISO 8601 on the payment clock).
boost::json::object to_json(const truth& t);

}  // namespace cashier::sim
