// The PostgreSQL store: opening (connection, migrations) and the write path. A batch is one
// transaction (READ COMMITTED), so it costs one durable commit however many transitions it
// holds. Each transition is all-or-nothing on its own: a lost compare-and-set or a duplicate
// create is found before the transition writes anything, and a broken constraint (which in
// PostgreSQL aborts the whole transaction) makes the batch run again without the offender and
// with one SAVEPOINT per transition, so only offenders are rolled back: the two-pass scheme of
// the SQLite store, which keeps savepoints (subtransactions) off the common path, with at most
// 64 savepoints per transaction (commit_with). Engine failures roll back the whole batch and
// throw store_error: a batch is never half-written.
//
// Concurrency with other writers (another instance, the CLI): the payment CAS is an UPDATE
// whose WHERE re-checks the version after any row lock wait; a creation races on the unique
// keys with ON CONFLICT DO NOTHING; the refunds money rule locks the payment row (trigger);
// a merchant's next feed position is taken under a transaction-scoped advisory lock per merchant.
#include <array>
#include <exception>
#include <optional>
#include <string>

#include "state/store/pg_schema.hpp"
#include "state/store/pg_store_impl.hpp"
#include "state/store/sqlite_payment_row.hpp"  // payment_columns(): the engine-neutral column table
#include "state/store/sqlite_store.hpp"        // the rejected-notify prefixes, shared by both engines
#include "state/store/transition_rules.hpp"

