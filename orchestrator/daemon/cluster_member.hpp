// The daemon's cluster executor (proto-docs/cluster.md): one cashierd among several on one
// PostgreSQL database. It runs the lease manager (engine::shard_leases, sans-I/O) on the reactor
// as tests/sim/cluster_world.cpp does in the simulation: a steady_timer at next_tick(), tick()
// before acting, and the manager's actions carried out here: claims, renewals and releases on
// the store's cluster half (synchronously on the reactor for now: cluster.md "Known gaps"),
// takeovers (the shard's open payments and PROCESSING refunds armed, as recover() does), stops
// (the shard's deadlines and queued inputs dropped, their waiters failed) and the budget share.
// It is also the driver's fence_source: commits are fenced with the epochs of the moment, a
// not_owner refusal tells the manager, and a call is checked against the shard's trust just
// before it leaves. Creates draw their Alipay+ id into a shard this instance acts for.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/metrics.hpp"
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
  void start();
  /// Shutdown: stops acting on every shard and releases them, so the others claim them at
  /// their next tick instead of after a lease. Call after the driver drained.
  void drain();
  /// A fresh Alipay+ paymentRequestId from `draw` that hashes into a shard this instance acts
  /// for, or nothing when it acts for none (the create is answered 503, like a store outage).
  std::optional<std::string> draw_payment_request_id(const std::function<std::string()>& draw);
  /// True when this instance acts for the shard of payment `p` now.
  bool acts_for(const payment& p) const { return leases_.acts_for(store::shard_of(p, shards_)); }
  /// Shards acted for now.
  std::size_t held() const { return leases_.held(); }
  /// The lease manager (read-only: tests, logs).
  const engine::shard_leases& leases() const { return leases_; }

 private:
  engine::local_instant now() const;
  duration db_lease() const;
  void enter();
  void run();
  void act(const engine::lease_action& a);
  void take_over(store::shard_id shard, std::int64_t epoch);
  std::vector<store::refund_deadline> refunds_of(store::shard_id shard);
  void refused(const engine::input& in, const engine::output& out);
  bool may_call(const payment& p);
  void arm();
  void publish();

  cluster_member_deps deps_;
  engine::shard_leases leases_;
  boost::asio::steady_timer timer_;
  store::shard_id shards_ = 0;
  bool running_ = false;  // inside run(): a nested entry only ticks, the outer loop acts
  std::vector<store::shard_id> taken_;  // takeovers of this run(), logged together
  std::size_t taken_open_ = 0;
  std::vector<store::shard_id> stopped_;  // stops of this run(), logged together
  // PROCESSING refunds read once per run() that takes shards over (nothing read: not loaded).
  std::optional<std::vector<std::pair<store::shard_id, store::refund_deadline>>> open_refunds_;
};

}  // namespace cashier::daemon
