// One simulated cluster run (issue 18, proto-docs/cluster.md): several cashierd instances on one
// SQLite file, each with its own store connection, engine, production scheduler and production
// lease manager (shard_leases.hpp), against the fake Alipay+ and a merchant. The database's
// clock is the virtual clock; each instance has its own monotonic clock (an offset and a drift)
// and a payment clock a little off. The world kills and restarts instances, freezes them past
// their leases (sometimes in the middle of a commit) and lets them resume, and restarts the
// database (every connection fails for a while, then reopens). It checks, as it goes: one owner
// per shard per epoch, epochs never go back, no write of a stale owner commits, no call is sent
// by an instance that is not the shard's current holder with a live lease, no two instances act
// for one shard at once, the budget shares in force never sum above the budget; and at the end,
// with the single-instance checker (checker.hpp): no payment lost, doubled or stuck, each final
// state agrees with Alipay+'s truth, the inbox drained. A seed fixes everything.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/sim/checker.hpp"
#include "tests/sim/faults.hpp"

namespace cashier::sim {

/// Deliberate cluster bugs, to prove that the checks catch them.
enum class cluster_bug {
  none,         ///< the real behaviour
  no_margin,    ///< lease manager: trust runs to send + lease (no safety margin)
  skip_fence,   ///< the executor commits without the fence (plain commit)
  early_share,  ///< lease manager: the budget share is raised when a claim is sent
};

/// What to run.
struct cluster_options {
  std::uint64_t seed = 1;              ///< fixes every random choice
  int payments = 40;                   ///< payments the merchant creates
  int instances = 3;                   ///< cashierd instances
  cluster_bug bug = cluster_bug::none; ///< a deliberate bug
  bool verbose = false;                ///< print a trace of the run
  std::string dir;                     ///< directory for the SQLite file
  std::string postgres;                ///< a PostgreSQL conninfo: run on it instead (sim_database.hpp)
};

/// What one run did and found.
struct cluster_report {
  std::uint64_t seed = 0;          ///< the seed
  int payments = 0;                ///< payments simulated
  int instances = 0;               ///< instances
  duration simulated{};            ///< virtual time covered
  int kills = 0;                   ///< instances killed (and restarted)
  int freezes = 0;                 ///< instances frozen past their lease
  int freezes_in_commit = 0;       ///< of which frozen in the middle of a commit
  int db_restarts = 0;             ///< database restarts
  std::uint64_t commits = 0;       ///< group commits
  std::uint64_t takeovers = 0;     ///< shards started (claims committed and acted on)
  std::uint64_t not_owner = 0;     ///< transitions the fence refused
  std::uint64_t inbox_posted = 0;  ///< inputs posted to the inbox
  std::uint64_t creates_refused = 0;  ///< creates that reached an instance not owning the shard
  check_totals totals;             ///< outcomes counted by the checker
  std::vector<violation> violations;  ///< invariant violations
};

/// Runs one seed to the end and checks it.
cluster_report run_cluster_seed(const cluster_options& options);

/// The bug named `name` ("no-margin", "skip-fence", "early-share"), or nothing.
std::optional<cluster_bug> parse_cluster_bug(std::string_view name);

}  // namespace cashier::sim
