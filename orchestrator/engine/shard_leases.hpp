// The lease manager of cluster mode (proto-docs/cluster.md), sans-I/O like the scheduler: it
// decides when to claim, renew and release shards, which shards this instance may act for and
// until when, and its share of the Alipay+ call budget. Its inputs are the database's answers
// (rows judged by the database's clock) and the instants, on this instance's own monotonic
// clock, at which it sent each request; its outputs are actions the executor carries out (send
// a claim, a renewal or a release to the store; start acting on a shard at an epoch, i.e. take
// it over as recover() does; stop acting on one now; set the budget share). It never compares a
// database instant with a local one: a shard is trusted until the local send instant of the
// last claim or renewal the database confirmed, plus the lease, minus a safety margin (River's
// trusted-until), which always ends before the database's lease does. One request is in flight
// at a time. Invariants are checked after every entry point and stay on in release builds.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "orchestrator/engine/rate_budget.hpp"
#include "state/store/cluster_store.hpp"

namespace cashier::engine {

/// This instance's monotonic clock (the scheduler's wall clock).
using local_instant = rate_budget::instant;

/// Deliberate lease bugs, for the simulation to prove its checks catch them. Always `none` in
/// the daemon.
enum class lease_flaw {
  none,         ///< the real behaviour
  no_margin,    ///< trusts a shard to send + lease, without the safety margin
  early_share,  ///< raises the budget share when a claim is sent, before it commits
};

/// The lease manager's settings; the defaults are the daemon's (cluster.md, "Leases").
struct lease_config {
  std::string instance;                                       ///< this instance's id (the owner column)
  store::shard_id shards = store::default_shard_count;        ///< shards in the database
  std::chrono::nanoseconds lease = std::chrono::seconds(10);  ///< lease period L
  std::chrono::nanoseconds renew_every = std::chrono::milliseconds(2500);  ///< L/4
  std::chrono::nanoseconds claim_every = std::chrono::seconds(1);          ///< the claim tick
  std::chrono::nanoseconds margin = std::chrono::seconds(1);  ///< trust ends this long before the lease
  double budget = 0;    ///< alipayplus.maxRequestsPerSecond across the cluster (0 = unlimited)
  bool single = false;  ///< one instance on its own database: claims every shard with force at start
  lease_flaw flaw = lease_flaw::none;  ///< a deliberate bug (the simulation's --inject-bug)
};

/// Send a claim for up to `want` shards (cluster_store::claim; `force`: every shard).
struct send_claim {
  int want = 0;        ///< shards wanted
  bool force = false;  ///< take them whoever holds them (a single instance's start)
};
/// Send a renewal of `held` (cluster_store::renew).
struct send_renew {
  std::vector<store::shard_epoch> held;  ///< the shards trusted now, at their epochs
};
/// Send a release of `shards` (cluster_store::release); already no longer acted for.
struct send_release {
  std::vector<store::shard_epoch> shards;  ///< the shards let go
};
/// Take shard `shard` over at `epoch`: load its open payments and inbox and arm them as
/// recover() does; commits for it are fenced with this epoch from now on.
struct start_acting {
  store::shard_id shard = 0;  ///< the shard
  std::int64_t epoch = 0;     ///< its epoch
};
/// Stop acting on shard `shard` now: drop its deadlines, queued inputs and held calls.
struct stop_acting {
  store::shard_id shard = 0;  ///< the shard
  std::int64_t epoch = 0;     ///< the epoch it was held at
};
/// Run the outbound call budget at `per_second` (0 with an unlimited budget: unlimited).
struct set_share {
  double per_second = 0;  ///< the share of the cluster's budget
};
/// One thing for the executor to do.
using lease_action = std::variant<send_claim, send_renew, send_release, start_acting, stop_acting, set_share>;

/// Counters of what the lease manager did.
struct lease_stats {
  std::uint64_t claims = 0;         ///< claims sent
  std::uint64_t renewals = 0;       ///< renewals sent
  std::uint64_t failures = 0;       ///< requests that failed (the store threw)
  std::uint64_t taken_over = 0;     ///< shards started (start_acting)
  std::uint64_t lost = 0;           ///< shards a renewal or a fenced commit said were lost
  std::uint64_t lapsed = 0;         ///< shards whose trust ran out before a renewal confirmed them
  std::uint64_t released = 0;       ///< shards released (rebalancing, drain)
};

/// The lease manager of one instance.
class shard_leases {
 public:
  /// A manager with `config`, holding nothing.
  explicit shard_leases(lease_config config);

