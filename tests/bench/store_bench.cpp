// store-bench: durable transitions per second through payment_store::commit next to raw SQLite
// commits per second, measured in the same run with the same pragmas (WAL, synchronous=FULL,
// temp_store=MEMORY, foreign_keys=ON), the same row sizes (a ~1 KiB payment row updated with
// compare-and-set, one event row and one Alipay+ call row per transition) and the same batching.
// Two raw baselines: "raw" runs hand-written SQL on a file with the store's own schema (same
// tables, indexes and triggers), so the ratio is the cost of the store layer; "raw, bare" runs the
// same SQL on plain tables without secondary indexes, the floor SQLite itself sets.
//
// With --engine postgres (issue 18) the same transitions go through the PostgreSQL store, next to
// "raw" libpq: the same three statements per transition, prepared, one transaction per batch, on a
// schema the store created (so with its indexes and triggers); each side in a schema of its own.
// --fenced adds a third side: the same transitions through commit_fenced (cluster mode,
// proto-docs/cluster.md), after the side has claimed every shard, so each batch also reads its
// shards' rows FOR KEY SHARE and compares epochs; its ratio is against the same run's raw libpq.
//
// Usage: store-bench [--seconds N] [--batch B] [--rounds R] [--payments P] [--dir D]
//                    [--transitions T]  (a fixed count per phase, e.g. for callgrind)
//                    [--no-before]      (transitions without `before`: the store re-reads rows)
//                    [--engine sqlite|postgres] [--conninfo C]  (postgres: the server to use)
//                    [--no-pipeline]    (postgres: one round trip per statement)
//                    [--fenced]         (postgres: also through commit_fenced, every shard held)
// Each round runs raw for N seconds, then the same number of transitions through the store and
// through bare tables; rates are medians over the rounds, latencies percentiles over all commits.
#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "state/store/cluster_store.hpp"
#include "state/store/pg_store.hpp"
#include "state/store/sqlite_store.hpp"

namespace {

using namespace cashier;
using namespace cashier::store;
using bench_clock = std::chrono::steady_clock;

struct options {
  double seconds = 2;
  std::vector<int> batches = {1, 64};
  int rounds = 3;
  int payments = 10'000;
  std::int64_t transitions = 0;  // > 0: run exactly this many per phase instead of timing raw
  bool pass_before = true;       // transitions carry `before` (the store skips its re-read)
  std::string dir = ".";
  bool postgres = false;  // --engine postgres
  std::string conninfo;   // --conninfo: the PostgreSQL server (a schema per side is made in it)
  bool pipeline = true;   // --no-pipeline: the PostgreSQL store without pipeline mode
  bool fenced = false;    // --fenced: also measure commit_fenced (cluster mode)
};

struct sample {  // one measured phase
  std::int64_t transitions = 0;
  double seconds = 0;
  std::vector<double> commit_us;
};

// The bytes every transition writes, shared by both sides.
const std::string pay_request(1024, 'p');
const std::string request_body(256, 'q');
const std::string request_headers(200, 'h');
const std::string response_body(600, 'r');
const std::string response_headers(150, 'h');
const std::string detail(64, 'd');

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "store-bench: %s\n", why.c_str());
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--no-before") {
      o.pass_before = false;
      continue;
    }
    if (arg == "--no-pipeline") {
      o.pipeline = false;
      continue;
    }
    if (arg == "--fenced") {
      o.fenced = true;
      continue;
    }
    if (i + 1 >= argc) {
      die("usage: store-bench [--seconds N] [--batch B] [--rounds R] [--payments P] [--dir D] "
          "[--transitions T] [--no-before]");
    }
    std::string value = argv[++i];
    if (arg == "--seconds")
      o.seconds = std::stod(value);
    else if (arg == "--batch")
      o.batches = {std::stoi(value)};
    else if (arg == "--rounds")
      o.rounds = std::stoi(value);
    else if (arg == "--payments")
      o.payments = std::stoi(value);
    else if (arg == "--dir")
      o.dir = value;
    else if (arg == "--transitions")
      o.transitions = std::stoll(value);
    else if (arg == "--engine" && (value == "sqlite" || value == "postgres"))
      o.postgres = value == "postgres";
    else if (arg == "--conninfo")
      o.conninfo = value;
    else
      die("unknown option " + arg);
  }
  for (int b : o.batches) {
    if (b < 1 || b > o.payments) die("--batch must be between 1 and --payments");
  }
  if (o.postgres && o.conninfo.empty()) die("--engine postgres needs --conninfo");
  if (o.fenced && !o.postgres) die("--fenced needs --engine postgres");
  return o;
}