namespace cashier::store {
namespace {

// Savepoints a careful rerun takes per transaction at most: PostgreSQL caches 64 subtransaction
// ids per backend (PGPROC_MAX_CACHED_SUBXIDS); past that, every snapshot taken in the server
// while the transaction runs has to look subtransactions up in pg_subtrans.
constexpr std::size_t max_savepoints = 64;

// Binds one payments column value.
void add_value(pg_params& p, const column_value& v) {
  switch (v.kind) {
    case column_value::type::null:
      p.null();
      return;
    case column_value::type::integer:
      p.add(v.integer);
      return;
    case column_value::type::text:
    case column_value::type::blob:
      p.add(v.bytes);
      return;
  }
}

// True when column `c` of row 0 of `q` holds exactly `v`.
bool holds(const pg_rows& q, int c, const column_value& v) {
  const bool null = q.is_null(0, c);
  switch (v.kind) {
    case column_value::type::null:
      return null;
    case column_value::type::integer:
      return !null && q.int64(0, c) == v.integer;
    case column_value::type::text:
    case column_value::type::blob:
      return !null && q.bytes(0, c) == v.bytes;
  }
  return false;
}

const std::string& insert_payment_sql() {
  static const std::string sql = [] {
    std::string names = "version", values = "1";
    for (std::size_t i = 0; i < payment_columns().size(); ++i) {
      names += ", " + std::string(payment_columns()[i].name);
      values += ", $" + std::to_string(i + 1);
    }
    // The shard (cluster_store.hpp): derived from the Alipay+ id, fixed from here on.
    names += ", shard";
    values += ", $" + std::to_string(payment_columns().size() + 1);
    return "INSERT INTO payments (" + names + ") VALUES (" + values +
           ") ON CONFLICT DO NOTHING RETURNING id";  // (merchant, paymentRequestId) or the Alipay+ id
  }();
  return sql;
}

// The log writes, shared by the plain and the pipelined pass: their SQL and their parameters.
const std::string insert_event_sql =
    "INSERT INTO payment_events (payment_id, version, at, from_status, from_pending, to_status, "
    "to_pending, cause, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const std::string insert_call_sql =
    "INSERT INTO aplus_calls (payment_id, api, request_body, request_headers, http_status, "
    "response_body, response_headers, outcome, started_at, latency_us, refund_id) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
// A notify whose digest is stored already is counted on that row (the upsert); the answer says
// whether a row was inserted.
const std::string insert_notify_sql =
    "INSERT INTO inbound_notifies (payment_id, payment_request_id, body, headers, "
    "verification, received_at, digest, body_bytes, last_received_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $6) "
    "ON CONFLICT (digest) WHERE digest IS NOT NULL DO UPDATE SET "
    "times_received = inbound_notifies.times_received + 1, "
    "last_received_at = greatest(inbound_notifies.last_received_at, excluded.received_at) "
    "RETURNING xmax = 0";
const std::string insert_attempt_sql =
    "INSERT INTO webhook_attempts (event_id, at, http_status, error, latency_us) VALUES ($1, $2, $3, $4, $5)";
const std::string insert_anomaly_sql =
    "INSERT INTO anomalies (payment_id, kind, detail, at) VALUES ($1, $2, $3, $4)";

pg_params event_params(const event_record& e, std::int64_t id, std::int64_t version) {
  pg_params p;
  p.add(id).add(version).add(e.at);
  if (e.from_status) p.add(to_string(*e.from_status)).add(to_string(e.from_pending));
  else p.null().null();
  p.add(to_string(e.to_status)).add(to_string(e.to_pending)).add(e.cause).add(e.detail);
  return p;
}

pg_params call_params(const call_record& c, std::int64_t payment_id) {
  pg_params p;
  p.id(payment_id).add(c.api).add(c.request_body).add(c.request_headers);
  p.add(std::int64_t{c.http_status}).add(c.response_body).add(c.response_headers).add(c.outcome);
  p.add(c.started_at).add(c.latency_us).id(c.refund_id);
  return p;
}

// A rejected notify is stored with a bounded prefix of its body and headers.
pg_params notify_params(const notify_record& n, std::int64_t payment_id) {
  const bool rejected = is_rejected(n.verification);
  const std::string_view body =
      rejected ? std::string_view(n.body).substr(0, rejected_notify_body_prefix) : n.body;
  const std::string_view headers =
      rejected ? std::string_view(n.headers).substr(0, rejected_notify_headers_prefix) : n.headers;
  pg_params p;
  p.id(payment_id).add(n.payment_request_id).add(body).add(headers).add(n.verification);
  p.add(n.received_at);
  if (n.digest.empty()) p.null();
  else p.add(n.digest);
  p.add(static_cast<std::int64_t>(n.body.size()));
  return p;
}

pg_params attempt_params(const webhook_attempt_record& w) {
  pg_params p;
  p.add(w.event_id).add(w.at).add(std::int64_t{w.http_status}).add(w.error).add(w.latency_us);
  return p;
}

pg_params anomaly_params(const anomaly_record& a, std::int64_t payment_id) {
  return pg_params{}.id(payment_id).add(a.kind).add(a.detail).add(a.at);
}

}  // namespace

std::unique_ptr<clustered_store> open_postgres_store(const std::string& conninfo,
                                                     const postgres_options& options) {
  return std::make_unique<pg_store>(conninfo, options);
}

pg_store::pg_store(const std::string& conninfo, const postgres_options& options)
    : db_(conninfo, options.read_only, options.lock_timeout_ms),
      read_only_(options.read_only),
      budget_rows_(options.rejected_notify_rows),
      budget_bytes_(options.rejected_notify_bytes),
      pipeline_(options.pipeline),
      clock_offset_(options.clock_offset),
      clock_(options.clock) {
  if (read_only_) {
    pg_check_schema(db_);
  } else {
    pg_migrate(db_);
  }
  // Fixed at creation (the cluster step); a value that is not a positive count is not ours.
  const auto count = meta("shard_count");
  try {
    shard_count_ = count ? static_cast<shard_id>(std::stoi(*count)) : 0;
  } catch (const std::exception&) {
    shard_count_ = 0;
  }
  if (shard_count_ <= 0) throw store_error(store_failure::corrupt, "the database's shard_count is not a positive count");
}

void pg_store::require_writable() const {
  if (read_only_) throw store_error(store_failure::read_only, "the store was opened read-only");
}

std::vector<commit_outcome> pg_store::commit(std::span<const transition> batch) {
  return commit_with(batch, nullptr);
}

std::vector<commit_outcome> pg_store::commit_with(std::span<const transition> batch, const fence_spec* fenced) {
  require_writable();
  known_rejections rejected;
  if (pipeline_) {
    try {
      return run_batch(batch, pass::pipelined, fenced, rejected);
    } catch (const constraint_failed&) {
      // A pipelined compare-and-set lost, or a transition broke an invariant: redone plainly,
      // which tells a conflict from a rejection.
    }
  }
  failed_at_.reset();
  try {
    return run_batch(batch, pass::plain, fenced, rejected);
  } catch (const constraint_failed& e) {
    // A transition broke an invariant after writing part of itself, which aborted the whole
    // transaction. Rare (a caller bug), so only then is the batch redone carefully: the
    // offender found here is left out, the others run with a savepoint each, at most
    // max_savepoints of them per transaction (more overflow PostgreSQL's per-backend cache of
    // subtransactions, and every snapshot in the server then reads pg_subtrans). A transition
    // past that number that breaks an invariant is left out in turn and the batch redone.
    if (failed_at_) rejected.emplace(*failed_at_, e.what());
  }
  for (;;) {
    failed_at_.reset();
    try {
      return run_batch(batch, pass::careful, fenced, rejected);
    } catch (const constraint_failed& e) {
      if (!failed_at_ || rejected.contains(*failed_at_)) throw store_error(store_failure::internal, e.what());
      rejected.emplace(*failed_at_, e.what());
    }
  }
}

// The pipelined pass queues the writes of every transition whose outcome is known before it is
// sent (queue()) and runs the others plainly in between, after flushing the queue; BEGIN goes
// out with the first statements and COMMIT with the last, so a batch of updates costs one round
// trip per 128 statements.
std::vector<commit_outcome> pg_store::run_batch(std::span<const transition> batch, pass how,
                                               const fence_spec* fenced, const known_rejections& rejected) {
  static const std::string begin = "BEGIN", commit = "COMMIT";
  std::vector<commit_outcome> outcomes;
  outcomes.reserve(batch.size());
  // Fenced (pg_cluster.cpp): a transition of a shard the fence does not hold writes nothing.
  std::vector<bool> passes;
  auto fenced_out = [&](const transition& t) {
    if (fenced == nullptr || passes_fence(t, passes)) return false;
    outcomes.push_back({commit_status::not_owner, t.after ? t.after->id : 0, 0, {}});
    return true;
  };
  try {
    if (how == pass::pipelined) {
      std::vector<pg_queued> q;
      q.push_back({&begin, {}});
      if (fenced != nullptr) {
        // The shard rows are locked and read first, in the batch's transaction.
        db_.pipeline(q);
        q.clear();
        passes = fence_passes(fenced->fence);
      }
      for (const auto& t : batch) {
        if (fenced_out(t)) continue;
        commit_outcome o;
        if (!queue(t, q, o)) {
          db_.pipeline(q);
          q.clear();
          o = apply(t);
        }
        outcomes.push_back(std::move(o));
      }
      if (fenced != nullptr) {
        db_.pipeline(q);
        q.clear();
        delete_applied(*fenced, passes, outcomes);
      }
      q.push_back({&commit, {}});
      db_.pipeline(q);
      return outcomes;
    }
    db_.query(begin);
    if (fenced != nullptr) passes = fence_passes(fenced->fence);
    std::size_t savepoints = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const transition& t = batch[i];
      if (fenced_out(t)) continue;
      if (const auto known = rejected.find(i); known != rejected.end()) {
        outcomes.push_back({commit_status::rejected, t.after ? t.after->id : 0, 0, known->second});
      } else if (how == pass::careful && savepoints < max_savepoints) {
        ++savepoints;
        outcomes.push_back(apply_in_savepoint(t));
      } else {
        try {
          outcomes.push_back(apply(t));
        } catch (const constraint_failed&) {
          failed_at_ = i;
          throw;
        }
      }
    }
    if (fenced != nullptr) delete_applied(*fenced, passes, outcomes);
    db_.query(commit);  // a deferred failure here leaves failed_at_ unset: nothing is kept
  } catch (const constraint_failed&) {
    db_.rollback_quietly();
    rejected_tally_.reset();
    throw;
  } catch (...) {
    db_.rollback_quietly();
    rejected_tally_.reset();
    throw;
  }
  return outcomes;
}

