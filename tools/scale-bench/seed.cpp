// Seeding and re-timing open payments, raw recovery scan (see seed.hpp).
#include "tools/scale-bench/seed.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "state/store/sqlite_store.hpp"

namespace cashier::scale {
namespace {

using namespace std::chrono_literals;

/// The open rows, as the store's recovery index defines them.
constexpr const char* open_rows = "(status IN ('INIT', 'IN_PROCESS') OR pending <> '')";

/// The payment_request_id of seeded payment number `i`.
std::string request_id(std::int64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "scale-%09lld", static_cast<long long>(i));
  return buf;
}

/// A pay request the size of a real one (~0.8 KB), byte-exact as cashierd would have sent it.
std::string pay_request(const std::string& id, time_point expiry) {
  return R"({"paymentRequestId":")" + id +
         R"(","order":{"referenceOrderId":"order-)" + id +
         R"(","orderDescription":"Scale bench order: one strap, one band, one charger","orderAmount":{"currency":"USD","value":"1000"},)"
         R"("merchant":{"referenceMerchantId":"M0001","merchantName":"Scale Shop","merchantMCC":"5732","merchantAddress":{"region":"JP","city":"Tokyo"}},)"
         R"("env":{"terminalType":"WEB"}},"paymentAmount":{"currency":"USD","value":"1000"},)"
         R"("paymentMethod":{"paymentMethodType":"CONNECT_WALLET"},)"
         R"("paymentFactor":{"isInStorePayment":"false","isCashierPayment":"true","presentmentMode":"UNIFIED"},)"
         R"("paymentExpiryTime":")" + std::to_string(to_epoch_ms(expiry)) +
         R"(","paymentNotifyUrl":"http://127.0.0.1/alipayplus/notify","paymentRedirectUrl":"https://shop.example/return",)"
         R"("settlementStrategy":{"settlementCurrency":"USD"},"userRegion":"PH"})";
}

payment open_payment(std::int64_t i, time_point now) {
  payment p;
  p.version = 0;
  p.payment_request_id = request_id(i);
  p.merchant_id = "scale";
  p.status = payment_status::in_process;
  p.pending = pending_action::inquiry;
  p.attempt = 6;  // polling at the last interval
  p.amount = {1000, *currency_code::parse("USD")};
  p.created_at = p.updated_at = now - 5min;
  p.expiry_at = now + 2h;
  p.poll_deadline_at = p.expiry_at + 10min;
  p.next_action_at = now + 1h + std::chrono::milliseconds(i);
  p.pay_request = pay_request(p.payment_request_id, p.expiry_at);
  p.merchant_request = R"({"paymentRequestId":")" + p.payment_request_id + R"(","amount":"1000"})";
  p.payment_id = "2026" + p.payment_request_id;
  p.normal_url = "http://127.0.0.1/checkout/" + p.payment_id;
  p.result = aplus_result{"PAYMENT_IN_PROCESS", 'U', "payment in process"};
  return p;
}

store::transition insert_of(const payment& p) {
  store::event_record e;
  e.at = p.created_at;
  e.to_status = p.status;
  e.to_pending = p.pending;
  e.cause = "scale_seed";
  return store::transition{.after = p, .expected_version = 0, .event = e};
}

/// A raw SQLite connection for the bench's own statements.
class raw_db {
 public:
  explicit raw_db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
      throw std::runtime_error("cannot open " + path);
    sqlite3_busy_timeout(db_, 10000);
  }
  ~raw_db() { sqlite3_close(db_); }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;
  sqlite3* get() const { return db_; }
  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string what = err != nullptr ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error("SQL failed: " + what + ": " + sql);
    }
  }

 private:
  sqlite3* db_ = nullptr;
};

/// raw_db for bulk writes while no daemon runs: no journal (pages go to the file once, not
/// through the WAL and a checkpoint) and room for the indexes in the cache; WAL again after,
/// and the file written out to the disk.
class bulk_db : public raw_db {
 public:
  explicit bulk_db(const std::string& path) : raw_db(path) {
    exec("PRAGMA journal_mode = OFF");
    exec("PRAGMA synchronous = OFF");
    exec("PRAGMA cache_size = -262144");
  }
  // The daemon's store sets WAL again itself should this fail.
  ~bulk_db() {
    sqlite3_exec(get(), "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr);
    // synchronous = OFF leaves every page written here dirty in the page cache, and the kernel
    // writes them back ~30 s later, under the daemon being measured by then: at 1 M rows its
    // commits took 100-170 ms for two seconds of the polling window, which was most of the
    // shortfall of the outbound rate (86/s of 100/s). Write them out now, before it starts.
    if (const int fd = ::open(sqlite3_db_filename(get(), "main"), O_RDONLY | O_CLOEXEC); fd >= 0) {
      ::fdatasync(fd);
      ::close(fd);
    }
  }
  bulk_db(const bulk_db&) = delete;
  bulk_db& operator=(const bulk_db&) = delete;
};

std::string ms(time_point t) { return std::to_string(to_epoch_ms(t)); }

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

/// The payment_request_id of seeded payment number `i` in SQL (as request_id() writes it).
const std::string ids = "printf('scale-%09d', i)";

/// The columns of `table`, as the store's schema made them.
std::vector<std::string> columns_of(raw_db& db, const std::string& table) {
  sqlite3_stmt* q = nullptr;
  if (sqlite3_prepare_v2(db.get(), ("PRAGMA table_info(" + table + ")").c_str(), -1, &q, nullptr) != SQLITE_OK)
    throw std::runtime_error("cannot read the columns of " + table);
  std::vector<std::string> out;
  while (sqlite3_step(q) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(q, 1)));
  sqlite3_finalize(q);
  return out;
}

