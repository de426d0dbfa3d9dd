// The notifyPayment endpoint, all of it but the pure checks (notify_inbound.hpp): the Client-Id
// refusal, authentication and decoding on the network thread (cashierd-net), the hand-off to
// the reactor that records the notify and applies it in one commit, and the signed ack back on
// the network thread. Verify on the raw bytes → commit → signed ack (PRODUCT.md, ALIPAYPLUS.md).
// Calls the committed decision asks for (the cancel of an amount mismatch) are held by the
// driver until the ack is on the wire. Also what keeps a flood cheap on the reactor: at most one
// hint inquiry per payment per 10 s of wall time, a replayed notify never recorded as a second
// anomaly, and rate-limited log lines. Which thread touches what: proto-docs/threads-and-owners.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/inbox_relay.hpp"
#include "orchestrator/daemon/metrics.hpp"
#include "orchestrator/daemon/notify_inbound.hpp"
#include "orchestrator/daemon/store_thread.hpp"
#include "orchestrator/net/http_types.hpp"
#include "state/store/store.hpp"

namespace cashier::daemon {

/// What the endpoint works with; all outlive it.
struct notify_endpoint_deps {
  boost::asio::io_context& reactor;  ///< where payment state lives (record, metrics)
  driver& drv;                       ///< commits the notify, holds the calls until the ack
  store_thread& db;                  ///< a paymentRequestId's row id (a job, awaited on the reactor)
  const payment_clock& clock;        ///< received_at, anomaly times
  metrics& stats;                    ///< reactor only: counted through posts from the network thread
};

/// Serves POST {notifyPath}.
class notify_endpoint {
 public:
  /// An endpoint checking notifies against `settings` and signing acks with `acks`.
  notify_endpoint(notify_endpoint_deps deps, notify_settings settings, ack_builder acks);

  /// Answers one notify. Runs on the network thread; the commit runs on the reactor.
  boost::asio::awaitable<net::response> serve(net::request req);
  /// Cluster mode: a verified notify for a payment whose shard is not acted for goes through `relay` (the
  /// inbox) instead of the driver. Outside cluster mode there is none.
  void use_inbox(inbox_relay* relay) { inbox_ = relay; }

 private:
  /// What record() decided: an answer instead of the ack, or the ticket of calls held.
  struct notify_answer {
    std::optional<net::response> refusal;  ///< send this instead of the ack
    std::uint64_t hold = 0;                ///< calls held until the ack is written (driver)
  };

  net::response refuse_foreign(const net::request& req);  // network thread
  net::response ack();                                    // network thread
  boost::asio::awaitable<notify_answer> record(net::request req, notify_check check);  // reactor
  bool hint_allowed(std::int64_t id);                                        // reactor
  bool first_anomaly_of(std::string_view kind, const std::string& digest);   // reactor

  static constexpr auto hint_interval = std::chrono::seconds(10);
  static constexpr std::size_t max_remembered = 10000;

  notify_endpoint_deps deps_;
  inbox_relay* inbox_ = nullptr;  // cluster mode only (reactor)
  // The network thread's.
  notify_settings settings_;
  ack_builder acks_;
  log_limiter foreign_log_{std::chrono::seconds(10)};
  // The reactor's.
  std::unordered_map<std::int64_t, std::chrono::steady_clock::time_point> last_hint_;
  std::unordered_set<std::string> anomaly_digests_;  // kind NUL digest
  std::deque<std::string> anomaly_order_;
  log_limiter rejected_log_{std::chrono::seconds(10)};
};

/// The machine event of a verified notify.
event notify_event(const aplus::notify_payment_request& n);

}  // namespace cashier::daemon
