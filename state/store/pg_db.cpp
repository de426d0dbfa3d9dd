// libpq behind pg_db (pg_db.hpp). Failures are classified by SQLSTATE: the class of the code
// says what the caller can do about it (a lost connection, a full disk, a read-only server, a
// lock or serialization wait). Messages name the operation and the SQLSTATE and keep the
// server's primary message only where it cannot echo SQL text back; the conninfo (which may
// hold a password) never appears in any message.
#include "state/store/pg_db.hpp"
#include "state/store/pg_store.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace cashier::store {
namespace {

constexpr Oid bytea_oid = 17;

// The store_failure for SQLSTATE `code` (empty: no code, e.g. the connection broke).
store_failure failure_of(std::string_view code) {
  const std::string_view cls = code.substr(0, 2);
  if (code.empty() || cls == "08" || code == "57P01" || code == "57P02" || code == "57P03")
    return store_failure::io;  // connection exception, server shut down or starting
  if (code == "53100") return store_failure::disk_full;
  if (code == "25006") return store_failure::read_only;
  if (cls == "40" || code == "55P03" || code == "57014") return store_failure::busy;
  if (cls == "XX" && code != "XX000") return store_failure::corrupt;  // XX001, XX002
  if (cls == "28" || code == "3D000" || code == "3F000") return store_failure::cannot_open;
  if (code == "42P01") return store_failure::schema;  // a table is missing: not migrated
  return store_failure::internal;
}

// The first word of `sql` (SELECT, INSERT, ...): what a message may say about a statement.
std::string_view verb_of(std::string_view sql) {
  const auto start = sql.find_first_not_of(" \n(");
  if (start == std::string_view::npos) return "statement";
  sql.remove_prefix(start);
  return sql.substr(0, sql.find_first_of(" \n("));
}

std::string first_line(const char* text) {
  std::string s = text != nullptr ? text : "";
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s;
}

void ignore_notice(void*, const char*) {}

}  // namespace

bool postgres_conninfo_valid(const std::string& conninfo) {
  char* error = nullptr;  // not shown: libpq's message may quote part of the string (a password)
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (options == nullptr) return false;
  PQconninfoFree(options);
  return true;
}

pg_params& pg_params::add(std::int64_t v) {
  kinds_.push_back(kind::integer);
  integers_.push_back(std::to_string(v));
  return *this;
}

pg_params& pg_params::add(std::string_view bytes) {
  kinds_.push_back(kind::bytes);
  bytes_.push_back(bytes);
  return *this;
}

pg_params& pg_params::null() {
  kinds_.push_back(kind::null);
  return *this;
}

pg_params::wire pg_params::marshal() const {
  wire w;
  w.values.resize(kinds_.size());
  w.lengths.resize(kinds_.size());
  w.formats.resize(kinds_.size());
  std::size_t ints = 0, strings = 0;
  for (std::size_t i = 0; i < kinds_.size(); ++i) {
    switch (kinds_[i]) {
      case kind::integer:
        w.values[i] = integers_[ints++].c_str();
        break;
      case kind::bytes: {
        const auto b = bytes_[strings++];
        w.values[i] = b.data() != nullptr ? b.data() : "";
        w.lengths[i] = static_cast<int>(b.size());
        w.formats[i] = 1;  // binary: the bytes as they are
        break;
      }
      case kind::null:
        w.values[i] = nullptr;
        break;
    }
  }
  return w;
}

void pg_rows::clear::operator()(pg_result* r) const { PQclear(r); }

int pg_rows::size() const { return PQntuples(r_.get()); }

std::int64_t pg_rows::int64(int r, int c) const {
  if (PQgetisnull(r_.get(), r, c)) return 0;
  const char* text = PQgetvalue(r_.get(), r, c);
  const char* end = text + PQgetlength(r_.get(), r, c);
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text, end, v);
  if (ec != std::errc{} || ptr != end)
    throw store_error(store_failure::corrupt, "PostgreSQL returned a non-integer where one was expected");
  return v;
}