// Queues the writes of `t` when its outcome is known before they run: an update of a payment
// whose `before` the caller passed (the CAS is then the only thing that can go wrong, and it
// fails the statement: cashier_expect_one) with its event, calls, verified notifies, webhook
// attempts and anomalies; or such records alone. Creations, refunds, merchant events, delivery
// changes and rejected notifies (the budget needs their answers) run plainly. Returns false,
// queueing nothing, when `t` must run plainly (also when it breaks a rule checked here: the plain
// pass then reports it).
bool pg_store::queue(const transition& t, std::vector<pg_queued>& q, commit_outcome& outcome) {
  if (!t.refunds.empty() || !t.outbox.empty() || !t.deliveries.empty()) return false;
  for (const auto& n : t.notifies)
    if (is_rejected(n.verification)) return false;
  if (!t.after && t.event) return false;
  outcome = {commit_status::committed, 0, 0, {}};
  if (t.after) {
    const payment& p = *t.after;
    if (t.expected_version == 0 || !t.before || t.before->id != p.id || t.before->version != t.expected_version)
      return false;
    std::uint64_t changed = 0;
    try {
      if (t.event)
        check_event(*t.event, p,
                    stored_state{to_string(t.before->status), to_string(t.before->pending)});
      const auto columns = payment_columns();
      changed = changed_columns(
          p, [&](std::size_t i, const column_value& v) { return same(columns[i].get(*t.before), v); });
    } catch (const constraint_failed&) {
      return false;
    }
    auto [cas, fresh] = cas_sql_.try_emplace(changed);
    if (fresh) cas->second = "WITH u AS (" + update_sql(changed) + " RETURNING 1) SELECT cashier_expect_one(count(*)) FROM u";
    pg_params params;
    for (std::size_t i = 0; i < payment_columns().size(); ++i) {
      if ((changed & (std::uint64_t{1} << i)) != 0) add_value(params, payment_columns()[i].get(p));
    }
    params.add(p.id).add(t.expected_version);
    q.push_back({&cas->second, std::move(params)});
    outcome = {commit_status::committed, p.id, t.expected_version + 1, {}};
  }
  auto owner = [&](std::int64_t record_payment) { return t.after ? outcome.payment_id : record_payment; };
  if (t.event) q.push_back({&insert_event_sql, event_params(*t.event, outcome.payment_id, outcome.version)});
  for (const auto& c : t.calls) q.push_back({&insert_call_sql, call_params(c, owner(c.payment_id))});
  for (const auto& n : t.notifies) q.push_back({&insert_notify_sql, notify_params(n, owner(n.payment_id))});
  for (const auto& w : t.webhook_attempts) q.push_back({&insert_attempt_sql, attempt_params(w)});
  for (const auto& a : t.anomalies) q.push_back({&insert_anomaly_sql, anomaly_params(a, owner(a.payment_id))});
  return true;
}

