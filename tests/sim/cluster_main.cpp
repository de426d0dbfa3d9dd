// cluster-sim: runs seeds of the cluster simulation (cluster_world.hpp), several cashierd
// instances on one SQLite file, in parallel threads (each seed on its own file); prints every
// violation with the command that replays its seed, and a summary. Exit 0 when no invariant
// broke (with --expect-violations: when one did), 1 otherwise, 2 on bad usage.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "tests/sim/cluster_world.hpp"
#include "tests/sim/sim_database.hpp"
#include "tests/sim/seed_runner.hpp"

namespace {
using namespace cashier;
using namespace cashier::sim;

struct cli {
  std::uint64_t first_seed = 1;
  std::uint64_t seeds = 1;
  int payments = 40;
  int instances = 3;
  int jobs = 2;
  bool verbose = false;
  bool expect_violations = false;
  cluster_bug bug = cluster_bug::none;
  std::string bug_name = "none";
  std::string postgres_arg;  // --postgres as given ("env", or a conninfo)
  std::string postgres;      // the conninfo it names
};

constexpr std::string_view usage =
    "usage: cluster-sim [--seeds N] [--first-seed S] [--seed N] [--payments P] [--instances I]\n"
    "                   [--jobs J] [--verbose] [--inject-bug no-margin|skip-fence|early-share]\n"
    "                   [--expect-violations] [--postgres CONNINFO|env]\n"
    "  --postgres: run on that PostgreSQL server (a schema per seed) instead of SQLite files;\n"
    "  `env` takes the conninfo of CASHIER_TEST_PG (the ctest fixture's server)\n";

std::optional<cli> parse(int argc, char** argv) {
  cli c;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--verbose") {
      c.verbose = true;
      continue;
    }
    if (a == "--expect-violations") {
      c.expect_violations = true;
      continue;
    }
    if (i + 1 >= argc) return std::nullopt;
    const std::string_view v = argv[++i];
    bool ok = true;
    if (a == "--seeds") ok = parse_number(v, c.seeds);
    else if (a == "--first-seed") ok = parse_number(v, c.first_seed);
    else if (a == "--seed") ok = parse_number(v, c.first_seed), c.seeds = 1;
    else if (a == "--payments") ok = parse_number(v, c.payments) && c.payments > 0;
    else if (a == "--instances") ok = parse_number(v, c.instances) && c.instances > 0 && c.instances <= 16;
    else if (a == "--jobs") ok = parse_number(v, c.jobs) && c.jobs > 0;
    else if (a == "--postgres") {
      c.postgres_arg = std::string(v);
      c.postgres = postgres_conninfo(c.postgres_arg);
      ok = !c.postgres.empty();
    } else if (a == "--inject-bug") {
      const auto b = parse_cluster_bug(v);
      ok = b.has_value();
      if (b) c.bug = *b, c.bug_name = std::string(v);
    } else {
      ok = false;
    }
    if (!ok) return std::nullopt;
  }
  return c;
}

std::string replay_command(const cli& c, std::uint64_t seed) {
  std::string s = "cluster-sim --seed " + std::to_string(seed);
  if (c.payments != 40) s += " --payments " + std::to_string(c.payments);
  if (c.instances != 3) s += " --instances " + std::to_string(c.instances);
  if (c.bug != cluster_bug::none) s += " --inject-bug " + c.bug_name;
  if (!c.postgres_arg.empty()) s += " --postgres '" + c.postgres_arg + "'";
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const auto c = parse(argc, argv);
  if (!c) {
    std::fputs(usage.data(), stderr);
    return 2;
  }
  const std::string dir = seed_files_dir();
  const auto reports = run_seeds<cluster_report>(c->seeds, c->jobs, c->verbose, [&](std::uint64_t i) {
    return run_cluster_seed({c->first_seed + i, c->payments, c->instances, c->bug, c->verbose, dir, c->postgres});
  });

  std::uint64_t broken = 0, payments = 0, commits = 0, takeovers = 0, not_owner = 0, inbox = 0, refused = 0;
  int kills = 0, freezes = 0, in_commit = 0, restarts = 0;
  double hours = 0;
  std::uint64_t success = 0, fail = 0, cancelled = 0;
  for (const auto& r : reports) {
    if (!r.violations.empty()) {
      ++broken;
      std::printf("seed %llu: %zu violation(s); replay: %s\n", static_cast<unsigned long long>(r.seed),
                  r.violations.size(), replay_command(*c, r.seed).c_str());
      for (std::size_t k = 0; k < r.violations.size() && k < 5; ++k)
        std::printf("  - %s\n", r.violations[k].what.c_str());
    }
    payments += static_cast<std::uint64_t>(r.payments);
    commits += r.commits;
    takeovers += r.takeovers;
    not_owner += r.not_owner;
    inbox += r.inbox_posted;
    refused += r.creates_refused;
    kills += r.kills;
    freezes += r.freezes;
    in_commit += r.freezes_in_commit;
    restarts += r.db_restarts;
    hours += std::chrono::duration<double, std::ratio<3600>>(r.simulated).count();
    success += r.totals.success;
    fail += r.totals.fail;
    cancelled += r.totals.cancelled;
  }
  std::printf(
      "cluster-sim: %llu seeds x %d instances on %s, %llu payments (%llu SUCCESS, %llu FAIL, %llu CANCELLED), %.1f "
      "simulated hours, %llu group commits\n"
      "  kills %d, freezes %d (%d in a commit), database restarts %d; takeovers %llu, fenced-out transitions %llu, "
      "inbox posts %llu, creates refused by a non-owner %llu\n"
      "  seeds with violations: %llu%s\n",
      static_cast<unsigned long long>(c->seeds), c->instances, c->postgres.empty() ? "SQLite" : "PostgreSQL", static_cast<unsigned long long>(payments),
      static_cast<unsigned long long>(success), static_cast<unsigned long long>(fail),
      static_cast<unsigned long long>(cancelled), hours, static_cast<unsigned long long>(commits), kills, freezes,
      in_commit, restarts, static_cast<unsigned long long>(takeovers), static_cast<unsigned long long>(not_owner),
      static_cast<unsigned long long>(inbox), static_cast<unsigned long long>(refused),
      static_cast<unsigned long long>(broken), c->bug != cluster_bug::none ? (" (injected: " + c->bug_name + ")").c_str() : "");
  if (c->expect_violations) return broken > 0 ? 0 : 1;
  return broken == 0 ? 0 : 1;
}
