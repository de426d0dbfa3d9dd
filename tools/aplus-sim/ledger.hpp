// The simulated Alipay+'s books: every payment's truth and every payment's scenario, and the
// business logic of pay, inquiryPayment, cancelPayment, consultPayment and the payer's actions,
// each turning request bytes into the answer message Alipay+ would give. Pure: no I/O, no clock
// reads (the payment-clock `now` is handed in), no signatures (wire.hpp adds those), no faults
// applied to answers (the server does that with the scenario kept here).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "orchestrator/alipayplus/messages.hpp"
#include "orchestrator/alipayplus/refund_codec.hpp"
#include "tools/aplus-sim/scenario.hpp"
#include "tools/aplus-sim/truth.hpp"

namespace cashier::sim {

/// The simulated Alipay+'s identifiers in answers and notifies.
inline constexpr std::string_view sim_acquirer_id = "1022188000000000001";
/// The simulated PSP (wallet operator) id.
inline constexpr std::string_view sim_psp_id = "1022172000000000001";

/// What a pay call did to the books.
enum class pay_effect {
  none,     ///< nothing new: a repeat, an inconsistent repeat or an invalid request
  created,  ///< a new order waiting for its payer
  settled,  ///< a new order that is already paid (pay-success-immediately): notify it
};

/// An answer and the paymentRequestId it concerns ("" when the request named none we know).
template <class Answer>
struct api_outcome {
  Answer answer;                   ///< the message to send
  std::string payment_request_id;  ///< whose scenario applies to this call
};

/// The answer to a pay call and what it did.
struct pay_outcome : api_outcome<aplus::pay_response> {
  pay_effect effect = pay_effect::none;  ///< what the server must start
};

/// Every payment the simulator knows, by paymentRequestId.
class ledger {
 public:
  /// Books whose checkout pages live under `checkout_base` (e.g. "https://127.0.0.1:9443") and
  /// whose paymentIds start with `payment_id_prefix` (at most 40 characters).
  ledger(std::string checkout_base, std::string payment_id_prefix);

  /// Changes where normalUrl points (once the listening port is known).
  void set_checkout_base(std::string checkout_base) { checkout_base_ = std::move(checkout_base); }

  /// The scenario of `payment_request_id`, made empty on first use.
  scenario& scenario_for(const std::string& payment_request_id) { return scenarios_[payment_request_id]; }

  /// Handles a pay request body: PARAM_ILLEGAL when it does not decode (or names an unknown
  /// fault); a new order answers U PAYMENT_IN_PROCESS with normalUrl and paymentData (S with
  /// pay-success-immediately); a repeat with the same amount, paymentFactor, settlementStrategy
  /// and paymentMethodType answers from the truth (S once paid); any other repeat answers F
  /// REPEAT_REQ_INCONSISTENT and changes nothing.
  pay_outcome pay(std::string_view body, time_point now);

  /// Handles an inquiryPayment body: F ORDER_NOT_EXIST for an unknown payment, else S with the
  /// payment's own result and details.
  api_outcome<aplus::inquiry_payment_response> inquire(std::string_view body);

  /// Handles a cancelPayment body: F ORDER_NOT_EXIST for an unknown payment, F
  /// CANCEL_WINDOW_EXCEED past the window (or with cancel-window-exceeded), else S: the order is
  /// closed, a paid one refunded, and no notify follows.
  api_outcome<aplus::cancel_payment_response> cancel(std::string_view body, time_point now);

  /// Handles a refund body (sim_refund.cpp): F ORDER_NOT_EXIST for an unknown payment, F
  /// ORDER_STATUS_INVALID unless paid and not cancelled, F REFUND_WINDOW_EXCEED past the refund
  /// window (or with refund-window-exceeded), F REFUND_AMOUNT_EXCEED when the successful refunds
  /// would pass the amount (or another currency), else S with a refundId. A decided
  /// refundRequestId answers the same again for the same body, F REPEAT_REQ_INCONSISTENT for
  /// another one (nothing changes).
  api_outcome<aplus::refund_response> refund(std::string_view body, time_point now);

  /// How long after the payer paid refunds are accepted (default 365 days).
  void set_refund_window(duration window) { refund_window_ = window; }

  /// Handles a consultPayment body: CONNECT_WALLET enabled, with a logo and two wallets.
  aplus::consult_payment_response consult(std::string_view body) const;
  /// Whether consultPayment offers Alipay+ as enabled (POST /sim/consult turns it off and on).
  bool consult_enabled = true;

  /// Applies the payer's `action` to an order still in process and not abandoned; false (and
  /// nothing changes) otherwise. Paying or failing schedules the notifies.
  bool payer_acts(const std::string& payment_request_id, payer_action action, time_point now);

  /// The truth of `payment_request_id`, or nullptr.
  truth* find(std::string_view payment_request_id);
  /// The truth whose paymentId is `payment_id`, or nullptr.
  truth* find_by_payment_id(std::string_view payment_id);

  /// The notifyPayment request that reports `t`'s result (paid or failed).
  aplus::notify_payment_request notify_request(const truth& t) const;

  /// {truth..., "scenario": {...}} for GET /sim/payments/<id>, or nothing when unknown.
  std::optional<boost::json::object> describe(std::string_view payment_request_id);

 private:
  pay_outcome create(aplus::pay_request request, std::string_view body, time_point now);
  aplus::pay_response pay_answer(const truth& t) const;
  void finish(truth& t, order_status status, time_point now);

  std::string checkout_base_;
  std::string payment_id_prefix_;
  std::int64_t next_sequence_ = 1;
  std::int64_t next_refund_ = 1;
  duration refund_window_ = std::chrono::hours{24 * 365};
  std::map<std::string, truth, std::less<>> truths_;
  std::map<std::string, std::string, std::less<>> by_payment_id_;
  std::map<std::string, scenario, std::less<>> scenarios_;
};

}  // namespace cashier::sim