commit_outcome pg_store::apply_in_savepoint(const transition& t) {
  db_.query("SAVEPOINT transition");
  commit_outcome outcome;
  try {
    outcome = apply(t);
  } catch (const constraint_failed& e) {
    outcome = {commit_status::rejected, t.after ? t.after->id : 0, 0, e.what()};
  }
  if (outcome.status != commit_status::committed) {
    db_.query("ROLLBACK TO SAVEPOINT transition");
    rejected_tally_.reset();
  }
  db_.query("RELEASE SAVEPOINT transition");
  return outcome;
}

commit_outcome pg_store::apply(const transition& t) {
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

commit_outcome pg_store::insert_payment(const payment& p, const event_record* e) {
  if (e != nullptr) check_event(*e, p, std::nullopt);
  pg_params params;
  for (const auto& c : payment_columns()) add_value(params, c.get(p));
  params.add(std::int64_t{shard_of(p, shard_count_)});  // every new payment gets its shard
  auto inserted = db_.query(insert_payment_sql(), params);
  if (inserted.size() == 1) return {commit_status::committed, inserted.int64(0, 0), 1, {}};
  auto q = db_.query("SELECT id, version FROM payments WHERE payment_request_id = $1 AND merchant_id = $2",
                     pg_params{}.add(p.payment_request_id).add(p.merchant_id));
  // Not this merchant's id: the Alipay+ id (or the checkout id) is taken: a caller bug.
  if (q.empty()) throw constraint_failed("alipay_payment_request_id is used by another payment");
  return {commit_status::duplicate, q.int64(0, 0), q.int64(0, 1), {}};
}

// Checks and writes only the columns that change (an UPDATE that leaves the indexed columns
// alone can be a HOT update, which writes no index entry). The changes are found from the
// caller's `before`, or else by reading the row; the compare-and-set, the fixed columns and the
// event's from-state are checked before anything is written.
commit_outcome pg_store::update_payment(const payment& p, std::int64_t expected_version,
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
  pg_params params;
  for (std::size_t i = 0; i < payment_columns().size(); ++i) {
    if ((changed & (std::uint64_t{1} << i)) != 0) add_value(params, payment_columns()[i].get(p));
  }
  params.add(p.id).add(expected_version);
  if (db_.query(update_sql(changed), params).affected() == 1)
    return {commit_status::committed, p.id, expected_version + 1, {}};
  auto q = db_.query("SELECT version FROM payments WHERE id = $1", pg_params{}.add(p.id));  // the CAS lost
  return {commit_status::conflict, p.id, q.empty() ? 0 : q.int64(0, 0), {}};
}

std::optional<commit_outcome> pg_store::read_changes(const payment& p, std::int64_t expected_version,
                                                     const event_record* e, std::uint64_t& changed) {
  static const std::string sql = pg_select_payment_sql() + "WHERE id = $1";
  auto q = db_.query(sql, pg_params{}.add(p.id));
  if (q.empty()) return commit_outcome{commit_status::conflict, p.id, 0, {}};
  if (q.int64(0, 1) != expected_version) {
    return commit_outcome{commit_status::conflict, p.id, q.int64(0, 1), {}};
  }
  if (e != nullptr) check_event(*e, p, stored_state{q.bytes(0, 4), q.bytes(0, 5)});
  changed = changed_columns(p, [&](std::size_t i, const column_value& v) {
    return holds(q, static_cast<int>(i) + 2, v);
  });
  return std::nullopt;
}

// The UPDATE statement for one set of changed columns, built (and prepared) once per set; its
// parameters are the changed columns in order, then the id and the expected version.
const std::string& pg_store::update_sql(std::uint64_t changed) {
  auto [it, fresh] = update_sql_.try_emplace(changed);
  if (fresh) {
    it->second = "UPDATE payments SET version = version + 1";
    int n = 0;
    for (std::size_t i = 0; i < payment_columns().size(); ++i) {
      if ((changed & (std::uint64_t{1} << i)) == 0) continue;
      it->second += ", " + std::string(payment_columns()[i].name) + " = $" + std::to_string(++n);
    }
    it->second += " WHERE id = $" + std::to_string(n + 1) + " AND version = $" + std::to_string(n + 2);
  }
  return it->second;
}

void pg_store::insert_event(const event_record& e, std::int64_t id, std::int64_t version) {
  db_.query(insert_event_sql, event_params(e, id, version));
}

void pg_store::insert_outbox(const outbox_record& o, std::int64_t payment_id) {
  // The merchant's next feed position is one past its last: taken under a lock per merchant
  // (held to commit), in a statement of its own so that the INSERT's snapshot, taken after the
  // lock, sees the last position another writer committed.
  auto merchant = db_.query(
      "SELECT merchant_id, pg_advisory_xact_lock(hashtext('cashier.feed'), "
      "hashtext(encode(merchant_id, 'hex'))) FROM payments WHERE id = $1",
      pg_params{}.add(payment_id));
  if (merchant.empty()) throw constraint_failed("a merchant event needs its payment");
  const std::string merchant_id = merchant.bytes(0, 0);
  pg_params p;
  p.add(o.event_id).add(payment_id).add(std::int64_t{o.seq}).add(o.type).add(o.payload);
  p.add(o.target_url).add(std::int64_t{o.attempts}).add(o.next_attempt_at).add(to_string(o.state));
  p.add(std::int64_t{o.last_status}).add(o.last_error).add(o.created_at).add(merchant_id);
  db_.query(
      "INSERT INTO merchant_outbox (event_id, payment_id, seq, type, payload, target_url, "
      "attempts, next_attempt_at, state, last_status, last_error, created_at, merchant_id, "
      "feed_seq) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
      "coalesce(max(feed_seq), 0) + 1 FROM merchant_outbox WHERE merchant_id = $13",
      p);
}

void pg_store::update_delivery(const outbox_progress& d) {
  pg_params p;
  p.add(d.event_id).add(std::int64_t{d.attempts}).add(d.next_attempt_at).add(to_string(d.state));
  p.add(std::int64_t{d.last_status}).add(d.last_error);
  auto r = db_.query(
      "UPDATE merchant_outbox SET attempts = $2, next_attempt_at = $3, state = $4, "
      "last_status = $5, last_error = $6 WHERE event_id = $1",
      p);
  if (r.affected() != 1) throw constraint_failed("no merchant event with that event_id");
}

void pg_store::insert_call(const call_record& c, std::int64_t payment_id) {
  db_.query(insert_call_sql, call_params(c, payment_id));
}

// A notify whose digest is stored already is counted on that row (one statement: the upsert). A
// rejected one is stored with a bounded prefix of its body and headers, then the rejected-notify
// budget evicts the oldest rejected rows until it holds again; a verified one is stored whole.
void pg_store::insert_notify(const notify_record& n, std::int64_t payment_id) {
  const pg_params p = notify_params(n, payment_id);
  auto r = db_.query(insert_notify_sql, p);
  const bool inserted = !r.empty() && r.bytes(0, 0) == "t";
  if (inserted && is_rejected(n.verification)) {
    const auto stored = std::min(n.body.size(), rejected_notify_body_prefix) +
                        std::min(n.headers.size(), rejected_notify_headers_prefix);
    keep_rejected_budget(static_cast<std::int64_t>(stored));
  }
}

std::pair<std::int64_t, std::int64_t> pg_store::count_rejected() {
  auto q = db_.query(
      "SELECT count(*), coalesce(sum(length(body) + length(headers)), 0) FROM inbound_notifies "
      "WHERE verification <> 'ok' AND verification <> 'garbled'");
  return {q.int64(0, 0), q.int64(0, 1)};
}

// The tally is read from the table once, then kept in step by the inserts and evictions of
// this connection; a rolled-back batch forgets it (it is read again next time).
void pg_store::keep_rejected_budget(std::int64_t added_bytes) {
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
    if (q.empty()) break;
    rows -= 1;
    bytes -= q.int64(0, 0);
  }
}

