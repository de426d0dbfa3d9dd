// The refund messages' codec (refund_codec.hpp), with the field rules of codec.cpp: ids and
// codes ≤ 64, refundReason ≤ 256, amounts strict, informational fields lenient.
#include "orchestrator/alipayplus/refund_codec.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>

namespace cashier::aplus {
namespace {

namespace json = boost::json;

constexpr text_rule id_rule{64};
constexpr text_rule reason_rule{256};
constexpr text_rule time_rule{64};

template <class T>
decode_result<T> decode_body(std::string_view body, const json_limits& limits) {
  auto parsed = parse_untrusted(body, limits);
  if (!parsed) return parsed.errors();
  return decode_value<T>(*parsed);
}

void put(json::object& o, std::string_view key, const std::optional<std::string>& v) {
  if (v) o.emplace(key, *v);
}

template <class T>
void put_object(json::object& o, std::string_view key, const std::optional<T>& v) {
  if (v) o.emplace(key, json::value_from(*v));
}

void finish(json::value& jv, json::object o, const extra_fields_t& extra) {
  for (const auto& field : extra) o.emplace(field.key(), field.value());  // known keys win
  jv = std::move(o);
}

}  // namespace

void read(object_reader& r, refund_request& out) {
  r.text("paymentRequestId", out.payment_request_id, id_rule);
  r.text("paymentId", out.payment_id, id_rule);
  if (!out.payment_request_id && !out.payment_id) r.error("paymentRequestId", "missing (and no paymentId)");
  r.text("refundRequestId", out.refund_request_id, id_rule);
  r.object("refundAmount", out.refund_amount);
  r.text("refundReason", out.refund_reason, reason_rule);
  if (out.refund_amount.minor_units == 0) r.error("refundAmount.value", "not positive");
}

void read(object_reader& r, refund_response& out) {
  r.object("result", out.result);
  r.lenient_text("acquirerId", out.acquirer_id, id_rule);
  r.lenient_text("pspId", out.psp_id, id_rule);
  r.text("refundId", out.refund_id, id_rule);
  r.lenient_text("refundTime", out.refund_time, time_rule);
  r.object("refundAmount", out.refund_amount);
  r.lenient_object("settlementAmount", out.settlement_amount);
  r.lenient_object("settlementQuote", out.settlement_quote);
}

decode_result<refund_request> decode_refund_request(std::string_view body, const json_limits& limits) {
  return decode_body<refund_request>(body, limits);
}

decode_result<refund_response> decode_refund_response(std::string_view body, const json_limits& limits) {
  return decode_body<refund_response>(body, limits);
}

std::vector<std::string> informational_set_aside(const refund_response& m) {
  auto out = set_aside(m.extra_fields,
                       {"refundTime", "settlementAmount", "settlementQuote", "acquirerId", "pspId"});
  for (auto& key : set_aside(m.result.extra_fields, {"resultMessage"})) out.push_back("result." + key);
  return out;
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const refund_request& v) {
  json::object o;
  put(o, "paymentRequestId", v.payment_request_id);
  put(o, "paymentId", v.payment_id);
  o.emplace("refundRequestId", v.refund_request_id);
  o.emplace("refundAmount", json::value_from(v.refund_amount));
  put(o, "refundReason", v.refund_reason);
  finish(jv, std::move(o), v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const refund_response& v) {
  json::object o;
  o.emplace("result", json::value_from(v.result));
  put(o, "acquirerId", v.acquirer_id);
  put(o, "pspId", v.psp_id);
  put(o, "refundId", v.refund_id);
  put(o, "refundTime", v.refund_time);
  put_object(o, "refundAmount", v.refund_amount);
  put_object(o, "settlementAmount", v.settlement_amount);
  put_object(o, "settlementQuote", v.settlement_quote);
  finish(jv, std::move(o), v.extra_fields);
}

std::string encode_refund_request(const refund_request& r) {
  return json::serialize(json::value_from(r));
}

}  // namespace cashier::aplus
