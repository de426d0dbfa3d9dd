// cashier-sim: runs seeds of the deterministic simulation (in parallel threads, each seed on its
// own SQLite file), prints every violation with the command that replays its seed, and a
// summary: payments simulated, simulated hours, faults injected by kind, crashes, violations.
// Exit 0 when no invariant broke (with --expect-violations: when one did), 1 otherwise, 2 on
// bad usage.
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/engine/payment_view.hpp"
#include "tests/sim/world.hpp"
#include "tests/sim/seed_runner.hpp"

namespace {
using namespace cashier;
using namespace cashier::sim;

struct cli {
  std::uint64_t first_seed = 1;
  std::uint64_t seeds = 1;
  int payments = 50;
  int jobs = 2;
  bool verbose = false;
  bool expect_violations = false;
  injected_bug bug = injected_bug::none;
  std::string bug_name = "none";
  scenario world = scenario::random;
  std::string scenario_name = "random";
  std::string postgres_arg;  // --postgres as given ("env", or a conninfo)
  std::string postgres;      // the conninfo it names
};

constexpr std::string_view usage =
    "usage: cashier-sim [--seeds N] [--first-seed S] [--seed N] [--payments P] [--jobs J]\n"
    "                   [--verbose] [--inject-bug unverified|drop-event|webhook-out-of-order|\n"
    "                                 cancel-over-pay|no-last-look|cancel-after-window|leak-token|\n"
    "                                 ignore-cap|fire-early|refund-new-id|refund-skips-budget]\n"
    "                   [--scenario random|downtime|late-evening]\n"
    "                   [--expect-violations] [--postgres CONNINFO|env]\n"
    "  --postgres: run on that PostgreSQL server (a schema per seed) instead of SQLite files;\n"
    "  `env` takes the conninfo of CASHIER_TEST_PG (the ctest fixture's server)\n";

std::optional<cli> parse(int argc, char** argv) {
  cli c;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    const std::string_view v = has_value ? argv[i + 1] : "";
    bool ok = true;
    if (a == "--verbose") {
      c.verbose = true;
      continue;
    }
    if (a == "--expect-violations") {
      c.expect_violations = true;
      continue;
    }
    if (!has_value) return std::nullopt;
    ++i;
    if (a == "--seeds") ok = parse_number(v, c.seeds);
    else if (a == "--first-seed") ok = parse_number(v, c.first_seed);
    else if (a == "--seed") ok = parse_number(v, c.first_seed), c.seeds = 1;
    else if (a == "--payments") ok = parse_number(v, c.payments) && c.payments > 0;
    else if (a == "--jobs") ok = parse_number(v, c.jobs) && c.jobs > 0;
    else if (a == "--inject-bug") {
      const auto b = parse_bug(v);
      ok = b.has_value();
      if (b) c.bug = *b, c.bug_name = std::string(v);
    } else if (a == "--postgres") {
      c.postgres_arg = std::string(v);
      c.postgres = postgres_conninfo(c.postgres_arg);
      ok = !c.postgres.empty();
    } else if (a == "--scenario") {
      const auto w = parse_scenario(v);
      ok = w.has_value();
      if (w) c.world = *w, c.scenario_name = std::string(v);
    } else {
      ok = false;
    }
    if (!ok) return std::nullopt;
  }
  return c;
}

std::vector<run_report> run_all(const cli& c) {
  const std::string dir = seed_files_dir();
  return run_seeds<run_report>(c.seeds, c.jobs, c.verbose, [&](std::uint64_t i) {
    return run_seed({c.first_seed + i, c.payments, c.bug, c.verbose, dir, c.world, c.postgres});
  });
}

std::string replay_command(const cli& c, std::uint64_t seed) {
  std::string s = "cashier-sim --seed " + std::to_string(seed);
  if (c.payments != 50) s += " --payments " + std::to_string(c.payments);
  if (c.bug != injected_bug::none) s += " --inject-bug " + c.bug_name;
  if (c.world != scenario::random) s += " --scenario " + c.scenario_name;
  if (!c.postgres_arg.empty()) s += " --postgres '" + c.postgres_arg + "'";
  return s;
}

std::string hms(cashier::duration d) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

std::size_t print_violations(const cli& c, const std::vector<run_report>& reports) {
  std::size_t failing = 0;
  std::size_t total = 0;
  for (const auto& r : reports) {
    total += r.violations.size();
    if (r.violations.empty()) continue;
    if (++failing > 10) continue;
    std::printf("seed %llu: %zu invariant violation(s)\n", static_cast<unsigned long long>(r.seed),
                r.violations.size());
    for (std::size_t i = 0; i < r.violations.size() && i < 5; ++i) {
      const auto& v = r.violations[i];
      std::printf("  at %s: %s\n", engine::iso8601(v.at).c_str(), v.what.c_str());
    }
    std::printf("  replay: %s\n", replay_command(c, r.seed).c_str());
  }
  if (failing > 10) std::printf("... and %zu more failing seeds\n", failing - 10);
  return total;
}

