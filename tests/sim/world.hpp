// One simulated run: a seed fixes everything. The world wires the fake Alipay+, the simulated
// cashierd process (real engine, real SQLite file, the production scheduler with limits drawn
// per seed), the merchant (creates, cancels, the webhook
// endpoint with its outages) and the network between them (latency 5–250 ms each way, loss,
// unsigned answers, duplicate, late and forged notifies), crashes the process at random instants
// and between a commit and its effects, runs the virtual clock until nothing is left to do,
// and hands the checker every commit, every step and the final state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/sim/cashierd.hpp"
#include "tests/sim/checker.hpp"
#include "tests/sim/faults.hpp"
#include "tests/sim/refund_world.hpp"

namespace cashier::sim {

/// Which world to simulate.
enum class scenario {
  random,        ///< random plans, faults and crashes (the default)
  downtime,      ///< no faults; every payer pays during a process outage across the polling
                 ///< deadline and no notify arrives: after the restart all SUCCESS, no cancel
  late_evening,  ///< random, but created between 23:50 and 24:00 UTC+8: deadlines after the
                 ///< cancel window, so no cancel may be sent then and the slow path settles
};

/// What to run.
struct run_options {
  std::uint64_t seed = 1;                 ///< fixes every random choice
  int payments = 50;                      ///< payments the merchant creates
  injected_bug bug = injected_bug::none;  ///< a deliberate bug, to prove the checks bite
  bool verbose = false;                   ///< print a trace of the run
  std::string dir;                        ///< directory for the SQLite file
  scenario world = scenario::random;      ///< which world
  std::string postgres;                   ///< a PostgreSQL conninfo: run on it instead (sim_database.hpp)
};

/// What one run did and found.
struct run_report {
  std::uint64_t seed = 0;                ///< the seed
  int payments = 0;                      ///< payments simulated
  duration simulated{};                  ///< virtual time covered
  fault_counts faults;                   ///< faults injected
  int crashes = 0;                       ///< process crashes (all kinds)
  int crashes_after_commit = 0;          ///< crashes between a commit and its effects
  std::uint64_t commits = 0;             ///< group commits
  std::uint64_t shared_commits = 0;      ///< group commits of several inputs
  std::uint64_t same_payment_commits = 0;  ///< group commits of several inputs for one payment
  std::uint64_t cancels_deferred = 0;    ///< cancels held back behind an in-flight pay
  engine::scheduler_stats scheduler;     ///< the scheduler's counters (actions by kind, lanes)
  engine::webhook_policy_stats webhooks; ///< the webhook policy's counters
  check_totals totals;                   ///< outcomes counted by the checker
  refund_totals refunds;                 ///< what the refunds did
  std::vector<violation> violations;     ///< invariant violations
};

/// Runs one seed to the end and checks it.
run_report run_seed(const run_options& options);

/// The bug named `name` ("unverified", "drop-event", "webhook-out-of-order", "cancel-over-pay",
/// "no-last-look", "cancel-after-window", "leak-token", "ignore-cap", "fire-early",
/// "refund-new-id", "refund-skips-budget"), or nothing.
std::optional<injected_bug> parse_bug(std::string_view name);
/// The scenario named `name` ("random", "downtime", "late-evening"), or nothing.
std::optional<scenario> parse_scenario(std::string_view name);

}  // namespace cashier::sim
