// The payments column table (sqlite_payment_row.hpp) and the decoding of a payments row. Times
// are epoch milliseconds, money is minor units + currency, statuses are their public names,
// optional values are NULL when unknown. A stored value this build cannot interpret is a corrupt
// database (store_error), never guessed at.
#include "state/store/sqlite_payment_row.hpp"

#include <array>

namespace cashier::store {
namespace {

column_value integer(std::int64_t v) { return {column_value::type::integer, v, {}}; }
column_value instant(time_point t) { return integer(to_epoch_ms(t)); }
column_value text(std::string_view v) { return {column_value::type::text, 0, v}; }
column_value blob(std::string_view v) { return {column_value::type::blob, 0, v}; }
column_value null() { return {}; }

constexpr bool fixed = false;
constexpr bool changes = true;

// The order is the SQL parameter order and must match read_payment below. At most 64 columns:
// the store tracks changed columns in a 64-bit mask.
const std::array<payment_column, 36> columns = {{
    {"payment_request_id", fixed, [](const payment& p) { return text(p.payment_request_id); }},
    {"merchant_id", fixed, [](const payment& p) { return text(p.merchant_id); }},
    {"status", changes, [](const payment& p) { return text(to_string(p.status)); }},
    {"pending", changes, [](const payment& p) { return text(to_string(p.pending)); }},
    // Kept for readers of schema v1: 1 while the payment is settled by inquiry after a cancel
    // became impossible (slow path or parked); the track column says which.
    {"cancel_abandoned", changes,
     [](const payment& p) {
       const bool abandoned = p.track == settle_track::slow_path || p.track == settle_track::parked;
       return integer(abandoned ? 1 : 0);
     }},
    {"attempt", changes, [](const payment& p) { return integer(p.attempt); }},
    {"event_seq", changes, [](const payment& p) { return integer(p.event_seq); }},
    {"amount_minor", fixed, [](const payment& p) { return integer(p.amount.minor_units); }},
    {"currency", fixed, [](const payment& p) { return text(p.amount.currency.view()); }},
    {"expiry_at", fixed, [](const payment& p) { return instant(p.expiry_at); }},
    {"poll_deadline_at", changes, [](const payment& p) { return instant(p.poll_deadline_at); }},
    {"next_action_at", changes, [](const payment& p) { return instant(p.next_action_at); }},
    {"last_hint_inquiry_at", changes,
     [](const payment& p) { return instant(p.last_hint_inquiry_at); }},
    {"created_at", fixed, [](const payment& p) { return instant(p.created_at); }},
    {"updated_at", changes, [](const payment& p) { return instant(p.updated_at); }},
    {"pay_request", fixed, [](const payment& p) { return blob(p.pay_request); }},
    {"merchant_request", fixed, [](const payment& p) { return blob(p.merchant_request); }},
    {"merchant_notify_url", fixed, [](const payment& p) { return text(p.merchant_notify_url); }},
    {"aplus_payment_id", changes, [](const payment& p) { return text(p.payment_id); }},
    {"normal_url", changes, [](const payment& p) { return text(p.normal_url); }},
    {"payment_data", changes, [](const payment& p) { return text(p.payment_data); }},
    {"wallet_brand_name", changes, [](const payment& p) { return text(p.wallet_brand_name); }},
    {"customer_id", changes, [](const payment& p) { return text(p.customer_id); }},
    {"payment_time", changes, [](const payment& p) { return text(p.payment_time); }},
    {"settlement_minor", changes,
     [](const payment& p) {
       return p.settlement_amount ? integer(p.settlement_amount->minor_units) : null();
     }},
    {"settlement_currency", changes,
     [](const payment& p) {
       return p.settlement_amount ? text(p.settlement_amount->currency.view()) : null();
     }},
    {"result_code", changes,
     [](const payment& p) { return p.result ? text(p.result->code) : null(); }},
    {"result_status", changes,
     [](const payment& p) {
       return p.result ? text(std::string_view(&p.result->status, 1)) : null();
     }},
    {"result_message", changes,
     [](const payment& p) { return p.result ? text(p.result->message) : null(); }},
    {"cancel_reason", changes, [](const payment& p) { return text(p.cancel_reason); }},
    {"track", changes, [](const payment& p) { return text(to_string(p.track)); }},
    {"slow_path_since", changes, [](const payment& p) { return instant(p.slow_path_since); }},
    {"cancel_refusals", changes, [](const payment& p) { return integer(p.cancel_refusals); }},
    {"pending_notice", changes,
     [](const payment& p) { return integer(static_cast<std::int64_t>(p.notice)); }},
    // Issue 14 (merchant identity): cashierd's own id towards Alipay+, unique across merchants.
    {"alipay_payment_request_id", fixed,
     [](const payment& p) { return text(alipay_request_id(p)); }},
    {"checkout_id", fixed, [](const payment& p) { return text(p.checkout_id); }},
}};

std::optional<pending_notice> notice_of(std::int64_t v) {
  for (auto n : {pending_notice::none, pending_notice::wanted, pending_notice::sent}) {
    if (static_cast<std::int64_t>(n) == v) return n;
  }
  return std::nullopt;
}

template <class T>
T checked(std::optional<T> v, std::string_view what) {
  if (!v)
    throw store_error(store_failure::corrupt, "unreadable " + std::string(what) + " in payments");
  return *v;
}

money money_at(const sqlite_statement& q, int minor, int currency) {
  return {q.int64(minor), checked(currency_code::parse(q.view(currency)), "currency")};
}

}  // namespace

std::span<const payment_column> payment_columns() { return columns; }

const std::string& select_payment_sql() {
  static const std::string sql = [] {
    std::string s = "SELECT id, version";
    for (const auto& c : columns) s += ", " + std::string(c.name);
    return s + " FROM payments ";
  }();
  return sql;
}

const std::string& select_payment_by_id_sql() {
  static const std::string sql = select_payment_sql() + "WHERE id = ?1";
  return sql;
}

payment read_payment(const sqlite_statement& q) {
  payment p;
  p.id = q.int64(0);
  p.version = q.int64(1);
  p.payment_request_id = q.bytes(2);
  p.merchant_id = q.bytes(3);
  p.status = checked(parse_payment_status(q.view(4)), "status");
  p.pending = checked(parse_pending_action(q.view(5)), "pending action");
  // Column 6 (cancel_abandoned) is derived from the track (column 33) and not read back.
  p.attempt = q.int32(7);
  p.event_seq = q.int32(8);
  p.amount = money_at(q, 9, 10);
  p.expiry_at = q.time(11);
  p.poll_deadline_at = q.time(12);
  p.next_action_at = q.time(13);
  p.last_hint_inquiry_at = q.time(14);
  p.created_at = q.time(15);
  p.updated_at = q.time(16);
  p.pay_request = q.bytes(17);
  p.merchant_request = q.bytes(18);
  p.merchant_notify_url = q.bytes(19);
  p.payment_id = q.bytes(20);
  p.normal_url = q.bytes(21);
  p.payment_data = q.bytes(22);
  p.wallet_brand_name = q.bytes(23);
  p.customer_id = q.bytes(24);
  p.payment_time = q.bytes(25);
  if (!q.is_null(26)) p.settlement_amount = money_at(q, 26, 27);
  if (!q.is_null(28)) {
    std::string_view status = q.view(29);
    p.result = aplus_result{q.bytes(28), status.empty() ? '?' : status[0], q.bytes(30)};
  }
  p.cancel_reason = q.bytes(31);
  p.track = checked(parse_settle_track(q.view(32)), "track");
  p.slow_path_since = q.time(33);
  p.cancel_refusals = q.int32(34);
  p.notice = checked(notice_of(q.int64(35)), "pending_notice");
  p.alipay_payment_request_id = q.bytes(36);
  p.checkout_id = q.bytes(37);
  return p;
}

void bind_value(sqlite_statement& q, int i, const column_value& v) {
  switch (v.kind) {
    case column_value::type::null:
      q.bind_null(i);
      return;
    case column_value::type::integer:
      q.bind(i, v.integer);
      return;
    case column_value::type::text:
      q.bind(i, v.bytes);
      return;
    case column_value::type::blob:
      q.bind_blob(i, v.bytes);
      return;
  }
}

bool same(const column_value& a, const column_value& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case column_value::type::null:
      return true;
    case column_value::type::integer:
      return a.integer == b.integer;
    case column_value::type::text:
    case column_value::type::blob:
      return a.bytes == b.bytes;
  }
  return false;
}

bool holds(const sqlite_statement& q, int c, const column_value& v) {
  bool null = q.is_null(c);
  switch (v.kind) {
    case column_value::type::null:
      return null;
    case column_value::type::integer:
      return !null && q.int64(c) == v.integer;
    case column_value::type::text:
    case column_value::type::blob:
      return !null && q.view(c) == v.bytes;
  }
  return false;
}

}  // namespace cashier::store
