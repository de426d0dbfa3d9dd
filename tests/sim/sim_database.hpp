// Where a simulated run keeps its payments: a SQLite file of its own (the default), or a
// PostgreSQL schema of its own on the server a conninfo names (`--postgres`), so the same worlds
// run against both engines (PRODUCT.md "Cluster mode"). Made fresh for the run and removed at its
// end. On either engine the cluster calls judge leases by the run's virtual clock
// (sqlite_options::clock, postgres_options::clock), so a seed replays the same on both.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "state/machine/time.hpp"
#include "state/store/cluster_store.hpp"

namespace cashier::sim {

class sim_database {
 public:
  /// A fresh database named `name` (unique per run): the file `dir`/`name`.db, or with a
  /// `postgres` conninfo, the schema `name` on that server. `clock`: the database's clock.
  sim_database(const std::string& dir, const std::string& name, std::string postgres,
               std::function<time_point()> clock);
  ~sim_database();
  sim_database(const sim_database&) = delete;
  sim_database& operator=(const sim_database&) = delete;

  /// Another connection to it, with both halves (as the daemon opens its store).
  std::unique_ptr<store::clustered_store> open_clustered() const;
  /// Another connection to it as the single-instance daemon's store was opened before the
  /// cluster mode (SQLite: without the cluster step's claim; PostgreSQL has only the one kind).
  std::unique_ptr<store::payment_store> open() const;
  /// "SQLite" or "PostgreSQL".
  const char* engine() const { return postgres_.empty() ? "SQLite" : "PostgreSQL"; }

 private:
  std::string path_;      // SQLite
  std::string postgres_;  // the server's conninfo (PostgreSQL)
  std::string schema_;    // PostgreSQL
  std::function<time_point()> clock_;
};

/// The conninfo of `--postgres VALUE`: VALUE itself, or with VALUE "env" the CASHIER_TEST_PG the
/// ctest fixture sets (empty when it is not set).
std::string postgres_conninfo(const std::string& value);

}  // namespace cashier::sim
