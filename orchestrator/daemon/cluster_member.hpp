// The daemon's cluster executor (proto-docs/cluster.md): one cashierd among several on one
// PostgreSQL database. It runs the lease manager (engine::shard_leases, sans-I/O) on the reactor
// as tests/sim/cluster_world.cpp does in the simulation: a steady_timer at next_tick(), tick()
// before acting, and the manager's actions carried out here: claims, renewals and releases on
// the store's cluster half, takeovers (the shard's open payments and PROCESSING refunds read,
// then armed as recover() does), stops (the shard's deadlines and queued inputs dropped, their
// waiters failed) and the budget share. Once the reactor runs, every store statement of the
// member is a job on the store thread (store_thread.hpp) whose answer comes back as a posted
// completion; only start(), before io.run(), calls the store itself. A shard whose takeover read
// is still out is not acted for (acts_for), and one stopped before its read came back is never
// started.
// It is also the driver's fence_source: commits are fenced with the epochs of the moment, a
// not_owner refusal tells the manager, and a call is checked against the shard's trust just
// before it leaves. Creates draw their Alipay+ id into a shard this instance acts for.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/metrics.hpp"
#include "orchestrator/daemon/store_thread.hpp"
#include "orchestrator/engine/refunds.hpp"
#include "orchestrator/engine/shard_leases.hpp"
#include "state/store/cluster_store.hpp"

namespace cashier::daemon {

/// The lease timing for a lease of `lease`, keeping the ratios of engine::lease_config's
/// defaults (10 s lease: renew every L/4, claim tick and safety margin L/10), so the defaults
/// live in one place.
engine::lease_config lease_timing(std::chrono::nanoseconds lease);

/// This process's default instance id: `<host>:<pid>` (unique among live processes of a host).
std::string default_instance_id();

/// What a cluster member works with; everything outlives it.
struct cluster_member_deps {
  boost::asio::io_context& io;           ///< the reactor
  store::payment_store& store;           ///< reads (a refund's payment, for its shard)
  store::cluster_store& cluster;         ///< the cluster half of the same store
  store_thread& db;                      ///< the thread that calls `store` once the reactor runs
  driver& drv;                           ///< the scheduler's executor
  engine::refund_engine* refunds;        ///< PROCESSING refunds re-armed at takeover (nullptr: none)
  metrics& stats;                        ///< shards held, takeovers, losses
};

/// One instance of a cluster, on the reactor thread.
class cluster_member {
 public:
  /// A member with `config` (its instance, lease timing and the cluster's call budget).
  cluster_member(cluster_member_deps deps, engine::lease_config config);
  ~cluster_member();
  cluster_member(const cluster_member&) = delete;
  cluster_member& operator=(const cluster_member&) = delete;

  /// Turns cluster mode on in the driver (shards, fence) and sends the first claim now: the
  /// shards it gets are taken over before this returns. Instead of fence_with + recover().
  /// Call before the reactor runs, with no store job out: its statements run on the calling
  /// thread (the daemon's start); every later one is a job on the store thread.
  void start();
  /// Shutdown: stops acting on every shard and releases them, so the others claim them at
  /// their next tick instead of after a lease; completes once the release was answered (or
  /// failed, or a lease passed without an answer: they lapse then). Call after the driver
  /// drained: the release job runs after its commits, which were handed to the store thread
  /// before it.
  [[nodiscard]] boost::asio::awaitable<void> drain();
  /// A fresh Alipay+ paymentRequestId from `draw` that hashes into a shard this instance acts
  /// for, or nothing when it acts for none (the create is answered 503, like a store outage).
  std::optional<std::string> draw_payment_request_id(const std::function<std::string()>& draw);
  /// Calls `poll` after each claim tick and after each pass that took shards over (on a later
  /// reactor turn): the inbox relay applies its shards' rows then (a NOTIFY may be lost).
  void on_tick(std::function<void()> poll) { on_tick_ = std::move(poll); }
  /// True when this instance acts for `shard` now: trusted by the lease manager and taken
  /// over (its takeover read came back and its payments are armed).
  bool acts_for(store::shard_id shard) const { return leases_.acts_for(shard) && !reading_.contains(shard); }
  /// True when this instance acts for the shard of payment `p` now.
  bool acts_for(const payment& p) const { return acts_for(store::shard_of(p, shards_)); }
  /// Shards held (the lease manager's count, takeovers still being read included).
  std::size_t held() const { return leases_.held(); }
  /// Shards whose takeover read is still out (held, not yet acted for).
  std::size_t taking_over() const { return reading_.size(); }
  /// The lease manager (read-only: tests, logs).
  const engine::shard_leases& leases() const { return leases_; }

 private:
  engine::local_instant now() const;
  duration db_lease() const;
  void enter();
  void run();
  void act(const engine::lease_action& a);
  void take_over(std::vector<store::shard_epoch> shards);
  void refused_at(store::shard_id shard, const std::vector<store::shard_epoch>& fence);
  bool drained() const;
  void refused(const engine::input& in, const engine::output& out);
  bool may_call(const payment& p);
  void arm();
  void publish();
  template <class Job, class Done>
  void send(Job job, Done done);

  cluster_member_deps deps_;
  engine::shard_leases leases_;
  boost::asio::steady_timer timer_;
  store::shard_id shards_ = 0;
  bool running_ = false;  // inside run(): a nested entry only ticks, the outer loop acts
  bool inline_ = false;   // inside start(): statements run on the calling thread
  bool draining_ = false;  // drain() was called
  std::vector<store::shard_epoch> to_take_;  // start_acting of this run(), read in one job
  std::map<store::shard_id, std::int64_t> reading_;  // takeovers whose read is out, at their epoch
  std::vector<store::shard_id> stopped_;  // stops of this run(), logged together
  std::function<void()> on_tick_;         // the inbox poll (on_tick)
  std::function<void()> drained_;         // drain()'s wake-up, once the release is answered
  // Completions of store jobs hold a weak reference: one arriving after the member is gone
  // (the reactor stopped, then ran again) does nothing.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace cashier::daemon