// ---- raw SQLite --------------------------------------------------------------------------------

class raw_side {
 public:
  // On `path`: a database the store created and filled, or (bare) a new one with plain tables.
  raw_side(const std::string& path, int payments, bool bare) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) die("open " + path);
    exec(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;"
        "PRAGMA foreign_keys = ON");
    if (bare) create_bare(payments);
    update_ = prepare(
        "UPDATE payments SET version = version + 1, attempt = ?1, next_action_at = ?2, "
        "updated_at = ?3 WHERE id = ?4 AND version = ?5");
    event_ = prepare(
        "INSERT INTO payment_events (payment_id, version, at, from_status, "
        "from_pending, to_status, to_pending, cause, detail) VALUES (?1, ?2, ?3, "
        "'IN_PROCESS', 'INQUIRY', 'IN_PROCESS', 'INQUIRY', "
        "'inquiry U/PAYMENT_IN_PROCESS', ?4)");
    call_ = prepare(
        "INSERT INTO aplus_calls (payment_id, api, request_body, request_headers, "
        "http_status, response_body, response_headers, outcome, started_at, latency_us) "
        "VALUES (?1, 'inquiryPayment', ?2, ?3, 200, ?4, ?5, 'U/PAYMENT_IN_PROCESS', ?6, 1500)");
    versions_.assign(static_cast<std::size_t>(payments) + 1, 1);
  }
  ~raw_side() {
    for (auto* s : {update_, event_, call_}) sqlite3_finalize(s);
    sqlite3_close(db_);
  }

  // Commits transitions for payments `ids` in one transaction.
  void commit(const std::vector<std::int64_t>& ids, std::int64_t now_ms) {
    exec("BEGIN IMMEDIATE");
    for (auto id : ids) {
      auto& v = versions_[static_cast<std::size_t>(id)];
      sqlite3_bind_int64(update_, 1, v);
      sqlite3_bind_int64(update_, 2, now_ms + 4'000);
      sqlite3_bind_int64(update_, 3, now_ms);
      sqlite3_bind_int64(update_, 4, id);
      sqlite3_bind_int64(update_, 5, v);
      run(update_);
      if (sqlite3_changes(db_) != 1) die("raw CAS lost");
      ++v;
      sqlite3_bind_int64(event_, 1, id);
      sqlite3_bind_int64(event_, 2, v);
      sqlite3_bind_int64(event_, 3, now_ms);
      sqlite3_bind_text(event_, 4, detail.data(), static_cast<int>(detail.size()), SQLITE_STATIC);
      run(event_);
      sqlite3_bind_int64(call_, 1, id);
      bind_blob(call_, 2, request_body);
      bind_blob(call_, 3, request_headers);
      bind_blob(call_, 4, response_body);
      bind_blob(call_, 5, response_headers);
      sqlite3_bind_int64(call_, 6, now_ms);
      run(call_);
    }
    exec("COMMIT");
  }

 private:
  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) die(sqlite3_errmsg(db_));
  }
  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
      die(sqlite3_errmsg(db_));
    }
    return s;
  }
  void run(sqlite3_stmt* s) {
    if (sqlite3_step(s) != SQLITE_DONE) die(sqlite3_errmsg(db_));
    sqlite3_reset(s);
  }
  static void bind_blob(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void create_bare(int payments) {
    exec(
        "CREATE TABLE payments (id INTEGER PRIMARY KEY, version INTEGER, payment_request_id TEXT "
        "UNIQUE, merchant_id TEXT, status TEXT, pending TEXT, cancel_abandoned INTEGER, attempt "
        "INTEGER, event_seq INTEGER, amount_minor INTEGER, currency TEXT, expiry_at INTEGER, "
        "poll_deadline_at INTEGER, next_action_at INTEGER, last_hint_inquiry_at INTEGER, "
        "created_at INTEGER, updated_at INTEGER, pay_request BLOB, merchant_request BLOB, "
        "merchant_notify_url TEXT, aplus_payment_id TEXT, normal_url TEXT, payment_data TEXT, "
        "wallet_brand_name TEXT, customer_id TEXT, payment_time TEXT, settlement_minor INTEGER, "
        "settlement_currency TEXT, result_code TEXT, result_status TEXT, result_message TEXT, "
        "cancel_reason TEXT);"
        "CREATE TABLE payment_events (id INTEGER PRIMARY KEY, payment_id INTEGER, version "
        "INTEGER, at INTEGER, from_status TEXT, from_pending TEXT, to_status TEXT, to_pending "
        "TEXT, cause TEXT, detail TEXT);"
        "CREATE TABLE aplus_calls (id INTEGER PRIMARY KEY, payment_id INTEGER, api TEXT, "
        "request_body BLOB, request_headers BLOB, http_status INTEGER, response_body BLOB, "
        "response_headers BLOB, outcome TEXT, started_at INTEGER, latency_us INTEGER);");
    fill(payments);
  }
  void fill(int payments) {
    exec("BEGIN");
    sqlite3_stmt* s = prepare(
        "INSERT INTO payments VALUES (?1, 1, 'req-' || ?1, 'm1', 'IN_PROCESS', 'INQUIRY', 0, 0, 0, "
        "1234, 'USD', 0, 0, 0, 0, 0, 0, ?2, ?3, 'https://m.example/hook', '', '', '', '', '', '', "
        "NULL, NULL, NULL, NULL, NULL, '')");
    for (int id = 1; id <= payments; ++id) {
      sqlite3_bind_int64(s, 1, id);
      bind_blob(s, 2, pay_request);
      bind_blob(s, 3, request_body);
      run(s);
    }
    sqlite3_finalize(s);
    exec("COMMIT");
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* update_ = nullptr;
  sqlite3_stmt* event_ = nullptr;
  sqlite3_stmt* call_ = nullptr;
  std::vector<std::int64_t> versions_;
};

// ---- through the store -------------------------------------------------------------------------

class store_side {
 public:
  store_side(const std::string& path, int payments, bool pass_before)
      : store_side(open_sqlite_store(path), payments, pass_before) {}
  store_side(std::unique_ptr<payment_store> store, int payments, bool pass_before)
      : store_(std::move(store)), pass_before_(pass_before) {
    std::vector<transition> batch;
    for (int i = 1; i <= payments; ++i) {
      payment p;
      p.payment_request_id = "req-" + std::to_string(i);
      p.merchant_id = "m1";
      p.status = payment_status::in_process;
      p.pending = pending_action::inquiry;
      p.amount = {1234, *currency_code::parse("USD")};
      p.pay_request = pay_request;
      p.merchant_request = request_body;
      p.merchant_notify_url = "https://m.example/hook";
      batch.push_back(transition{.after = p});
    }
    for (const auto& o : store_->commit(batch)) {
      if (o.status != commit_status::committed) die("store set-up failed");
    }
    payments_.resize(static_cast<std::size_t>(payments) + 1);
    for (int i = 1; i <= payments; ++i) payments_[static_cast<std::size_t>(i)] = *store_->load(i);
  }

  // From now on, commits go through commit_fenced with every shard claimed (by force) for this
  // side: what a cluster instance holding all shards pays per batch.
  void fence_all() {
    auto* cluster = dynamic_cast<cluster_store*>(store_.get());
    if (cluster == nullptr) die("--fenced: this store has no shard table");
    const auto a = cluster->claim("store-bench", static_cast<int>(cluster->shard_count()), std::chrono::hours(1), true);
    fence_.clear();
    for (const auto& row : a.changed) fence_.push_back({row.shard, row.epoch});
    if (fence_.size() != static_cast<std::size_t>(cluster->shard_count())) die("--fenced: could not claim every shard");
    cluster_ = cluster;
  }

  // Commits transitions for payments `ids` in one batch.
  void commit(const std::vector<std::int64_t>& ids, std::int64_t now_ms) {
    batch_.clear();
    for (auto id : ids) batch_.push_back(next(payments_[static_cast<std::size_t>(id)], now_ms));
    auto outcomes = cluster_ != nullptr ? cluster_->commit_fenced(batch_, fence_) : store_->commit(batch_);
    for (const auto& o : outcomes) {
      if (o.status != commit_status::committed) die("store transition not committed: " + o.detail);
      payments_[static_cast<std::size_t>(o.payment_id)].version = o.version;
    }
  }

 private:
  transition next(payment& p, std::int64_t now_ms) const {
    std::int64_t read_version = p.version;
    std::optional<payment> before;
    if (pass_before_) before = p;  // as the orchestrator has it: the payment it read
    ++p.attempt;
    p.next_action_at = from_epoch_ms(now_ms + 4'000);
    p.updated_at = from_epoch_ms(now_ms);
    event_record e{.at = p.updated_at,
                   .from_status = p.status,
                   .from_pending = p.pending,
                   .to_status = p.status,
                   .to_pending = p.pending,
                   .cause = "inquiry U/PAYMENT_IN_PROCESS",
                   .detail = detail};
    call_record c{.api = "inquiryPayment",
                  .request_body = request_body,
                  .request_headers = request_headers,
                  .http_status = 200,
                  .response_body = response_body,
                  .response_headers = response_headers,
                  .outcome = "U/PAYMENT_IN_PROCESS",
                  .started_at = p.updated_at,
                  .latency_us = 1500};
    transition t{.after = p, .expected_version = read_version, .event = std::move(e)};
    t.calls.push_back(std::move(c));
    t.before = std::move(before);
    return t;
  }

  std::unique_ptr<payment_store> store_;
  cluster_store* cluster_ = nullptr;  // set by fence_all(): commits are fenced
  std::vector<shard_epoch> fence_;
  bool pass_before_;
  std::vector<payment> payments_;
  std::vector<transition> batch_;
};

// ---- raw PostgreSQL ----------------------------------------------------------------------------

// A libpq connection to a schema the store created and filled: the store's three writes per
// transition as hand-written prepared statements, one transaction per batch.
class raw_pg_side {
 public:
  raw_pg_side(const std::string& conninfo, int payments) : conn_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) die(PQerrorMessage(conn_));
    prepare("u", "UPDATE payments SET version = version + 1, attempt = $1, next_action_at = $2, "
                 "updated_at = $3 WHERE id = $4 AND version = $5");
    prepare("e", "INSERT INTO payment_events (payment_id, version, at, from_status, from_pending, "
                 "to_status, to_pending, cause, detail) VALUES ($1, $2, $3, 'IN_PROCESS', 'INQUIRY', "
                 "'IN_PROCESS', 'INQUIRY', 'inquiry U/PAYMENT_IN_PROCESS', $4)");
    prepare("c", "INSERT INTO aplus_calls (payment_id, api, request_body, request_headers, http_status, "
                 "response_body, response_headers, outcome, started_at, latency_us) VALUES ($1, "
                 "'inquiryPayment', $2, $3, 200, $4, $5, 'U/PAYMENT_IN_PROCESS', $6, 1500)");
    versions_.assign(static_cast<std::size_t>(payments) + 1, 1);
  }
  ~raw_pg_side() { PQfinish(conn_); }

  // Commits transitions for payments `ids` in one transaction.
  void commit(const std::vector<std::int64_t>& ids, std::int64_t now_ms) {
    run("BEGIN");
    for (auto id : ids) {
      auto& v = versions_[static_cast<std::size_t>(id)];
      const std::string sv = std::to_string(v), next = std::to_string(now_ms + 4'000),
                        now = std::to_string(now_ms), sid = std::to_string(id), sv1 = std::to_string(v + 1);
      if (exec("u", {{sv}, {next}, {now}, {sid}, {sv}}) != "1") die("raw CAS lost");
      ++v;
      exec("e", {{sid}, {sv1}, {now}, {detail, true}});
      exec("c", {{sid}, {request_body, true}, {request_headers, true}, {response_body, true},
                 {response_headers, true}, {now}});
    }
    run("COMMIT");
  }

 private:
  void prepare(const char* name, const char* sql) {
    PGresult* r = PQprepare(conn_, name, sql, 0, nullptr);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die(PQresultErrorMessage(r));
    PQclear(r);
  }
  void run(const char* sql) {
    PGresult* r = PQexec(conn_, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die(PQresultErrorMessage(r));
    PQclear(r);
  }
  // One parameter: an integer in text format, or bytes (a bytea column) in binary format.
  struct param {
    std::string value;
    bool binary = false;
  };
  // Runs prepared statement `name`; returns the rows changed.
  std::string exec(const char* name, const std::vector<param>& params) {
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    for (const auto& p : params) {
      values.push_back(p.value.c_str());
      lengths.push_back(static_cast<int>(p.value.size()));
      formats.push_back(p.binary ? 1 : 0);
    }
    PGresult* r = PQexecPrepared(conn_, name, static_cast<int>(params.size()), values.data(),
                                 lengths.data(), formats.data(), 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die(PQresultErrorMessage(r));
    std::string n = PQcmdTuples(r);
    PQclear(r);
    return n;
  }

  PGconn* conn_;
  std::vector<std::int64_t> versions_;
};

// A schema of its own on the server, dropped at the end; conninfo() points a connection at it.
class pg_schema {
 public:
  pg_schema(const std::string& server, const std::string& name) : server_(server), name_(name) {
    admin("DROP SCHEMA IF EXISTS " + name_ + " CASCADE; CREATE SCHEMA " + name_);
  }
  ~pg_schema() { admin("DROP SCHEMA IF EXISTS " + name_ + " CASCADE"); }
  std::string conninfo() const { return server_ + " options='-csearch_path=" + name_ + "'"; }

 private:
  void admin(const std::string& sql) {
    PGconn* c = PQconnectdb(server_.c_str());
    if (PQstatus(c) != CONNECTION_OK) die(PQerrorMessage(c));
    PGresult* r = PQexec(c, ("SET client_min_messages = warning; " + sql).c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die(PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
  }
  std::string server_, name_;
};

// ---- measuring ---------------------------------------------------------------------------------

// Runs batches of `b` transitions on `side` until `limit_s` passes or `limit_n` are done.
template <class Side>
sample run(Side& side, const std::vector<std::int64_t>& order, int b, double limit_s,
           std::int64_t limit_n, std::size_t& cursor) {
  sample s;
  std::vector<std::int64_t> ids(static_cast<std::size_t>(b));
  auto start = bench_clock::now();
  while (limit_n > 0
             ? s.transitions < limit_n
             : std::chrono::duration<double>(bench_clock::now() - start).count() < limit_s) {
    for (auto& id : ids) id = order[cursor++ % order.size()];
    auto t0 = bench_clock::now();
    side.commit(ids, 1'700'000'000'000 + s.transitions);
    s.commit_us.push_back(
        std::chrono::duration<double, std::micro>(bench_clock::now() - t0).count());
    s.transitions += b;
  }
  s.seconds = std::chrono::duration<double>(bench_clock::now() - start).count();
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

struct figures {
  double rate = 0, p50_ms = 0, p99_ms = 0;
};

figures summarize(const std::vector<sample>& samples) {
  std::vector<double> rates, latencies;
  for (const auto& s : samples) {
    rates.push_back(static_cast<double>(s.transitions) / s.seconds);
    latencies.insert(latencies.end(), s.commit_us.begin(), s.commit_us.end());
  }
  return {median(rates), percentile(latencies, 0.5) / 1000, percentile(latencies, 0.99) / 1000};
}

void row(const std::string& name, double raw, double store) {
  std::printf("| %-32s | %12.1f | %12.1f | %5.2f |\n", name.c_str(), raw, store, store / raw);
}

}  // namespace

int main(int argc, char** argv) {
  options o = parse(argc, argv);
  std::filesystem::path dir =
      std::filesystem::path(o.dir) / ("store-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::vector<std::int64_t> order(static_cast<std::size_t>(o.payments));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i) + 1;
  std::shuffle(order.begin(), order.end(), std::mt19937(42));

  std::printf(
      "store-bench: %s, %d payments, %d rounds of %.1f s, transitions %s `before`, %s\n\n",
      o.postgres ? (o.pipeline ? "PostgreSQL (pipelined)" : "PostgreSQL (no pipeline)") : "SQLite", o.payments, o.rounds, o.seconds, o.pass_before ? "with" : "without",
      o.postgres ? "a schema per side" : ("files in " + dir.string()).c_str());
  std::printf("| %-32s | %12s | %12s | %5s |\n|%s|%s|%s|%s|\n", "figure", "raw", "store", "ratio",
              std::string(34, '-').c_str(), std::string(14, '-').c_str(),
              std::string(14, '-').c_str(), std::string(7, '-').c_str());
  double group_ratio = 0;
  for (int b : o.batches) {
    if (o.postgres) {
      const std::string tag = std::to_string(b) + "_" + std::to_string(::getpid());
      pg_schema raw_schema(o.conninfo, "bench_raw_" + tag), store_schema(o.conninfo, "bench_store_" + tag),
          fenced_schema(o.conninfo, "bench_fenced_" + tag);
      store_side(open_postgres_store(raw_schema.conninfo()), o.payments, false);  // schema and rows
      raw_pg_side raw(raw_schema.conninfo(), o.payments);
      store_side store(open_postgres_store(store_schema.conninfo(), {.pipeline = o.pipeline}), o.payments,
                       o.pass_before);
      std::optional<store_side> fenced;
      if (o.fenced) {
        fenced.emplace(open_postgres_store(fenced_schema.conninfo(), {.pipeline = o.pipeline}), o.payments,
                       o.pass_before);
        fenced->fence_all();
      }
      std::vector<sample> raw_samples, store_samples, fenced_samples;
      std::size_t raw_cursor = 0, store_cursor = 0, fenced_cursor = 0;
      for (int r = 0; r < o.rounds; ++r) {
        raw_samples.push_back(run(raw, order, b, o.seconds, o.transitions, raw_cursor));
        store_samples.push_back(run(store, order, b, 0, raw_samples.back().transitions, store_cursor));
        if (fenced) fenced_samples.push_back(run(*fenced, order, b, 0, raw_samples.back().transitions, fenced_cursor));
      }
      figures fr = summarize(raw_samples), fs = summarize(store_samples);
      std::string btag = " (B=" + std::to_string(b) + ")";
      row("transitions/s" + btag, fr.rate, fs.rate);
      row("commits/s" + btag, fr.rate / b, fs.rate / b);
      row("commit p50 ms" + btag, fr.p50_ms, fs.p50_ms);
      row("commit p99 ms" + btag, fr.p99_ms, fs.p99_ms);
      if (fenced) {
        figures ff = summarize(fenced_samples);
        row("fenced: transitions/s" + btag, fr.rate, ff.rate);
        row("fenced: commit p50 ms" + btag, fr.p50_ms, ff.p50_ms);
        row("fenced: commit p99 ms" + btag, fr.p99_ms, ff.p99_ms);
      }
      if (b > 1) group_ratio = fs.rate / fr.rate;
      continue;
    }
    auto file = [&](const std::string& name) {
      return (dir / (name + std::to_string(b) + ".db")).string();
    };
    store_side(file("raw-"), o.payments, false);  // the store's schema and rows, then closed
    raw_side raw(file("raw-"), o.payments, false);
    store_side store(file("store-"), o.payments, o.pass_before);
    raw_side bare(file("bare-"), o.payments, true);
    std::vector<sample> raw_samples, store_samples, bare_samples;
    std::size_t raw_cursor = 0, store_cursor = 0, bare_cursor = 0;
    for (int r = 0; r < o.rounds; ++r) {
      raw_samples.push_back(run(raw, order, b, o.seconds, o.transitions, raw_cursor));
      std::int64_t n = raw_samples.back().transitions;
      store_samples.push_back(run(store, order, b, 0, n, store_cursor));
      bare_samples.push_back(run(bare, order, b, 0, n, bare_cursor));
    }
    figures fr = summarize(raw_samples), fs = summarize(store_samples),
            fb = summarize(bare_samples);
    std::string tag = " (B=" + std::to_string(b) + ")";
    row("transitions/s" + tag, fr.rate, fs.rate);
    row("commits/s" + tag, fr.rate / b, fs.rate / b);
    row("commit p50 ms" + tag, fr.p50_ms, fs.p50_ms);
    row("commit p99 ms" + tag, fr.p99_ms, fs.p99_ms);
    row("raw, bare: transitions/s" + tag, fb.rate, fs.rate);
    if (b > 1) group_ratio = fs.rate / fr.rate;
  }
  std::filesystem::remove_all(dir);
  if (group_ratio > 0) {
    std::printf(
        "\nratio = store / raw (for latencies: > 1 is slower). \"raw, bare\" (SQLite): plain "
        "tables, no secondary indexes.\ntarget: store/raw transitions/s >= 0.80 with group commit: "
        "%.2f %s\n",
        group_ratio, group_ratio >= 0.80 ? "(met)" : "(NOT met)");
  }
  return 0;
}
