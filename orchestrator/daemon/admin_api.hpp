// The admin API on the ops listener (PRODUCT.md, Operations; cashierctl's cancel, inquire,
// refund and redeliver): POST /admin/payments/{id}/cancel|inquire|refund and
// /admin/events/{eventId}/redeliver. The admin token is checked before routing (admin_auth.hpp,
// by the request router on the network thread); these handlers run on the reactor. A payment is
// named by its alipayPaymentRequestId, or by a merchant's paymentRequestId with `?merchant=ID`
// (or alone when no other merchant uses it). Its reads are jobs on the store thread
// (store_thread.hpp), awaited: the reactor serves other requests meanwhile.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <variant>

#include <boost/asio/awaitable.hpp>

#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/inbox_relay.hpp"
#include "orchestrator/daemon/routes.hpp"
#include "orchestrator/daemon/store_thread.hpp"
#include "orchestrator/daemon/webhook_sender.hpp"
#include "orchestrator/net/http_types.hpp"
#include "state/store/store.hpp"

namespace cashier::daemon {

/// What the admin API works with; all outlive it.
struct admin_api_deps {
  store_thread& db;                  ///< names to payments (jobs, awaited)
  driver& drv;                       ///< cancel and inquire go through the machine
  webhook_sender& webhooks;          ///< redeliver
  std::chrono::milliseconds create_wait;  ///< payment.createWaitMs: how long a refund waits
};

/// Serves the admin routes.
class admin_api {
 public:
  explicit admin_api(admin_api_deps deps) : deps_(deps) {}

  /// Answers admin route `matched` (one of the admin_* route ids) of `req`, on the reactor.
  boost::asio::awaitable<net::response> handle(const route_match& matched, const net::request& req);
  /// Cluster mode: inputs for a payment whose shard is not acted for go through `relay` (the
  /// inbox) instead of the driver. Outside cluster mode there is none.
  void use_inbox(inbox_relay* relay) { inbox_ = relay; }

 private:
  boost::asio::awaitable<std::variant<payment, net::response>> named_payment(const std::string& name,
                                                                           std::string_view target);
  boost::asio::awaitable<net::response> act(route_id action, const std::string& id, std::string_view target);
  boost::asio::awaitable<net::response> refund(const std::string& id, const net::request& req);
  boost::asio::awaitable<net::response> redeliver(const std::string& event_id);

  admin_api_deps deps_;
  inbox_relay* inbox_ = nullptr;  // cluster mode only
};

}  // namespace cashier::daemon
