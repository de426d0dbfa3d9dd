// The merchant API's refunds (PRODUCT.md "Refunds"): POST /v1/payments/{id}/refunds and GET
// /v1/payments/{id}/refunds/{refundRequestId}, on the merchant's own payments only. A refund order
// is read strictly (refundRequestId 1..64 characters without control characters, refundAmount
// {currency, value} with a positive value, optional reason ≤ 256; other keys refused), kept as a
// canonical text for the idempotency check, and handed to the driver (create_refund), which stores it
// before the first send. Answers: 201 when Alipay+ gave S or F within createWaitMs, 202 while it
// is PROCESSING, 200 for an idempotent repeat, 409 REPEAT_REQ_INCONSISTENT for another body
// under the same key, 400 REFUND_AMOUNT_EXCEED / PAYMENT_NOT_REFUNDABLE naming the field.
// Where the order goes (the driver, or in cluster mode the owner's inbox) is refund_placement.hpp,
// shared with the operator's refund (admin_api.cpp).
#include <chrono>
#include <optional>
#include <utility>

#include <boost/json/serialize.hpp>

#include "orchestrator/alipayplus/json_guard.hpp"
#include "orchestrator/daemon/merchant_answers.hpp"
#include "orchestrator/daemon/merchant_api.hpp"
#include "orchestrator/daemon/refund_placement.hpp"

namespace cashier::daemon {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using net::request;
using net::response;
using namespace answers;

bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

/// The refund order read from `body`, or the error answer.
std::variant<engine::refund_order, response> read_order(const std::string& body, const payment& p) {
  const auto parsed = aplus::parse_untrusted(body);
  if (!parsed || !parsed->is_object()) return error_response(400, "INVALID_REQUEST", "the body is not a JSON object");
  const json::object& o = parsed->get_object();
  for (const auto& kv : o) {
    if (kv.key() != "refundRequestId" && kv.key() != "refundAmount" && kv.key() != "reason")
      return error_response(400, "INVALID_REQUEST", "unknown field", kv.key());
  }
  engine::refund_order order;
  order.payment_id = p.id;
  const auto* id = o.if_contains("refundRequestId");
  if (id == nullptr || !id->is_string() || id->get_string().empty() || id->get_string().size() > 64 ||
      has_control(id->get_string()))
    return error_response(400, "INVALID_REQUEST", "a string of 1 to 64 characters without control characters",
                          "refundRequestId");
  order.refund_request_id = std::string(id->get_string());
  const auto* amount = o.if_contains("refundAmount");
  const json::object* a = amount != nullptr ? amount->if_object() : nullptr;
  if (a == nullptr) return error_response(400, "INVALID_REQUEST", "an object {currency, value}", "refundAmount");
  const auto* currency = a->if_contains("currency");
  const auto code = currency != nullptr && currency->is_string() ? currency_code::parse(currency->get_string())
                                                                  : std::nullopt;
  if (!code) return error_response(400, "INVALID_REQUEST", "a 3-letter ISO 4217 code", "refundAmount.currency");
  const auto* value = a->if_contains("value");
  const auto minor = value != nullptr && value->is_string() ? parse_minor_units(value->get_string()) : std::nullopt;
  if (!minor || *minor <= 0 || a->size() != 2)
    return error_response(400, "INVALID_REQUEST", "a positive integer in minor units, as a string", "refundAmount.value");
  order.amount = money{*minor, *code};
  if (const auto* reason = o.if_contains("reason")) {
    if (!reason->is_string() || reason->get_string().size() > 256 || has_control(reason->get_string()))
      return error_response(400, "INVALID_REQUEST", "a string of at most 256 characters", "reason");
    order.reason = std::string(reason->get_string());
  }
  order.origin = refund_origin::merchant;
  // Canonical: the same order in any key order or spacing is the same text.
  order.merchant_request = json::serialize(json::object{
      {"refundRequestId", order.refund_request_id},
      {"refundAmount", {{"currency", order.amount.currency.str()}, {"value", format_minor_units(*minor)}}},
      {"reason", order.reason}});
  return order;
}

}  // namespace

asio::awaitable<response> merchant_api::create_refund(const request& req, const merchant_config& m,
                                                      const std::string& id) {
  if (auto bad = check_json_body(req)) co_return *bad;
  if (!deps_.drv.serves_refunds()) co_return error_response(503, "REFUNDS_UNAVAILABLE", "refunds are not enabled");
  const auto p = co_await own_payment(m, id);
  if (!p) co_return error_response(404, "PAYMENT_NOT_FOUND", "no such payment");
  auto read = read_order(req.body, *p);
  if (auto* bad = std::get_if<response>(&read)) co_return std::move(*bad);
  auto& order = std::get<engine::refund_order>(read);
  if (order.amount.currency != p->amount.currency)
    co_return error_response(400, "INVALID_REQUEST", "not the payment's currency", "refundAmount.currency");
  const refund_placement_deps place{deps_.db, deps_.drv, inbox_,
                                    std::chrono::milliseconds(deps_.cfg.payment.create_wait_ms)};
  const auto placed = co_await place_refund(place, std::move(order), std::string(store::alipay_request_id(*p)));
  co_return answer_to(placed, "refundAmount.value", error_response(404, "PAYMENT_NOT_FOUND", "no such payment"));
}

asio::awaitable<response> merchant_api::get_refund(const merchant_config& m, const std::string& id,
                                                   const std::string& refund_id) {
  // One job: the merchant's payment, then its refund (nothing when the payment is not found).
  const auto job = [merchant = m.id, id, refund_id](store::payment_store& s) {
    std::pair<bool, std::optional<refund>> out{false, std::nullopt};
    const auto p = s.find(merchant, id);
    if (!p) return out;
    out.first = true;
    out.second = s.find_refund(p->id, refund_id);
    return out;
  };
  const auto found = co_await deps_.db.call(job);
  if (!found.first) co_return error_response(404, "PAYMENT_NOT_FOUND", "no such payment");
  if (!found.second) co_return error_response(404, "REFUND_NOT_FOUND", "no such refund");
  co_return json_response(200, engine::refund_to_json(*found.second));
}

}  // namespace cashier::daemon
