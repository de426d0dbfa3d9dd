// Where every HTTP request of the two listeners goes: the route table (routes.hpp) is matched
// ONCE per request, here, on the network thread (`cashierd-net`), and the match is handed to the
// handler: a notifyPayment POST to the notify endpoint right there (it verifies on that thread),
// everything else to the reactor: /v1/ to the merchant API (which authenticates before it looks
// at the match, so an unknown /v1/ path without a token is 401), /pay/ to the hosted page,
// /admin/ to the admin API (token checked first, still on the network thread), /metrics,
// /healthz and /readyz. A path of the other listener is 404; a store failure under any handler
// is 503 and counted, its detail logged only.
#pragma once

#include <functional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "orchestrator/daemon/admin_api.hpp"
#include "orchestrator/daemon/admin_auth.hpp"
#include "orchestrator/daemon/checkout_pages.hpp"
#include "orchestrator/daemon/merchant_api.hpp"
#include "orchestrator/daemon/metrics_endpoint.hpp"
#include "orchestrator/daemon/notify_endpoint.hpp"
#include "orchestrator/daemon/routes.hpp"
#include "orchestrator/net/http_server.hpp"
#include "orchestrator/net/http_types.hpp"

namespace cashier::daemon {

/// The handlers behind the routes; all outlive the router.
struct route_handlers {
  std::string notify_path;            ///< alipayplus.notifyPath
  boost::asio::io_context& reactor;   ///< where every handler but the notify check runs
  notify_endpoint& notify;            ///< POST {notifyPath}
  merchant_api& api;                  ///< /v1/
  checkout_pages& checkout;           ///< /pay/
  const admin_gate& admin_token;      ///< /admin/ credential
  admin_api& admin;                   ///< /admin/ actions
  metrics_endpoint& metrics_page;     ///< /metrics
  metrics& stats;                     ///< store failures are counted here (reactor)
  std::function<net::response()> readiness;  ///< /readyz (reactor)
};

/// Routes requests of the public and the ops listener.
class request_router {
 public:
  explicit request_router(route_handlers h) : h_(std::move(h)) {}

  /// A request of the public listener (`listen`), on the network thread.
  boost::asio::awaitable<net::response> serve_public(net::request req, net::peer_info peer);
  /// A request of the ops listener (`opsListen`), on the network thread.
  boost::asio::awaitable<net::response> serve_ops(net::request req, net::peer_info peer);

 private:
  boost::asio::awaitable<net::response> on_reactor(net::request req, match_result match, listener on);
  boost::asio::awaitable<net::response> dispatch(const net::request& req, const match_result& match, listener on);

  route_handlers h_;
};

}  // namespace cashier::daemon
