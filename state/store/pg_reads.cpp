// The read side of the PostgreSQL store and its refunds: queries and row decoding, the same
// queries as the SQLite store's in PostgreSQL's dialect. Every row read is checked on the way in
// (known status names, a valid currency): a value this build cannot interpret is a corrupt
// database, reported as store_error, never guessed at. Writing refunds (check before, insert or
// compare-and-set) is here too, beside their decoding.
#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdint>
#include <string>

#include "state/store/pg_store_impl.hpp"
#include "state/store/sqlite_payment_row.hpp"

namespace cashier::store {
namespace {

constexpr std::string_view outbox_columns =
    "o.id, o.event_id, o.payment_id, o.seq, o.type, o.payload, o.target_url, o.attempts, "
    "o.next_attempt_at, o.state, o.last_status, o.last_error, o.created_at, o.feed_seq";

// The recovery predicate; the partial index payments_open is defined with the same text.
constexpr std::string_view open_rows = "(status IN ('INIT', 'IN_PROCESS') OR pending <> '')";

constexpr std::string_view refund_columns =
    "id, version, payment_id, refund_request_id, alipay_refund_request_id, origin, status, track, "
    "attempt, amount_minor, currency, reason, next_action_at, created_at, updated_at, request, "
    "merchant_request, refund_id, refund_time, result_status, result_code, result_message";

constexpr std::string_view call_columns =
    "SELECT id, coalesce(payment_id, 0), api, request_body, request_headers, http_status, "
    "response_body, response_headers, outcome, started_at, latency_us, coalesce(refund_id, 0) "
    "FROM aplus_calls ";

std::string payments_where(std::string_view tail) {
  return pg_select_payment_sql() + "WHERE " + std::string(tail);
}

std::string outbox_where(std::string_view tail) {
  return "SELECT " + std::string(outbox_columns) + " FROM merchant_outbox o " + std::string(tail);
}

std::string refunds_where(std::string_view tail) {
  return "SELECT " + std::string(refund_columns) + " FROM refunds " + std::string(tail);
}

template <class T>
T checked(std::optional<T> v, std::string_view what) {
  if (!v)
    throw store_error(store_failure::corrupt, "unreadable " + std::string(what) + " in the database");
  return *v;
}

std::optional<pending_notice> notice_of(std::int64_t v) {
  for (auto n : {pending_notice::none, pending_notice::wanted, pending_notice::sent}) {
    if (static_cast<std::int64_t>(n) == v) return n;
  }
  return std::nullopt;
}

money money_at(const pg_rows& q, int r, int minor, int currency) {
  return {q.int64(r, minor), checked(currency_code::parse(q.bytes(r, currency)), "currency")};
}

event_record event_row(const pg_rows& q, int r) {
  event_record e;
  e.id = q.int64(r, 0);
  e.payment_id = q.int64(r, 1);
  e.version = q.int64(r, 2);
  e.at = q.time(r, 3);
  if (!q.is_null(r, 4)) {
    e.from_status = checked(parse_payment_status(q.bytes(r, 4)), "status");
    e.from_pending = checked(parse_pending_action(q.bytes(r, 5)), "pending action");
  }
  e.to_status = checked(parse_payment_status(q.bytes(r, 6)), "status");
  e.to_pending = checked(parse_pending_action(q.bytes(r, 7)), "pending action");
  e.cause = q.bytes(r, 8);
  e.detail = q.bytes(r, 9);
  return e;
}

call_record call_row(const pg_rows& q, int r) {
  return {q.int64(r, 0), q.int64(r, 1),  q.bytes(r, 2), q.bytes(r, 3),
          q.bytes(r, 4), q.int32(r, 5),  q.bytes(r, 6), q.bytes(r, 7),
          q.bytes(r, 8), q.time(r, 9),   q.int64(r, 10), q.int64(r, 11)};
}

notify_record notify_row(const pg_rows& q, int r) {
  return {q.int64(r, 0), q.int64(r, 1), q.bytes(r, 2), q.bytes(r, 3),  q.bytes(r, 4), q.bytes(r, 5),
          q.time(r, 6),  q.bytes(r, 7), q.int64(r, 8), q.int64(r, 9), q.time(r, 10)};
}

outbox_record outbox_row(const pg_rows& q, int r) {
  return {q.int64(r, 0),  q.bytes(r, 1),
          q.int64(r, 2),  q.int32(r, 3),
          q.bytes(r, 4),  q.bytes(r, 5),
          q.bytes(r, 6),  q.int32(r, 7),
          q.time(r, 8),   checked(parse_outbox_state(q.bytes(r, 9)), "outbox state"),
          q.int32(r, 10), q.bytes(r, 11),
          q.time(r, 12),  q.int64(r, 13)};
}

webhook_attempt_record attempt_row(const pg_rows& q, int r) {
  return {q.int64(r, 0), q.bytes(r, 1), q.time(r, 2), q.int32(r, 3), q.bytes(r, 4), q.int64(r, 5)};
}

anomaly_record anomaly_row(const pg_rows& q, int r) {
  return {q.int64(r, 0), q.int64(r, 1), q.bytes(r, 2), q.bytes(r, 3), q.time(r, 4)};
}

refund refund_row(const pg_rows& q, int row) {
  refund r;
  r.id = q.int64(row, 0);
  r.version = q.int64(row, 1);
  r.payment_row = q.int64(row, 2);
  r.refund_request_id = q.bytes(row, 3);
  r.alipay_refund_request_id = q.bytes(row, 4);
  r.origin = checked(parse_refund_origin(q.bytes(row, 5)), "refund origin");
  r.status = checked(parse_refund_status(q.bytes(row, 6)), "refund status");
  r.track = checked(parse_refund_track(q.bytes(row, 7)), "refund track");
  r.attempt = q.int32(row, 8);
  r.amount = money_at(q, row, 9, 10);
  r.reason = q.bytes(row, 11);
  r.next_action_at = q.time(row, 12);
  r.created_at = q.time(row, 13);
  r.updated_at = q.time(row, 14);
  r.request = q.bytes(row, 15);
  r.merchant_request = q.bytes(row, 16);
  r.refund_id = q.bytes(row, 17);
  r.refund_time = q.bytes(row, 18);
  if (!q.is_null(row, 19)) {
    const std::string status = q.bytes(row, 19);
    r.result = aplus_result{q.bytes(row, 20), status.empty() ? 'U' : status[0], q.bytes(row, 21)};
  }
  return r;
}

// Adds the refund's columns as $1..$20 (everything but id and version), in refund_columns order.
void add_refund(pg_params& p, const refund& r, std::int64_t payment_id) {
  p.add(payment_id).add(r.refund_request_id).add(r.alipay_refund_request_id);
  p.add(to_string(r.origin)).add(to_string(r.status)).add(to_string(r.track));
  p.add(std::int64_t{r.attempt}).add(r.amount.minor_units).add(r.amount.currency.view());
  p.add(r.reason).add(r.next_action_at).add(r.created_at).add(r.updated_at);
  p.add(r.request).add(r.merchant_request).add(r.refund_id).add(r.refund_time);
  if (r.result) p.add(std::string_view(&r.result->status, 1)).add(r.result->code).add(r.result->message);
  else p.null().null().null();
}

template <class Decode>
auto all_rows(const pg_rows& q, Decode decode) {
  std::vector<decltype(decode(q, 0))> rows;
  rows.reserve(static_cast<std::size_t>(q.size()));
  for (int r = 0; r < q.size(); ++r) rows.push_back(decode(q, r));
  return rows;
}

template <class Decode>
auto one_row(const pg_rows& q, Decode decode) -> std::optional<decltype(decode(q, 0))> {
  if (q.empty()) return std::nullopt;
  return decode(q, 0);
}

std::int64_t limit_of(std::size_t limit) {
  return static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX));
}

}  // namespace

