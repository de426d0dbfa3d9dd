// The cluster half of the PostgreSQL store (cluster_store.hpp, proto-docs/cluster.md
// "PostgreSQL store"): the shard table, presence, the fence of a group commit and the inbox.
// Every instant is the database's clock (clock_timestamp(), read once per call inside its
// transaction; postgres_options::clock_offset shifts it and ::clock replaces it, in tests only). How the locks order
// things: a claim takes its rows FOR UPDATE (SKIP LOCKED unless forced), a fenced batch takes its
// shards' rows FOR KEY SHARE, and the two conflict, so a claim committed before a batch locked
// the row makes that batch's transitions not_owner, and a claim never bumps an epoch under a
// batch still in flight; a renewal's plain UPDATE (FOR NO KEY UPDATE) does not conflict with
// FOR KEY SHARE, so renewals never wait on commits. Arrays travel as text ('{1,2}') cast in SQL.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "state/store/pg_store_impl.hpp"
#include "state/store/transition_rules.hpp"

namespace cashier::store {
namespace {

constexpr const char* lease_columns = "shard, coalesce(owner, ''::bytea), epoch, lease_until";

/// Row `r` of `SELECT <lease_columns>`.
shard_lease read_lease(const pg_rows& q, int r) {
  return {static_cast<shard_id>(q.int64(r, 0)), q.bytes(r, 1), q.int64(r, 2), q.time(r, 3)};
}

std::vector<shard_lease> read_leases(const pg_rows& q) {
  std::vector<shard_lease> rows;
  rows.reserve(static_cast<std::size_t>(q.size()));
  for (int r = 0; r < q.size(); ++r) rows.push_back(read_lease(q, r));
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.shard < b.shard; });
  return rows;
}

/// `values` as a PostgreSQL array literal ("{1,2,3}").
template <class Range, class Get>
std::string array_text(const Range& values, Get get) {
  std::string out = "{";
  for (const auto& v : values) {
    if (out.size() > 1) out += ',';
    out += std::to_string(get(v));
  }
  return out + "}";
}

/// Runs `body` in a transaction, rolled back if it throws.
template <class Body>
auto in_transaction(pg_db& db, Body body) {
  db.exec("BEGIN");
  try {
    auto r = body();
    db.exec("COMMIT");
    return r;
  } catch (...) {
    db.rollback_quietly();
    throw;
  }
}

}  // namespace

// The database's clock now (in epoch ms, as every stored instant), plus the test offset.
time_point pg_store::db_now() {
  if (clock_) return clock_();
  auto q = db_.query("SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint");
  auto now = q.time(0, 0);
  if (clock_offset_) now += clock_offset_();
  return now;
}

std::vector<shard_lease> pg_store::read_shard_table() {
  return read_leases(db_.query(std::string("SELECT ") + lease_columns + " FROM cluster_shards ORDER BY shard"));
}

int pg_store::live_instances(time_point now) {
  auto q = db_.query("SELECT count(*) FROM cluster_instances WHERE seen_until >= $1", pg_params{}.add(now));
  return static_cast<int>(q.int64(0, 0));
}

lease_answer pg_store::shards() {
  // One snapshot for the clock, the table and the count.
  db_.exec("BEGIN ISOLATION LEVEL REPEATABLE READ");
  try {
    lease_answer a;
    a.db_now = db_now();
    a.table = read_shard_table();
    a.live_instances = live_instances(a.db_now);
    db_.exec("COMMIT");
    return a;
  } catch (...) {
    db_.rollback_quietly();
    throw;
  }
}

// One lease call: presence of `owner` (until now + `presence`, when positive), the change
// (which returns the rows it changed), then the table and the live count, in one transaction.
template <class Change>
lease_answer pg_store::lease_call(std::string_view owner, duration presence, Change change) {
  require_writable();
  return in_transaction(db_, [&] {
    lease_answer a;
    a.db_now = db_now();
    if (presence > duration::zero()) {
      db_.query("INSERT INTO cluster_instances (instance, seen_until) VALUES ($1, $2) "
                "ON CONFLICT (instance) DO UPDATE SET seen_until = excluded.seen_until",
                pg_params{}.add(owner).add(a.db_now + presence));
    }
    a.changed = change(a.db_now);
    a.table = read_shard_table();
    a.live_instances = live_instances(a.db_now);
    return a;
  });
}

