// Seeding and re-timing open payments, raw recovery scan (see seed.hpp).
#include "tools/scale-bench/seed.hpp"

#include <sqlite3.h>

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

std::string ms(time_point t) { return std::to_string(to_epoch_ms(t)); }

}  // namespace

void seed_open_payments(const std::string& path, std::int64_t count, time_point now) {
  auto s = store::open_sqlite_store(path, {.synchronous = store::sync_mode::normal});
  std::vector<store::transition> batch;
  for (std::int64_t i = 1; i <= count; i += seed_batch) {
    batch.clear();
    for (std::int64_t j = i; j < i + seed_batch && j <= count; ++j) batch.push_back(insert_of(open_payment(j, now)));
    for (const auto& o : s->commit(batch))
      if (o.status != store::commit_status::committed)
        throw std::runtime_error("seeding failed: " + std::string(store::to_string(o.status)) + " " + o.detail);
  }
}

void schedule_idle(const std::string& path, time_point from) {
  raw_db db(path);
  db.exec("UPDATE payments SET pending = 'INQUIRY', next_action_at = " + ms(from) + " + id WHERE " + open_rows);
}

void schedule_stream(const std::string& path, time_point from, std::int64_t due, double per_second) {
  raw_db db(path);
  db.exec("UPDATE payments SET pending = 'INQUIRY', next_action_at = CASE WHEN id <= " + std::to_string(due) +
          " THEN " + ms(from) + " + CAST(id * 1000.0 / " + std::to_string(per_second) + " AS INTEGER) ELSE " +
          ms(from + 1h) + " + id END WHERE " + open_rows);
}

void schedule_minute(const std::string& path, time_point from, std::int64_t count,
                     std::int64_t cancel_every) {
  raw_db db(path);
  db.exec("UPDATE payments SET next_action_at = " + ms(from) + " + (id * 60000) / " + std::to_string(count) +
          ", pending = CASE WHEN id % " + std::to_string(cancel_every) +
          " = 0 THEN 'CANCEL' ELSE 'INQUIRY' END WHERE " + open_rows);
}

double raw_recovery_scan_seconds(const std::string& path, std::int64_t& rows) {
  raw_db db(path);
  const std::string sql = std::string("SELECT id, next_action_at, pending, poll_deadline_at FROM payments WHERE ") +
                          open_rows + " ORDER BY next_action_at";
  const auto started = std::chrono::steady_clock::now();
  sqlite3_stmt* q = nullptr;
  if (sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &q, nullptr) != SQLITE_OK)
    throw std::runtime_error("cannot prepare the recovery scan");
  rows = 0;
  while (sqlite3_step(q) == SQLITE_ROW) {
    // Every column is read, as the daemon reads them.
    sqlite3_column_int64(q, 0);
    sqlite3_column_int64(q, 1);
    sqlite3_column_text(q, 2);
    sqlite3_column_int64(q, 3);
    ++rows;
  }
  sqlite3_finalize(q);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

}  // namespace cashier::scale