const std::string& pg_select_payment_sql() {
  static const std::string sql = [] {
    std::string s = "SELECT id, version";
    for (const auto& c : payment_columns()) s += ", " + std::string(c.name);
    return s + " FROM payments ";
  }();
  return sql;
}

payment pg_read_payment(const pg_rows& q, int r) {
  payment p;
  p.id = q.int64(r, 0);
  p.version = q.int64(r, 1);
  p.payment_request_id = q.bytes(r, 2);
  p.merchant_id = q.bytes(r, 3);
  p.status = checked(parse_payment_status(q.bytes(r, 4)), "status");
  p.pending = checked(parse_pending_action(q.bytes(r, 5)), "pending action");
  // Column 6 (cancel_abandoned) is derived from the track and not read back.
  p.attempt = q.int32(r, 7);
  p.event_seq = q.int32(r, 8);
  p.amount = money_at(q, r, 9, 10);
  p.expiry_at = q.time(r, 11);
  p.poll_deadline_at = q.time(r, 12);
  p.next_action_at = q.time(r, 13);
  p.last_hint_inquiry_at = q.time(r, 14);
  p.created_at = q.time(r, 15);
  p.updated_at = q.time(r, 16);
  p.pay_request = q.bytes(r, 17);
  p.merchant_request = q.bytes(r, 18);
  p.merchant_notify_url = q.bytes(r, 19);
  p.payment_id = q.bytes(r, 20);
  p.normal_url = q.bytes(r, 21);
  p.payment_data = q.bytes(r, 22);
  p.wallet_brand_name = q.bytes(r, 23);
  p.customer_id = q.bytes(r, 24);
  p.payment_time = q.bytes(r, 25);
  if (!q.is_null(r, 26)) p.settlement_amount = money_at(q, r, 26, 27);
  if (!q.is_null(r, 28)) {
    const std::string status = q.bytes(r, 29);
    p.result = aplus_result{q.bytes(r, 28), status.empty() ? '?' : status[0], q.bytes(r, 30)};
  }
  p.cancel_reason = q.bytes(r, 31);
  p.track = checked(parse_settle_track(q.bytes(r, 32)), "track");
  p.slow_path_since = q.time(r, 33);
  p.cancel_refusals = q.int32(r, 34);
  p.notice = checked(notice_of(q.int64(r, 35)), "pending_notice");
  p.alipay_payment_request_id = q.bytes(r, 36);
  p.checkout_id = q.bytes(r, 37);
  return p;
}

