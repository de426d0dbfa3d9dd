// The request router (see request_router.hpp).
#include "orchestrator/daemon/request_router.hpp"

#include <utility>
#include <variant>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>

#include "orchestrator/daemon/log.hpp"
#include "orchestrator/daemon/merchant_answers.hpp"
#include "state/store/store.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;
namespace json = boost::json;
using answers::server_error_response;

namespace {

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace

asio::awaitable<net::response> request_router::serve_public(net::request req, net::peer_info) {
  auto match = match_route(req.method, req.target, h_.notify_path);
  const auto* found = std::get_if<route_match>(&match);
  if (found != nullptr && found->matched->id == route_id::notify) co_return co_await h_.notify.serve(std::move(req));
  auto task = on_reactor(std::move(req), std::move(match), listener::public_api);
  co_return co_await asio::co_spawn(h_.reactor, std::move(task), asio::use_awaitable);
}

asio::awaitable<net::response> request_router::serve_ops(net::request req, net::peer_info) {
  // The admin token before anything is routed: an /admin/ path without it is 401 whatever it names.
  if (is_admin_path(path_of(req.target))) {
    auto refusal = h_.admin_token.refuse(req);
    if (refusal) co_return std::move(*refusal);
  }
  auto match = match_route(req.method, req.target, h_.notify_path);
  auto task = on_reactor(std::move(req), std::move(match), listener::ops);
  co_return co_await asio::co_spawn(h_.reactor, std::move(task), asio::use_awaitable);
}

/// Every request but a notifyPayment POST, on the reactor: dispatch, with store failures
/// answered 503 and counted. The store's message (SQL text, file paths) goes to the log only.
asio::awaitable<net::response> request_router::on_reactor(net::request req, match_result match, listener on) {
  try {
    co_return co_await dispatch(req, match, on);
  } catch (const store::store_error& e) {
    h_.stats.count(metric::store_failures);
    log_line(log_level::error, "request failed: the store failed", {{"error", e.what()}});
    co_return server_error_response(503, "STORE_UNAVAILABLE", "the database is unavailable; retry later");
  }
}

asio::awaitable<net::response> request_router::dispatch(const net::request& req, const match_result& match,
                                                        listener on) {
  const auto path = path_of(req.target);
  if (listener_of_path(path, h_.notify_path) != on)
    co_return server_error_response(404, "NOT_FOUND", "no route for this path");
  // The merchant API authenticates before it looks at the match; the hosted page has its own table.
  if (path != h_.notify_path && path.starts_with("/v1/")) co_return co_await h_.api.handle(req, match);
  if (path != h_.notify_path && path.starts_with("/pay/")) co_return co_await h_.checkout.handle(req);
  if (const auto* wrong = std::get_if<method_mismatch>(&match)) {
    auto r = server_error_response(405, "METHOD_NOT_ALLOWED", "allowed here: " + wrong->allow);
    r.headers.push_back({"Allow", wrong->allow});
    co_return r;
  }
  if (const auto* bad = std::get_if<bad_parameter>(&match))
    co_return server_error_response(400, "INVALID_REQUEST", bad->message);
  const auto* found = std::get_if<route_match>(&match);
  if (found == nullptr) co_return server_error_response(404, "NOT_FOUND", "no route for this path");
  switch (found->matched->id) {
    case route_id::notify:  // a POST never gets here: serve_public() hands it to the notify endpoint
      co_return server_error_response(405, "METHOD_NOT_ALLOWED", "notifyPayment is POST");
    case route_id::healthz: co_return answers::json_response(200, json::object{{"status", "ok"}});
    case route_id::readyz: co_return h_.readiness();
    case route_id::metrics: co_return co_await h_.metrics_page.page();
    case route_id::admin_cancel:
    case route_id::admin_inquire:
    case route_id::admin_redeliver:
    case route_id::admin_refund: co_return co_await h_.admin.handle(*found, req);
    case route_id::create_payment:
    case route_id::consult:
    case route_id::get_payment:
    case route_id::cancel_payment:
    case route_id::create_refund:
    case route_id::get_refund:
    case route_id::events_feed: co_return co_await h_.api.handle(req, match);
  }
  co_return server_error_response(404, "NOT_FOUND", "no route for this path");
}

}  // namespace cashier::daemon
