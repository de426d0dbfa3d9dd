// The read side of the SQLite store: queries and row decoding. Every row read is checked on the
// way in (known status names, a valid currency): a value this build cannot interpret is a
// corrupt database, reported as store_error, never guessed at.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>

#include "state/store/sqlite_payment_row.hpp"
#include "state/store/sqlite_store_impl.hpp"

namespace cashier::store {
namespace {

constexpr std::string_view outbox_columns =
    "o.id, o.event_id, o.payment_id, o.seq, o.type, o.payload, o.target_url, o.attempts, "
    "o.next_attempt_at, o.state, o.last_status, o.last_error, o.created_at, o.feed_seq";

// The recovery predicate; the partial index payments_open is defined with the same text.
constexpr std::string_view open_rows = "(status IN ('INIT', 'IN_PROCESS') OR pending <> '')";

std::string payments_where(std::string_view tail) {
  return select_payment_sql() + "WHERE " + std::string(tail);
}

std::string outbox_where(std::string_view tail) {
  return "SELECT " + std::string(outbox_columns) + " FROM merchant_outbox o " + std::string(tail);
}

template <class T>
T checked(std::optional<T> v, std::string_view what) {
  if (!v)
    throw store_error(store_failure::corrupt,
                      "unreadable " + std::string(what) + " in the database");
  return *v;
}

event_record event_row(const sqlite_statement& q) {
  event_record e;
  e.id = q.int64(0);
  e.payment_id = q.int64(1);
  e.version = q.int64(2);
  e.at = q.time(3);
  if (!q.is_null(4)) {
    e.from_status = checked(parse_payment_status(q.bytes(4)), "status");
    e.from_pending = checked(parse_pending_action(q.bytes(5)), "pending action");
  }
  e.to_status = checked(parse_payment_status(q.bytes(6)), "status");
  e.to_pending = checked(parse_pending_action(q.bytes(7)), "pending action");
  e.cause = q.bytes(8);
  e.detail = q.bytes(9);
  return e;
}

call_record call_row(const sqlite_statement& q) {
  return {q.int64(0), q.int64(1), q.bytes(2), q.bytes(3), q.bytes(4), q.int32(5),
          q.bytes(6), q.bytes(7), q.bytes(8), q.time(9),  q.int64(10), q.int64(11)};
}

notify_record notify_row(const sqlite_statement& q) {
  return {q.int64(0), q.int64(1), q.bytes(2), q.bytes(3), q.bytes(4),  q.bytes(5),
          q.time(6),  q.bytes(7), q.int64(8), q.int64(9), q.time(10)};
}

outbox_record outbox_row(const sqlite_statement& q) {
  return {q.int64(0),  q.bytes(1),
          q.int64(2),  q.int32(3),
          q.bytes(4),  q.bytes(5),
          q.bytes(6),  q.int32(7),
          q.time(8),   checked(parse_outbox_state(q.bytes(9)), "outbox state"),
          q.int32(10), q.bytes(11),
          q.time(12),  q.int64(13)};
}

webhook_attempt_record attempt_row(const sqlite_statement& q) {
  return {q.int64(0), q.bytes(1), q.time(2), q.int32(3), q.bytes(4), q.int64(5)};
}

anomaly_record anomaly_row(const sqlite_statement& q) {
  return {q.int64(0), q.int64(1), q.bytes(2), q.bytes(3), q.time(4)};
}

template <class Decode>
auto all_rows(sqlite_statement& q, Decode decode) {
  std::vector<decltype(decode(q))> rows;
  while (q.step()) rows.push_back(decode(q));
  return rows;
}

template <class Decode>
auto one_row(sqlite_statement& q, Decode decode) -> std::optional<decltype(decode(q))> {
  if (!q.step()) return std::nullopt;
  return decode(q);
}

std::int64_t limit_of(std::size_t limit) {
  return static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX));
}

}  // namespace

std::optional<payment> sqlite_store::find(std::string_view alipay_payment_request_id) {
  static const std::string sql = payments_where("alipay_payment_request_id = ?1");
  auto q = db_.query(sql);
  q.bind(1, alipay_payment_request_id);
  return one_row(q, read_payment);
}