std::pair<std::int64_t, std::int64_t> pg_store::rejected_notifies() { return count_rejected(); }

namespace {

// Payments whose audit rows prune removes: final, nothing pending, every merchant event
// delivered or dead, no refund open or changed since, unchanged since before $1.
constexpr std::string_view prune_set_sql =
    "INSERT INTO cashier_prune_set (id) SELECT p.id FROM payments p "
    "WHERE p.status IN ('SUCCESS', 'FAIL', 'CANCELLED') "
    "AND p.pending = '' AND p.updated_at < $1 AND NOT EXISTS (SELECT 1 FROM merchant_outbox o "
    "WHERE o.payment_id = p.id AND o.state = 'pending') AND NOT EXISTS (SELECT 1 FROM refunds r "
    "WHERE r.payment_id = p.id AND (r.status = 'PROCESSING' OR r.updated_at >= $1))";

// Each audit table: the rows prune removes, as a WHERE clause over the table ($1 = before).
struct prune_target {
  std::string_view table;
  std::string_view where;
};
constexpr std::array<prune_target, 4> prune_targets = {{
    {"payment_events",
     "payment_id IN (SELECT id FROM cashier_prune_set) AND version < (SELECT max(e.version) FROM "
     "payment_events e WHERE e.payment_id = payment_events.payment_id)"},
    {"aplus_calls",
     "payment_id IN (SELECT id FROM cashier_prune_set) OR (payment_id IS NULL AND started_at < $1)"},
    {"inbound_notifies",
     "payment_id IN (SELECT id FROM cashier_prune_set) OR (payment_id IS NULL AND received_at < $1)"},
    {"webhook_attempts",
     "event_id IN (SELECT o.event_id FROM merchant_outbox o WHERE o.payment_id IN "
     "(SELECT id FROM cashier_prune_set))"},
}};

}  // namespace

