// The merchant API's refunds (PRODUCT.md "Refunds"): POST /v1/payments/{id}/refunds and GET
// /v1/payments/{id}/refunds/{refundRequestId}, on the merchant's own payments only. A refund order
// is read strictly (refundRequestId 1..64 characters without control characters, refundAmount
// {currency, value} with a positive value, optional reason ≤ 256; other keys refused), kept as a
// canonical text for the idempotency check, and handed to the driver (create_refund), which stores it
// before the first send. Answers: 201 when Alipay+ gave S or F within createWaitMs, 202 while it
// is PROCESSING, 200 for an idempotent repeat, 409 REPEAT_REQ_INCONSISTENT for another body
// under the same key, 400 REFUND_AMOUNT_EXCEED / PAYMENT_NOT_REFUNDABLE naming the field.
// Cluster mode, on an instance that does not own the payment's shard (proto-docs/cluster.md "The
// inbox"): the order is checked read-only as the owner's create would (engine::
// answer_without_creating), posted to the inbox as a `refund` row, and the refund is awaited by
// re-reading it (a store-thread job every refund_poll_interval) for up to createWaitMs; found, it
// is answered as the owner's create would answer it; not yet, 503 + Retry-After (the row stays:
// the owner creates it and the merchant's retry with the same refundRequestId answers it).
#include <array>
#include <chrono>
#include <optional>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/alipayplus/json_guard.hpp"
#include "orchestrator/daemon/merchant_answers.hpp"
#include "orchestrator/daemon/inbox_relay.hpp"
#include "orchestrator/daemon/merchant_api.hpp"

namespace cashier::daemon {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using net::request;
using net::response;
using namespace answers;

/// Retries of a refund order that lost a race with another writer of its payment.
constexpr int max_refund_conflicts = 3;
/// How often a non-owner re-reads the store for the refund its inbox row asked the owner for.
constexpr std::chrono::milliseconds refund_poll_interval{25};

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

/// The answer to a refund order's outcome, as the owner's create gives it. `created` answers 201
/// when the refund is final, 202 while it is PROCESSING; nothing for `conflict` (retry).
std::optional<response> answer_of(const engine::refund_order_result& res) {
  switch (res.status) {
    case engine::refund_order_status::created:
      return json_response(is_final(res.r.status) ? 201 : 202, engine::refund_to_json(res.r));
    case engine::refund_order_status::repeat: return json_response(200, engine::refund_to_json(res.r));
    case engine::refund_order_status::inconsistent:
      return error_response(409, "REPEAT_REQ_INCONSISTENT", "refundRequestId is already used by a different request",
                            "refundRequestId");
    case engine::refund_order_status::amount_exceed:
      return error_response(400, "REFUND_AMOUNT_EXCEED", "the payment's refunds would exceed its amount",
                            "refundAmount.value");
    case engine::refund_order_status::not_refundable:
      return error_response(400, "PAYMENT_NOT_REFUNDABLE",
                            "only a SUCCESS payment with no cancel pending can be refunded", "paymentRequestId");
    case engine::refund_order_status::not_found: return error_response(404, "PAYMENT_NOT_FOUND", "no such payment");
    case engine::refund_order_status::conflict: break;
  }
  return std::nullopt;
}

response retry_later(std::string message) {
  auto r = error_response(503, "STORE_UNAVAILABLE", std::move(message));
  r.headers.push_back({"Retry-After", "1"});
  return r;
}

/// What a non-owner's re-read found: the refund (created, or a repeat's), the owner's refusal
/// (its row gone without a refund: the read-only checks say why), or nothing yet.
struct inbox_progress {
  std::optional<engine::refund_order_result> known;  ///< the answer, once there is one
};

/// The re-read (a store-thread job): the row first, then the refund, so a row seen gone means any
/// refund its create stored is already visible (the owner creates, then deletes the row).
inbox_progress read_progress(store::payment_store& s, const engine::refund_order& order, store::shard_id shard,
                             std::int64_t row) {
  auto& cluster = dynamic_cast<store::cluster_store&>(s);
  const std::array<store::shard_id, 1> shards{shard};
  const auto rows = cluster.inbox_of(shards, row - 1, 1);
  const bool row_gone = rows.empty() || rows.front().id != row;
  if (auto r = s.find_refund(order.payment_id, order.refund_request_id)) {
    // Stored by the owner from this order: answered as its create answered (201/202); another
    // body under the key: 409, as a repeat would be.
    if (r->merchant_request == order.merchant_request)
      return {engine::refund_order_result{engine::refund_order_status::created, std::move(*r), {}}};
    return {engine::refund_order_result{engine::refund_order_status::inconsistent, std::move(*r), {}}};
  }
  if (!row_gone) return {};
  // Applied without a refund: the owner refused it; its reason is what the checks say now.
  return {engine::answer_without_creating(s, order)};
}

}  // namespace

asio::awaitable<response> merchant_api::create_refund_through_inbox(const engine::refund_order& order,
                                                                    const std::string& alipay_request_id) {
  // The read-only checks first, as the owner's create would answer them (a repeat answers 200
  // here; a refusal answers without posting a row the owner would only refuse).
  auto check = [&order](store::payment_store& s) { return engine::answer_without_creating(s, order); };
  const auto known = co_await deps_.db.call(std::move(check));
  if (known) {
    if (auto r = answer_of(*known)) co_return std::move(*r);
  }
  const auto row = co_await inbox_->post_refund(order, alipay_request_id);
  if (!row) co_return retry_later("another cashierd instance drives this payment now; nothing was recorded, retry later");
  const auto shard = inbox_->shard_of(alipay_request_id);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(deps_.cfg.payment.create_wait_ms);
  for (;;) {
    auto reread = [&order, shard, id = *row](store::payment_store& s) { return read_progress(s, order, shard, id); };
    auto progress = co_await deps_.db.call(std::move(reread));
    if (progress.known) {
      if (auto r = answer_of(*progress.known)) co_return std::move(*r);
      break;  // the row is gone and the checks pass again (an amount freed meanwhile): retry
    }
    if (std::chrono::steady_clock::now() >= give_up) break;
    timer.expires_after(refund_poll_interval);
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return retry_later(
      "the refund was accepted for processing by the instance that drives this payment; retry with the same "
      "refundRequestId to get it");
}

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
  const std::string alipay_id(store::alipay_request_id(*p));
  if (inbox_ != nullptr && !inbox_->acts_for(alipay_id)) {
    // Cluster mode: a refund is created and driven by its payment's owner (the fence refuses its
    // writes anywhere else): the order goes to it through the inbox.
    co_return co_await create_refund_through_inbox(order, alipay_id);
  }
  for (int attempt = 0; attempt < max_refund_conflicts; ++attempt) {
    const auto res = co_await deps_.drv.create_refund(order, std::chrono::milliseconds(deps_.cfg.payment.create_wait_ms));
    if (auto r = answer_of(res)) co_return std::move(*r);
  }
  co_return error_response(503, "STORE_UNAVAILABLE", "the payment kept changing; retry later");
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