void print_summary(const cli& c, const std::vector<run_report>& reports, std::size_t violations,
                   double wall_s) {
  std::uint64_t payments = 0, commits = 0, deferred = 0, shared = 0, same = 0;
  int crashes = 0, after_commit = 0;
  cashier::duration simulated{}, latest{};
  fault_counts faults;
  check_totals t;
  engine::scheduler_stats sched;
  refund_totals refunds;
  std::uint64_t seeds_with_refunds = 0;
  engine::webhook_policy_stats hooks;
  for (const auto& r : reports) {
    refunds.merge(r.refunds);
    seeds_with_refunds += r.refunds.created > 0 ? 1 : 0;
    hooks.started += r.webhooks.started;
    hooks.held_for_order += r.webhooks.held_for_order;
    hooks.left_for_order += r.webhooks.left_for_order;
    hooks.held_for_share += r.webhooks.held_for_share;
    hooks.full += r.webhooks.full;
    hooks.delivered += r.webhooks.delivered;
    hooks.retried += r.webhooks.retried;
    hooks.dead += r.webhooks.dead;
    hooks.redelivered_in_flight += r.webhooks.redelivered_in_flight;
    hooks.commit_failures += r.webhooks.commit_failures;
    t.webhook_receipts += r.totals.webhook_receipts;
    t.webhook_duplicates += r.totals.webhook_duplicates;
    t.webhook_after_earlier += r.totals.webhook_after_earlier;
    payments += static_cast<std::uint64_t>(r.payments);
    simulated += r.simulated;
    commits += r.commits;
    shared += r.shared_commits;
    same += r.same_payment_commits;
    deferred += r.cancels_deferred;
    crashes += r.crashes;
    after_commit += r.crashes_after_commit;
    faults.merge(r.faults);
    for (std::size_t i = 0; i < sched.actions.size(); ++i) sched.actions[i] += r.scheduler.actions[i];
    for (std::size_t i = 0; i < sched.fired.size(); ++i) sched.fired[i] += r.scheduler.fired[i];
    sched.budget_deferred += r.scheduler.budget_deferred;
    sched.hints_skipped += r.scheduler.hints_skipped;
    sched.budget_waits += r.scheduler.budget_waits;
    sched.cap_waits += r.scheduler.cap_waits;
    sched.tokens_refunded += r.scheduler.tokens_refunded;
    sched.tokens_borrowed += r.scheduler.tokens_borrowed;
    sched.store_failures += r.scheduler.store_failures;
    t.success += r.totals.success;
    t.fail += r.totals.fail;
    t.cancelled += r.totals.cancelled;
    t.merchant_events += r.totals.merchant_events;
    t.dead_events += r.totals.dead_events;
    t.anomalies += r.totals.anomalies;
    t.parked += r.totals.parked;
    t.cancel_failed_events += r.totals.cancel_failed_events;
    latest = std::max(latest, r.totals.latest_final);
  }
  std::printf("cashier-sim: %llu seeds (%llu..%llu) on %s, %llu payments simulated (SUCCESS %llu, FAIL %llu, "
              "CANCELLED %llu), %.1f simulated hours, %llu group commits (%llu of several inputs, %llu with "
              "two for one payment)\n",
              static_cast<unsigned long long>(c.seeds), static_cast<unsigned long long>(c.first_seed),
              static_cast<unsigned long long>(c.first_seed + c.seeds - 1), c.postgres.empty() ? "SQLite" : "PostgreSQL",
              static_cast<unsigned long long>(payments), static_cast<unsigned long long>(t.success),
              static_cast<unsigned long long>(t.fail), static_cast<unsigned long long>(t.cancelled),
              std::chrono::duration<double, std::ratio<3600>>(simulated).count(),
              static_cast<unsigned long long>(commits), static_cast<unsigned long long>(shared),
              static_cast<unsigned long long>(same));
  std::printf("faults injected: %llu (", static_cast<unsigned long long>(faults.total()));
  for (std::size_t i = 0; i < faults.n.size(); ++i) {
    std::printf("%s%s %llu", i == 0 ? "" : ", ", std::string(to_string(static_cast<fault>(i))).c_str(),
                static_cast<unsigned long long>(faults.n[i]));
  }
  std::printf(")\ncrashes: %d (%d between a commit and its effects); cancels held behind a pay: %llu\n",
              crashes, after_commit, static_cast<unsigned long long>(deferred));
  // The production scheduler's reach: every action kind and both lanes must show up here.
  std::printf("scheduler actions:");
  for (std::size_t i = 0; i < sched.actions.size(); ++i) {
    std::printf("%s %s %llu", i == 0 ? "" : ",", std::string(engine::action_name(i)).c_str(),
                static_cast<unsigned long long>(sched.actions[i]));
  }
  std::printf("\nscheduler: deadlines fired urgent %llu, polling %llu; ticks stopped by the budget %llu, by "
              "the cap %llu; calls deferred over budget %llu, hints skipped %llu; tokens borrowed %llu, "
              "refunded %llu; failed commits %llu\n",
              static_cast<unsigned long long>(sched.fired[0]), static_cast<unsigned long long>(sched.fired[1]),
              static_cast<unsigned long long>(sched.budget_waits), static_cast<unsigned long long>(sched.cap_waits),
              static_cast<unsigned long long>(sched.budget_deferred),
              static_cast<unsigned long long>(sched.hints_skipped),
              static_cast<unsigned long long>(sched.tokens_borrowed),
              static_cast<unsigned long long>(sched.tokens_refunded),
              static_cast<unsigned long long>(sched.store_failures));
  // The production webhook policy's reach: every decision and outcome must show up here.
  std::printf("webhook policy: started %llu; deferred behind an earlier event %llu, left for one under way "
              "%llu, deferred for the merchant's share %llu, polls with every slot taken %llu; settled "
              "delivered %llu, retry %llu, dead %llu; redelivered while under way %llu; failed settles %llu\n",
              static_cast<unsigned long long>(hooks.started), static_cast<unsigned long long>(hooks.held_for_order),
              static_cast<unsigned long long>(hooks.left_for_order),
              static_cast<unsigned long long>(hooks.held_for_share), static_cast<unsigned long long>(hooks.full),
              static_cast<unsigned long long>(hooks.delivered), static_cast<unsigned long long>(hooks.retried),
              static_cast<unsigned long long>(hooks.dead),
              static_cast<unsigned long long>(hooks.redelivered_in_flight),
              static_cast<unsigned long long>(hooks.commit_failures));
  std::printf("merchant sink: %llu deliveries taken, %llu of them duplicates; %llu first receipts checked "
              "against their payment's earlier events\n",
              static_cast<unsigned long long>(t.webhook_receipts), static_cast<unsigned long long>(t.webhook_duplicates),
              static_cast<unsigned long long>(t.webhook_after_earlier));
  std::printf("merchant events: %llu (dead after the merchant refused every attempt, then "
              "redelivered: %llu; cancel_failed: %llu); anomalies: "
              "%llu; parked unresolved: %llu; latest settling after deadline or cancel start: %s\n",
              static_cast<unsigned long long>(t.merchant_events),
              static_cast<unsigned long long>(t.dead_events),
              static_cast<unsigned long long>(t.cancel_failed_events),
              static_cast<unsigned long long>(t.anomalies), static_cast<unsigned long long>(t.parked),
              hms(latest).c_str());
  std::printf("refunds: %llu seeds with refunds, %llu payments to refund, %llu orders (%llu repeats, %llu "
              "409 another body, %llu REFUND_AMOUNT_EXCEED, %llu not refundable), %llu refunds created (%llu by a "
              "late cancel): SUCCESS %llu, FAIL %llu; %llu refund calls, %llu confirming inquiries, %llu refund "
              "events\n",
              static_cast<unsigned long long>(seeds_with_refunds), static_cast<unsigned long long>(refunds.planned),
              static_cast<unsigned long long>(refunds.orders), static_cast<unsigned long long>(refunds.repeats),
              static_cast<unsigned long long>(refunds.inconsistent), static_cast<unsigned long long>(refunds.exceeded),
              static_cast<unsigned long long>(refunds.not_refundable), static_cast<unsigned long long>(refunds.created),
              static_cast<unsigned long long>(refunds.from_cancels), static_cast<unsigned long long>(refunds.succeeded),
              static_cast<unsigned long long>(refunds.failed), static_cast<unsigned long long>(refunds.calls),
              static_cast<unsigned long long>(refunds.inquiries), static_cast<unsigned long long>(refunds.events));
  std::printf("invariant violations: %zu%s; wall time %.1f s\n", violations,
              c.bug == injected_bug::none ? "" : (" (bug injected: " + c.bug_name + ")").c_str(), wall_s);
}

}  // namespace

int main(int argc, char** argv) {
  const auto c = parse(argc, argv);
  if (!c) {
    std::fputs(usage.data(), stderr);
    return 2;
  }
  const auto started = std::chrono::steady_clock::now();
  const auto reports = run_all(*c);
  const auto wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto violations = print_violations(*c, reports);
  print_summary(*c, reports, violations, wall);
  if (c->expect_violations) {
    if (violations == 0) std::printf("FAILED: the injected bug went unnoticed\n");
    return violations > 0 ? 0 : 1;
  }
  return violations > 0 ? 1 : 0;
}
