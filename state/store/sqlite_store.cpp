// The SQLite store: opening (pragmas, migrations) and the write path. A batch is one IMMEDIATE
// transaction, so it costs one durable commit however many transitions it holds; each transition
// runs inside its own SAVEPOINT, so a lost compare-and-set, a duplicate create or a broken
// constraint rolls back that transition alone. Engine failures roll back the whole batch and
// throw store_error: a batch is never half-written.
#include <string>

#include "state/store/schema.hpp"
#include "state/store/sqlite_store_impl.hpp"

namespace cashier::store {
namespace {

// Parameters ?1..?30 of both payment statements; ?31 = id and ?32 = expected version (update).
constexpr std::string_view insert_payment_sql = R"sql(
INSERT INTO payments (version, payment_request_id, merchant_id, status, pending, cancel_abandoned,
  attempt, event_seq, amount_minor, currency, expiry_at, poll_deadline_at, next_action_at,
  last_hint_inquiry_at, created_at, updated_at, pay_request, merchant_request, merchant_notify_url,
  aplus_payment_id, normal_url, payment_data, wallet_brand_name, customer_id, payment_time,
  settlement_minor, settlement_currency, result_code, result_status, result_message, cancel_reason)
VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
  ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)
ON CONFLICT (payment_request_id) DO NOTHING)sql";

// Immutable columns are not written; RETURNING hands them back so they can be checked.
constexpr std::string_view update_payment_sql = R"sql(
UPDATE payments SET version = version + 1, status = ?3, pending = ?4, cancel_abandoned = ?5,
  attempt = ?6, event_seq = ?7, poll_deadline_at = ?11, next_action_at = ?12,
  last_hint_inquiry_at = ?13, updated_at = ?15, aplus_payment_id = ?19, normal_url = ?20,
  payment_data = ?21, wallet_brand_name = ?22, customer_id = ?23, payment_time = ?24,
  settlement_minor = ?25, settlement_currency = ?26, result_code = ?27, result_status = ?28,
  result_message = ?29, cancel_reason = ?30
WHERE id = ?31 AND version = ?32
RETURNING version, payment_request_id, merchant_id, amount_minor, currency, expiry_at, created_at,
  pay_request, merchant_request, merchant_notify_url)sql";

void bind_payment(sqlite_statement& q, const payment& p) {
  q.bind(1, p.payment_request_id).bind(2, p.merchant_id).bind(3, to_string(p.status));
  q.bind(4, to_string(p.pending)).bind(5, std::int64_t{p.cancel_abandoned});
  q.bind(6, std::int64_t{p.attempt}).bind(7, std::int64_t{p.event_seq});
  q.bind(8, p.amount.minor_units).bind(9, p.amount.currency.view());
  q.bind(10, p.expiry_at).bind(11, p.poll_deadline_at).bind(12, p.next_action_at);
  q.bind(13, p.last_hint_inquiry_at).bind(14, p.created_at).bind(15, p.updated_at);
  q.bind_blob(16, p.pay_request).bind_blob(17, p.merchant_request);
  q.bind(18, p.merchant_notify_url).bind(19, p.payment_id).bind(20, p.normal_url);
  q.bind(21, p.payment_data).bind(22, p.wallet_brand_name).bind(23, p.customer_id);
  q.bind(24, p.payment_time).bind(30, p.cancel_reason);
  if (p.settlement_amount) {
    q.bind(25, p.settlement_amount->minor_units).bind(26, p.settlement_amount->currency.view());
  }
  if (p.result) {
    q.bind(27, p.result->code).bind(28, std::string_view(&p.result->status, 1));
    q.bind(29, p.result->message);
  }
  // Unbound parameters are NULL: no settlement amount, no result.
}

// The name of the first immutable column whose stored value differs from `p`, or "".
std::string_view changed_immutable(const sqlite_statement& r, const payment& p) {
  if (r.bytes(1) != p.payment_request_id) return "payment_request_id";
  if (r.bytes(2) != p.merchant_id) return "merchant_id";
  if (r.int64(3) != p.amount.minor_units || r.bytes(4) != p.amount.currency.view()) return "amount";
  if (r.time(5) != p.expiry_at) return "expiry_at";
  if (r.time(6) != p.created_at) return "created_at";
  if (r.bytes(7) != p.pay_request) return "pay_request";
  if (r.bytes(8) != p.merchant_request) return "merchant_request";
  if (r.bytes(9) != p.merchant_notify_url) return "merchant_notify_url";
  return "";
}

const char* synchronous_pragma(sync_mode mode) {
  switch (mode) {
    case sync_mode::full: return "PRAGMA synchronous = FULL";
    case sync_mode::normal: return "PRAGMA synchronous = NORMAL";
  }
  return "PRAGMA synchronous = FULL";
}

}  // namespace

