// Helpers shared by the store tests: a temporary directory holding real SQLite files, the
// engine a conformance test runs on (test_db: SQLite, or PostgreSQL when ctest's fixture
// "postgres" gives CASHIER_TEST_PG), sample payments and transitions, a field-by-field payment
// comparison, and raw handles for looking under the store (pragmas, query plans, locks).
//
// The store tests are one conformance suite: ctest registers the same binary twice, once on
// SQLite and once (label `postgres`) on a throwaway PostgreSQL, each test case in a fresh
// database file or schema. Tests that are SQLite-specific by nature (WAL, file modes, the
// checkpointer, SQLite's VDBE, migrating old SQLite files) are in the doctest suite sqlite_only
// and say why; PostgreSQL-only ones (pg_store_test.cpp) in postgres_only.
#pragma once

#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "state/store/pg_store.hpp"
#include "state/store/sqlite_store.hpp"

namespace cashier::store::test {

/// A fresh directory under the system temp dir, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "store-test-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~temp_dir() { std::filesystem::remove_all(path_); }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  /// The path of `name` inside the directory.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// A raw SQLite connection to look under the store.
class raw_db {
 public:
  explicit raw_db(const std::string& path) {
    REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK);
  }
  ~raw_db() { sqlite3_close(db_); }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;
  /// Runs `sql`; the SQLite result code.
  int exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }
  /// The first column of every row of `sql`, as text, joined by '\n'.
  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    std::string out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      int last = sqlite3_column_count(stmt) - 1;
      const unsigned char* t = sqlite3_column_text(stmt, last);
      out += (out.empty() ? "" : "\n") +
             std::string(t != nullptr ? reinterpret_cast<const char*>(t) : "");
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

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

/// A USD amount.
inline money usd(std::int64_t minor) { return {minor, *currency_code::parse("USD")}; }

/// A new payment in INIT with pay pending, every plain field set.
inline payment sample_payment(const std::string& payment_request_id,
                              std::int64_t t0_ms = 1'700'000'000'000) {
  payment p;
  p.payment_request_id = payment_request_id;
  p.merchant_id = "m1";
  p.status = payment_status::init;
  p.pending = pending_action::pay;
  p.attempt = 1;
  p.amount = usd(1234);
  p.expiry_at = from_epoch_ms(t0_ms + 900'000);
  p.poll_deadline_at = from_epoch_ms(t0_ms + 1'500'000);
  p.next_action_at = from_epoch_ms(t0_ms + 1'000);
  p.created_at = from_epoch_ms(t0_ms);
  p.updated_at = from_epoch_ms(t0_ms);
  p.pay_request =
      R"({"paymentRequestId":")" + payment_request_id + R"(","paymentAmount":{"value":"1234"}})";
  p.merchant_request = R"({"paymentRequestId":")" + payment_request_id + R"("})";
  p.merchant_notify_url = "https://merchant.example/hook";
  return p;
}

/// The event a transition of `before` to `after` records.
inline event_record event_for(const payment& before, const payment& after, std::string cause) {
  event_record e;
  e.at = after.updated_at;
  e.from_status = before.status;
  e.from_pending = before.pending;
  e.to_status = after.status;
  e.to_pending = after.pending;
  e.cause = std::move(cause);
  return e;
}

/// Inserting `p` with its creation event.
inline transition create(const payment& p) {
  event_record e;
  e.at = p.created_at;
  e.to_status = p.status;
  e.to_pending = p.pending;
  e.cause = "merchant_create";
  return transition{.after = p, .expected_version = 0, .event = e};
}

/// Moving `before` (as read) to `after`, with an event.
inline transition change(const payment& before, const payment& after, std::string cause = "test") {
  return transition{.after = after,
                    .expected_version = before.version,
                    .event = event_for(before, after, std::move(cause))};
}

/// Inserts `p` and returns it as stored.
inline payment insert(payment_store& s, const payment& p) {
  auto o = s.commit_one(create(p));
  REQUIRE(o.status == commit_status::committed);
  auto stored = s.load(o.payment_id);
  REQUIRE(stored);
  return *stored;
}

/// Every field of `a` and `b` is equal.
inline void check_same(const payment& a, const payment& b) {
  CHECK(a.id == b.id);
  CHECK(a.version == b.version);
  CHECK(a.payment_request_id == b.payment_request_id);
  CHECK(a.merchant_id == b.merchant_id);
  CHECK(a.status == b.status);
  CHECK(a.pending == b.pending);
  CHECK(a.track == b.track);
  CHECK(a.slow_path_since == b.slow_path_since);
  CHECK(a.cancel_refusals == b.cancel_refusals);
  CHECK(a.notice == b.notice);
  CHECK(a.attempt == b.attempt);
  CHECK(a.event_seq == b.event_seq);
  CHECK(a.amount == b.amount);
  CHECK(a.expiry_at == b.expiry_at);
  CHECK(a.poll_deadline_at == b.poll_deadline_at);
  CHECK(a.next_action_at == b.next_action_at);
  CHECK(a.last_hint_inquiry_at == b.last_hint_inquiry_at);
  CHECK(a.created_at == b.created_at);
  CHECK(a.updated_at == b.updated_at);
  CHECK(a.pay_request == b.pay_request);
  CHECK(a.merchant_request == b.merchant_request);
  CHECK(a.merchant_notify_url == b.merchant_notify_url);
  CHECK(a.payment_id == b.payment_id);
  CHECK(a.normal_url == b.normal_url);
  CHECK(a.payment_data == b.payment_data);
  CHECK(a.wallet_brand_name == b.wallet_brand_name);
  CHECK(a.customer_id == b.customer_id);
  CHECK(a.payment_time == b.payment_time);
  CHECK(a.settlement_amount == b.settlement_amount);
  CHECK(a.result == b.result);
  CHECK(a.cancel_reason == b.cancel_reason);
  CHECK(alipay_request_id(a) == alipay_request_id(b));
  CHECK(a.checkout_id == b.checkout_id);
}

inline std::string test_db::text(const std::string& sql) {
  if (postgres()) return raw().text(sql);
  raw_db db(path());
  return db.text(sql);
}

}  // namespace cashier::store::test
