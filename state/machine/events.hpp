// The inputs of the payment state machine: what the daemon learnt (an Alipay+ answer or its
// absence, a notify, a merchant or operator request, a deadline) as plain data. The daemon
// verifies signatures and parses messages before building an event; nothing here is raw wire
// data, and nothing here is trusted beyond what its type says.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "state/machine/money.hpp"
#include "state/machine/payment.hpp"

namespace cashier {

/// Why a call produced no usable answer; the machine treats every reason alike (retry).
enum class no_answer_reason {
  timeout,          ///< no response within the request timeout
  transport_error,  ///< connection, TLS or HTTP framing failure
  server_error,     ///< HTTP 5xx or another non-200 status
  unsigned_answer,  ///< a response without a signature
  bad_signature,    ///< a response whose signature does not verify
  garbled,          ///< a verified body that does not parse as the expected message
};

/// Who asked for a cancel.
enum class requester {
  merchant,   ///< the merchant API (POST /v1/payments/{id}/cancel)
  operator_,  ///< cashierctl through the admin API (`operator` is a C++ keyword)
  system,     ///< the daemon itself
};

/// What Alipay+ said about a payment beyond its status; empty strings mean "not said".
struct payment_facts {
  std::string payment_id;                  ///< paymentId
  std::string payment_time;                ///< paymentTime, as written
  std::string customer_id;                 ///< customerId
  std::string wallet_brand_name;           ///< walletBrandName
  std::optional<money> settlement_amount;  ///< settlementAmount
};

/// The daemon built the record (INIT, pending PAY, pay_request and expiry_at set).
struct created {};

/// A verified pay response.
struct pay_answer {
  aplus_result result;       ///< result (S, F or U with its code)
  payment_facts facts;       ///< paymentId, paymentTime
  std::string normal_url;    ///< normalUrl
  std::string payment_data;  ///< paymentData, verbatim
};

/// A pay call without a usable answer.
struct pay_no_answer {
  no_answer_reason reason;  ///< what went wrong
};

/// One entry of an inquiry answer's `transactions[]` (a cancel or refund of the payment).
struct payment_transaction {
  std::string type;                    ///< transactionType, e.g. CANCEL, REFUND
  std::string request_id;              ///< transactionRequestId
  std::string status;                  ///< transactionStatus, e.g. SUCCESS, FAIL, PROCESSING ("" = absent)
  std::optional<aplus_result> result;  ///< transactionResult, when present
  std::string id{};                    ///< transactionId (a refund's refundId), "" = absent
  std::optional<money> amount{};       ///< transactionAmount, when present
  friend bool operator==(const payment_transaction&, const payment_transaction&) = default;
};

/// True when `t` is a CANCEL or REFUND that succeeded: proof that money went back (all of it
/// for a CANCEL; a REFUND's transactionAmount says how much).
bool is_successful_reversal(const payment_transaction& t);

/// True when `transactions` prove that all of `amount` went back: a successful CANCEL, or
/// successful REFUNDs whose transactionAmounts (in `amount`'s currency) add up to it. A partial
/// refund, or a REFUND without its amount, is no proof that the payment was reversed.
bool reverses_in_full(const std::vector<payment_transaction>& transactions, const money& amount);

/// A verified inquiryPayment response.
struct inquiry_answer {
  aplus_result result;                         ///< did the call work
  std::optional<aplus_result> payment_result;  ///< the payment's status, when result is S
  payment_facts facts;                         ///< paymentId, paymentTime, customer, wallet, settlement
  std::optional<money> amount;                 ///< paymentAmount, when present
  std::vector<payment_transaction> transactions{};  ///< transactions[]: cancels and refunds
};

/// An inquiryPayment call without a usable answer.
struct inquiry_no_answer {
  no_answer_reason reason;  ///< what went wrong
};

/// A verified cancelPayment response.
struct cancel_answer {
  aplus_result result;  ///< result (S, F or U with its code)
};

/// A cancelPayment call without a usable answer.
struct cancel_no_answer {
  no_answer_reason reason;  ///< what went wrong
};

/// A notifyPayment whose signature, Client-Id and paymentRequestId the daemon has verified.
struct notify_verified {
  aplus_result payment_result;  ///< paymentResult (resultStatus S or F)
  money amount;                 ///< paymentAmount
  payment_facts facts;          ///< paymentId, paymentTime, customer, wallet, settlement
};

/// A notifyPayment that failed verification: only a hint to ask Alipay+ (rate-limited).
struct notify_unverified {};

/// A merchant, operator or the daemon asks to cancel.
struct cancel_requested {
  requester who;       ///< who asked
  std::string reason;  ///< free text, may be empty
};

/// The operator asks for an inquiry now (`cashierctl inquire`).
struct inquiry_requested {};

/// The merchant's create was answered 202 (pay had not answered within createWaitMs): the
/// merchant is owed `payment.pending` with normalUrl once pay answers PAYMENT_IN_PROCESS.
struct create_answered_early {};

/// The driver's timer for this payment fired (`now` should be ≥ next_action_at).
struct deadline_reached {};

/// One input to the machine.
using event = std::variant<created, pay_answer, pay_no_answer, inquiry_answer, inquiry_no_answer,
                           cancel_answer, cancel_no_answer, notify_verified, notify_unverified,
                           cancel_requested, inquiry_requested, create_answered_early,
                           deadline_reached>;

/// "timeout", "transport_error", ...: the enumerator's name.
std::string_view to_string(no_answer_reason r);
/// "merchant", "operator" or "system".
std::string_view to_string(requester r);

}  // namespace cashier