std::unique_ptr<payment_store> open_sqlite_store(const std::string& path,
                                                 const sqlite_options& options) {
  return std::make_unique<sqlite_store>(path, options);
}

sqlite_store::sqlite_store(const std::string& path, const sqlite_options& options)
    : db_(path, options.read_only), read_only_(options.read_only) {
  configure(options);
  if (read_only_) {
    check_schema(db_);
  } else {
    migrate(db_);
  }
}

void sqlite_store::configure(const sqlite_options& options) {
  db_.exec(("PRAGMA busy_timeout = " + std::to_string(options.busy_timeout_ms)).c_str());
  if (read_only_) {
    db_.exec("PRAGMA query_only = ON");
    return;
  }
  {
    auto q = db_.query("PRAGMA journal_mode = WAL");
    if (!q.step() || q.bytes(0) != "wal") {
      throw store_error(store_failure::internal, "cannot switch the database to WAL mode");
    }
  }
  db_.exec(synchronous_pragma(options.synchronous));
  // Savepoint journals stay in memory: a rolled-back transition must not cost a temp file.
  db_.exec("PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY");
}

void sqlite_store::require_writable() const {
  if (read_only_) throw store_error(store_failure::read_only, "the store was opened read-only");
}

std::vector<commit_outcome> sqlite_store::commit(std::span<const transition> batch) {
  require_writable();
  std::vector<commit_outcome> outcomes;
  outcomes.reserve(batch.size());
  try {
    db_.query("BEGIN IMMEDIATE").run();
    for (const auto& t : batch) outcomes.push_back(apply_in_savepoint(t));
    db_.query("COMMIT").run();
  } catch (const constraint_failed& e) {
    db_.rollback_quietly();  // a constraint at COMMIT: no transition of the batch is kept
    throw store_error(store_failure::internal, e.what());
  } catch (...) {
    db_.rollback_quietly();
    throw;
  }
  return outcomes;
}

commit_outcome sqlite_store::apply_in_savepoint(const transition& t) {
  db_.query("SAVEPOINT transition").run();
  commit_outcome outcome;
  try {
    outcome = apply(t);
  } catch (const constraint_failed& e) {
    outcome = {commit_status::rejected, t.after ? t.after->id : 0, 0, e.what()};
  }
  if (outcome.status != commit_status::committed) db_.query("ROLLBACK TO transition").run();
  db_.query("RELEASE transition").run();
  return outcome;
}

commit_outcome sqlite_store::apply(const transition& t) {
  commit_outcome outcome{commit_status::committed, 0, 0, {}};
  if (t.after) {
    outcome = t.expected_version == 0 ? insert_payment(*t.after)
                                      : update_payment(*t.after, t.expected_version);
    if (outcome.status != commit_status::committed) return outcome;
  } else if (t.event) {
    throw constraint_failed("an event record needs the payment it changes");
  }
  // Inside a transition with a payment, every record belongs to that payment.
  auto owner = [&](std::int64_t record_payment) { return t.after ? outcome.payment_id : record_payment; };
  if (t.event) insert_event(*t.event, *t.after, outcome.payment_id, outcome.version);
  for (const auto& o : t.outbox) insert_outbox(o, owner(o.payment_id));
  for (const auto& d : t.deliveries) update_delivery(d);
  for (const auto& c : t.calls) insert_call(c, owner(c.payment_id));
  for (const auto& n : t.notifies) insert_notify(n, owner(n.payment_id));
  for (const auto& w : t.webhook_attempts) insert_webhook_attempt(w);
  for (const auto& a : t.anomalies) insert_anomaly(a, owner(a.payment_id));
  return outcome;
}

commit_outcome sqlite_store::insert_payment(const payment& p) {
  {
    auto q = db_.query(insert_payment_sql);
    bind_payment(q, p);
    q.run();
  }
  if (db_.changes() == 1) return {commit_status::committed, db_.last_insert_rowid(), 1, {}};
  auto q = db_.query("SELECT id, version FROM payments WHERE payment_request_id = ?1");
  q.bind(1, p.payment_request_id);
  if (!q.step()) throw store_error(store_failure::internal, "insert ignored but no payment found");
  return {commit_status::duplicate, q.int64(0), q.int64(1), {}};
}

commit_outcome sqlite_store::update_payment(const payment& p, std::int64_t expected_version) {
  {
    auto q = db_.query(update_payment_sql);
    bind_payment(q, p);
    q.bind(31, p.id).bind(32, expected_version);
    if (q.step()) {
      std::string_view changed = changed_immutable(q, p);
      if (!changed.empty()) throw constraint_failed("immutable field changed: " + std::string(changed));
      std::int64_t version = q.int64(0);
      q.run();  // run the statement to its end: the update is complete only then
      return {commit_status::committed, p.id, version, {}};
    }
  }
  auto q = db_.query("SELECT version FROM payments WHERE id = ?1");
  q.bind(1, p.id);
  return {commit_status::conflict, p.id, q.step() ? q.int64(0) : 0, {}};
}