std::optional<payment> sqlite_store::find_by_checkout(std::string_view checkout_id) {
  // The second term is the partial index's own condition: without it SQLite cannot use the
  // index for a bound parameter and would scan the table.
  static const std::string sql = payments_where("checkout_id = ?1 AND checkout_id <> ''");
  if (checkout_id.empty()) return std::nullopt;
  auto q = db_.query(sql);
  q.bind(1, checkout_id);
  return one_row(q, read_payment);
}

std::optional<std::int64_t> sqlite_store::id_of(std::string_view alipay_payment_request_id) {
  // Answered from the UNIQUE index on alipay_payment_request_id alone (it holds the row id).
  auto q = db_.query("SELECT id FROM payments WHERE alipay_payment_request_id = ?1");
  q.bind(1, alipay_payment_request_id);
  if (!q.step()) return std::nullopt;
  return q.int64(0);
}

std::optional<payment> sqlite_store::find(std::string_view merchant_id,
                                          std::string_view payment_request_id) {
  static const std::string sql = payments_where("merchant_id = ?1 AND payment_request_id = ?2");
  auto q = db_.query(sql);
  q.bind(1, merchant_id).bind(2, payment_request_id);
  return one_row(q, read_payment);
}

std::optional<std::int64_t> sqlite_store::id_of(std::string_view merchant_id,
                                                std::string_view payment_request_id) {
  // Answered from the UNIQUE index on (payment_request_id, merchant_id) alone.
  auto q = db_.query("SELECT id FROM payments WHERE merchant_id = ?1 AND payment_request_id = ?2");
  q.bind(1, merchant_id).bind(2, payment_request_id);
  if (!q.step()) return std::nullopt;
  return q.int64(0);
}

std::vector<payment> sqlite_store::find_any_merchant(std::string_view payment_request_id,
                                                     std::size_t limit) {
  // The leading column of the unique index on (payment_request_id, merchant_id).
  static const std::string sql = payments_where("payment_request_id = ?1 ORDER BY id LIMIT ?2");
  auto q = db_.query(sql);
  q.bind(1, payment_request_id).bind(2, limit_of(limit));
  return all_rows(q, read_payment);
}

std::optional<payment> sqlite_store::load(std::int64_t id) {
  auto q = db_.query(select_payment_by_id_sql());
  q.bind(1, id);
  return one_row(q, read_payment);
}

std::vector<deadline> sqlite_store::open_deadlines() {
  std::vector<deadline> rows;
  // Sized up front from the status counts (open payments, but for the few final ones with a
  // cancel pending): a million rows are not copied through twenty reallocations.
  if (auto c = db_.query("SELECT sum(n) FROM status_counts WHERE status IN ('INIT', 'IN_PROCESS')"); c.step())
    rows.reserve(static_cast<std::size_t>(std::max<std::int64_t>(c.int64(0), 0)));
  // Every column comes from the covering index payments_open: the table is never read.
  auto q = db_.query("SELECT id, next_action_at, pending, poll_deadline_at FROM payments WHERE " +
                     std::string(open_rows) + " ORDER BY next_action_at");
  while (q.step())
    rows.push_back({q.int64(0), q.time(1), checked(parse_pending_action(q.view(2)), "pending action"), q.time(3)});
  return rows;
}

std::vector<payment> sqlite_store::list(const list_query& lq) {
  // Two statements, so each can walk its index in the order asked for.
  // A merchant filter (?4, '' = all) narrows the walk; operators' lists only.
  auto q = db_.query(payments_where(lq.status ? "status = ?1 AND created_at >= ?2 "
                                                "AND (?4 = '' OR merchant_id = ?4) "
                                                "ORDER BY created_at DESC, id DESC LIMIT ?3"
                                              : "created_at >= ?2 AND (?4 = '' OR merchant_id = ?4) "
                                                "ORDER BY created_at DESC, id DESC LIMIT ?3"));
  if (lq.status) q.bind(1, to_string(*lq.status));
  q.bind(2, lq.since).bind(3, limit_of(lq.limit)).bind(4, lq.merchant_id);
  return all_rows(q, read_payment);
}

std::vector<payment> sqlite_store::overdue(time_point now, std::size_t limit) {
  auto q = db_.query(payments_where(
      std::string(open_rows) + " AND poll_deadline_at < ?1 ORDER BY poll_deadline_at LIMIT ?2"));
  q.bind(1, now).bind(2, limit_of(limit));
  return all_rows(q, read_payment);
}