// One transaction over a temporary set of the payments concerned. The statements on the
// temporary table run unprepared (query_once): a prepared plan would outlive the table.
prune_report pg_store::prune(time_point before, bool apply) {
  require_writable();
  rejected_tally_.reset();
  prune_report report;
  try {
    db_.exec("BEGIN; CREATE TEMP TABLE IF NOT EXISTS cashier_prune_set (id bigint PRIMARY KEY) "
             "ON COMMIT DELETE ROWS; DELETE FROM cashier_prune_set");
    report.payments = db_.query_once(std::string(prune_set_sql), pg_params{}.add(before)).affected();
    // Set for this transaction only: the append-only triggers let prune's deletes through.
    if (apply) db_.exec("SET LOCAL cashier.prune = 'on'");
    std::array<std::int64_t*, 4> counts = {&report.events, &report.calls, &report.notifies,
                                           &report.webhook_attempts};
    for (std::size_t i = 0; i < prune_targets.size(); ++i) {
      const auto& t = prune_targets[i];
      const std::string where = " FROM " + std::string(t.table) + " WHERE " + std::string(t.where);
      pg_params p;
      if (t.where.find("$1") != std::string_view::npos) p.add(before);
      if (apply) {
        *counts[i] = db_.query_once("DELETE" + where, p).affected();
      } else {
        *counts[i] = db_.query_once("SELECT count(*)" + where, p).int64(0, 0);
      }
    }
    db_.exec(apply ? "COMMIT" : "ROLLBACK");
  } catch (...) {
    db_.rollback_quietly();
    throw;
  }
  return report;
}

void pg_store::insert_webhook_attempt(const webhook_attempt_record& w) {
  db_.query(insert_attempt_sql, attempt_params(w));
}

void pg_store::insert_anomaly(const anomaly_record& a, std::int64_t payment_id) {
  db_.query(insert_anomaly_sql, anomaly_params(a, payment_id));
}

void pg_store::set_meta(std::string_view key, std::string_view value) {
  require_writable();
  db_.query("INSERT INTO meta (key, value) VALUES ($1, $2) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            pg_params{}.add(key).add(value));
}

std::string pg_store::meta_or_set(std::string_view key, std::string_view value) {
  require_writable();
  db_.query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            pg_params{}.add(key).add(value));
  return meta(key).value_or(std::string(value));
}

}  // namespace cashier::store
