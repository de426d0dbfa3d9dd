// The payments row of the SQLite store in one table: each column's name, whether a transition
// may change it, and how to take its value from a payment. Insert, update and select statements
// are all generated from this table, so a payment field is either persisted everywhere or
// nowhere. Internal to state/store.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "state/machine/payment.hpp"
#include "state/store/sqlite_db.hpp"

namespace cashier::store {

/// One column value of a payments row, viewing into the payment it came from.
struct column_value {
  /// How the value is stored.
  enum class type {
    null,     ///< SQL NULL (an unknown optional field)
    integer,  ///< a 64-bit integer (numbers, instants, flags)
    text,     ///< text bytes, kept exact
    blob,     ///< raw bytes
  };
  type kind = type::null;    ///< how it is stored
  std::int64_t integer = 0;  ///< the value when `integer`
  std::string_view bytes{};  ///< the value when `text` or `blob`
};

/// One column of the payments table besides id and version.
struct payment_column {
  std::string_view name;                  ///< SQL column name
  bool is_mutable;                        ///< false: fixed at creation (e.g. pay_request)
  column_value (*get)(const payment& p);  ///< the column's value for `p`
};

/// Every payments column besides id and version; column i (0-based) is SQL parameter ?i+1.
std::span<const payment_column> payment_columns();
/// "SELECT id, version, <columns> FROM payments " (column i is result column i + 2).
const std::string& select_payment_sql();
/// select_payment_sql() for the row with id ?1.
const std::string& select_payment_by_id_sql();
/// The payment in the current row of a statement built on select_payment_sql().
payment read_payment(const sqlite_statement& q);

/// Binds `v` to parameter `i`.
void bind_value(sqlite_statement& q, int i, const column_value& v);
/// True when `a` and `b` are the same stored value.
bool same(const column_value& a, const column_value& b);
/// True when result column `c` of the current row holds exactly `v`.
bool holds(const sqlite_statement& q, int c, const column_value& v);

}  // namespace cashier::store