std::optional<payment> pg_store::find(std::string_view alipay_payment_request_id) {
  static const std::string sql = payments_where("alipay_payment_request_id = $1");
  return one_row(db_.query(sql, pg_params{}.add(alipay_payment_request_id)), pg_read_payment);
}

std::optional<payment> pg_store::find_by_checkout(std::string_view checkout_id) {
  static const std::string sql = payments_where("checkout_id = $1 AND checkout_id <> ''");
  if (checkout_id.empty()) return std::nullopt;
  return one_row(db_.query(sql, pg_params{}.add(checkout_id)), pg_read_payment);
}

std::optional<std::int64_t> pg_store::id_of(std::string_view alipay_payment_request_id) {
  auto q = db_.query("SELECT id FROM payments WHERE alipay_payment_request_id = $1",
                     pg_params{}.add(alipay_payment_request_id));
  if (q.empty()) return std::nullopt;
  return q.int64(0, 0);
}

std::optional<payment> pg_store::find(std::string_view merchant_id, std::string_view payment_request_id) {
  static const std::string sql = payments_where("merchant_id = $1 AND payment_request_id = $2");
  return one_row(db_.query(sql, pg_params{}.add(merchant_id).add(payment_request_id)), pg_read_payment);
}

std::optional<std::int64_t> pg_store::id_of(std::string_view merchant_id,
                                            std::string_view payment_request_id) {
  auto q = db_.query("SELECT id FROM payments WHERE merchant_id = $1 AND payment_request_id = $2",
                     pg_params{}.add(merchant_id).add(payment_request_id));
  if (q.empty()) return std::nullopt;
  return q.int64(0, 0);
}

std::vector<payment> pg_store::find_any_merchant(std::string_view payment_request_id, std::size_t limit) {
  static const std::string sql = payments_where("payment_request_id = $1 ORDER BY id LIMIT $2");
  return all_rows(db_.query(sql, pg_params{}.add(payment_request_id).add(limit_of(limit))), pg_read_payment);
}

std::optional<payment> pg_store::load(std::int64_t id) {
  static const std::string sql = payments_where("id = $1");
  return one_row(db_.query(sql, pg_params{}.add(id)), pg_read_payment);
}

