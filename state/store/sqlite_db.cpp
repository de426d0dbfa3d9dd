// The SQLite RAII layer (sqlite_db.hpp): connection, statement cache, result-code mapping.
// Bytes are bound and read with explicit lengths, so NULs and invalid UTF-8 survive untouched.
#include "state/store/sqlite_db.hpp"

#include "state/store/cluster_store.hpp"

#include <sqlite3.h>

#include <fcntl.h>
#include <unistd.h>

namespace cashier::store {
namespace {

// The SQL function cashier_shard(text, count): the shard of an Alipay+ id (store::shard_of).
void shard_function(sqlite3_context* ctx, int, sqlite3_value** argv) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  const auto size = static_cast<std::size_t>(sqlite3_value_bytes(argv[0]));
  const auto count = static_cast<shard_id>(sqlite3_value_int64(argv[1]));
  sqlite3_result_int64(ctx, shard_of(std::string_view(text == nullptr ? "" : text, text == nullptr ? 0 : size), count));
}


store_failure failure_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return store_failure::busy;
    case SQLITE_READONLY:
      return store_failure::read_only;
    case SQLITE_FULL:
      return store_failure::disk_full;
    case SQLITE_IOERR:
      return store_failure::io;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return store_failure::corrupt;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return store_failure::cannot_open;
    default:
      return store_failure::internal;
  }
}

// The statement's leading keyword ("INSERT", "BEGIN"): enough for the log to say what failed,
// without the statement text, which must never reach a caller (or a log line that one might).
std::string_view verb_of(std::string_view sql) {
  const auto start = sql.find_first_not_of(" \t\n");
  if (start == std::string_view::npos) return "statement";
  sql.remove_prefix(start);
  return sql.substr(0, sql.find_first_of(" \t\n;"));
}

// An empty string_view may have a null data pointer, which SQLite would bind as NULL.
const char* data_of(std::string_view v) { return v.data() != nullptr ? v.data() : ""; }

}  // namespace

void throw_sqlite(sqlite3* db, int rc, std::string_view doing) {
  std::string what =
      std::string(doing) + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if ((rc & 0xff) == SQLITE_CONSTRAINT) throw constraint_failed(what);
  throw store_error(failure_of(rc), what);
}

sqlite_statement::~sqlite_statement() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

sqlite_statement& sqlite_statement::bind(int i, std::int64_t v) {
  int rc = sqlite3_bind_int64(stmt_, i, v);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "bind");
  return *this;
}

sqlite_statement& sqlite_statement::bind(int i, std::string_view v) {
  int rc = sqlite3_bind_text64(stmt_, i, data_of(v), v.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "bind");
  return *this;
}

sqlite_statement& sqlite_statement::bind_blob(int i, std::string_view v) {
  int rc = sqlite3_bind_blob64(stmt_, i, data_of(v), v.size(), SQLITE_STATIC);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "bind");
  return *this;
}

sqlite_statement& sqlite_statement::bind_null(int i) {
  int rc = sqlite3_bind_null(stmt_, i);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "bind");
  return *this;
}

bool sqlite_statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw_sqlite(db_, rc, verb_of(sqlite3_sql(stmt_)));
}

void sqlite_statement::run() {
  while (step()) {
  }
}

std::int64_t sqlite_statement::int64(int c) const { return sqlite3_column_int64(stmt_, c); }

std::string_view sqlite_statement::view(int c) const {
  // Blob first, then the length: asking for the blob of a TEXT value converts nothing.
  const void* p = sqlite3_column_blob(stmt_, c);
  auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, c));
  return p != nullptr ? std::string_view(static_cast<const char*>(p), n) : std::string_view();
}

bool sqlite_statement::is_null(int c) const { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }

sqlite_db::sqlite_db(const std::string& path, bool read_only) {
  // A new database holds customer data: create it readable by its owner only, whatever the
  // umask. SQLite gives the -wal and -shm files the database file's mode. (":memory:" and ""
  // are not files.) An existing file keeps the mode the operator gave it.
  if (!read_only && !path.empty() && path != ":memory:" && !path.starts_with("file:")) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
  int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
              SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string what =
        "open " + path + ": " + (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close_v2(db_);
    throw store_error(failure_of(rc), what);
  }
  sqlite3_extended_result_codes(db_, 1);
  // SQLite silently falls back to read-only when the file is not writable; a writer must know now.
  if (!read_only && sqlite3_db_readonly(db_, "main") == 1) {
    sqlite3_close_v2(db_);
    throw store_error(store_failure::read_only,
                      "open " + path + ": the database file is read-only");
  }
  // cashier_shard(id, count): store::shard_of, for the migration that gives existing payments
  // their shard (cluster_store.hpp). Deterministic, so SQLite may use it in an index too.
  sqlite3_create_function_v2(db_, "cashier_shard", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
                             shard_function, nullptr, nullptr, nullptr);
}

sqlite_db::~sqlite_db() {
  cache_.clear();
  sqlite3_close_v2(db_);
}

void sqlite_db::finalizer::operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }

void sqlite_db::exec(const char* sql) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, verb_of(sql));
}

sqlite_statement sqlite_db::query(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) throw_sqlite(db_, rc, "prepare " + std::string(verb_of(sql)));
    it = cache_.emplace(std::string(sql), std::unique_ptr<sqlite3_stmt, finalizer>(stmt)).first;
  }
  return sqlite_statement(db_, it->second.get());
}

std::int64_t sqlite_db::changes() const { return sqlite3_changes64(db_); }

std::int64_t sqlite_db::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

bool sqlite_db::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

void sqlite_db::rollback_quietly() noexcept {
  if (in_transaction()) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

}  // namespace cashier::store
