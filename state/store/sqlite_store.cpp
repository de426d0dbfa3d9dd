// The SQLite store: opening (pragmas, migrations) and the write path. A batch is one IMMEDIATE
// transaction, so it costs one durable commit however many transitions it holds. Each
// transition is all-or-nothing on its own: a lost compare-and-set or a duplicate create is
// found before the transition writes anything, and a broken constraint makes the batch run
// again with one SAVEPOINT per transition, so only the offender is rolled back. Engine
// failures roll back the whole batch and throw store_error: a batch is never half-written.
#include <array>
#include <chrono>
#include <optional>
#include <string>

#include "state/store/schema.hpp"
#include "state/store/sqlite_payment_row.hpp"
#include "state/store/sqlite_store_impl.hpp"
#include "state/store/transition_rules.hpp"

namespace cashier::store {
namespace {

const std::string& insert_payment_sql() {
  static const std::string sql = [] {
    std::string names = "version", values = "1";
    for (std::size_t i = 0; i < payment_columns().size(); ++i) {
      names += ", " + std::string(payment_columns()[i].name);
      values += ", ?" + std::to_string(i + 1);
    }
    // The shard (cluster_store.hpp): derived from the Alipay+ id, fixed from here on.
    names += ", shard";
    values += ", ?" + std::to_string(payment_columns().size() + 1);
    return "INSERT INTO payments (" + names + ") VALUES (" + values +
           ") ON CONFLICT DO NOTHING";  // (merchant, paymentRequestId) or the Alipay+ id
  }();
  return sql;
}

const char* synchronous_pragma(sync_mode mode) {
  switch (mode) {
    case sync_mode::full:
      return "PRAGMA synchronous = FULL";
    case sync_mode::normal:
      return "PRAGMA synchronous = NORMAL";
  }
  return "PRAGMA synchronous = FULL";
}

}  // namespace

std::unique_ptr<payment_store> open_sqlite_store(const std::string& path,
                                                 const sqlite_options& options) {
  return std::make_unique<sqlite_store>(path, options);
}

std::unique_ptr<clustered_store> open_sqlite_clustered(const std::string& path,
                                                       const sqlite_options& options) {
  return std::make_unique<sqlite_store>(path, options);
}

sqlite_store::sqlite_store(const std::string& path, const sqlite_options& options)
    : db_(path, options.read_only),
      read_only_(options.read_only),
      budget_rows_(options.rejected_notify_rows),
      budget_bytes_(options.rejected_notify_bytes),
      clock_(options.clock ? options.clock : [] { return time_point(std::chrono::time_point_cast<duration>(
                                                              std::chrono::system_clock::now())); }) {
  configure(options);
  if (read_only_) {
    check_schema(db_);
  } else {
    migrate(db_);
    if (options.background_checkpoint) checkpointer_ = std::make_unique<wal_checkpointer>(path, db_.native());
  }
  if (auto q = db_.query("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'shard_count'"); q.step())
    shard_count_ = static_cast<shard_id>(q.int64(0));
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
  return commit_with(batch, nullptr);
}

std::vector<commit_outcome> sqlite_store::commit_with(std::span<const transition> batch,
                                                      const fence_spec* fenced) {
  require_writable();
  try {
    return run_batch(batch, false, fenced);
  } catch (const constraint_failed&) {
    // A transition broke an invariant after writing part of itself. Rare (a caller bug), so
    // only then is the batch redone with a savepoint around each transition.
  }
  return run_batch(batch, true, fenced);
}

// One IMMEDIATE transaction for the whole batch. Without savepoints (`careful` false) a
// constraint failure escapes and the caller redoes the batch carefully: conflicts and
// duplicates never need them, because they are found before the transition writes anything.
std::vector<commit_outcome> sqlite_store::run_batch(std::span<const transition> batch,
                                                    bool careful, const fence_spec* fenced) {
  std::vector<commit_outcome> outcomes;
  outcomes.reserve(batch.size());
  try {
    db_.query("BEGIN IMMEDIATE").run();
    // Fenced (sqlite_cluster.cpp): the epochs are read under the write lock that a claim needs
    // too, so no claim can come between this check and the COMMIT.
    const auto passes = fenced != nullptr ? fence_passes(fenced->fence) : std::vector<bool>{};
    for (const auto& t : batch) {
      if (fenced != nullptr && !passes_fence(t, passes)) {
        outcomes.push_back({commit_status::not_owner, t.after ? t.after->id : 0, 0, {}});
        continue;
      }
      outcomes.push_back(careful ? apply_in_savepoint(t) : apply(t));
    }
    if (fenced != nullptr) delete_applied(*fenced, passes, outcomes);
    db_.query("COMMIT").run();
  } catch (const constraint_failed& e) {
    db_.rollback_quietly();
    rejected_tally_.reset();
    if (!careful) throw;
    throw store_error(store_failure::internal, e.what());  // at COMMIT: nothing is kept
  } catch (...) {
    db_.rollback_quietly();
    rejected_tally_.reset();
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
  if (outcome.status != commit_status::committed) {
    db_.query("ROLLBACK TO transition").run();
    rejected_tally_.reset();
  }
  db_.query("RELEASE transition").run();
  return outcome;
}

commit_outcome sqlite_store::apply(const transition& t) {
  commit_outcome outcome{commit_status::committed, 0, 0, {}};
  // Refund duplicates and lost refund CASes are found before anything is written.
  if (auto refused = check_refunds(t)) return *refused;
  if (t.after) {
    const event_record* e = t.event ? &*t.event : nullptr;
    const payment* before = t.before ? &*t.before : nullptr;
    outcome = t.expected_version == 0 ? insert_payment(*t.after, e)
                                      : update_payment(*t.after, t.expected_version, e, before);
    if (outcome.status != commit_status::committed) return outcome;
  } else if (t.event) {
    throw constraint_failed("an event record needs the payment it changes");
  }
  // Inside a transition with a payment, every record belongs to that payment.
  auto owner = [&](std::int64_t record_payment) {
    return t.after ? outcome.payment_id : record_payment;
  };
  for (const auto& r : t.refunds) write_refund(r, owner(r.after.payment_row), outcome);
  if (t.event) insert_event(*t.event, outcome.payment_id, outcome.version);
  for (const auto& o : t.outbox) insert_outbox(o, owner(o.payment_id));
  for (const auto& d : t.deliveries) update_delivery(d);
  for (const auto& c : t.calls) insert_call(c, owner(c.payment_id));
  for (const auto& n : t.notifies) insert_notify(n, owner(n.payment_id));
  for (const auto& w : t.webhook_attempts) insert_webhook_attempt(w);
  for (const auto& a : t.anomalies) insert_anomaly(a, owner(a.payment_id));
  return outcome;
}

commit_outcome sqlite_store::insert_payment(const payment& p, const event_record* e) {
  if (e != nullptr) check_event(*e, p, std::nullopt);
  {
    auto q = db_.query(insert_payment_sql());
    for (std::size_t i = 0; i < payment_columns().size(); ++i) {
      bind_value(q, static_cast<int>(i) + 1, payment_columns()[i].get(p));
    }
    q.bind(static_cast<int>(payment_columns().size()) + 1, std::int64_t{shard_of(p, shard_count_)});
    q.run();
  }
  if (db_.changes() == 1) return {commit_status::committed, db_.last_insert_rowid(), 1, {}};
  auto q = db_.query(
      "SELECT id, version FROM payments WHERE payment_request_id = ?1 AND merchant_id = ?2");
  q.bind(1, p.payment_request_id).bind(2, p.merchant_id);
  // Not this merchant's id: the Alipay+ id is taken (a caller bug; generated ids never collide).
  if (!q.step()) throw constraint_failed("alipay_payment_request_id is used by another payment");
  return {commit_status::duplicate, q.int64(0), q.int64(1), {}};
}

// Checks and writes only the columns that change: SQLite rewrites every index entry and runs
// every trigger on a SET column, changed or not. The changes are found from the caller's
// `before`, or else by reading the row; the compare-and-set, the fixed columns and the event's
// from-state are checked before anything is written.
commit_outcome sqlite_store::update_payment(const payment& p, std::int64_t expected_version,
                                            const event_record* e, const payment* before) {
  std::uint64_t changed = 0;
  if (before != nullptr) {
    if (before->id != p.id || before->version != expected_version) {
      throw constraint_failed("`before` is not the payment at expected_version");
    }
    if (e != nullptr)
      check_event(*e, p, stored_state{to_string(before->status), to_string(before->pending)});
    const auto columns = payment_columns();
    changed = changed_columns(
        p, [&](std::size_t i, const column_value& v) { return same(columns[i].get(*before), v); });
  } else if (auto conflict = read_changes(p, expected_version, e, changed)) {
    return *conflict;
  }
  {
    auto u = db_.query(update_sql(changed));
    for (std::size_t i = 0; i < payment_columns().size(); ++i) {
      if ((changed & (std::uint64_t{1} << i)) != 0) {
        bind_value(u, static_cast<int>(i) + 1, payment_columns()[i].get(p));
      }
    }
    const auto n = static_cast<int>(payment_columns().size());
    u.bind(n + 1, p.id).bind(n + 2, expected_version).run();
  }
  if (db_.changes() == 1) return {commit_status::committed, p.id, expected_version + 1, {}};
  auto q = db_.query("SELECT version FROM payments WHERE id = ?1");  // the CAS lost
  q.bind(1, p.id);
  return {commit_status::conflict, p.id, q.step() ? q.int64(0) : 0, {}};
}

// Reads the stored row: a conflict outcome when it is not at `expected_version`, else the
// changed columns in `changed`.
std::optional<commit_outcome> sqlite_store::read_changes(const payment& p,
                                                         std::int64_t expected_version,
                                                         const event_record* e,
                                                         std::uint64_t& changed) {
  auto q = db_.query(select_payment_by_id_sql());
  q.bind(1, p.id);
  if (!q.step()) return commit_outcome{commit_status::conflict, p.id, 0, {}};
  if (q.int64(1) != expected_version) {
    return commit_outcome{commit_status::conflict, p.id, q.int64(1), {}};
  }
  if (e != nullptr) check_event(*e, p, stored_state{q.view(4), q.view(5)});
  changed = changed_columns(p, [&](std::size_t i, const column_value& v) {
    return holds(q, static_cast<int>(i) + 2, v);
  });
  return std::nullopt;
}

// The UPDATE statement for one set of changed columns, built once per set.
const std::string& sqlite_store::update_sql(std::uint64_t changed) {
  auto [it, fresh] = update_sql_.try_emplace(changed);
  if (fresh) {
    it->second = "UPDATE payments SET version = version + 1";
    for (std::size_t i = 0; i < payment_columns().size(); ++i) {
      if ((changed & (std::uint64_t{1} << i)) == 0) continue;
      it->second += ", " + std::string(payment_columns()[i].name) + " = ?" + std::to_string(i + 1);
    }
    const auto n = payment_columns().size();
    it->second += " WHERE id = ?" + std::to_string(n + 1) + " AND version = ?" + std::to_string(n + 2);
  }
  return it->second;
}

void sqlite_store::insert_event(const event_record& e, std::int64_t id, std::int64_t version) {
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
      "attempts, next_attempt_at, state, last_status, last_error, created_at, merchant_id, "
      "feed_seq) "
      "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, p.merchant_id, "
      // The merchant's next feed position: one past its last (index merchant_outbox_feed).
      "(SELECT coalesce(max(feed_seq), 0) + 1 FROM merchant_outbox WHERE merchant_id = p.merchant_id) "
      "FROM payments p WHERE p.id = ?2");
  q.bind(1, o.event_id).bind(2, payment_id).bind(3, std::int64_t{o.seq}).bind(4, o.type);
  q.bind(5, o.payload).bind(6, o.target_url).bind(7, std::int64_t{o.attempts});
  q.bind(8, o.next_attempt_at).bind(9, to_string(o.state)).bind(10, std::int64_t{o.last_status});
  q.bind(11, o.last_error).bind(12, o.created_at).run();
  if (db_.changes() != 1) throw constraint_failed("a merchant event needs its payment");
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
      "response_body, response_headers, outcome, started_at, latency_us, refund_id) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  q.bind_id(1, payment_id).bind(2, c.api).bind_blob(3, c.request_body);
  q.bind_blob(4, c.request_headers).bind(5, std::int64_t{c.http_status});
  q.bind_blob(6, c.response_body).bind_blob(7, c.response_headers).bind(8, c.outcome);
  q.bind(9, c.started_at).bind(10, c.latency_us).bind_id(11, c.refund_id).run();
}


// A notify whose digest is stored already is counted on that row. A rejected one is stored with
// a bounded prefix of its body and headers, then the rejected-notify budget evicts the oldest
// rejected rows until it holds again; a verified one is stored whole, never evicted.
void sqlite_store::insert_notify(const notify_record& n, std::int64_t payment_id) {
  if (!n.digest.empty()) {
    auto u = db_.query(
        "UPDATE inbound_notifies SET times_received = times_received + 1, "
        "last_received_at = max(last_received_at, ?2) WHERE digest = ?1");
    u.bind_blob(1, n.digest).bind(2, n.received_at).run();
    if (db_.changes() == 1) return;
  }
  const bool rejected = is_rejected(n.verification);
  const std::string_view body =
      rejected ? std::string_view(n.body).substr(0, rejected_notify_body_prefix) : n.body;
  const std::string_view headers =
      rejected ? std::string_view(n.headers).substr(0, rejected_notify_headers_prefix) : n.headers;
  {
    auto q = db_.query(
        "INSERT INTO inbound_notifies (payment_id, payment_request_id, body, headers, "
        "verification, received_at, digest, body_bytes, last_received_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?6)");
    q.bind_id(1, payment_id).bind(2, n.payment_request_id).bind_blob(3, body);
    q.bind_blob(4, headers).bind(5, n.verification).bind(6, n.received_at);
    if (n.digest.empty()) q.bind_null(7);
    else q.bind_blob(7, n.digest);
    q.bind(8, static_cast<std::int64_t>(n.body.size())).run();
  }
  if (rejected) keep_rejected_budget(static_cast<std::int64_t>(body.size() + headers.size()));
}

std::pair<std::int64_t, std::int64_t> sqlite_store::count_rejected() {
  auto q = db_.query(
      "SELECT count(*), coalesce(sum(length(body) + length(headers)), 0) FROM inbound_notifies "
      "WHERE verification <> 'ok' AND verification <> 'garbled'");
  q.step();
  return {q.int64(0), q.int64(1)};
}

// The tally is read from the table once, then kept in step by the inserts and evictions of
// this connection; a rolled-back batch forgets it (it is read again next time).
void sqlite_store::keep_rejected_budget(std::int64_t added_bytes) {
  if (!rejected_tally_) {
    rejected_tally_ = count_rejected();  // includes the row just inserted
  } else {
    rejected_tally_->first += 1;
    rejected_tally_->second += added_bytes;
  }
  auto& [rows, bytes] = *rejected_tally_;
  while (rows > 0 && (rows > budget_rows_ || bytes > budget_bytes_)) {
    auto q = db_.query(
        "DELETE FROM inbound_notifies WHERE id = (SELECT id FROM inbound_notifies "
        "WHERE verification <> 'ok' AND verification <> 'garbled' ORDER BY id LIMIT 1) "
        "RETURNING length(body) + length(headers)");
    if (!q.step()) break;
    rows -= 1;
    bytes -= q.int64(0);
    while (q.step()) {
    }
  }
}

std::pair<std::int64_t, std::int64_t> sqlite_store::rejected_notifies() { return count_rejected(); }

namespace {

// Payments whose audit rows prune removes: final, nothing pending, every merchant event
// delivered or dead, unchanged since before ?1.
constexpr std::string_view prune_set_sql =
    "INSERT INTO temp.prune_set (id) SELECT p.id FROM payments p "
    "WHERE (p.status = 'SUCCESS' OR p.status = 'FAIL' OR p.status = 'CANCELLED') "
    "AND p.pending = '' AND p.updated_at < ?1 AND NOT EXISTS (SELECT 1 FROM merchant_outbox o "
    "WHERE o.payment_id = p.id AND o.state = 'pending') AND NOT EXISTS (SELECT 1 FROM refunds r "
    "WHERE r.payment_id = p.id AND (r.status = 'PROCESSING' OR r.updated_at >= ?1))";

// Each audit table: the rows prune removes, as a WHERE clause over the table (?1 = before).
struct prune_target {
  std::string_view table;
  std::string_view where;
};
constexpr std::array<prune_target, 4> prune_targets = {{
    {"payment_events",
     "payment_id IN (SELECT id FROM temp.prune_set) AND version < (SELECT max(e.version) FROM "
     "payment_events e WHERE e.payment_id = payment_events.payment_id)"},
    {"aplus_calls",
     "payment_id IN (SELECT id FROM temp.prune_set) OR (payment_id IS NULL AND started_at < ?1)"},
    {"inbound_notifies",
     "payment_id IN (SELECT id FROM temp.prune_set) OR (payment_id IS NULL AND received_at < ?1)"},
    {"webhook_attempts",
     "event_id IN (SELECT o.event_id FROM merchant_outbox o WHERE o.payment_id IN "
     "(SELECT id FROM temp.prune_set))"},
}};

}  // namespace

prune_report sqlite_store::prune(time_point before, bool apply) {
  require_writable();
  rejected_tally_.reset();
  prune_report report;
  try {
    db_.query("BEGIN IMMEDIATE").run();
    db_.exec("CREATE TEMP TABLE IF NOT EXISTS prune_set (id INTEGER PRIMARY KEY); "
             "DELETE FROM temp.prune_set");
    db_.query(prune_set_sql).bind(1, before).run();
    report.payments = db_.changes();
    // Set inside this transaction only: the delete triggers let prune's deletes through.
    if (apply) db_.exec("INSERT INTO meta (key, value) VALUES ('prune_in_progress', '1')");
    std::array<std::int64_t*, 4> counts = {&report.events, &report.calls, &report.notifies,
                                           &report.webhook_attempts};
    for (std::size_t i = 0; i < prune_targets.size(); ++i) {
      const auto& t = prune_targets[i];
      const std::string where = " FROM " + std::string(t.table) + " WHERE " + std::string(t.where);
      const bool dated = t.where.find("?1") != std::string_view::npos;
      if (apply) {
        auto q = db_.query("DELETE" + where);
        if (dated) q.bind(1, before);
        q.run();
        *counts[i] = db_.changes();
      } else {
        auto q = db_.query("SELECT count(*)" + where);
        if (dated) q.bind(1, before);
        q.step();
        *counts[i] = q.int64(0);
      }
    }
    if (apply) db_.exec("DELETE FROM meta WHERE key = 'prune_in_progress'");
    db_.exec("DELETE FROM temp.prune_set");
    db_.query(apply ? "COMMIT" : "ROLLBACK").run();
  } catch (...) {
    db_.rollback_quietly();
    throw;
  }
  return report;
}

void sqlite_store::insert_webhook_attempt(const webhook_attempt_record& w) {
  auto q = db_.query(
      "INSERT INTO webhook_attempts (event_id, at, http_status, error, latency_us) "
      "VALUES (?1, ?2, ?3, ?4, ?5)");
  q.bind(1, w.event_id).bind(2, w.at).bind(3, std::int64_t{w.http_status}).bind(4, w.error);
  q.bind(5, w.latency_us).run();
}

void sqlite_store::insert_anomaly(const anomaly_record& a, std::int64_t payment_id) {
  auto q =
      db_.query("INSERT INTO anomalies (payment_id, kind, detail, at) VALUES (?1, ?2, ?3, ?4)");
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
    auto q =
        db_.query("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING");
    q.bind(1, key).bind(2, value).run();
  }
  return meta(key).value_or(std::string(value));
}

}  // namespace cashier::store