  /// Time passed: lapsed trust stops the shard; a due renewal or claim (or a pending release)
  /// is sent when no request is in flight. Call it before handing any other input to the
  /// scheduler, so that nothing acts for a shard past its trust.
  void tick(local_instant now);
  /// The claim sent last was answered by the database with `a`.
  void claim_answered(const store::lease_answer& a, local_instant now);
  /// The renewal sent last was answered with `a` (`changed` = the shards renewed).
  void renew_answered(const store::lease_answer& a, local_instant now);
  /// The release sent last was answered.
  void release_answered(const store::lease_answer& a, local_instant now);
  /// The request in flight failed (the store threw): nothing was confirmed.
  void request_failed(local_instant now);
  /// A fenced commit said `shard` is not ours (at `epoch`): stop acting on it now.
  void not_owner(store::shard_id shard, std::int64_t epoch, local_instant now);
  /// Shutdown: stop acting on every shard and release them all (and those a claim still out
  /// gets: they are released when it is answered, never acted for).
  void drain(local_instant now);

  /// True when this instance acts for `shard` now (held, trusted, not lapsed at the last tick).
  bool acts_for(store::shard_id shard) const { return held_.contains(shard); }
  /// The epoch `shard` is held at, or 0.
  std::int64_t epoch_of(store::shard_id shard) const;
  /// The fence of the next commit: every shard acted for, at its epoch, in shard order.
  std::vector<store::shard_epoch> fence() const;
  /// Shards acted for.
  std::size_t held() const { return held_.size(); }
  /// The local instant until which `shard` is trusted (nothing when not held).
  std::optional<local_instant> trusted_until(store::shard_id shard) const;
  /// The budget share in force (calls per second; 0 with an unlimited budget).
  double share() const { return share_; }
  /// When tick() next has something to do (a renewal, a claim, a trust running out).
  std::optional<local_instant> next_tick() const;
  /// True while a request is in flight.
  bool requesting() const { return in_flight_ != request::none; }
  /// The configuration.
  const lease_config& config() const { return config_; }
  /// Counters.
  const lease_stats& stats() const { return st_; }

  /// Moves the actions emitted since the last take into `into` (cleared first).
  void take_actions(std::vector<lease_action>& into);
  /// Called with a description when an invariant breaks (default: print it and abort).
  void on_broken_invariant(std::function<void(std::string_view)> handler) { broken_ = std::move(handler); }

 private:
  /// The store request in flight (one at a time).
  enum class request {
    none,     ///< nothing in flight
    claim,    ///< a send_claim
    renew,    ///< a send_renew
    release,  ///< a send_release
  };
  struct holding {
    std::int64_t epoch = 0;
    local_instant trusted_until{};
    local_instant confirmed_sent{};  // the send instant of the last request the database confirmed
  };

  void emit(lease_action a) { out_.push_back(std::move(a)); }
  void drop(store::shard_id shard);
  void update_share();
  void rebalance(int live_instances);
  void watch_lapses(const store::lease_answer& a, local_instant now);
  local_instant trust_from(local_instant sent) const;
  int target() const;
  void ensure(bool ok, std::string_view what);
  void check();

  lease_config config_;
  std::map<store::shard_id, holding> held_;  // ordered: fences and releases in shard order
  std::map<store::shard_id, std::int64_t> last_epoch_;  // the highest epoch ever held, per shard
  std::vector<store::shard_epoch> to_release_;
  request in_flight_ = request::none;
  local_instant sent_at_{};
  std::vector<store::shard_epoch> renew_sent_;  // what the renewal in flight asked for
  bool started_ = false;  // the first claim was sent
  bool draining_ = false;
  local_instant next_claim_{};
  local_instant next_renew_{};
  // When another instance's lease, as the last answer showed it, will have run out (a claim of
  // none is sent then to learn whether that instance is gone): watch_lapses().
  std::optional<local_instant> lapse_due_;
  int live_ = 1;  // instances sharing the shards, this one included (the last answer's count)
  double share_ = 0;
  lease_stats st_;
  std::vector<lease_action> out_;
  std::function<void(std::string_view)> broken_;
};

}  // namespace cashier::engine
