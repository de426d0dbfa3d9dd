// The store conformance suite's engine under test (tests/state/store only): test_db, a fresh
// database of the engine a runner tests (a SQLite file, or a PostgreSQL schema of its own on the
// server of ctest's fixture "postgres", CASHIER_TEST_PG), a raw libpq handle for looking under
// the PostgreSQL store, and the doctest suites of single-engine tests.
//
// The store tests are one conformance suite: compiled once, linked into store_tests (SQLite)
// and store_tests_pg (PostgreSQL, label `postgres`; store_main.cpp), each test case in a fresh
// database file or schema. Tests that are SQLite-specific by nature (WAL, file modes, the
// checkpointer, SQLite's VDBE, migrating old SQLite files) are in the doctest suite sqlite_only
// and say why; PostgreSQL-only ones (pg_store_test.cpp) in postgres_only.
#pragma once

#include <libpq-fe.h>

#include <cstdlib>
#include <random>
#include <string_view>
#include <thread>

#include "state/store/pg_store.hpp"
#include "tests/state/store/store_fixture.hpp"

namespace cashier::store::test {

/// Tests that only make sense on SQLite (ctest runs them in the SQLite registration only).
inline const auto sqlite_only = doctest::test_suite("sqlite_only");
/// Tests of the PostgreSQL engine alone (ctest runs them in the `postgres` registration only).
inline const auto postgres_only = doctest::test_suite("postgres_only");

/// True in the PostgreSQL runner (store_tests_pg), false in the SQLite one (store_main.cpp).
extern const bool store_tests_on_postgres;

/// The PostgreSQL server of the `postgres` ctest fixture (CASHIER_TEST_PG) for the PostgreSQL
/// runner; "" in the SQLite runner.
inline std::string test_pg_conninfo() {
  if (!store_tests_on_postgres) return "";
  const char* c = std::getenv("CASHIER_TEST_PG");
  REQUIRE_MESSAGE((c != nullptr && *c != '\0'),
                  "store_tests_pg needs CASHIER_TEST_PG: run it through ctest (label postgres)");
  return c;
}

/// A raw libpq connection to look under the PostgreSQL store.
class raw_pg {
 public:
  explicit raw_pg(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    REQUIRE_MESSAGE(PQstatus(conn_) == CONNECTION_OK, PQerrorMessage(conn_));
    PQclear(PQexec(conn_, "SET client_min_messages = 'warning'"));
  }
  ~raw_pg() { PQfinish(conn_); }
  raw_pg(const raw_pg&) = delete;
  raw_pg& operator=(const raw_pg&) = delete;
  /// Runs `sql`; true when it succeeded.
  bool exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto st = PQresultStatus(r);
    PQclear(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
  }
  /// The last column of every row of `sql`, as text, joined by '\n'.
  std::string text(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto st = PQresultStatus(r);
    CHECK_MESSAGE(st == PGRES_TUPLES_OK, PQresultErrorMessage(r));
    std::string out;
    for (int i = 0; st == PGRES_TUPLES_OK && i < PQntuples(r); ++i) {
      out += (i == 0 ? "" : "\n") + std::string(PQgetvalue(r, i, PQnfields(r) - 1));
    }
    PQclear(r);
    return out;
  }
  /// The connection (for tests that drive libpq themselves).
  PGconn* native() const { return conn_; }

 private:
  PGconn* conn_;
};

/// Options of a store opened by test_db, on either engine.
struct test_options {
  bool read_only = false;                                 ///< open read-only
  std::int64_t rejected_notify_rows = 10000;              ///< rejected-notify budget: rows
  std::int64_t rejected_notify_bytes = 64 * 1024 * 1024;  ///< ... and bytes
};

/// One fresh store database of the engine under test: a SQLite file in a temporary directory,
/// or a PostgreSQL schema of its own (dropped at the end) on the fixture's server.
class test_db {
 public:
  test_db() : conninfo_(test_pg_conninfo()) {
    if (conninfo_.empty()) return;
    std::random_device rd;
    schema_ = "t" + std::to_string(rd()) + std::to_string(rd());
    admin_ = std::make_unique<raw_pg>(conninfo_);
    REQUIRE(admin_->exec("CREATE SCHEMA " + schema_));
  }
  ~test_db() {
    if (admin_) admin_->exec("DROP SCHEMA " + schema_ + " CASCADE");
  }
  test_db(const test_db&) = delete;
  test_db& operator=(const test_db&) = delete;

  /// True on PostgreSQL.
  bool postgres() const { return !conninfo_.empty(); }
  /// The conninfo of the test's schema (PostgreSQL).
  std::string conninfo() const { return conninfo_ + " options='-csearch_path=" + schema_ + "'"; }
  /// The SQLite file (SQLite).
  std::string path() const { return dir_.file("store.db"); }
  /// Opens a store (another connection each time) on the test's database.
  std::unique_ptr<payment_store> open(const test_options& o = {}) const {
    if (postgres()) {
      return open_postgres_store(conninfo(), {.read_only = o.read_only,
                                              .rejected_notify_rows = o.rejected_notify_rows,
                                              .rejected_notify_bytes = o.rejected_notify_bytes});
    }
    return open_sqlite_store(path(), {.read_only = o.read_only,
                                      .rejected_notify_rows = o.rejected_notify_rows,
                                      .rejected_notify_bytes = o.rejected_notify_bytes});
  }
  /// Runs `sql` (in the engine's dialect) on a raw connection; true when it succeeded.
  bool exec(const std::string& sql) {
    if (postgres()) return raw().exec(sql);
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path().c_str(), &db) == SQLITE_OK);
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    sqlite3_close(db);
    return rc == SQLITE_OK;
  }
  /// The last column of every row of `sql`, as text, joined by '\n'.
  std::string text(const std::string& sql);
  /// `sqlite` on SQLite, `pg` on PostgreSQL: one statement in each dialect.
  std::string sql(const std::string& sqlite, const std::string& pg) const { return postgres() ? pg : sqlite; }

 private:
  raw_pg& raw() {
    if (!raw_) raw_ = std::make_unique<raw_pg>(conninfo());
    return *raw_;
  }
  temp_dir dir_;
  std::string conninfo_;
  std::string schema_;
  std::unique_ptr<raw_pg> admin_;
  std::unique_ptr<raw_pg> raw_;
};

inline std::string test_db::text(const std::string& sql) {
  if (postgres()) return raw().text(sql);
  raw_db db(path());
  return db.text(sql);
}

/// events_after(), read again while it returns fewer than `want` events (for up to 10 s). On
/// PostgreSQL the all-merchants feed stops at the oldest write transaction still running anywhere
/// on the server (schema.md "Feed order"), and in a parallel run other tests hold theirs open
/// for up to a few seconds; this waits for those to end, not for any time to pass. REQUIREs a
/// page.
inline feed_page events_after_settled(payment_store& s, std::string_view cursor, std::size_t limit,
                                      std::size_t want) {
  for (int i = 0;; ++i) {
    auto page = s.events_after(cursor, limit);
    REQUIRE(page);
    if (page->events.size() >= want || i == 500) return std::move(*page);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace cashier::store::test
