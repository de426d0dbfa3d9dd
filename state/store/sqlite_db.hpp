// A thin RAII layer over the SQLite C API for the SQLite store only: one connection with a cache
// of prepared statements, and a statement handle that resets itself when it goes out of scope
// (so no read snapshot stays open). Engine errors become store_error; constraint violations
// become constraint_failed, which the store turns into a per-transition `rejected` outcome.
// Nothing outside state/store includes this file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "state/machine/time.hpp"
#include "state/store/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace cashier::store {

/// A statement broke a schema constraint (UNIQUE, CHECK, FOREIGN KEY, a RAISE trigger).
class constraint_failed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A cached prepared statement in use: bind, step, read columns; reset on destruction. Bytes
/// are bound without a copy: they must outlive this handle.
class sqlite_statement {
 public:
  /// Takes the cached `stmt` of connection `db` for one use.
  sqlite_statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  sqlite_statement(const sqlite_statement&) = delete;
  sqlite_statement& operator=(const sqlite_statement&) = delete;
  ~sqlite_statement();

  /// Binds an integer to parameter `i` (1-based).
  sqlite_statement& bind(int i, std::int64_t v);
  /// Binds text (any bytes, kept exact) to parameter `i`.
  sqlite_statement& bind(int i, std::string_view v);
  /// Binds an instant as epoch milliseconds to parameter `i`.
  sqlite_statement& bind(int i, time_point t) { return bind(i, to_epoch_ms(t)); }
  /// Binds a blob (any bytes, kept exact) to parameter `i`.
  sqlite_statement& bind_blob(int i, std::string_view v);
  /// Binds NULL to parameter `i`.
  sqlite_statement& bind_null(int i);
  /// Binds `v`, or NULL when it is 0 (an optional foreign key).
  sqlite_statement& bind_id(int i, std::int64_t v) { return v == 0 ? bind_null(i) : bind(i, v); }

  /// Runs to the next row: true when a row is ready, false when done. Throws on failure.
  bool step();
  /// Runs a statement that returns no rows.
  void run();

  /// Column `c` (0-based) as an integer (0 for NULL).
  std::int64_t int64(int c) const;
  /// Column `c` as a 32-bit integer.
  std::int32_t int32(int c) const { return static_cast<std::int32_t>(int64(c)); }
  /// Column `c` as an instant.
  time_point time(int c) const { return from_epoch_ms(int64(c)); }
  /// Column `c` as bytes (text or blob), exact ("" for NULL).
  std::string bytes(int c) const { return std::string(view(c)); }
  /// Column `c` as bytes, valid until the next step or reset.
  std::string_view view(int c) const;
  /// True when column `c` is NULL.
  bool is_null(int c) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

/// One SQLite connection with its prepared-statement cache.
class sqlite_db {
 public:
  /// Opens `path` (read-write, created if missing, or read-only). Throws store_error.
  sqlite_db(const std::string& path, bool read_only);
  sqlite_db(const sqlite_db&) = delete;
  sqlite_db& operator=(const sqlite_db&) = delete;
  ~sqlite_db();

  /// Runs one or more statements without results (DDL, pragmas, BEGIN/COMMIT).
  void exec(const char* sql);
  /// The cached statement for `sql`, prepared on first use.
  sqlite_statement query(std::string_view sql);
  /// Rows changed by the last INSERT, UPDATE or DELETE.
  std::int64_t changes() const;
  /// Row id of the last INSERT.
  std::int64_t last_insert_rowid() const;
  /// True inside an explicit transaction.
  bool in_transaction() const;
  /// Rolls back the open transaction, if any; never throws.
  void rollback_quietly() noexcept;
  /// The connection handle (for the WAL checkpointer's hook).
  sqlite3* native() const { return db_; }

 private:
  struct finalizer {
    void operator()(sqlite3_stmt* s) const;
  };
  struct text_hash {  // lets the cache be searched with a string_view, without a copy
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<sqlite3_stmt, finalizer>, text_hash,
                     std::equal_to<>>
      cache_;
};

/// Throws the store_error (or constraint_failed) for SQLite result code `rc` on `db`.
[[noreturn]] void throw_sqlite(sqlite3* db, int rc, std::string_view doing);

}  // namespace cashier::store
