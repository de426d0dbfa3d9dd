// The admin API's handlers (see admin_api.hpp).
#include "orchestrator/daemon/admin_api.hpp"

#include <optional>
#include <utility>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/alipayplus/json_guard.hpp"
#include "orchestrator/daemon/merchant_answers.hpp"
#include "orchestrator/daemon/refund_placement.hpp"
#include "orchestrator/engine/payment_view.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;
namespace json = boost::json;
using answers::json_response;
using answers::server_error_response;

asio::awaitable<net::response> admin_api::handle(const route_match& matched, const net::request& req) {
  const auto id = matched.matched->id;
  switch (id) {
    case route_id::admin_cancel:
    case route_id::admin_inquire:
    case route_id::admin_redeliver: co_return co_await act(id, matched.params[0], req.target);
    case route_id::admin_refund: co_return co_await refund(matched.params[0], req);
    case route_id::notify:
    case route_id::create_payment:
    case route_id::consult:
    case route_id::get_payment:
    case route_id::cancel_payment:
    case route_id::create_refund:
    case route_id::get_refund:
    case route_id::events_feed:
    case route_id::healthz:
    case route_id::readyz:
    case route_id::metrics: break;
  }
  co_return server_error_response(404, "NOT_FOUND", "no route for this path");
}

/// The payment an admin action names (issue 14, item 5), or the answer to send: 404, 409
/// AMBIGUOUS_PAYMENT_ID, or 400 for a bad query.
asio::awaitable<std::variant<payment, net::response>> admin_api::named_payment(const std::string& name,
                                                                                std::string_view target) {
  std::optional<std::string> merchant;
  for (auto& [key, value] : answers::query_params(target)) {
    if (key != "merchant" || value.empty())
      co_return server_error_response(400, "INVALID_REQUEST", "only ?merchant=<merchant id> is accepted here");
    merchant = std::move(value);
  }
  const auto resolve = [name, merchant](store::payment_store& s) { return store::resolve_payment_name(s, name, merchant); };
  auto named = co_await deps_.db.call(resolve);
  switch (named.resolution) {
    case store::name_resolution::found: co_return std::move(*named.p);
    case store::name_resolution::not_found: break;
    case store::name_resolution::ambiguous:
      co_return server_error_response(409, "AMBIGUOUS_PAYMENT_ID",
                                      "several merchants use paymentRequestId " + name + "; add ?merchant=<merchant id>");
  }
  co_return server_error_response(404, "NOT_FOUND", "no payment " + name);
}

/// An admin action on payment or event `id` (already percent-decoded by the matcher).
asio::awaitable<net::response> admin_api::act(route_id action, const std::string& id, std::string_view target) {
  if (action == route_id::admin_redeliver) co_return co_await redeliver(id);
  auto named = co_await named_payment(id, target);
  if (auto* refusal = std::get_if<net::response>(&named)) co_return std::move(*refusal);
  const auto p = std::get<payment>(std::move(named));
  engine::input in;
  in.payment_id = p.id;
  if (action == route_id::admin_cancel) in.ev = cancel_requested{requester::operator_, "operator"};
  else in.ev = inquiry_requested{};
  // Another instance's payment: accepted once the inbox row is durable (the owner applies it).
  std::optional<engine::output> routed;
  if (inbox_ != nullptr) routed = co_await inbox_->route(in, p);
  if (!routed) routed = co_await deps_.drv.submit(std::move(in));
  const auto& out = *routed;
  // Nothing of it was written (another writer first, or the fence refused it): never a 202.
  if (out.result == engine::outcome::conflict || out.result == engine::outcome::not_owner)
    co_return server_error_response(503, "STORE_UNAVAILABLE", "the payment could not be changed now; retry");
  if (out.made.rejected)
    co_return server_error_response(409, "PAYMENT_FINAL", "payment is final: " + std::string(to_string(*out.made.rejected)));
  co_return json_response(202, engine::payment_to_json(out.after.id ? out.after : p));
}

