// The daemon's HTTP routes: ONE table of (method, path pattern) that the dispatchers (app.cpp,
// merchant_api.cpp) match requests against and that `cashierd --print-routes` prints, so the
// served API and its documentation (proto-docs/merchant-api.yaml, compared by tests/docs) cannot
// drift apart. Matching also percent-decodes the path parameters and refuses ids that are not
// valid after decoding. Plain strings only: no Asio, no I/O.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cashier::daemon {

/// What a route serves.
enum class route_id {
  notify,           ///< POST {notifyPath}: Alipay+ notifyPayment
  create_payment,   ///< POST /v1/payments
  consult,          ///< POST /v1/payments/consult
  get_payment,      ///< GET /v1/payments/{paymentRequestId}
  cancel_payment,   ///< POST /v1/payments/{paymentRequestId}/cancel
  create_refund,    ///< POST /v1/payments/{paymentRequestId}/refunds
  get_refund,       ///< GET /v1/payments/{paymentRequestId}/refunds/{refundRequestId}
  events_feed,      ///< GET /v1/events
  healthz,          ///< GET /healthz
  readyz,           ///< GET /readyz
  metrics,          ///< GET /metrics
  admin_cancel,     ///< POST /admin/payments/{paymentRequestId}/cancel
  admin_inquire,    ///< POST /admin/payments/{paymentRequestId}/inquire
  admin_refund,     ///< POST /admin/payments/{paymentRequestId}/refund
  admin_redeliver,  ///< POST /admin/events/{eventId}/redeliver
};

/// The daemon's two listeners (PRODUCT.md, Operations).
enum class listener {
  public_api,  ///< `listen`: the merchant API (/v1/), the notify path and the hosted page (/pay/)
  ops,         ///< `opsListen`: /healthz, /readyz, /metrics and the admin API (/admin/)
};

/// The listener that serves `path` (origin form without the query): the notify path, /v1/ and
/// /pay/ are public, everything else belongs to the ops listener. The other listener answers
/// such a path 404.
listener listener_of_path(std::string_view path, std::string_view notify_path);

/// One route: a method and a path pattern whose `{name}` segments are parameters.
struct route {
  route_id id;               ///< the handler
  std::string_view method;   ///< "GET" or "POST"; a GET route also answers HEAD
  std::string_view pattern;  ///< e.g. "/v1/payments/{paymentRequestId}"
};

/// The pattern of the notify route: the config's `alipayplus.notifyPath`, matched verbatim.
inline constexpr std::string_view notify_pattern = "{notifyPath}";

/// Every route the daemon serves, literal patterns before parameterised ones.
std::span<const route> routes();

/// A request that matched a route, with its path parameters percent-decoded, in pattern order.
struct route_match {
  const route* matched;             ///< the route (from routes())
  std::vector<std::string> params;  ///< decoded parameter values
};
/// The path exists but not for this method.
struct method_mismatch {
  std::string allow;  ///< the path's methods, e.g. "GET, POST" (the Allow header)
};
/// The path matched but a parameter is unusable: bad percent-encoding, or '/' or a control
/// character once decoded (such an id can never exist: create refuses them).
struct bad_parameter {
  std::string name;     ///< e.g. "paymentRequestId"
  std::string message;  ///< for the 400 answer
};
/// No route has this path.
struct no_route {};

/// The result of matching one request.
using match_result = std::variant<route_match, method_mismatch, bad_parameter, no_route>;

/// Matches `method` and `target` (origin form; a query is ignored) against routes(), with
/// `notify_path` standing for notify_pattern. Never throws on bad input.
match_result match_route(std::string_view method, std::string_view target,
                         std::string_view notify_path);

}  // namespace cashier::daemon
