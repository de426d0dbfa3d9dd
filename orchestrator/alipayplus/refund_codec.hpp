// The Alipay+ refund messages (`POST /aps/api/v1/payments/refund`, ALIPAYPLUS.md "refund") and
// their codec, beside the other messages' (codec.hpp) with the same rules. The request names the
// payment (paymentRequestId and/or paymentId), cashierd's own refundRequestId (≤ 64, the
// idempotency key) and refundAmount. In the response, what the refund machine acts on is strict
// (result, refundId, refundAmount: a broken one makes the answer garbled, so the same bytes are
// sent again); informational fields (refundTime, settlementAmount, settlementQuote, acquirerId,
// pspId, resultMessage) are lenient: set aside raw and read as absent.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/messages.hpp"

namespace cashier::aplus {

/// refund request.
struct refund_request {
  std::optional<std::string> payment_request_id;  ///< the payment, by cashierd's id
  std::optional<std::string> payment_id;          ///< the payment, by Alipay+'s id
  std::string refund_request_id;                  ///< cashierd's own, unique (≤ 64)
  amount refund_amount;                           ///< value > 0
  std::optional<std::string> refund_reason;       ///< free text (≤ 256)
  extra_fields_t extra_fields;
  friend bool operator==(const refund_request&, const refund_request&) = default;
};

/// refund response.
struct refund_response {
  api_result result;
  std::optional<std::string> acquirer_id;
  std::optional<std::string> psp_id;
  std::optional<std::string> refund_id;          ///< Alipay+'s id of the refund
  std::optional<std::string> refund_time;        ///< as written
  std::optional<amount> refund_amount;           ///< what was refunded
  std::optional<amount> settlement_amount;
  std::optional<aplus::settlement_quote> settlement_quote;
  extra_fields_t extra_fields;
  friend bool operator==(const refund_response&, const refund_response&) = default;
};

/// Reads the fields of a refund request (aplus-sim).
void read(object_reader& r, refund_request& out);
/// Reads the fields of a refund response.
void read(object_reader& r, refund_response& out);
/// Decodes a refund request (paymentRequestId or paymentId required; refundAmount value > 0).
decode_result<refund_request> decode_refund_request(std::string_view body, const json_limits& limits = {});
/// Decodes a refund response.
decode_result<refund_response> decode_refund_response(std::string_view body, const json_limits& limits = {});
/// The informational fields of `m` set aside by the lenient decoding (for the log).
std::vector<std::string> informational_set_aside(const refund_response& m);

/// Writes a refund request.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const refund_request& v);
/// Writes a refund response.
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const refund_response& v);

/// The body of a refund request, serialised once: the refund machine resends these bytes.
std::string encode_refund_request(const refund_request& r);

}  // namespace cashier::aplus
