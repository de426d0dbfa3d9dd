// The cluster half of the SQLite store (cluster_store.hpp): the shard table, presence, the
// fence of a group commit and the inbox. Every change runs in an IMMEDIATE transaction, so the
// write lock orders claims, renewals and fenced commits of every connection to the file: a
// claim committed before a fenced batch took the lock makes that batch's transitions not_owner.
// The database's clock is the one given at open (sqlite_options::clock), read once per call.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "state/store/sqlite_store_impl.hpp"
#include "state/store/transition_rules.hpp"

namespace cashier::store {
namespace {

/// Reads one row of `SELECT shard, owner, epoch, lease_until`.
shard_lease read_lease(const sqlite_statement& q) {
  return {static_cast<shard_id>(q.int64(0)), q.bytes(1), q.int64(2), q.time(3)};
}

/// Runs `body` in an IMMEDIATE transaction, rolled back if it throws.
template <class Body>
auto in_write_transaction(sqlite_db& db, Body body) {
  db.query("BEGIN IMMEDIATE").run();
  try {
    auto r = body();
    db.query("COMMIT").run();
    return r;
  } catch (...) {
    db.rollback_quietly();
    throw;
  }
}

}  // namespace

std::vector<shard_lease> sqlite_store::read_shard_table() {
  std::vector<shard_lease> rows;
  rows.reserve(static_cast<std::size_t>(shard_count_));
  auto q = db_.query("SELECT shard, coalesce(owner, ''), epoch, lease_until FROM cluster_shards ORDER BY shard");
  while (q.step()) rows.push_back(read_lease(q));
  return rows;
}

lease_answer sqlite_store::shards() {
  lease_answer a;
  a.db_now = clock_();
  a.table = read_shard_table();
  auto q = db_.query("SELECT count(*) FROM cluster_instances WHERE seen_until >= ?1");
  q.bind(1, a.db_now);
  a.live_instances = q.step() ? static_cast<int>(q.int64(0)) : 0;
  return a;
}

// One lease call: presence of `owner` (until now + `presence`, when positive), the change
// (which returns the rows it changed), then the table and the live count, all in one transaction.
template <class Change>
lease_answer sqlite_store::lease_call(std::string_view owner, duration presence, Change change) {
  require_writable();
  return in_write_transaction(db_, [&] {
    lease_answer a;
    a.db_now = clock_();
    if (presence > duration::zero()) {
      auto p = db_.query(
          "INSERT INTO cluster_instances (instance, seen_until) VALUES (?1, ?2) "
          "ON CONFLICT (instance) DO UPDATE SET seen_until = excluded.seen_until");
      p.bind(1, owner).bind(2, a.db_now + presence).run();
    }
    a.changed = change(a.db_now);
    a.table = read_shard_table();
    auto q = db_.query("SELECT count(*) FROM cluster_instances WHERE seen_until >= ?1");
    q.bind(1, a.db_now);
    a.live_instances = q.step() ? static_cast<int>(q.int64(0)) : 0;
    return a;
  });
}

lease_answer sqlite_store::claim(std::string_view owner, int want, duration lease, bool force,
                                 std::span<const shard_id> only) {
  return lease_call(owner, lease, [&](time_point now) {
    std::vector<shard_id> pick;
    if (force) {
      if (only.empty()) {
        for (shard_id s = 0; s < shard_count_; ++s) pick.push_back(s);
      } else {
        pick.assign(only.begin(), only.end());
      }
    } else if (want > 0) {
      // Lapsed means the database's now is past lease_until (cluster_store.hpp).
      auto q = db_.query("SELECT shard FROM cluster_shards WHERE owner IS NULL OR lease_until < ?1 ORDER BY shard");
      q.bind(1, now);
      while (q.step() && static_cast<int>(pick.size()) < want) {
        const auto s = static_cast<shard_id>(q.int64(0));
        if (only.empty() || std::find(only.begin(), only.end(), s) != only.end()) pick.push_back(s);
      }
    }
    std::vector<shard_lease> claimed;
    for (const auto s : pick) {
      auto u = db_.query(
          "UPDATE cluster_shards SET owner = ?1, epoch = epoch + 1, lease_until = ?2 WHERE shard = ?3 "
          "RETURNING shard, owner, epoch, lease_until");
      u.bind(1, owner).bind(2, now + lease).bind(3, std::int64_t{s});
      if (u.step()) claimed.push_back(read_lease(u));
    }
    return claimed;
  });
}

lease_answer sqlite_store::renew(std::string_view owner, std::span<const shard_epoch> held, duration lease) {
  return lease_call(owner, lease, [&](time_point now) {
    std::vector<shard_lease> renewed;
    for (const auto& h : held) {
      auto u = db_.query(
          "UPDATE cluster_shards SET lease_until = ?1 WHERE shard = ?2 AND owner = ?3 AND epoch = ?4 "
          "AND lease_until >= ?5 RETURNING shard, owner, epoch, lease_until");
      u.bind(1, now + lease).bind(2, std::int64_t{h.shard}).bind(3, owner).bind(4, h.epoch).bind(5, now);
      if (u.step()) renewed.push_back(read_lease(u));
    }
    std::sort(renewed.begin(), renewed.end(), [](const auto& a, const auto& b) { return a.shard < b.shard; });
    return renewed;
  });
}

lease_answer sqlite_store::release(std::string_view owner, std::span<const shard_epoch> held) {
  return lease_call(owner, duration::zero(), [&](time_point) {
    std::vector<shard_lease> released;
    for (const auto& h : held) {
      auto u = db_.query(
          "UPDATE cluster_shards SET owner = NULL, lease_until = 0 WHERE shard = ?1 AND owner = ?2 "
          "AND epoch = ?3 RETURNING shard, coalesce(owner, ''), epoch, lease_until");
      u.bind(1, std::int64_t{h.shard}).bind(2, owner).bind(3, h.epoch);
      if (u.step()) released.push_back(read_lease(u));
    }
    // Holding nothing now (a drain): no longer live, so the others' targets rise at once.
    auto gone = db_.query(
        "UPDATE cluster_instances SET seen_until = 0 WHERE instance = ?1 "
        "AND NOT EXISTS (SELECT 1 FROM cluster_shards WHERE owner = ?1)");
    gone.bind(1, owner).run();
    return released;
  });
}

std::vector<commit_outcome> sqlite_store::commit_fenced(std::span<const transition> batch,
                                                        std::span<const shard_epoch> fence,
                                                        std::span<const inbox_applied> applied) {
  const fence_spec f{fence, applied};
  return commit_with(batch, &f);
}

// Inside the batch's transaction: which shards the fence holds at the epoch the table holds now.
std::vector<bool> sqlite_store::fence_passes(std::span<const shard_epoch> fence) {
  std::vector<bool> passes(static_cast<std::size_t>(shard_count_), false);
  for (const auto& row : read_shard_table()) {
    for (const auto& f : fence) {
      if (f.shard == row.shard && f.epoch == row.epoch && row.shard >= 0 && row.shard < shard_count_)
        passes[static_cast<std::size_t>(row.shard)] = true;
    }
  }
  return passes;
}

// The fence's rule (store::passes_fence in transition_rules.hpp) with this engine's lookups.
bool sqlite_store::passes_fence(const transition& t, const std::vector<bool>& passes) {
  return store::passes_fence(
      t, passes, shard_count_,
      [&](std::int64_t payment_row) -> std::optional<std::int64_t> {
        auto q = db_.query("SELECT shard FROM payments WHERE id = ?1");
        q.bind(1, payment_row);
        if (!q.step()) return std::nullopt;
        return q.int64(0);
      },
      [&](const std::string& event_id) -> std::optional<std::int64_t> {
        auto q = db_.query(
            "SELECT p.shard FROM merchant_outbox o JOIN payments p ON p.id = o.payment_id WHERE o.event_id = ?1");
        q.bind(1, event_id);
        if (!q.step()) return std::nullopt;
        return q.int64(0);
      });
}

void sqlite_store::delete_applied(const fence_spec& fenced, const std::vector<bool>& passes,
                                  const std::vector<commit_outcome>& outcomes) {
  for (const auto& a : fenced.applied) {
    if (a.shard < 0 || a.shard >= shard_count_ || !passes[static_cast<std::size_t>(a.shard)]) continue;
    if (a.transition) {
      if (*a.transition >= outcomes.size()) continue;
      const auto st = outcomes[*a.transition].status;
      if (st == commit_status::conflict || st == commit_status::not_owner) continue;  // kept for a retry
    }
    auto d = db_.query("DELETE FROM inbox WHERE id = ?1 AND shard = ?2");
    d.bind(1, a.inbox_id).bind(2, std::int64_t{a.shard}).run();
  }
}

std::vector<deadline> sqlite_store::open_deadlines_of(std::span<const shard_id> shards) {
  std::vector<deadline> rows;
  for (const auto s : shards) {
    // The partial index payments_open_by_shard covers it (the condition repeats the index's).
    auto q = db_.query(
        "SELECT id, next_action_at, pending, poll_deadline_at, shard FROM payments "
        "WHERE shard = ?1 AND (status IN ('INIT', 'IN_PROCESS') OR pending <> '') ORDER BY next_action_at");
    q.bind(1, std::int64_t{s});
    while (q.step()) {
      const auto pending = parse_pending_action(q.view(2));
      if (!pending) throw store_error(store_failure::corrupt, "a payment's pending action is not known");
      rows.push_back({q.int64(0), q.time(1), *pending, q.time(3), static_cast<std::int32_t>(q.int64(4))});
    }
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const deadline& a, const deadline& b) { return a.next_action_at < b.next_action_at; });
  return rows;
}

