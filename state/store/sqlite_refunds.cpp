// The SQLite store's refunds (refund_records.hpp): writing them inside a transition (insert or
// compare-and-set update, checked before the transition writes anything) and reading them back.
// The money rule (refunds not FAIL ≤ the payment's amount, only SUCCESS payments with nothing
// pending) is the `refunds` table's triggers (schema step "refunds"): they run inside the INSERT,
// under the writer's IMMEDIATE lock, so no interleaving of two connections can break it.
#include <string>

#include "state/store/sqlite_store_impl.hpp"

namespace cashier::store {
namespace {

constexpr std::string_view refund_columns =
    "id, version, payment_id, refund_request_id, alipay_refund_request_id, origin, status, track, "
    "attempt, amount_minor, currency, reason, next_action_at, created_at, updated_at, request, "
    "merchant_request, refund_id, refund_time, result_status, result_code, result_message";

std::string select_refunds(std::string_view tail) {
  return "SELECT " + std::string(refund_columns) + " FROM refunds " + std::string(tail);
}

template <class T>
T must(std::optional<T> v, std::string_view what) {
  if (!v) throw store_error(store_failure::corrupt, "unreadable refund " + std::string(what));
  return std::move(*v);
}

refund refund_row(const sqlite_statement& q) {
  refund r;
  r.id = q.int64(0);
  r.version = q.int64(1);
  r.payment_row = q.int64(2);
  r.refund_request_id = q.bytes(3);
  r.alipay_refund_request_id = q.bytes(4);
  r.origin = must(parse_refund_origin(q.view(5)), "origin");
  r.status = must(parse_refund_status(q.view(6)), "status");
  r.track = must(parse_refund_track(q.view(7)), "track");
  r.attempt = q.int32(8);
  r.amount = money{q.int64(9), must(currency_code::parse(q.view(10)), "currency")};
  r.reason = q.bytes(11);
  r.next_action_at = q.time(12);
  r.created_at = q.time(13);
  r.updated_at = q.time(14);
  r.request = q.bytes(15);
  r.merchant_request = q.bytes(16);
  r.refund_id = q.bytes(17);
  r.refund_time = q.bytes(18);
  if (!q.is_null(19)) {
    const std::string status = q.bytes(19);
    r.result = aplus_result{q.bytes(20), status.empty() ? 'U' : status[0], q.bytes(21)};
  }
  return r;
}

// Binds the refund's columns as ?1..?21 (everything but id and version), in refund_columns order.
void bind_refund(sqlite_statement& q, const refund& r, std::int64_t payment_id) {
  q.bind(1, payment_id).bind(2, r.refund_request_id).bind(3, r.alipay_refund_request_id);
  q.bind(4, to_string(r.origin)).bind(5, to_string(r.status)).bind(6, to_string(r.track));
  q.bind(7, std::int64_t{r.attempt}).bind(8, r.amount.minor_units).bind(9, r.amount.currency.view());
  q.bind(10, r.reason).bind(11, r.next_action_at).bind(12, r.created_at).bind(13, r.updated_at);
  q.bind_blob(14, r.request).bind_blob(15, r.merchant_request).bind(16, r.refund_id);
  q.bind(17, r.refund_time);
  if (r.result) {
    q.bind(18, std::string_view(&r.result->status, 1)).bind(19, r.result->code).bind(20, r.result->message);
  } else {
    q.bind_null(18).bind_null(19).bind_null(20);
  }
}

}  // namespace

std::optional<commit_outcome> sqlite_store::check_refunds(const transition& t) {
  for (const refund_write& w : t.refunds) {
    if (t.after && t.after->id != 0 && w.after.payment_row != t.after->id) {
      throw constraint_failed("a refund inside a payment's transition belongs to that payment");
    }
    if (w.expected_version == 0) {
      auto q = db_.query(
          "SELECT id, version FROM refunds WHERE payment_id = ?1 AND refund_request_id = ?2");
      q.bind(1, w.after.payment_row).bind(2, w.after.refund_request_id);
      if (q.step()) {
        return commit_outcome{commit_status::duplicate, w.after.payment_row, 0, {}, q.int64(0),
                              q.int64(1)};
      }
      continue;
    }
    auto q = db_.query("SELECT version FROM refunds WHERE id = ?1");
    q.bind(1, w.after.id);
    const std::int64_t found = q.step() ? q.int64(0) : 0;
    if (found != w.expected_version) {
      return commit_outcome{commit_status::conflict, w.after.payment_row, 0, {}, w.after.id, found};
    }
  }
  return std::nullopt;
}

void sqlite_store::write_refund(const refund_write& w, std::int64_t payment_id,
                                commit_outcome& outcome) {
  if (w.expected_version == 0) {
    try {
      auto q = db_.query(
          "INSERT INTO refunds (version, payment_id, refund_request_id, alipay_refund_request_id, "
          "origin, status, track, attempt, amount_minor, currency, reason, next_action_at, "
          "created_at, updated_at, request, merchant_request, refund_id, refund_time, "
          "result_status, result_code, result_message) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, "
          "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)");
      bind_refund(q, w.after, payment_id);
      q.run();
    } catch (const constraint_failed& e) {
      // The triggers' names of the money rule are the caller's answer; anything else is a bug.
      const std::string what = e.what();
      for (std::string_view rule : {refund_amount_exceed, payment_not_refundable}) {
        if (what.find(rule) != std::string::npos) throw constraint_failed(std::string(rule));
      }
      throw;
    }
    outcome.refund_id = db_.last_insert_rowid();
    outcome.refund_version = 1;
    return;
  }
  auto q = db_.query(
      "UPDATE refunds SET version = version + 1, payment_id = ?1, refund_request_id = ?2, "
      "alipay_refund_request_id = ?3, origin = ?4, status = ?5, track = ?6, attempt = ?7, "
      "amount_minor = ?8, currency = ?9, reason = ?10, next_action_at = ?11, created_at = ?12, "
      "updated_at = ?13, request = ?14, merchant_request = ?15, refund_id = ?16, "
      "refund_time = ?17, result_status = ?18, result_code = ?19, result_message = ?20 "
      "WHERE id = ?21 AND version = ?22");
  bind_refund(q, w.after, payment_id);
  q.bind(21, w.after.id).bind(22, w.expected_version);
  q.run();
  if (db_.changes() != 1) throw constraint_failed("refund version changed under the writer");
  outcome.refund_id = w.after.id;
  outcome.refund_version = w.expected_version + 1;
}

std::optional<refund> sqlite_store::load_refund(std::int64_t id) {
  auto q = db_.query(select_refunds("WHERE id = ?1"));
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return refund_row(q);
}

std::optional<refund> sqlite_store::find_refund(std::int64_t payment_id,
                                                std::string_view refund_request_id) {
  auto q = db_.query(select_refunds("WHERE payment_id = ?1 AND refund_request_id = ?2"));
  q.bind(1, payment_id).bind(2, refund_request_id);
  if (!q.step()) return std::nullopt;
  return refund_row(q);
}

std::optional<refund> sqlite_store::find_refund_by_alipay_id(
    std::string_view alipay_refund_request_id) {
  auto q = db_.query(select_refunds("WHERE alipay_refund_request_id = ?1"));
  q.bind(1, alipay_refund_request_id);
  if (!q.step()) return std::nullopt;
  return refund_row(q);
}

std::vector<refund> sqlite_store::refunds_of(std::int64_t payment_id) {
  auto q = db_.query(select_refunds("WHERE payment_id = ?1 ORDER BY id"));
  q.bind(1, payment_id);
  std::vector<refund> out;
  while (q.step()) out.push_back(refund_row(q));
  return out;
}

std::vector<refund_deadline> sqlite_store::open_refund_deadlines() {
  auto q = db_.query(
      "SELECT id, payment_id, next_action_at FROM refunds WHERE status = 'PROCESSING' "
      "ORDER BY next_action_at, id");
  std::vector<refund_deadline> out;
  while (q.step()) out.push_back({q.int64(0), q.int64(1), q.time(2)});
  return out;
}

std::vector<refund_deadline> sqlite_store::open_refund_deadlines_of(std::span<const shard_id> shards) {
  std::string list = "[";
  for (const auto s : shards) list += (list.size() > 1 ? "," : "") + std::to_string(s);
  list += "]";
  auto q = db_.query(
      "SELECT r.id, r.payment_id, r.next_action_at FROM refunds r JOIN payments p ON p.id = r.payment_id "
      "WHERE r.status = 'PROCESSING' AND p.shard IN (SELECT value FROM json_each(?1)) "
      "ORDER BY r.next_action_at, r.id");
  q.bind(1, std::string_view(list));
  std::vector<refund_deadline> out;
  while (q.step()) out.push_back({q.int64(0), q.int64(1), q.time(2)});
  return out;
}

std::int64_t sqlite_store::refunded_or_pending(std::int64_t payment_id) {
  auto q = db_.query(
      "SELECT coalesce(sum(amount_minor), 0) FROM refunds WHERE payment_id = ?1 AND status <> 'FAIL'");
  q.bind(1, payment_id);
  return q.step() ? q.int64(0) : 0;
}

}  // namespace cashier::store
