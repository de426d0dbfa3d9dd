// A thin RAII layer over libpq for the PostgreSQL store only: one connection with a cache of
// named prepared statements, a parameter list (integers as decimal text, every string as raw
// bytes in binary format, so NULs and invalid UTF-8 reach bytea columns exact), and a result
// whose bytea columns are decoded on the way out. Errors become store_error (kind from the
// SQLSTATE, never the SQL text or the conninfo in the message); constraint violations and the
// schema triggers' RAISE become constraint_failed (sqlite_db.hpp), which the store turns into a
// per-transition `rejected` outcome. Nothing outside state/store includes this file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "state/machine/time.hpp"
#include "state/store/sqlite_db.hpp"  // constraint_failed
#include "state/store/store.hpp"

struct pg_conn;
struct pg_result;

namespace cashier::store {

/// Parameters of one statement ($1, $2, ... in the order added). Strings are not copied: they
/// must outlive the call they are passed to.
class pg_params {
 public:
  /// An integer.
  pg_params& add(std::int64_t v);
  /// An instant, as epoch milliseconds.
  pg_params& add(time_point t) { return add(to_epoch_ms(t)); }
  /// Bytes (for a bytea or text column), exact.
  pg_params& add(std::string_view bytes);
  /// SQL NULL.
  pg_params& null();
  /// `v`, or NULL when it is 0 (an optional foreign key).
  pg_params& id(std::int64_t v) { return v == 0 ? null() : add(v); }
  /// How many parameters were added.
  int size() const { return static_cast<int>(kinds_.size()); }

 private:
  friend class pg_db;
  /// How a parameter travels.
  enum class kind {
    integer,  ///< decimal text
    bytes,    ///< raw bytes, binary format
    null,     ///< SQL NULL
  };
  // The arrays PQexecPrepared takes, pointing into this object.
  struct wire {
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
  };
  wire marshal() const;
  std::vector<kind> kinds_;
  std::vector<std::string> integers_;  // decimal text of the integer parameters, in order
  std::vector<std::string_view> bytes_;
};

/// The rows of one statement's answer.
class pg_rows {
 public:
  explicit pg_rows(pg_result* r) : r_(r) {}
  /// Number of rows.
  int size() const;
  /// True when there is no row.
  bool empty() const { return size() == 0; }
  /// Row `r`, column `c` as an integer (0 for NULL).
  std::int64_t int64(int r, int c) const;
  /// ... as a 32-bit integer.
  std::int32_t int32(int r, int c) const { return static_cast<std::int32_t>(int64(r, c)); }
  /// ... as an instant.
  time_point time(int r, int c) const { return from_epoch_ms(int64(r, c)); }
  /// ... as bytes, exact (a bytea decoded; "" for NULL).
  std::string bytes(int r, int c) const;
  /// ... true when NULL.
  bool is_null(int r, int c) const;
  /// Rows changed by an INSERT, UPDATE or DELETE.
  std::int64_t affected() const;

 private:
  struct clear {
    void operator()(pg_result* r) const;
  };
  std::unique_ptr<pg_result, clear> r_;
};

/// One statement of a pipeline: the SQL text (which must outlive the call) and its parameters.
struct pg_queued {
  const std::string* sql;  ///< prepared on first use, as for pg_db::query
  pg_params params;        ///< its parameters
};

/// One libpq connection with its prepared-statement cache.
class pg_db {
 public:
  /// Connects with `conninfo`; read-only makes every transaction READ ONLY; a row lock waited
  /// on longer than `lock_timeout_ms` fails the statement (busy). Throws store_error.
  pg_db(const std::string& conninfo, bool read_only, int lock_timeout_ms);
  pg_db(const pg_db&) = delete;
  pg_db& operator=(const pg_db&) = delete;
  ~pg_db();

  /// Runs `sql` as a named prepared statement (prepared on first use) with `p`.
  pg_rows query(const std::string& sql, const pg_params& p = {});
  /// Runs `statements` in order in libpq's pipeline mode: sent without waiting for answers, in
  /// chunks that each cost one round trip, inside whatever transaction is open. Their results
  /// are discarded; the first failure is thrown once the pipeline is drained (the statements
  /// after it were not run, and an open transaction is then aborted).
  void pipeline(const std::vector<pg_queued>& statements);
  /// Runs `sql` once, unprepared (statements on temporary tables, rare maintenance).
  pg_rows query_once(const std::string& sql, const pg_params& p = {});
  /// Runs one or more statements without parameters or results (DDL, BEGIN, COMMIT).
  void exec(const std::string& sql);
  /// Rolls back the open transaction, if any; never throws.
  void rollback_quietly() noexcept;
  /// True inside a transaction block.
  bool in_transaction() const;

 private:
  void ensure_connected();
  void configure();
  const std::string& prepared_name(const std::string& sql);
  pg_rows check(pg_result* r, std::string_view doing);
  pg_conn* conn_ = nullptr;
  bool read_only_;
  bool broken_ = false;  // a pipeline went wrong: reconnect before the next statement
  int lock_timeout_ms_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
};

}  // namespace cashier::store
