// RSA and SQLite ceilings (see ceilings.hpp).
#include "tools/cashier-bench/ceilings.hpp"

#include <sqlite3.h>

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

#include "orchestrator/alipayplus/keys.hpp"
#include "orchestrator/alipayplus/signer.hpp"
#include "state/store/sqlite_store.hpp"
#include "tools/cashier-bench/stats.hpp"

namespace cashier::bench {
namespace {

// ---- RSA ---------------------------------------------------------------------------------------

/// The CPU time the calling thread has used, in seconds.
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

/// Operations per second of wall time over all threads, and per second of CPU time of one thread.
struct rate {
  double wall = 0;
  double per_cpu_second = 0;
};

/// Runs `op` on `threads` threads for `seconds`.
template <class Op>
rate rate_on(unsigned threads, double seconds, Op op) {
  std::atomic<std::int64_t> total{0};
  std::atomic<double> cpu{0};
  std::vector<std::thread> pool;
  const auto start = bench_clock::now();
  const auto stop = start + std::chrono::duration_cast<bench_clock::duration>(
                                std::chrono::duration<double>(seconds));
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      std::int64_t n = 0;
      const double cpu_start = thread_cpu_seconds();
      while (bench_clock::now() < stop) {
        for (int i = 0; i < 8; ++i) op();
        n += 8;
      }
      cpu = cpu + (thread_cpu_seconds() - cpu_start);
      total += n;
    });
  for (auto& t : pool) t.join();
  const auto n = static_cast<double>(total.load());
  return {n / seconds_since(start), cpu > 0 ? n / cpu : 0};
}

// ---- SQLite ------------------------------------------------------------------------------------

// Row sizes of a notify transition as cashierd writes them (measured on its database).
const std::string pay_request(1250, 'p');
const std::string merchant_request(720, 'm');
const std::string notify_body(480, 'n');
const std::string notify_headers(380, 'h');
const std::string outbox_payload(1200, 'o');

[[noreturn]] void sqlite_fail(sqlite3* db, const char* doing) {
  throw std::runtime_error(std::string(doing) + ": " + sqlite3_errmsg(db));
}