lease_answer pg_store::claim(std::string_view owner, int want, duration lease, bool force,
                             std::span<const shard_id> only) {
  return lease_call(owner, lease, [&](time_point now) -> std::vector<shard_lease> {
    const std::string only_text = array_text(only, [](shard_id s) { return std::int64_t{s}; });
    const std::int64_t only_all = only.empty() ? 1 : 0;
    if (force) {
      // A single instance starting on its own: the listed shards (all when none), whoever holds
      // them, waiting for batches in flight on them (FOR UPDATE without SKIP LOCKED).
      return read_leases(db_.query(
          std::string("WITH pick AS MATERIALIZED (SELECT shard FROM cluster_shards "
                      "WHERE ($3 = 1 OR shard = ANY ($4::text::integer[])) ORDER BY shard FOR UPDATE) "
                      "UPDATE cluster_shards c SET owner = $1, epoch = c.epoch + 1, lease_until = $2 "
                      "FROM pick WHERE c.shard = pick.shard RETURNING ") +
              "c.shard, coalesce(c.owner, ''::bytea), c.epoch, c.lease_until",
          pg_params{}.add(owner).add(now + lease).add(only_all).add(std::string_view(only_text))));
    }
    if (want <= 0) return {};
    // Free or lapsed (the database's now past lease_until), lowest first; rows another claim or
    // a fenced batch holds are skipped, not waited for. MATERIALIZED: the LIMIT and the locks
    // apply once, before the UPDATE joins the picked rows.
    return read_leases(db_.query(
        std::string("WITH pick AS MATERIALIZED (SELECT shard FROM cluster_shards "
                    "WHERE (owner IS NULL OR lease_until < $3) AND ($5 = 1 OR shard = ANY ($6::text::integer[])) "
                    "ORDER BY shard LIMIT $4 FOR UPDATE SKIP LOCKED) "
                    "UPDATE cluster_shards c SET owner = $1, epoch = c.epoch + 1, lease_until = $2 "
                    "FROM pick WHERE c.shard = pick.shard RETURNING ") +
            "c.shard, coalesce(c.owner, ''::bytea), c.epoch, c.lease_until",
        pg_params{}
            .add(owner)
            .add(now + lease)
            .add(now)
            .add(std::int64_t{want})
            .add(only_all)
            .add(std::string_view(only_text))));
  });
}

lease_answer pg_store::renew(std::string_view owner, std::span<const shard_epoch> held, duration lease) {
  return lease_call(owner, lease, [&](time_point now) {
    const std::string shards = array_text(held, [](const shard_epoch& h) { return std::int64_t{h.shard}; });
    const std::string epochs = array_text(held, [](const shard_epoch& h) { return h.epoch; });
    return read_leases(db_.query(
        "UPDATE cluster_shards c SET lease_until = $1 "
        "FROM unnest($2::text::integer[], $3::text::bigint[]) AS h (shard, epoch) "
        "WHERE c.shard = h.shard AND c.epoch = h.epoch AND c.owner = $4 AND c.lease_until >= $5 "
        "RETURNING c.shard, coalesce(c.owner, ''::bytea), c.epoch, c.lease_until",
        pg_params{}.add(now + lease).add(std::string_view(shards)).add(std::string_view(epochs)).add(owner).add(now)));
  });
}

lease_answer pg_store::release(std::string_view owner, std::span<const shard_epoch> held) {
  return lease_call(owner, duration::zero(), [&](time_point) {
    const std::string shards = array_text(held, [](const shard_epoch& h) { return std::int64_t{h.shard}; });
    const std::string epochs = array_text(held, [](const shard_epoch& h) { return h.epoch; });
    auto released = read_leases(db_.query(
        "UPDATE cluster_shards c SET owner = NULL, lease_until = 0 "
        "FROM unnest($1::text::integer[], $2::text::bigint[]) AS h (shard, epoch) "
        "WHERE c.shard = h.shard AND c.epoch = h.epoch AND c.owner = $3 "
        "RETURNING c.shard, coalesce(c.owner, ''::bytea), c.epoch, c.lease_until",
        pg_params{}.add(std::string_view(shards)).add(std::string_view(epochs)).add(owner)));
    // Holding nothing now (a drain): no longer live, so the others' targets rise at once.
    db_.query("UPDATE cluster_instances SET seen_until = 0 WHERE instance = $1 "
              "AND NOT EXISTS (SELECT 1 FROM cluster_shards WHERE owner = $1)",
              pg_params{}.add(owner));
    return released;
  });
}

std::vector<commit_outcome> pg_store::commit_fenced(std::span<const transition> batch,
                                                    std::span<const shard_epoch> fence,
                                                    std::span<const inbox_applied> applied) {
  const fence_spec f{fence, applied};
  return commit_with(batch, &f);
}

// Inside the batch's transaction: locks the fence's shard rows FOR KEY SHARE (a claim's
// FOR UPDATE then waits for, or skips, this batch) and compares their epochs with the fence's.
std::vector<bool> pg_store::fence_passes(std::span<const shard_epoch> fence) {
  std::vector<bool> passes(static_cast<std::size_t>(shard_count_), false);
  const std::string shards = array_text(fence, [](const shard_epoch& h) { return std::int64_t{h.shard}; });
  auto q = db_.query("SELECT shard, epoch FROM cluster_shards WHERE shard = ANY ($1::text::integer[]) "
                     "ORDER BY shard FOR KEY SHARE",
                     pg_params{}.add(std::string_view(shards)));
  for (int r = 0; r < q.size(); ++r) {
    const auto shard = static_cast<shard_id>(q.int64(r, 0));
    const auto epoch = q.int64(r, 1);
    if (shard < 0 || shard >= shard_count_) continue;
    for (const auto& f : fence) {
      if (f.shard == shard && f.epoch == epoch) passes[static_cast<std::size_t>(shard)] = true;
    }
  }
  return passes;
}