std::vector<deadline> pg_store::open_deadlines() {
  // Index-only over payments_open.
  auto q = db_.query("SELECT id, next_action_at, pending, poll_deadline_at FROM payments WHERE " +
                     std::string(open_rows) + " ORDER BY next_action_at");
  return all_rows(q, [](const pg_rows& r, int i) {
    return deadline{r.int64(i, 0), r.time(i, 1), checked(parse_pending_action(r.bytes(i, 2)), "pending action"),
                    r.time(i, 3)};
  });
}

std::vector<payment> pg_store::list(const list_query& lq) {
  pg_params p;
  p.add(lq.since).add(limit_of(lq.limit)).add(lq.merchant_id);
  if (lq.status) p.add(to_string(*lq.status));
  const std::string merchant = "($3::bytea = ''::bytea OR merchant_id = $3) ";
  return all_rows(db_.query(payments_where(lq.status ? "status = $4 AND created_at >= $1 AND " + merchant +
                                                            "ORDER BY created_at DESC, id DESC LIMIT $2"
                                                      : "created_at >= $1 AND " + merchant +
                                                            "ORDER BY created_at DESC, id DESC LIMIT $2"),
                            p),
                  pg_read_payment);
}

std::vector<payment> pg_store::overdue(time_point now, std::size_t limit) {
  static const std::string sql =
      payments_where(std::string(open_rows) + " AND poll_deadline_at < $1 ORDER BY poll_deadline_at LIMIT $2");
  return all_rows(db_.query(sql, pg_params{}.add(now).add(limit_of(limit))), pg_read_payment);
}

std::vector<event_record> pg_store::events_of(std::int64_t payment_id) {
  return all_rows(db_.query("SELECT id, payment_id, version, at, from_status, from_pending, to_status, "
                            "to_pending, cause, detail FROM payment_events WHERE payment_id = $1 "
                            "ORDER BY version",
                            pg_params{}.add(payment_id)),
                  event_row);
}

std::vector<call_record> pg_store::calls_of(std::int64_t payment_id) {
  return all_rows(db_.query(std::string(call_columns) + "WHERE payment_id = $1 ORDER BY id",
                            pg_params{}.add(payment_id)),
                  call_row);
}

std::vector<call_record> pg_store::calls_of_refund(std::int64_t refund_id) {
  return all_rows(db_.query(std::string(call_columns) + "WHERE refund_id = $1 ORDER BY id",
                            pg_params{}.add(refund_id)),
                  call_row);
}

std::vector<notify_record> pg_store::notifies_of(std::int64_t payment_id) {
  return all_rows(db_.query("SELECT id, coalesce(payment_id, 0), payment_request_id, body, headers, "
                            "verification, received_at, coalesce(digest, ''::bytea), body_bytes, "
                            "times_received, last_received_at FROM inbound_notifies "
                            "WHERE payment_id = $1 ORDER BY id",
                            pg_params{}.add(payment_id)),
                  notify_row);
}

std::vector<outbox_record> pg_store::outbox_of(std::int64_t payment_id) {
  return all_rows(db_.query(outbox_where("WHERE o.payment_id = $1 ORDER BY o.seq"), pg_params{}.add(payment_id)),
                  outbox_row);
}

std::vector<webhook_attempt_record> pg_store::webhook_attempts_of(std::int64_t payment_id) {
  return all_rows(db_.query("SELECT w.id, w.event_id, w.at, w.http_status, w.error, w.latency_us "
                            "FROM webhook_attempts w JOIN merchant_outbox o ON o.event_id = w.event_id "
                            "WHERE o.payment_id = $1 ORDER BY w.id",
                            pg_params{}.add(payment_id)),
                  attempt_row);
}

std::vector<anomaly_record> pg_store::anomalies(const anomaly_query& aq) {
  pg_params p;
  p.add(aq.since).add(limit_of(aq.limit));
  if (aq.payment_id != 0) p.add(aq.payment_id);
  return all_rows(db_.query(aq.payment_id != 0
                                ? "SELECT id, coalesce(payment_id, 0), kind, detail, at FROM anomalies "
                                  "WHERE payment_id = $3 AND at >= $1 ORDER BY at DESC, id DESC LIMIT $2"
                                : "SELECT id, coalesce(payment_id, 0), kind, detail, at FROM anomalies "
                                  "WHERE at >= $1 ORDER BY at DESC, id DESC LIMIT $2",
                            p),
                  anomaly_row);
}

