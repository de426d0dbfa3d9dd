// Helpers shared by the store tests: a temporary directory holding real SQLite files, sample
// payments and transitions, a field-by-field payment comparison, and a raw SQLite handle for
// looking under the store (pragmas, query plans, locks).
#pragma once

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

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

/// `stored` as Alipay+'s S settles it: SUCCESS, nothing pending, its first event; with Alipay+'s
/// paymentId `alipay_payment_id` when one is given.
inline payment success_of(const payment& stored, const std::string& alipay_payment_id = {}) {
  payment after = stored;
  after.status = payment_status::success;
  after.pending = pending_action::none;
  after.next_action_at = never;
  after.event_seq = 1;
  if (!alipay_payment_id.empty()) after.payment_id = alipay_payment_id;
  return after;
}

/// Inserts `p` and settles it SUCCESS (success_of); returns it as stored.
inline payment insert_paid(payment_store& s, const payment& p, const std::string& alipay_payment_id = {}) {
  const payment stored = insert(s, p);
  REQUIRE(s.commit_one(change(stored, success_of(stored, alipay_payment_id), "pay:S")).status ==
          commit_status::committed);
  auto paid = s.load(stored.id);
  REQUIRE(paid);
  return *paid;
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

}  // namespace cashier::store::test