std::vector<event_record> sqlite_store::events_of(std::int64_t payment_id) {
  auto q = db_.query(
      "SELECT id, payment_id, version, at, from_status, from_pending, to_status, to_pending, "
      "cause, detail FROM payment_events WHERE payment_id = ?1 ORDER BY version");
  q.bind(1, payment_id);
  return all_rows(q, event_row);
}

std::vector<call_record> sqlite_store::calls_of(std::int64_t payment_id) {
  auto q = db_.query(
      "SELECT id, coalesce(payment_id, 0), api, request_body, request_headers, http_status, "
      "response_body, response_headers, outcome, started_at, latency_us, "
      "coalesce(refund_id, 0) FROM aplus_calls WHERE payment_id = ?1 ORDER BY id");
  q.bind(1, payment_id);
  return all_rows(q, call_row);
}

std::vector<call_record> sqlite_store::calls_of_refund(std::int64_t refund_id) {
  auto q = db_.query(
      "SELECT id, coalesce(payment_id, 0), api, request_body, request_headers, http_status, "
      "response_body, response_headers, outcome, started_at, latency_us, "
      "coalesce(refund_id, 0) FROM aplus_calls WHERE refund_id = ?1 ORDER BY id");
  q.bind(1, refund_id);
  return all_rows(q, call_row);
}

std::vector<notify_record> sqlite_store::notifies_of(std::int64_t payment_id) {
  auto q = db_.query(
      "SELECT id, coalesce(payment_id, 0), payment_request_id, body, headers, verification, "
      "received_at, coalesce(digest, x''), body_bytes, times_received, last_received_at "
      "FROM inbound_notifies WHERE payment_id = ?1 ORDER BY id");
  q.bind(1, payment_id);
  return all_rows(q, notify_row);
}

std::vector<outbox_record> sqlite_store::outbox_of(std::int64_t payment_id) {
  auto q = db_.query(outbox_where("WHERE o.payment_id = ?1 ORDER BY o.seq"));
  q.bind(1, payment_id);
  return all_rows(q, outbox_row);
}

std::vector<webhook_attempt_record> sqlite_store::webhook_attempts_of(std::int64_t payment_id) {
  auto q = db_.query(
      "SELECT w.id, w.event_id, w.at, w.http_status, w.error, w.latency_us FROM webhook_attempts w "
      "JOIN merchant_outbox o ON o.event_id = w.event_id WHERE o.payment_id = ?1 ORDER BY w.id");
  q.bind(1, payment_id);
  return all_rows(q, attempt_row);
}

std::vector<anomaly_record> sqlite_store::anomalies(const anomaly_query& aq) {
  auto q = db_.query(aq.payment_id != 0
                         ? "SELECT id, coalesce(payment_id, 0), kind, detail, at FROM anomalies "
                           "WHERE payment_id = ?1 AND at >= ?2 ORDER BY at DESC, id DESC LIMIT ?3"
                         : "SELECT id, coalesce(payment_id, 0), kind, detail, at FROM anomalies "
                           "WHERE at >= ?2 ORDER BY at DESC, id DESC LIMIT ?3");
  if (aq.payment_id != 0) q.bind(1, aq.payment_id);
  q.bind(2, aq.since).bind(3, limit_of(aq.limit));
  return all_rows(q, anomaly_row);
}

std::vector<outbox_record> sqlite_store::events_feed(std::string_view merchant_id,
                                                     std::int64_t after, std::size_t limit) {
  // A merchant's feed walks its own sequence (index merchant_outbox_feed).
  auto q = db_.query(outbox_where("WHERE o.merchant_id = ?3 AND o.feed_seq > ?1 ORDER BY o.feed_seq LIMIT ?2"));
  q.bind(1, after).bind(2, limit_of(limit)).bind(3, merchant_id);
  return all_rows(q, outbox_row);
}