std::vector<outbox_record> pg_store::events_feed(std::string_view merchant_id, std::int64_t after,
                                                 std::size_t limit) {
  // Each merchant's feed_seq is taken under its advisory lock, held to commit (insert_outbox),
  // so a merchant's positions are assigned in commit order.
  return all_rows(db_.query(outbox_where("WHERE o.merchant_id = $3 AND o.feed_seq > $1 ORDER BY o.feed_seq LIMIT $2"),
                            pg_params{}.add(after).add(limit_of(limit)).add(merchant_id)),
                  outbox_row);
}

namespace {

constexpr std::size_t cursor_field = 20;  // digits of each half of an all-merchants feed cursor

/// `digits` (exactly cursor_field decimal digits) as an unsigned number, or nothing.
std::optional<std::uint64_t> cursor_half(std::string_view digits) {
  std::uint64_t v = 0;
  const auto* end = digits.data() + digits.size();
  const auto [ptr, ec] = std::from_chars(digits.data(), end, v);
  if (digits.size() != cursor_field || ec != std::errc() || ptr != end) return std::nullopt;
  return v;
}

std::string zero_padded(std::string digits) {
  return std::string(cursor_field > digits.size() ? cursor_field - digits.size() : 0, '0') + digits;
}

}  // namespace

// Row ids are drawn at insert, so with several writers a lower id can commit after a higher one
// was read. Each row carries its writing transaction's id (txid, schema step feed_txid); the feed
// is ordered by (txid, id) and reads only rows of transactions below the horizon, the oldest
// transaction still running when the statement's snapshot was taken (PgQ's technique): every
// transaction below it has ended, so every row that will ever be visible there is visible now,
// and any row committed later has a txid at or above the horizon, after the cursor. The cursor
// is the last (txid, id) read, 20 digits each.
std::optional<feed_page> pg_store::events_after(std::string_view cursor, std::size_t limit) {
  std::uint64_t txid = 0;
  std::uint64_t id = 0;
  if (!cursor.empty()) {
    const auto t = cursor.size() == 2 * cursor_field ? cursor_half(cursor.substr(0, cursor_field)) : std::nullopt;
    const auto i = t ? cursor_half(cursor.substr(cursor_field)) : std::nullopt;
    if (!i || *i > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    txid = *t;
    id = *i;
  }
  const std::string txid_text = std::to_string(txid);
  auto q = db_.query("SELECT " + std::string(outbox_columns) + ", o.txid::text FROM merchant_outbox o "
                     "WHERE (o.txid, o.id) > ($1::text::xid8, $2) AND o.txid < pg_snapshot_xmin(pg_current_snapshot()) "
                     "ORDER BY o.txid, o.id LIMIT $3",
                     pg_params{}.add(std::string_view(txid_text)).add(static_cast<std::int64_t>(id)).add(limit_of(limit)));
  feed_page page{all_rows(q, outbox_row), std::string(cursor)};
  if (!page.events.empty()) {
    const int last = q.size() - 1;
    page.next = zero_padded(q.bytes(last, 14)) + zero_padded(std::to_string(page.events.back().id));
  }
  return page;
}

std::vector<outbox_record> pg_store::due_outbox(time_point now, std::size_t limit) {
  return all_rows(db_.query(outbox_where("WHERE o.state = 'pending' AND o.next_attempt_at <= $1 "
                                         "ORDER BY o.next_attempt_at LIMIT $2"),
                            pg_params{}.add(now).add(limit_of(limit))),
                  outbox_row);
}

// The shards travel as an array literal ("{1,2}") cast in SQL, as in pg_cluster.cpp.
std::vector<outbox_record> pg_store::due_outbox_of(std::span<const shard_id> shards, time_point now,
                                                   std::size_t limit) {
  std::string list = "{";
  for (const auto s : shards) list += (list.size() > 1 ? "," : "") + std::to_string(s);
  list += "}";
  return all_rows(db_.query(outbox_where("JOIN payments p ON p.id = o.payment_id "
                                         "WHERE o.state = 'pending' AND o.next_attempt_at <= $1 "
                                         "AND p.shard = ANY ($3::text::integer[]) "
                                         "ORDER BY o.next_attempt_at LIMIT $2"),
                            pg_params{}.add(now).add(limit_of(limit)).add(std::string_view(list))),
                  outbox_row);
}

std::vector<outbox_record> pg_store::dead_outbox(std::size_t limit) {
  return all_rows(db_.query(outbox_where("WHERE o.state = 'dead' ORDER BY o.id LIMIT $1"),
                            pg_params{}.add(limit_of(limit))),
                  outbox_row);
}

std::optional<outbox_record> pg_store::outbox_by_event_id(std::string_view event_id) {
  return one_row(db_.query(outbox_where("WHERE o.event_id = $1"), pg_params{}.add(event_id)), outbox_row);
}

std::int64_t pg_store::count(const std::string& sql, std::optional<time_point> now) {
  pg_params p;
  if (now) p.add(*now);
  auto q = db_.query(sql, p);
  return q.empty() ? 0 : q.int64(0, 0);
}

store_stats pg_store::stats(time_point now) {
  store_stats s;
  {
    // One row per (shard, status) on PostgreSQL (pg_schema.cpp, step shard_counts).
    auto q = db_.query("SELECT status, sum(n)::bigint FROM status_counts GROUP BY status");
    for (int r = 0; r < q.size(); ++r) {
      const std::int64_t n = q.int64(r, 1);
      switch (checked(parse_payment_status(q.bytes(r, 0)), "status")) {
        case payment_status::init:
          s.init = n;
          break;
        case payment_status::in_process:
          s.in_process = n;
          break;
        case payment_status::success:
          s.success = n;
          break;
        case payment_status::fail:
          s.fail = n;
          break;
        case payment_status::cancelled:
          s.cancelled = n;
          break;
      }
    }
  }
  const std::string open = "SELECT count(*) FROM payments WHERE " + std::string(open_rows);
  s.cancel_pending = count(open + " AND pending = 'CANCEL'");
  // Overdue: the same rule as the SQLite store's (store.hpp overdue_slack).
  s.overdue = count(open +
                        " AND ((track = 'normal' AND ((pending = 'PAY' AND expiry_at < $1)"
                        " OR (pending = 'INQUIRY' AND poll_deadline_at < $1)))"
                        " OR next_action_at < $1)",
                    now - overdue_slack);
  s.outbox_pending = count("SELECT count(*) FROM merchant_outbox WHERE state = 'pending'");
  s.outbox_dead = count("SELECT count(*) FROM merchant_outbox WHERE state = 'dead'");
  s.oldest_pending_age = duration{count(
      "SELECT $1::bigint - created_at FROM merchant_outbox WHERE id = "
      "(SELECT min(id) FROM merchant_outbox WHERE state = 'pending')",
      now)};
  s.anomalies = count("SELECT count(*) FROM anomalies");
  return s;
}

std::optional<std::string> pg_store::meta(std::string_view key) {
  return one_row(db_.query("SELECT value FROM meta WHERE key = $1", pg_params{}.add(key)),
                 [](const pg_rows& r, int i) { return r.bytes(i, 0); });
}

std::optional<commit_outcome> pg_store::check_refunds(const transition& t) {
  for (const refund_write& w : t.refunds) {
    if (t.after && t.after->id != 0 && w.after.payment_row != t.after->id) {
      throw constraint_failed("a refund inside a payment's transition belongs to that payment");
    }
    if (w.expected_version == 0) {
      auto q = db_.query("SELECT id, version FROM refunds WHERE payment_id = $1 AND refund_request_id = $2",
                         pg_params{}.add(w.after.payment_row).add(w.after.refund_request_id));
      if (!q.empty()) {
        return commit_outcome{commit_status::duplicate, w.after.payment_row, 0, {}, q.int64(0, 0), q.int64(0, 1)};
      }
      continue;
    }
    auto q = db_.query("SELECT version FROM refunds WHERE id = $1", pg_params{}.add(w.after.id));
    const std::int64_t found = q.empty() ? 0 : q.int64(0, 0);
    if (found != w.expected_version) {
      return commit_outcome{commit_status::conflict, w.after.payment_row, 0, {}, w.after.id, found};
    }
  }
  return std::nullopt;
}

void pg_store::write_refund(const refund_write& w, std::int64_t payment_id, commit_outcome& outcome) {
  pg_params p;
  add_refund(p, w.after, payment_id);
  if (w.expected_version == 0) {
    std::int64_t id = 0;
    try {
      auto q = db_.query(
          "INSERT INTO refunds (version, payment_id, refund_request_id, alipay_refund_request_id, "
          "origin, status, track, attempt, amount_minor, currency, reason, next_action_at, "
          "created_at, updated_at, request, merchant_request, refund_id, refund_time, "
          "result_status, result_code, result_message) VALUES (1, $1, $2, $3, $4, $5, $6, $7, "
          "$8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) RETURNING id",
          p);
      id = q.int64(0, 0);
    } catch (const constraint_failed& e) {
      // The trigger's names of the money rule are the caller's answer; anything else is a bug.
      const std::string what = e.what();
      for (std::string_view rule : {refund_amount_exceed, payment_not_refundable}) {
        if (what.find(rule) != std::string::npos) throw constraint_failed(std::string(rule));
      }
      throw;
    }
    outcome.refund_id = id;
    outcome.refund_version = 1;
    return;
  }
  p.add(w.after.id).add(w.expected_version);
  auto q = db_.query(
      "UPDATE refunds SET version = version + 1, payment_id = $1, refund_request_id = $2, "
      "alipay_refund_request_id = $3, origin = $4, status = $5, track = $6, attempt = $7, "
      "amount_minor = $8, currency = $9, reason = $10, next_action_at = $11, created_at = $12, "
      "updated_at = $13, request = $14, merchant_request = $15, refund_id = $16, "
      "refund_time = $17, result_status = $18, result_code = $19, result_message = $20 "
      "WHERE id = $21 AND version = $22",
      p);
  if (q.affected() != 1) throw constraint_failed("refund version changed under the writer");
  outcome.refund_id = w.after.id;
  outcome.refund_version = w.expected_version + 1;
}

std::optional<refund> pg_store::load_refund(std::int64_t id) {
  return one_row(db_.query(refunds_where("WHERE id = $1"), pg_params{}.add(id)), refund_row);
}

std::optional<refund> pg_store::find_refund(std::int64_t payment_id, std::string_view refund_request_id) {
  return one_row(db_.query(refunds_where("WHERE payment_id = $1 AND refund_request_id = $2"),
                           pg_params{}.add(payment_id).add(refund_request_id)),
                 refund_row);
}

std::optional<refund> pg_store::find_refund_by_alipay_id(std::string_view alipay_refund_request_id) {
  return one_row(db_.query(refunds_where("WHERE alipay_refund_request_id = $1"),
                           pg_params{}.add(alipay_refund_request_id)),
                 refund_row);
}

std::vector<refund> pg_store::refunds_of(std::int64_t payment_id) {
  return all_rows(db_.query(refunds_where("WHERE payment_id = $1 ORDER BY id"), pg_params{}.add(payment_id)),
                  refund_row);
}

std::vector<refund_deadline> pg_store::open_refund_deadlines() {
  return all_rows(db_.query("SELECT id, payment_id, next_action_at FROM refunds WHERE status = 'PROCESSING' "
                            "ORDER BY next_action_at, id"),
                  [](const pg_rows& r, int i) { return refund_deadline{r.int64(i, 0), r.int64(i, 1), r.time(i, 2)}; });
}

std::vector<refund_deadline> pg_store::open_refund_deadlines_of(std::span<const shard_id> shards) {
  std::string list = "{";
  for (const auto s : shards) list += (list.size() > 1 ? "," : "") + std::to_string(s);
  list += "}";
  return all_rows(db_.query("SELECT r.id, r.payment_id, r.next_action_at FROM refunds r "
                            "JOIN payments p ON p.id = r.payment_id WHERE r.status = 'PROCESSING' "
                            "AND p.shard = ANY ($1::text::integer[]) ORDER BY r.next_action_at, r.id",
                            pg_params{}.add(std::string_view(list))),
                  [](const pg_rows& r, int i) { return refund_deadline{r.int64(i, 0), r.int64(i, 1), r.time(i, 2)}; });
}

std::int64_t pg_store::refunded_or_pending(std::int64_t payment_id) {
  auto q = db_.query("SELECT coalesce(sum(amount_minor), 0) FROM refunds WHERE payment_id = $1 AND status <> 'FAIL'",
                     pg_params{}.add(payment_id));
  return q.empty() ? 0 : q.int64(0, 0);
}

}  // namespace cashier::store
