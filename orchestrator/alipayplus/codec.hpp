// Encoding and decoding of the Alipay+ messages in messages.hpp. Decoding goes through
// parse_untrusted() (json_guard.hpp) and checks every field Alipay+'s rules cover: JSON strings
// only, lengths, amounts, currencies, result statuses, time shapes, required fields; it returns
// every error found (up to error_list::max_errors) with its path, and never throws on bad
// input. Encoding is Boost.JSON's value_from (tag_invoke below): known fields first, in a fixed
// order, then the extra fields, absent optionals omitted. It does not validate: encode what a
// decoder accepted, or what the daemon built from validated data.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>

#include "orchestrator/alipayplus/field_reader.hpp"
#include "orchestrator/alipayplus/json_guard.hpp"
#include "orchestrator/alipayplus/messages.hpp"

namespace cashier::aplus {

// --- decoding: whole messages ---

/// Decodes a pay request (used by aplus-sim and to re-read a stored request).
decode_result<pay_request> decode_pay_request(std::string_view body, const json_limits& limits = {});
/// Decodes a pay response.
decode_result<pay_response> decode_pay_response(std::string_view body, const json_limits& limits = {});
/// Decodes an inquiryPayment request (paymentRequestId or paymentId required).
decode_result<inquiry_payment_request> decode_inquiry_payment_request(std::string_view body,
                                                                      const json_limits& limits = {});
/// Decodes an inquiryPayment response.
decode_result<inquiry_payment_response> decode_inquiry_payment_response(std::string_view body,
                                                                        const json_limits& limits = {});
/// Decodes a cancelPayment request (paymentRequestId or paymentId required).
decode_result<cancel_payment_request> decode_cancel_payment_request(std::string_view body,
                                                                    const json_limits& limits = {});
/// Decodes a cancelPayment response.
decode_result<cancel_payment_response> decode_cancel_payment_response(std::string_view body,
                                                                      const json_limits& limits = {});
/// Decodes a consultPayment request.
decode_result<consult_payment_request> decode_consult_payment_request(std::string_view body,
                                                                      const json_limits& limits = {});
/// Decodes a consultPayment response.
decode_result<consult_payment_response> decode_consult_payment_response(std::string_view body,
                                                                        const json_limits& limits = {});
/// Decodes a notifyPayment request; its paymentResult must be S or F.
decode_result<notify_payment_request> decode_notify_payment_request(std::string_view body,
                                                                    const json_limits& limits = {});
/// The informational fields of `m` (e.g. "customerId", "paymentResult.resultMessage") that were
/// set aside by the lenient decoding because they broke their rule: kept raw, read as absent.
std::vector<std::string> informational_set_aside(const pay_response& m);
/// The same for an inquiryPayment response.
std::vector<std::string> informational_set_aside(const inquiry_payment_response& m);
/// The same for a notifyPayment request.
std::vector<std::string> informational_set_aside(const notify_payment_request& m);
/// Decodes a notifyPayment ack.
decode_result<notify_payment_ack> decode_notify_payment_ack(std::string_view body, const json_limits& limits = {});

// --- decoding: building blocks, for decoders of other bodies (e.g. the merchant API) ---

/// Reads an Amount: currency (ISO 4217 alpha-3) and value (minor units, digits only).
void read(object_reader& r, amount& out);
/// Reads a Result: resultCode, resultStatus (S, F or U), optional resultMessage.
void read(object_reader& r, api_result& out);
/// Reads a merchantAddress.
void read(object_reader& r, merchant_address& out);
/// Reads a merchant.
void read(object_reader& r, merchant& out);
/// Reads an env (terminalType WEB, WAP, APP or MINI_APP; osType IOS or ANDROID).
void read(object_reader& r, env& out);
/// Reads an order.
void read(object_reader& r, order& out);
/// Reads a paymentMethod.
void read(object_reader& r, payment_method& out);
/// Reads a paymentFactor.
void read(object_reader& r, payment_factor& out);
/// Reads a settlementStrategy.
void read(object_reader& r, settlement_strategy& out);
/// Reads a settlementQuote.
void read(object_reader& r, settlement_quote& out);
/// Reads one inquiryPayment transaction.
void read(object_reader& r, transaction& out);
/// Reads a logo.
void read(object_reader& r, logo& out);
/// Reads one supported wallet.
void read(object_reader& r, support_wallet& out);
/// Reads a connectWallet.
void read(object_reader& r, connect_wallet& out);
/// Reads a paymentOptionDetail.
void read(object_reader& r, payment_option_detail& out);
/// Reads one payment option.
void read(object_reader& r, payment_option& out);
/// Reads the fields of a pay request.
void read(object_reader& r, pay_request& out);
/// Reads the fields of a pay response.
void read(object_reader& r, pay_response& out);
/// Reads the fields of an inquiryPayment or cancelPayment request.
void read(object_reader& r, payment_lookup& out);
/// Reads the fields of an inquiryPayment response.
void read(object_reader& r, inquiry_payment_response& out);
/// Reads the fields of a cancelPayment response.
void read(object_reader& r, cancel_payment_response& out);
/// Reads the fields of a consultPayment request.
void read(object_reader& r, consult_payment_request& out);
/// Reads the fields of a consultPayment response.
void read(object_reader& r, consult_payment_response& out);
/// Reads the fields of a notifyPayment request.
void read(object_reader& r, notify_payment_request& out);
/// Reads the fields of a notifyPayment ack.
void read(object_reader& r, notify_payment_ack& out);

/// Decodes an already parsed (untrusted) `value` as a T; "not a JSON object" unless an object.
template <class T>
decode_result<T> decode_value(const boost::json::value& value) {
  if (!value.is_object()) return std::vector<field_error>{{"", "not a JSON object"}};
  error_list errors;
  T out;
  read_object(value, "", errors, out);
  if (!errors.empty()) return errors.take();
  return out;
}

// --- encoding ---

/// Writes an amount.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const amount& v);
/// Writes a result (resultMessage only when not empty).
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const api_result& v);
/// Writes a merchantAddress.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const merchant_address& v);
/// Writes a merchant.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const merchant& v);
/// Writes an env.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const env& v);
/// Writes an order.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const order& v);
/// Writes a paymentMethod.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const payment_method& v);
/// Writes a paymentFactor.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const payment_factor& v);
/// Writes a settlementStrategy.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const settlement_strategy& v);
/// Writes a settlementQuote.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const settlement_quote& v);
/// Writes a transaction.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const transaction& v);
/// Writes a logo.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const logo& v);
/// Writes a supported wallet.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const support_wallet& v);
/// Writes a connectWallet.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const connect_wallet& v);
/// Writes a paymentOptionDetail.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const payment_option_detail& v);
/// Writes a payment option.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const payment_option& v);
/// Writes a pay request.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const pay_request& v);
/// Writes a pay response.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const pay_response& v);
/// Writes an inquiryPayment or cancelPayment request.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const payment_lookup& v);
/// Writes an inquiryPayment response.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const inquiry_payment_response& v);
/// Writes a cancelPayment response.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const cancel_payment_response& v);
/// Writes a consultPayment request.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const consult_payment_request& v);
/// Writes a consultPayment response.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const consult_payment_response& v);
/// Writes a notifyPayment request.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const notify_payment_request& v);
/// Writes a notifyPayment ack.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const notify_payment_ack& v);

/// The JSON value of any message or part above.
template <class T>
boost::json::value to_json(const T& message) {
  return boost::json::value_from(message);
}

/// The JSON text of any message or part above; the same message always gives the same bytes.
template <class T>
std::string encode(const T& message) {
  return boost::json::serialize(to_json(message));
}

/// The ack that tells Alipay+ a notify was received and committed:
/// {"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}.
notify_payment_ack success_ack();

}  // namespace cashier::aplus
