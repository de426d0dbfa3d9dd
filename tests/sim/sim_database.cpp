// The simulation's database (see sim_database.hpp).
#include "tests/sim/sim_database.hpp"

#include <libpq-fe.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <utility>

#include "state/store/pg_store.hpp"
#include "state/store/sqlite_store.hpp"

namespace cashier::sim {
namespace {

/// Runs `sql` on a connection of its own to `conninfo`; throws with the server's message.
void exec(const std::string& conninfo, const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  std::string error;
  if (PQstatus(c) != CONNECTION_OK) {
    error = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, ("SET client_min_messages = 'warning'; " + sql).c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) error = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  if (!error.empty()) throw std::runtime_error("simulation database: " + sql + ": " + error);
}

void remove_sqlite(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

}  // namespace

sim_database::sim_database(const std::string& dir, const std::string& name, std::string postgres,
                           std::function<time_point()> clock)
    : postgres_(std::move(postgres)), clock_(std::move(clock)) {
  if (postgres_.empty()) {
    path_ = dir + "/" + name + ".db";
    remove_sqlite(path_);
    return;
  }
  // An identifier without quoting: lowercase letters, digits and '_'.
  schema_ = "sim_";
  for (const char ch : name) schema_ += std::isalnum(static_cast<unsigned char>(ch)) ? static_cast<char>(std::tolower(ch)) : '_';
  exec(postgres_, "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE; CREATE SCHEMA " + schema_);
}

sim_database::~sim_database() {
  if (postgres_.empty()) {
    remove_sqlite(path_);
    return;
  }
  try {
    exec(postgres_, "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
  } catch (const std::exception&) {
    // The server is going away with the run's fixture: nothing to clean then.
  }
}

std::unique_ptr<store::clustered_store> sim_database::open_clustered() const {
  if (!postgres_.empty()) {
    store::postgres_options o;
    o.clock = clock_;
    // synchronous_commit off: the simulation's crashes and database restarts are its own (the
    // server keeps running), so a commit need not wait for the disk; the fixture's server
    // flushes for the store's durability tests, and this keeps a seed's thousands of commits
    // from waiting on it.
    return store::open_postgres_store(
        postgres_ + " options='-csearch_path=" + schema_ + " -csynchronous_commit=off'", o);
  }
  store::sqlite_options o;
  o.synchronous = store::sync_mode::normal;  // a commit survives a process crash, what the sim crashes
  o.background_checkpoint = false;
  o.clock = clock_;
  return store::open_sqlite_clustered(path_, o);
}

std::unique_ptr<store::payment_store> sim_database::open() const {
  if (!postgres_.empty()) return open_clustered();
  // NORMAL: a commit survives a process crash, which is what the simulation crashes.
  return store::open_sqlite_store(path_, {store::sync_mode::normal, false, 5000});
}

std::string postgres_conninfo(const std::string& value) {
  if (value != "env") return value;
  const char* c = std::getenv("CASHIER_TEST_PG");
  return c == nullptr ? std::string() : std::string(c);
}

}  // namespace cashier::sim