std::int64_t sqlite_store::post_inbox(shard_id shard, std::int64_t payment_id, std::string_view kind,
                                      std::string_view body) {
  require_writable();
  return in_write_transaction(db_, [&] {
    auto q = db_.query("INSERT INTO inbox (shard, payment_id, kind, body, posted_at) VALUES (?1, ?2, ?3, ?4, ?5)");
    q.bind(1, std::int64_t{shard}).bind(2, payment_id).bind(3, kind).bind_blob(4, body).bind(5, clock_());
    try {
      q.run();
    } catch (const constraint_failed& e) {
      throw store_error(store_failure::internal, e.what());  // no such payment: a caller bug
    }
    return db_.last_insert_rowid();
  });
}

std::vector<inbox_entry> sqlite_store::inbox_of(std::span<const shard_id> shards, std::int64_t after,
                                                std::size_t limit) {
  std::vector<inbox_entry> rows;
  for (const auto s : shards) {
    auto q = db_.query(
        "SELECT id, shard, payment_id, kind, body, posted_at FROM inbox WHERE shard = ?1 AND id > ?2 "
        "ORDER BY id LIMIT ?3");
    q.bind(1, std::int64_t{s}).bind(2, after).bind(3, static_cast<std::int64_t>(std::min<std::size_t>(limit, 1'000'000)));
    while (q.step())
      rows.push_back({q.int64(0), static_cast<shard_id>(q.int64(1)), q.int64(2), q.bytes(3), q.bytes(4), q.time(5)});
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  if (rows.size() > limit) rows.resize(limit);
  return rows;
}

}  // namespace cashier::store