/// "INSERT ... SELECT" copying the rows of `table` whose `key` is 1 (the template payment,
/// written through the store API) once per i of `seq` (for_range): every column is copied,
/// whatever the schema holds, except the `overrides` (column, SQL expression of t and i).
std::string clone_sql(raw_db& db, const std::string& table, const std::string& key,
                      const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::string cols;
  std::string values;
  for (const auto& c : columns_of(db, table)) {
    std::string v = "t." + c;
    for (const auto& [name, sql] : overrides)
      if (name == c) v = sql;
    cols += (cols.empty() ? "" : ", ") + c;
    values += (values.empty() ? "" : ", ") + v;
  }
  return "INSERT INTO " + table + " (" + cols + ") SELECT " + values + " FROM seq, " + table + " t WHERE t." +
         key + " = 1";
}

/// `clone` for i from `first` to `last`.
std::string for_range(const std::string& clone, std::int64_t first, std::int64_t last) {
  return "WITH RECURSIVE seq(i) AS (SELECT " + std::to_string(first) + " UNION ALL SELECT i + 1 FROM seq WHERE i < " +
         std::to_string(last) + ") " + clone;
}

}  // namespace

void seed_open_payments(const std::string& path, std::int64_t count, time_point now) {
  {
    auto s = store::open_sqlite_store(path, {.synchronous = store::sync_mode::normal});
    if (count == 0) return;
    const auto o = s->commit_one(insert_of(open_payment(1, now)));
    if (o.status != store::commit_status::committed || o.payment_id != 1)
      throw std::runtime_error("seeding failed: " + std::string(store::to_string(o.status)) + " " + o.detail);
  }
  bulk_db db(path);
  const auto payments = clone_sql(db, "payments", "id", {
      {"id", "i"},
      {"payment_request_id", ids},
      {"alipay_payment_request_id", ids},  // unique across payments (the template's equals its id)
      {"next_action_at", "t.next_action_at + i - 1"},
      {"pay_request", "CAST(replace(CAST(t.pay_request AS TEXT), t.payment_request_id, " + ids + ") AS BLOB)"},
      {"merchant_request", "CAST(replace(CAST(t.merchant_request AS TEXT), t.payment_request_id, " + ids + ") AS BLOB)"},
      {"aplus_payment_id", "replace(t.aplus_payment_id, t.payment_request_id, " + ids + ")"},
      {"normal_url", "replace(t.normal_url, t.payment_request_id, " + ids + ")"}});
  const auto events = clone_sql(db, "payment_events", "payment_id", {{"id", "NULL"}, {"payment_id", "i"}});
  for (std::int64_t first = 2; first <= count; first += seed_batch) {
    const auto last = std::min(count, first + seed_batch - 1);
    db.exec("BEGIN");
    db.exec(for_range(payments, first, last));
    db.exec(for_range(events, first, last));
    db.exec("COMMIT");
  }
}

void schedule_stream(const std::string& path, time_point from, std::int64_t due, double per_second) {
  bulk_db db(path);
  // The others keep the deadlines of seed_open_payments, an hour or more after the seeding.
  db.exec("UPDATE payments SET pending = 'INQUIRY', next_action_at = " + ms(from) + " + CAST(id * 1000.0 / " +
          std::to_string(per_second) + " AS INTEGER) WHERE id <= " + std::to_string(due) + " AND " + open_rows);
}

void schedule_minute(const std::string& path, time_point from, std::int64_t count,
                     std::int64_t cancel_every) {
  bulk_db db(path);
  db.exec("UPDATE payments SET next_action_at = " + ms(from) + " + (id * 60000) / " + std::to_string(count) +
          ", pending = CASE WHEN id % " + std::to_string(cancel_every) +
          " = 0 THEN 'CANCEL' ELSE 'INQUIRY' END WHERE " + open_rows);
}

scan_cost raw_recovery_scan(const std::string& path) {
  raw_db db(path);
  scan_cost cost;
  const std::string sql = std::string("SELECT id, next_action_at, pending, poll_deadline_at FROM payments WHERE ") +
                          open_rows + " ORDER BY next_action_at";
  const auto started = std::chrono::steady_clock::now();
  const auto cpu_started = thread_cpu_seconds();
  sqlite3_stmt* q = nullptr;
  if (sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &q, nullptr) != SQLITE_OK)
    throw std::runtime_error("cannot prepare the recovery scan");
  while (sqlite3_step(q) == SQLITE_ROW) {
    // Every column is read, as the daemon reads them.
    sqlite3_column_int64(q, 0);
    sqlite3_column_int64(q, 1);
    sqlite3_column_text(q, 2);
    sqlite3_column_int64(q, 3);
    ++cost.rows;
  }
  sqlite3_finalize(q);
  cost.cpu_s = thread_cpu_seconds() - cpu_started;
  cost.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return cost;
}

}  // namespace cashier::scale