// The fence's rule (store::passes_fence in transition_rules.hpp) with this engine's lookups. The
// shards read are fixed columns, so statements still queued in the pipeline cannot change them.
bool pg_store::passes_fence(const transition& t, const std::vector<bool>& passes) {
  return store::passes_fence(
      t, passes, shard_count_,
      [&](std::int64_t payment_row) -> std::optional<std::int64_t> {
        auto q = db_.query("SELECT shard FROM payments WHERE id = $1", pg_params{}.add(payment_row));
        if (q.empty()) return std::nullopt;
        return q.int64(0, 0);
      },
      [&](const std::string& event_id) -> std::optional<std::int64_t> {
        auto q = db_.query(
            "SELECT p.shard FROM merchant_outbox o JOIN payments p ON p.id = o.payment_id WHERE o.event_id = $1",
            pg_params{}.add(event_id));
        if (q.empty()) return std::nullopt;
        return q.int64(0, 0);
      });
}

void pg_store::delete_applied(const fence_spec& fenced, const std::vector<bool>& passes,
                              const std::vector<commit_outcome>& outcomes) {
  for (const auto& a : fenced.applied) {
    if (a.shard < 0 || a.shard >= shard_count_ || !passes[static_cast<std::size_t>(a.shard)]) continue;
    if (a.transition) {
      if (*a.transition >= outcomes.size()) continue;
      const auto st = outcomes[*a.transition].status;
      if (st == commit_status::conflict || st == commit_status::not_owner) continue;  // kept for a retry
    }
    db_.query("DELETE FROM inbox WHERE id = $1 AND shard = $2", pg_params{}.add(a.inbox_id).add(std::int64_t{a.shard}));
  }
}

std::vector<deadline> pg_store::open_deadlines_of(std::span<const shard_id> shards) {
  // The partial index payments_open_by_shard covers it (the condition repeats the index's).
  const std::string list = array_text(shards, [](shard_id s) { return std::int64_t{s}; });
  auto q = db_.query(
      "SELECT id, next_action_at, pending, poll_deadline_at, shard FROM payments "
      "WHERE shard = ANY ($1::text::integer[]) AND (status IN ('INIT', 'IN_PROCESS') OR pending <> '') "
      "ORDER BY next_action_at, shard, id",
      pg_params{}.add(std::string_view(list)));
  std::vector<deadline> rows;
  rows.reserve(static_cast<std::size_t>(q.size()));
  for (int r = 0; r < q.size(); ++r) {
    const auto pending = parse_pending_action(q.bytes(r, 2));
    if (!pending) throw store_error(store_failure::corrupt, "a payment's pending action is not known");
    rows.push_back({q.int64(r, 0), q.time(r, 1), *pending, q.time(r, 3), static_cast<std::int32_t>(q.int64(r, 4))});
  }
  return rows;
}

std::int64_t pg_store::post_inbox(shard_id shard, std::int64_t payment_id, std::string_view kind,
                                  std::string_view body) {
  require_writable();
  return in_transaction(db_, [&] {
    const auto now = db_now();
    std::int64_t id = 0;
    try {
      id = db_.query("INSERT INTO inbox (shard, payment_id, kind, body, posted_at) VALUES ($1, $2, $3, $4, $5) "
                     "RETURNING id",
                     pg_params{}.add(std::int64_t{shard}).add(payment_id).add(kind).add(body).add(now))
               .int64(0, 0);
    } catch (const constraint_failed& e) {
      throw store_error(store_failure::internal, e.what());  // no such payment: a caller bug
    }
    // A wake-up only (delivered at commit, possibly coalesced or lost): owners read the table.
    db_.exec("NOTIFY cashierd_inbox");
    return id;
  });
}

std::vector<inbox_entry> pg_store::inbox_of(std::span<const shard_id> shards, std::int64_t after,
                                            std::size_t limit) {
  const std::string list = array_text(shards, [](shard_id s) { return std::int64_t{s}; });
  auto q = db_.query(
      "SELECT id, shard, payment_id, kind, body, posted_at FROM inbox "
      "WHERE shard = ANY ($1::text::integer[]) AND id > $2 ORDER BY id LIMIT $3",
      pg_params{}.add(std::string_view(list)).add(after).add(static_cast<std::int64_t>(std::min<std::size_t>(limit, 1'000'000))));
  std::vector<inbox_entry> rows;
  rows.reserve(static_cast<std::size_t>(q.size()));
  for (int r = 0; r < q.size(); ++r)
    rows.push_back({q.int64(r, 0), static_cast<shard_id>(q.int64(r, 1)), q.int64(r, 2), q.bytes(r, 3), q.bytes(r, 4),
                    q.time(r, 5)});
  return rows;
}

}  // namespace cashier::store