std::string pg_rows::bytes(int r, int c) const {
  if (PQgetisnull(r_.get(), r, c)) return {};
  const char* text = PQgetvalue(r_.get(), r, c);
  const auto n = static_cast<std::size_t>(PQgetlength(r_.get(), r, c));
  if (PQftype(r_.get(), c) != bytea_oid) return std::string(text, n);
  // bytea in text format: "\x" and two hex digits per byte (bytea_output = hex, set at connect).
  if (n < 2 || text[0] != '\\' || text[1] != 'x' || n % 2 != 0)
    throw store_error(store_failure::internal, "unexpected bytea encoding from PostgreSQL");
  auto hex = [](char h) -> int {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
  };
  std::string out;
  out.resize((n - 2) / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex(text[2 + 2 * i]), lo = hex(text[3 + 2 * i]);
    if (hi < 0 || lo < 0) throw store_error(store_failure::internal, "unexpected bytea encoding from PostgreSQL");
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

bool pg_rows::is_null(int r, int c) const { return PQgetisnull(r_.get(), r, c) != 0; }

std::int64_t pg_rows::affected() const {
  const char* n = PQcmdTuples(r_.get());
  return (n == nullptr || *n == '\0') ? 0 : std::strtoll(n, nullptr, 10);
}

pg_db::pg_db(const std::string& conninfo, bool read_only, int lock_timeout_ms)
    : read_only_(read_only), lock_timeout_ms_(lock_timeout_ms) {
  // libpq's own message for a malformed string may quote a piece of it (a password).
  if (!postgres_conninfo_valid(conninfo))
    throw store_error(store_failure::cannot_open, "the conninfo is not a valid libpq connection string");
  // The conninfo is expanded as the dbname (a "key=value" string or a URI); cashierd names
  // itself unless the conninfo sets application_name.
  const char* keys[] = {"dbname", "fallback_application_name", nullptr};
  const char* values[] = {conninfo.c_str(), "cashierd", nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (conn_ == nullptr) throw store_error(store_failure::cannot_open, "cannot connect to PostgreSQL: out of memory");
  if (PQstatus(conn_) != CONNECTION_OK) {
    // libpq's message names the host and the reason (refused, authentication), never the
    // password; the first line is enough and keeps the rest of the conninfo out.
    std::string why = first_line(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    throw store_error(store_failure::cannot_open, "cannot connect to PostgreSQL: " + why);
  }
  PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
  try {
    configure();
  } catch (...) {
    PQfinish(conn_);
    conn_ = nullptr;
    throw;
  }
}

pg_db::~pg_db() {
  if (conn_ != nullptr) PQfinish(conn_);
}

// After a lost connection, the next call reconnects once (a restarted server): the prepared
// statements died with the old session and are prepared again.
void pg_db::ensure_connected() {
  if (PQstatus(conn_) == CONNECTION_OK && !broken_) return;
  broken_ = false;
  PQreset(conn_);
  prepared_.clear();
  if (PQstatus(conn_) != CONNECTION_OK)
    throw store_error(store_failure::io, "the connection to PostgreSQL is lost: " + first_line(PQerrorMessage(conn_)));
  configure();
}

// Session settings: bytea in hex (pg_rows decodes it), no NOTICE chatter, the lock wait bound
// (a row lock held past it is store_failure::busy, as SQLite's busy timeout), read-only.
void pg_db::configure() {
  exec("SET bytea_output = 'hex'; SET client_min_messages = 'warning'; SET lock_timeout = " +
       std::to_string(lock_timeout_ms_) + (read_only_ ? "; SET default_transaction_read_only = on" : ""));
}

pg_rows pg_db::check(pg_result* r, std::string_view doing) {
  pg_rows rows(r);
  const auto status = PQresultStatus(r);
  if (r != nullptr && (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)) return rows;
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string code = state != nullptr ? state : "";
  const std::string primary =
      first_line(r != nullptr ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr);
  // Integrity violations and the triggers' RAISE EXCEPTION (P0001): a rejected transition.
  // Their messages name a constraint or a rule, not SQL.
  // CA001: the pipelined compare-and-set lost (cashier_expect_one): the store redoes the batch.
  if (code.rfind("23", 0) == 0 || code == "P0001" || code == "CA001") throw constraint_failed(primary);
  if (PQstatus(conn_) != CONNECTION_OK)
    throw store_error(store_failure::io, "the connection to PostgreSQL was lost during " + std::string(doing));
  const store_failure kind = failure_of(code);
  // Class 42 (syntax, undefined objects) may quote the statement: keep only the code.
  const bool quiet = code.rfind("42", 0) == 0;
  throw store_error(kind, "PostgreSQL " + (code.empty() ? std::string("error") : code) + " during " +
                              std::string(doing) + (quiet || primary.empty() ? "" : ": " + primary));
}

const std::string& pg_db::prepared_name(const std::string& sql) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "c" + std::to_string(prepared_.size() + 1);
    check(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr),
          "prepare " + std::string(verb_of(sql)));
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  return it->second;
}

pg_rows pg_db::query(const std::string& sql, const pg_params& p) {
  ensure_connected();
  const std::string& name = prepared_name(sql);
  const pg_params::wire w = p.marshal();
  return check(PQexecPrepared(conn_, name.c_str(), p.size(), w.values.data(), w.lengths.data(),
                              w.formats.data(), 0),
               verb_of(sql));
}

// Chunks of at most 128 statements: their answers (command tags, a row at most) then always
// fit in the socket buffers, so sending a whole chunk before reading can never deadlock with a
// server blocked on writing answers we are not reading yet.
void pg_db::pipeline(const std::vector<pg_queued>& statements) {
  constexpr std::size_t chunk = 128;
  ensure_connected();
  for (const auto& q : statements) prepared_name(*q.sql);  // outside pipeline mode
  if (PQenterPipelineMode(conn_) != 1) throw store_error(store_failure::internal, "cannot enter pipeline mode");
  PGresult* failure = nullptr;  // the first failed statement's result
  std::string_view failed_verb;
  bool lost = false;
  for (std::size_t start = 0; start < statements.size() && failure == nullptr && !lost; start += chunk) {
    const std::size_t end = std::min(statements.size(), start + chunk);
    for (std::size_t i = start; i < end && !lost; ++i) {
      const pg_params::wire w = statements[i].params.marshal();
      lost = PQsendQueryPrepared(conn_, prepared_.find(*statements[i].sql)->second.c_str(),
                                 statements[i].params.size(), w.values.data(), w.lengths.data(),
                                 w.formats.data(), 0) != 1;
    }
    lost = lost || PQpipelineSync(conn_) != 1;
    // Each statement's results end with a null result; the chunk ends with PGRES_PIPELINE_SYNC.
    for (std::size_t i = start; i < end && !lost; ++i) {
      PGresult* r = PQgetResult(conn_);
      if (r == nullptr) {
        lost = true;
        break;
      }
      const auto st = PQresultStatus(r);
      if (failure == nullptr && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_PIPELINE_ABORTED) {
        failure = r;
        failed_verb = verb_of(*statements[i].sql);
      } else {
        PQclear(r);
      }
      while (PGresult* more = PQgetResult(conn_)) PQclear(more);
    }
    if (!lost) {
      PGresult* sync = PQgetResult(conn_);
      lost = sync == nullptr || PQresultStatus(sync) != PGRES_PIPELINE_SYNC;
      PQclear(sync);
    }
  }
  if (lost || PQexitPipelineMode(conn_) != 1) {
    PQclear(failure);
    broken_ = true;  // the session is in an unknown state: the next call reconnects
    throw store_error(store_failure::io, "the connection to PostgreSQL was lost during a pipeline");
  }
  if (failure != nullptr) check(failure, failed_verb);
}

pg_rows pg_db::query_once(const std::string& sql, const pg_params& p) {
  ensure_connected();
  const pg_params::wire w = p.marshal();
  return check(PQexecParams(conn_, sql.c_str(), p.size(), nullptr, w.values.data(), w.lengths.data(),
                            w.formats.data(), 0),
               verb_of(sql));
}

void pg_db::exec(const std::string& sql) {
  ensure_connected();
  check(PQexec(conn_, sql.c_str()), verb_of(sql));
}

void pg_db::rollback_quietly() noexcept {
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) return;
  if (PQtransactionStatus(conn_) == PQTRANS_IDLE) return;
  PQclear(PQexec(conn_, "ROLLBACK"));
}

bool pg_db::in_transaction() const {
  const auto s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

}  // namespace cashier::store