/// POST /admin/events/{eventId}/redeliver: the event re-queued by the sender of the instance that
/// owns its payment's shard; in cluster mode, on another instance, posted to the owner's inbox
/// (accepted once the row is durable: the owner's sender re-queues it).
asio::awaitable<net::response> admin_api::redeliver(const std::string& event_id) {
  const auto queued = json_response(202, json::object{{"eventId", event_id}, {"status", "queued"}});
  if (inbox_ != nullptr) {
    // The event's payment, for its shard: one job.
    const auto find = [event_id](store::payment_store& s) -> std::optional<std::pair<std::int64_t, std::string>> {
      const auto row = s.outbox_by_event_id(event_id);
      if (!row) return std::nullopt;
      const auto p = s.load(row->payment_id);
      if (!p) return std::nullopt;
      return std::pair{p->id, std::string(store::alipay_request_id(*p))};
    };
    const auto owner = co_await deps_.db.call(find);
    if (!owner) co_return server_error_response(404, "NOT_FOUND", "no merchant event " + event_id);
    if (!inbox_->acts_for(owner->second)) {
      const auto row = co_await inbox_->post_redeliver(event_id, owner->first, owner->second);
      if (!row) co_return server_error_response(404, "NOT_FOUND", "no merchant event " + event_id);
      co_return queued;
    }
  }
  const auto result = co_await deps_.webhooks.redeliver(event_id);
  if (result == redeliver_result::not_found)
    co_return server_error_response(404, "NOT_FOUND", "no merchant event " + event_id);
  co_return queued;
}

/// POST /admin/payments/{id}/refund {"value", "refundRequestId"?, "reason"?}: an operator's
/// refund in the payment's currency (cashierctl refund), placed like a merchant's (the driver, or
/// in cluster mode the owner's inbox: refund_placement.hpp); without refundRequestId one is made
/// ("operator-<n>").
asio::awaitable<net::response> admin_api::refund(const std::string& id, const net::request& req) {
  auto named = co_await named_payment(id, req.target);
  if (auto* refusal = std::get_if<net::response>(&named)) co_return std::move(*refusal);
  const auto p = std::get<payment>(std::move(named));
  const auto body = aplus::parse_untrusted(req.body);
  const json::object* o = body && body->is_object() ? &body->get_object() : nullptr;
  const auto text = [o](std::string_view key) -> std::optional<std::string> {
    const auto* v = o ? o->if_contains(key) : nullptr;
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return std::string(v->get_string());
  };
  const auto value = text("value");
  const auto minor = value ? parse_minor_units(*value) : std::nullopt;
  if (!minor || *minor <= 0)
    co_return answers::error_response(400, "INVALID_REQUEST", "value: a positive integer in minor units, as a string", "value");
  engine::refund_order order;
  order.payment_id = p.id;
  if (auto given = text("refundRequestId")) {
    order.refund_request_id = std::move(*given);
  } else {
    const auto count_refunds = [id = p.id](store::payment_store& s) { return s.refunds_of(id).size(); };
    const auto count = co_await deps_.db.call(count_refunds);
    order.refund_request_id = "operator-" + std::to_string(count + 1);
  }
  if (order.refund_request_id.empty() || order.refund_request_id.size() > 64)
    co_return answers::error_response(400, "INVALID_REQUEST", "1 to 64 characters", "refundRequestId");
  order.amount = money{*minor, p.amount.currency};
  order.reason = text("reason").value_or("operator").substr(0, 256);
  order.origin = refund_origin::operator_;
  order.merchant_request = json::serialize(json::object{{"value", *value}, {"reason", order.reason}});
  const auto key = order.refund_request_id;
  const auto placed = co_await place_refund({deps_.db, deps_.drv, inbox_, deps_.create_wait}, std::move(order),
                                            std::string(store::alipay_request_id(p)));
  // Cluster mode, not created in time by the owner: the key may be one made here, which the
  // operator must repeat (a repeat without it would make another key: a second refund).
  if (placed.end == placement_end::accepted)
    co_return answers::retry_later("the refund was accepted for processing by the instance that drives this payment; "
                                   "repeat with refundRequestId " + key + " (cashierctl refund --refund-request-id " +
                                   key + ") to see it, never without it");
  co_return answer_to(placed, "value", answers::error_response(404, "NOT_FOUND", "no payment " + id));
}

}  // namespace cashier::daemon
