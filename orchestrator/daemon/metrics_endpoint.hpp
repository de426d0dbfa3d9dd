// GET /metrics on the ops listener, and what feeds the registry from the driver: the page
// renders the registry (metrics.hpp) after counting the store-derived gauges on the
// `cashierd-stats` thread (a count over a million open payments must not stall the reactor) and
// copying the driver's counters; count_commit() turns each committed batch into call and anomaly
// counts. Everything here runs on the reactor but the store count (proto-docs/threads-and-owners.md).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/metrics.hpp"
#include "orchestrator/net/http_types.hpp"
#include "state/store/store.hpp"

namespace cashier::daemon {

/// What the metrics page works with; all outlive it.
struct metrics_endpoint_deps {
  metrics& stats;                       ///< the registry (reactor only)
  driver& drv;                          ///< its counters and budget
  const payment_clock& clock;           ///< `now` for the overdue count
  store::payment_store& reader;         ///< a read-only connection, used on `stats_thread` only
  boost::asio::thread_pool& stats_thread;  ///< `cashierd-stats`
};

/// Serves /metrics.
class metrics_endpoint {
 public:
  explicit metrics_endpoint(metrics_endpoint_deps deps) : deps_(deps) {}

  /// The page, in the Prometheus text format.
  boost::asio::awaitable<net::response> page();
  /// Counts a committed batch: its Alipay+ calls (by api and result, with latency) and anomalies.
  void count_commit(const engine::input& in, const engine::output& out);

 private:
  void copy_driver_counters();

  metrics_endpoint_deps deps_;
};

}  // namespace cashier::daemon