void sqlite_store::insert_event(const event_record& e, const payment& p, std::int64_t id,
                                std::int64_t version) {
  if (e.to_status != p.status || e.to_pending != p.pending) {
    throw constraint_failed("event to-state differs from the payment's state");
  }
  auto q = db_.query(
      "INSERT INTO payment_events (payment_id, version, at, from_status, from_pending, to_status, "
      "to_pending, cause, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  q.bind(1, id).bind(2, version).bind(3, e.at);
  if (e.from_status) q.bind(4, to_string(*e.from_status)).bind(5, to_string(e.from_pending));
  q.bind(6, to_string(e.to_status)).bind(7, to_string(e.to_pending));
  q.bind(8, e.cause).bind(9, e.detail).run();
}

void sqlite_store::insert_outbox(const outbox_record& o, std::int64_t payment_id) {
  auto q = db_.query(
      "INSERT INTO merchant_outbox (event_id, payment_id, seq, type, payload, target_url, "
      "attempts, next_attempt_at, state, last_status, last_error, created_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  q.bind(1, o.event_id).bind(2, payment_id).bind(3, std::int64_t{o.seq}).bind(4, o.type);
  q.bind(5, o.payload).bind(6, o.target_url).bind(7, std::int64_t{o.attempts});
  q.bind(8, o.next_attempt_at).bind(9, to_string(o.state)).bind(10, std::int64_t{o.last_status});
  q.bind(11, o.last_error).bind(12, o.created_at).run();
}

void sqlite_store::update_delivery(const outbox_progress& d) {
  {
    auto q = db_.query(
        "UPDATE merchant_outbox SET attempts = ?2, next_attempt_at = ?3, state = ?4, "
        "last_status = ?5, last_error = ?6 WHERE event_id = ?1");
    q.bind(1, d.event_id).bind(2, std::int64_t{d.attempts}).bind(3, d.next_attempt_at);
    q.bind(4, to_string(d.state)).bind(5, std::int64_t{d.last_status}).bind(6, d.last_error).run();
  }
  if (db_.changes() != 1) throw constraint_failed("no merchant event " + d.event_id);
}

void sqlite_store::insert_call(const call_record& c, std::int64_t payment_id) {
  auto q = db_.query(
      "INSERT INTO aplus_calls (payment_id, api, request_body, request_headers, http_status, "
      "response_body, response_headers, outcome, started_at, latency_us) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  q.bind_id(1, payment_id).bind(2, c.api).bind_blob(3, c.request_body);
  q.bind_blob(4, c.request_headers).bind(5, std::int64_t{c.http_status});
  q.bind_blob(6, c.response_body).bind_blob(7, c.response_headers).bind(8, c.outcome);
  q.bind(9, c.started_at).bind(10, c.latency_us).run();
}

void sqlite_store::insert_notify(const notify_record& n, std::int64_t payment_id) {
  auto q = db_.query(
      "INSERT INTO inbound_notifies (payment_id, payment_request_id, body, headers, verification, "
      "received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  q.bind_id(1, payment_id).bind(2, n.payment_request_id).bind_blob(3, n.body);
  q.bind_blob(4, n.headers).bind(5, n.verification).bind(6, n.received_at).run();
}

void sqlite_store::insert_webhook_attempt(const webhook_attempt_record& w) {
  auto q = db_.query(
      "INSERT INTO webhook_attempts (event_id, at, http_status, error, latency_us) "
      "VALUES (?1, ?2, ?3, ?4, ?5)");
  q.bind(1, w.event_id).bind(2, w.at).bind(3, std::int64_t{w.http_status}).bind(4, w.error);
  q.bind(5, w.latency_us).run();
}

void sqlite_store::insert_anomaly(const anomaly_record& a, std::int64_t payment_id) {
  auto q = db_.query("INSERT INTO anomalies (payment_id, kind, detail, at) VALUES (?1, ?2, ?3, ?4)");
  q.bind_id(1, payment_id).bind(2, a.kind).bind(3, a.detail).bind(4, a.at).run();
}

void sqlite_store::set_meta(std::string_view key, std::string_view value) {
  require_writable();
  auto q = db_.query(
      "INSERT INTO meta (key, value) VALUES (?1, ?2) "
      "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  q.bind(1, key).bind(2, value).run();
}

std::string sqlite_store::meta_or_set(std::string_view key, std::string_view value) {
  require_writable();
  {
    auto q = db_.query("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING");
    q.bind(1, key).bind(2, value).run();
  }
  return meta(key).value_or(std::string(value));
}

}  // namespace cashier::store
