// The driver's insides (driver.hpp), shared by its four files and nothing else: driver.cpp
// carries out the scheduler's actions (flushes, commits, timers, wake-ups), driver_calls.cpp
// runs the Alipay+ calls they start, driver_refunds.cpp commits refunds and serves their
// merchant-facing entry points, driver_cluster.cpp takes the fence and the shards of cluster
// mode. Everything here runs on the reactor thread, except the jobs it hands the store thread
// (store_thread.hpp: the engines' commits, the probe, the reloads), which capture what they
// need by value and touch nothing of the driver's.
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "orchestrator/daemon/commit_waiters.hpp"
#include "orchestrator/daemon/driver.hpp"

namespace cashier::daemon {

/// Only a store_error is a failed commit: anything else a job threw is a bug, and ends the
/// reactor (rethrown there), as it did when the engine ran on the reactor.
void rethrow_unless_store_error(std::exception_ptr e);

struct driver_core : std::enable_shared_from_this<driver_core> {
  driver_core(boost::asio::io_context& io_, engine::engine& e, const payment_clock& c, gateway& g, store_thread& db_)
      : io(io_), eng(e), clock(c), gw(g), db(db_), timer(io_), store_retry(io_), hold_timer(io_) {}

  boost::asio::io_context& io;
  engine::engine& eng;
  const payment_clock& clock;
  gateway& gw;
  store_thread& db;  // every store call: the engines' apply, the probe, the reloads
  engine::scheduler sched;
  boost::asio::steady_timer timer;        // arm_timer: the deadline heap's
  boost::asio::steady_timer store_retry;  // arm_store_retry
  boost::asio::steady_timer hold_timer;   // arm_hold_limit
  commit_waiters waiters;
  engine::ticket next_ticket = 1;
  std::vector<commit_observer> observers;
  std::function<void(double)> commit_timer;
  std::function<void(call_lane, double)> lateness_observer;
  std::shared_ptr<signal_timer> idle_signal;
  // Refunds (serve_refunds): their engine and port, and who hears of each refund commit.
  engine::refund_engine* refunds = nullptr;
  refund_gateway* rgw = nullptr;
  std::function<void()> refund_observer;
  // fence_with(): where commits take their fence, if fenced (fence_source).
  std::optional<fence_source> fence;

  // The flush under way (flush, commit_next): one commit out on the store thread at a time.
  bool flushing = false;
  bool flush_again = false;  // a flush was posted meanwhile: run it when this one ends

  /// Both clocks, read here and nowhere else.
  engine::instants now() const { return {clock.now(), std::chrono::steady_clock::now()}; }

  // driver.cpp: the executor.
  void run();
  void flush();
  void commit_next();
  void commit(engine::batch b);
  void committed(const engine::batch& b, engine::instants started, std::exception_ptr error,
                 std::vector<engine::output> outs);
  /// Nothing queued, in flight or being committed (a drain waits for this).
  bool idle() const { return !flushing && sched.idle(); }
  void submit(engine::input in, engine::ticket t, bool hold = false);
  // driver_cluster.cpp: cluster mode.
  void fail_dropped(const std::vector<engine::ticket>& tickets);
  // driver_calls.cpp: the Alipay+ calls.
  void start_call(engine::call_kind kind, payment p);
  void start_refund_call(engine::refund_call kind, std::int64_t refund_id);
  // driver_refunds.cpp: a refund input's commit.
  void commit_refund(engine::refund_input in);
  void refund_committed(const engine::refund_input& in, std::exception_ptr error,
                        std::optional<engine::refund_output> out);
  /// The epochs a commit is fenced with, taken on the reactor (empty when not fenced).
  std::optional<std::vector<store::shard_epoch>> epochs() const;
};

}  // namespace cashier::daemon