// SQLite assigns row ids under its single write lock, so id order is commit order and the
// cursor is the last id read, as decimal digits.
std::optional<feed_page> sqlite_store::events_after(std::string_view cursor, std::size_t limit) {
  std::int64_t after = 0;
  if (!cursor.empty()) {
    const auto* end = cursor.data() + cursor.size();
    const auto [ptr, ec] = std::from_chars(cursor.data(), end, after);
    if (ec != std::errc() || ptr != end || after < 0 || cursor.front() == '+') return std::nullopt;
  }
  auto q = db_.query(outbox_where("WHERE o.id > ?1 ORDER BY o.id LIMIT ?2"));
  q.bind(1, after).bind(2, limit_of(limit));
  feed_page page{all_rows(q, outbox_row), std::string(cursor)};
  if (!page.events.empty()) page.next = std::to_string(page.events.back().id);
  return page;
}

std::vector<outbox_record> sqlite_store::due_outbox(time_point now, std::size_t limit) {
  auto q = db_.query(outbox_where(
      "WHERE o.state = 'pending' AND o.next_attempt_at <= ?1 ORDER BY o.next_attempt_at LIMIT ?2"));
  q.bind(1, now).bind(2, limit_of(limit));
  return all_rows(q, outbox_row);
}

// The shards travel as a JSON array ("[1,2]"): one prepared statement for any set of them.
std::vector<outbox_record> sqlite_store::due_outbox_of(std::span<const shard_id> shards, time_point now,
                                                       std::size_t limit) {
  std::string list = "[";
  for (const auto s : shards) list += (list.size() > 1 ? "," : "") + std::to_string(s);
  list += "]";
  auto q = db_.query(outbox_where(
      "JOIN payments p ON p.id = o.payment_id WHERE o.state = 'pending' AND o.next_attempt_at <= ?1 "
      "AND p.shard IN (SELECT value FROM json_each(?3)) ORDER BY o.next_attempt_at LIMIT ?2"));
  q.bind(1, now).bind(2, limit_of(limit)).bind(3, std::string_view(list));
  return all_rows(q, outbox_row);
}

std::vector<outbox_record> sqlite_store::dead_outbox(std::size_t limit) {
  auto q = db_.query(outbox_where("WHERE o.state = 'dead' ORDER BY o.id LIMIT ?1"));
  q.bind(1, limit_of(limit));
  return all_rows(q, outbox_row);
}

std::optional<outbox_record> sqlite_store::outbox_by_event_id(std::string_view event_id) {
  auto q = db_.query(outbox_where("WHERE o.event_id = ?1"));
  q.bind(1, event_id);
  return one_row(q, outbox_row);
}

std::int64_t sqlite_store::count(std::string_view sql, std::optional<time_point> now) {
  auto q = db_.query(sql);
  if (now) q.bind(1, *now);
  return q.step() ? q.int64(0) : 0;
}

store_stats sqlite_store::stats(time_point now) {
  store_stats s;
  {
    auto q = db_.query("SELECT status, n FROM status_counts");
    while (q.step()) {
      auto status = checked(parse_payment_status(q.bytes(0)), "status");
      std::int64_t n = q.int64(1);
      switch (status) {
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
  // Overdue: cashierd itself left it behind. A cut-off passed with no last look taken (track
  // 'normal' still paying or polling), or any armed timer far overdue. A slow path, a parked
  // payment, a cancel being retried or confirmed are under way, not overdue.
  s.overdue = count(open +
                        " AND ((track = 'normal' AND ((pending = 'PAY' AND expiry_at < ?1)"
                        " OR (pending = 'INQUIRY' AND poll_deadline_at < ?1)))"
                        " OR next_action_at < ?1)",
                    now - overdue_slack);
  s.outbox_pending = count("SELECT count(*) FROM merchant_outbox WHERE state = 'pending'");
  s.outbox_dead = count("SELECT count(*) FROM merchant_outbox WHERE state = 'dead'");
  std::int64_t oldest = count(
      "SELECT ?1 - created_at FROM merchant_outbox WHERE id = "
      "(SELECT min(id) FROM merchant_outbox WHERE state = 'pending')",
      now);
  s.oldest_pending_age = duration{oldest};
  s.anomalies = count("SELECT count(*) FROM anomalies");
  return s;
}

std::optional<std::string> sqlite_store::meta(std::string_view key) {
  auto q = db_.query("SELECT value FROM meta WHERE key = ?1");
  q.bind(1, key);
  return one_row(q, [](const sqlite_statement& r) { return r.bytes(0); });
}

}  // namespace cashier::store
