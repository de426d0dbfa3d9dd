// The driver: the Asio executor of the engine's scheduler (orchestrator/engine/scheduler.hpp),
// on the daemon's single reactor thread. The scheduler decides what commits, fires and calls
// when (group commit, the deadline heap and its lanes, the rate budget, the cap on calls in
// flight, the hold after a store failure, draining); the driver reads the clocks (in one
// place), carries out its actions on Asio (posts the flush, commits each batch through the
// engine, spawns the gateway calls, arms the timers) and feeds the results back. It also owns
// what only an executor can: the merchant's waiters (submit, wait_for_change), the commit
// observers, the log lines and the metrics callbacks. Effects run only after the commit that
// records them. Refunds (serve_refunds) are executed here too: the scheduler keeps their
// deadlines in its heap and pays their calls from its budget; the driver commits them through
// the refund engine, calls refund_gateway / gateway::inquiry, and wakes a merchant's create.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "orchestrator/daemon/gateway.hpp"
#include "orchestrator/daemon/refund_gateway.hpp"
#include "orchestrator/daemon/store_thread.hpp"
#include "orchestrator/engine/clock.hpp"
#include "orchestrator/engine/engine.hpp"
#include "orchestrator/engine/rate_budget.hpp"
#include "orchestrator/engine/refunds.hpp"
#include "orchestrator/engine/scheduler.hpp"

namespace cashier::daemon {

/// Called after each group commit with the committed outputs (logging, metrics, webhooks).
using commit_observer = std::function<void(const engine::input&, const engine::output&)>;

struct driver_core;

/// Where a fenced driver's commits take their fence and tell refusals (cluster mode). Every
/// function is called on the reactor thread; all are required.
struct fence_source {
  store::cluster_store* store = nullptr;  ///< the cluster half of the engine's store
  /// The fence of the commit about to run: the shards acted for now, at their epochs.
  std::function<std::vector<store::shard_epoch>()> epochs;
  /// A transition of this commit came back not_owner (its shard has another owner now).
  std::function<void(const engine::input&, const engine::output&)> refused;
  /// Asked just before a payment's call leaves: false = the shard is no longer trusted, the call
  /// is not sent (the scheduler hears "no answer"; the new owner resends after the guard).
  std::function<bool(const payment&)> may_call;
};

/// The result of submit_and_hold: the output, and the ticket of the effects held back.
struct held_output {
  engine::output out;     ///< as submit() returns it
  std::uint64_t hold = 0; ///< effects held until release(hold); 0 = none were held
};

/// Drives payments on one reactor thread.
class driver {
 public:
  /// A driver over `engine` (and its store), `clock` and `gateway`, all outliving it. Every store
  /// call runs on `db`, the store's own thread (store_thread.hpp), never on the reactor.
  driver(boost::asio::io_context& io, engine::engine& engine, const payment_clock& clock,
         gateway& gateway, store_thread& db);
  ~driver();
  driver(const driver&) = delete;
  driver& operator=(const driver&) = delete;

  /// Fences every group commit with `held` (state/store/cluster_store.hpp): the epochs of the
  /// shards this process claimed with force at start (one instance owns every shard). Once
  /// another process claims them, this one's transitions come back not_owner, nothing of them
  /// written, and an error says so: two daemons on one file no longer both drive its payments.
  /// Call before recover(). `store` must outlive the driver.
  void fence_with(store::cluster_store& store, std::vector<store::shard_epoch> held);
  /// Cluster mode (cluster_member.hpp): fences every group commit with `f`'s epochs of the
  /// moment and reports its refusals; the scheduler acts only for the shards started below.
  void fence_with(fence_source f);
  /// Cluster mode: the scheduler's shard half (scheduler.hpp "Cluster mode"), for the lease
  /// manager's executor. stop_acting resolves the dropped inputs' waiters with a store_error.
  void enable_shards(store::shard_id shards);
  void start_acting(store::shard_id shard, std::span<const store::deadline> open,
                    std::span<const store::refund_deadline> refunds);
  void stop_acting(store::shard_id shard);
  void set_budget_share(double per_second);
  /// Re-arms every open payment from the store and starts the timer. Returns the count.
  std::size_t recover();
  /// Serves refunds through `refunds` (over the engine's store) and `rgw`, both outliving the
  /// driver. Before this, refund routes answer 503 and a cancel's refund waits in the store.
  void serve_refunds(engine::refund_engine& refunds, refund_gateway& rgw);
  /// True once serve_refunds was called.
  bool serves_refunds() const;
  /// Re-arms every PROCESSING refund from the store. Returns the count.
  std::size_t recover_refunds();
  /// Creates the refund (engine::refund_engine::create), starts its first send (paid from the
  /// budget), and when it was created waits up to `wait` (wall) for it to become final. The
  /// result's refund is re-read. Rethrows store_error.
  boost::asio::awaitable<engine::refund_order_result> create_refund(engine::refund_order order,
                                                                    std::chrono::milliseconds wait);
  /// Cluster mode: deletes inbox row `inbox_id` of `shard` in a fenced commit of its own; nothing
  /// is deleted unless the fence holds the shard at its epoch (the row stays for its owner). For a
  /// row applied otherwise than by submit() (a `refund` row: create_refund, then this). Not
  /// fenced (no fence_with): does nothing. Rethrows store_error.
  boost::asio::awaitable<void> delete_inbox_row(std::int64_t inbox_id, store::shard_id shard);
  /// Called after each refund commit (it may have queued a merchant event).
  void on_refund_commit(std::function<void()> observer);
  /// Queues `in`; resumes after the group commit that includes it (rethrows store_error).
  boost::asio::awaitable<engine::output> submit(engine::input in);
  /// Like submit(), but when the committed decision must be acked (a verified notify) the calls
  /// it asks for (e.g. the cancel of an amount mismatch) are held until release() with the
  /// returned ticket, so the ack leaves before the cancel starts. Held calls start by themselves
  /// after the scheduler's hold_limit (wall) if release() never comes; the answer guard covers a
  /// crash meanwhile.
  boost::asio::awaitable<held_output> submit_and_hold(engine::input in);
  /// Starts the calls held under `hold` (the ack was written, or its connection failed). Call
  /// on the reactor thread; an unknown or already released ticket does nothing.
  void release(std::uint64_t hold);
  /// Queues `in` without waiting for it.
  void post(engine::input in);
  /// Waits until payment `id` is committed with a change, or `timeout` (wall) passes.
  boost::asio::awaitable<void> wait_for_change(std::int64_t id, std::chrono::milliseconds timeout);
  /// Adds an observer of committed outputs.
  void observe(commit_observer observer);
  /// Called after each group commit with its wall duration in seconds.
  void on_group_commit(std::function<void(double seconds)> observer);
  /// Called for each due deadline the timer fires, with its lane and how late it fired
  /// (payment-clock seconds past its due time: timer, reactor and budget waits).
  void on_deadline_fired(std::function<void(call_lane lane, double late_seconds)> observer);
  /// The outbound call budget (unlimited until set); consult spends it too.
  rate_budget& budget();
  /// Stops starting new calls and timers; resumes when in-flight calls have ended and their
  /// answers are committed, or when `timeout` passes.
  boost::asio::awaitable<void> drain(std::chrono::milliseconds timeout);
  /// The payment clock.
  const payment_clock& clock() const;
  /// The scheduler's counters (metrics, /readyz).
  engine::scheduler_stats stats() const;

 private:
  std::shared_ptr<driver_core> core_;
};

}  // namespace cashier::daemon