/// A raw connection with the store's pragmas and the four statements of a notify transition.
class raw_db {
 public:
  explicit raw_db(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) sqlite_fail(db_, "open");
    exec("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
         "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY");
    update_ = prepare(
        "UPDATE payments SET version = version + 1, status = ?1, pending = ?2, "
        "next_action_at = ?3, updated_at = ?4, event_seq = ?5, payment_time = ?6, "
        "customer_id = ?7, wallet_brand_name = ?8, result_code = ?9, result_status = ?10, "
        "result_message = ?11 WHERE id = ?12 AND version = ?13");
    event_ = prepare(
        "INSERT INTO payment_events (payment_id, version, at, from_status, from_pending, "
        "to_status, to_pending, cause, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'notify:S', '')");
    notify_ = prepare(
        "INSERT INTO inbound_notifies (payment_id, payment_request_id, body, headers, "
        "verification, received_at) VALUES (?1, ?2, ?3, ?4, 'ok', ?5)");
    // As the store writes it: the merchant and its next feed position come from the payment.
    outbox_ = prepare(
        "INSERT INTO merchant_outbox (event_id, payment_id, seq, type, payload, target_url, "
        "attempts, next_attempt_at, state, last_status, last_error, created_at, merchant_id, "
        "feed_seq) "
        "SELECT ?1, ?2, ?3, 'payment.succeeded', ?4, '', 0, ?5, 'delivered', 0, '', ?5, p.merchant_id, "
        "(SELECT coalesce(max(feed_seq), 0) + 1 FROM merchant_outbox WHERE merchant_id = p.merchant_id) "
        "FROM payments p WHERE p.id = ?2");
  }
  ~raw_db() {
    for (auto* s : {update_, event_, notify_, outbox_}) sqlite3_finalize(s);
    sqlite3_close(db_);
  }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;

  /// One transaction of the transitions of payments `ids` (1-based rows); `versions` tracks them.
  void commit(const std::vector<std::int64_t>& ids, std::vector<std::int64_t>& versions,
              std::int64_t now_ms) {
    exec("BEGIN IMMEDIATE");
    for (const auto id : ids) transition(id, versions[static_cast<std::size_t>(id)]++, now_ms);
    exec("COMMIT");
  }

 private:
  // Alternates IN_PROCESS/INQUIRY and SUCCESS/'' so every update changes the status (its
  // trigger fires) and moves the row in or out of the open-payments index, as a notify does.
  void transition(std::int64_t id, std::int64_t version, std::int64_t now_ms) {
    const bool to_success = version % 2 == 1;
    const char* to[2] = {to_success ? "SUCCESS" : "IN_PROCESS", to_success ? "" : "INQUIRY"};
    const char* from[2] = {to_success ? "IN_PROCESS" : "SUCCESS", to_success ? "INQUIRY" : ""};
    const auto request_id = "bench-" + std::to_string(id);
    text(update_, 1, to[0]);
    text(update_, 2, to[1]);
    sqlite3_bind_int64(update_, 3, to_success ? 0 : now_ms + 3'600'000);
    sqlite3_bind_int64(update_, 4, now_ms);
    sqlite3_bind_int64(update_, 5, version);
    text(update_, 6, "2026-11-25T10:00:00+08:00");
    text(update_, 7, "customer-0001");
    text(update_, 8, "GCash");
    text(update_, 9, "SUCCESS");
    text(update_, 10, "S");
    text(update_, 11, "success");
    sqlite3_bind_int64(update_, 12, id);
    sqlite3_bind_int64(update_, 13, version);
    run(update_);
    if (sqlite3_changes(db_) != 1) throw std::runtime_error("raw compare-and-set lost");
    sqlite3_bind_int64(event_, 1, id);
    sqlite3_bind_int64(event_, 2, version + 1);
    sqlite3_bind_int64(event_, 3, now_ms);
    text(event_, 4, from[0]);
    text(event_, 5, from[1]);
    text(event_, 6, to[0]);
    text(event_, 7, to[1]);
    run(event_);
    sqlite3_bind_int64(notify_, 1, id);
    text(notify_, 2, request_id);
    blob(notify_, 3, notify_body);
    blob(notify_, 4, notify_headers);
    sqlite3_bind_int64(notify_, 5, now_ms);
    run(notify_);
    text(outbox_, 1, "evt_" + std::to_string(id) + "_" + std::to_string(version + 1));
    sqlite3_bind_int64(outbox_, 2, id);
    sqlite3_bind_int64(outbox_, 3, version + 1);
    text(outbox_, 4, outbox_payload);
    sqlite3_bind_int64(outbox_, 5, now_ms);
    run(outbox_);
  }

  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) sqlite_fail(db_, sql);
  }
  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
      sqlite_fail(db_, sql);
    return s;
  }
  void run(sqlite3_stmt* s) {
    if (sqlite3_step(s) != SQLITE_DONE) sqlite_fail(db_, sqlite3_sql(s));
    sqlite3_reset(s);
  }
  static void text(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  static void text(sqlite3_stmt* s, int i, const char* v) {
    sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
  }
  static void blob(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* update_ = nullptr;
  sqlite3_stmt* event_ = nullptr;
  sqlite3_stmt* notify_ = nullptr;
  sqlite3_stmt* outbox_ = nullptr;
};

/// A database with the store's schema (made by the store itself) and `n` IN_PROCESS payments.
void make_database(const std::string& path, int n) {
  auto store = store::open_sqlite_store(path);
  std::vector<store::transition> batch;
  for (int i = 1; i <= n; ++i) {
    payment p;
    p.payment_request_id = "bench-" + std::to_string(i);
    p.merchant_id = "shop";
    p.status = payment_status::in_process;
    p.pending = pending_action::inquiry;
    p.amount = {1000, *currency_code::parse("USD")};
    p.pay_request = pay_request;
    p.merchant_request = merchant_request;
    batch.push_back(store::transition{.after = std::move(p)});
    if (batch.size() == 1000 || i == n) {
      store->commit(batch);
      batch.clear();
    }
  }
}

struct sqlite_figure {
  double transitions_per_s = 0;
  latencies commit;
};

/// Commits batches of `b` transitions for `seconds`.
sqlite_figure measure_batches(raw_db& db, std::vector<std::int64_t>& versions, int b,
                              double seconds) {
  sqlite_figure f;
  std::vector<std::int64_t> ids(static_cast<std::size_t>(b));
  const auto payments = static_cast<std::int64_t>(versions.size() - 1);
  std::int64_t next = 0, done = 0;
  const auto start = bench_clock::now();
  while (seconds_since(start) < seconds) {
    for (auto& id : ids) id = next++ % payments + 1;
    const auto t0 = bench_clock::now();
    db.commit(ids, versions, 1'780'000'000'000 + done);
    f.commit.add(bench_clock::now() - t0);
    done += b;
  }
  f.transitions_per_s = static_cast<double>(done) / seconds_since(start);
  return f;
}

}  // namespace

