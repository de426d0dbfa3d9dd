// The refund driver: the Asio side of the refund engine (orchestrator/engine/refunds.hpp), on
// the daemon's reactor thread beside the payment driver. It keeps the open refunds' deadlines
// (keyed by refund id, apart from the payments' heap, so the two never collide) with one timer,
// executes a decision's calls only after its commit (the refund call through refund_gateway,
// the confirming inquiry through gateway::inquiry), feeds their answers back, and lets a
// merchant's create wait up to createWaitMs for a definitive answer. A crash between a commit
// and its send loses nothing: the answer guard is in the stored row and recover() re-arms it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "orchestrator/engine/clock.hpp"
#include "orchestrator/daemon/gateway.hpp"
#include "orchestrator/daemon/refund_gateway.hpp"
#include "orchestrator/engine/refunds.hpp"

namespace cashier::daemon {

struct refund_driver_core;

/// Drives refunds on one reactor thread.
class refund_driver {
 public:
  /// A driver over `eng` (and its store), `clock` and the gateways, all outliving it.
  refund_driver(boost::asio::io_context& io, engine::refund_engine& eng, store::payment_store& store,
                const payment_clock& clock, gateway& gw, refund_gateway& rgw);
  ~refund_driver();
  refund_driver(const refund_driver&) = delete;
  refund_driver& operator=(const refund_driver&) = delete;

  /// Re-arms every PROCESSING refund from the store and starts the timer. Returns the count.
  std::size_t recover();
  /// Creates the refund (engine::refund_engine::create), starts its first send, and when it was
  /// created waits up to `wait` (wall) for it to become final. The result's refund is re-read.
  boost::asio::awaitable<engine::refund_order_result> create(engine::refund_order order,
                                                             std::chrono::milliseconds wait);
  /// Called after each commit that may have queued merchant events (pokes the webhook sender).
  void on_commit(std::function<void()> observer);
  /// Refunds armed now.
  std::size_t armed() const;

 private:
  std::shared_ptr<refund_driver_core> core_;
};

}  // namespace cashier::daemon