int run_rsa(const rsa_options& o) {
  const auto priv = aplus::load_private_key_file(o.keys_dir + "/acqp_private.pem");
  const auto pub = aplus::load_public_key_file(o.keys_dir + "/acqp_public.pem");
  if (!priv || !pub) {
    note("rsa: cannot load the keys in " + o.keys_dir);
    return 2;
  }
  const unsigned all = o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  const std::string content = aplus::request_content(
      "POST", "/aps/api/v1/payments/pay", "BENCH_CLIENT", "2026-11-25T10:00:00.000+00:00", pay_request);
  const std::string signature = aplus::sign(*priv, content);
  const auto sign = [&] { (void)aplus::sign(*priv, content); };
  const auto verify = [&] {
    if (!aplus::verify(*pub, content, signature)) throw std::runtime_error("verify failed");
  };
  boost::json::object r{{"mode", "rsa"}, {"threads", all}};
  const auto sign_1 = rate_on(1, o.seconds, sign);
  r["sign_1"] = sign_1.wall;
  r["sign_per_cpu_s"] = sign_1.per_cpu_second;  // what `openssl speed` reports (CPU time)
  r["sign_all"] = rate_on(all, o.seconds, sign).wall;
  const auto verify_1 = rate_on(1, o.seconds, verify);
  r["verify_1"] = verify_1.wall;
  r["verify_per_cpu_s"] = verify_1.per_cpu_second;
  r["verify_all"] = rate_on(all, o.seconds, verify).wall;
  print_result(r);
  return 0;
}

int run_sqlite(const sqlite_options& o) {
  const auto dir = std::filesystem::path(o.dir) / ("cashier-bench-sqlite-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "raw.db").string();
  boost::json::object r{{"mode", "sqlite"}, {"batch", o.batch}};
  try {
    make_database(path, o.payments);
    raw_db db(path);
    std::vector<std::int64_t> versions(static_cast<std::size_t>(o.payments) + 1, 1);
    auto one = measure_batches(db, versions, 1, o.seconds);
    r["commits_1"] = one.transitions_per_s;
    one.commit.put(r, "commit_1_");
    auto many = measure_batches(db, versions, o.batch, o.seconds);
    r["transitions_b"] = many.transitions_per_s;
    many.commit.put(r, "commit_b_");
  } catch (const std::exception& e) {
    note(std::string("sqlite: ") + e.what());
    std::filesystem::remove_all(dir);
    return 1;
  }
  std::filesystem::remove_all(dir);
  print_result(r);
  return 0;
}

}  // namespace cashier::bench
