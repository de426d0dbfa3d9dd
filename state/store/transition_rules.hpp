// The rules every storage engine applies to a transition before it writes it, engine-neutral:
// the event must describe the change it logs, a fixed column never changes, and which inbound
// notifies count as rejected (kept within the budget). Internal to state/store: the SQLite
// (sqlite_store.cpp) and PostgreSQL (pg_store.cpp) write paths call these instead of each
// keeping its own copy. A broken rule throws constraint_failed (the transition is `rejected`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/machine/payment.hpp"
#include "state/store/records.hpp"
#include "state/store/sqlite_db.hpp"           // constraint_failed
#include "state/store/sqlite_payment_row.hpp"  // payment_columns(): the engine-neutral column table
#include "state/store/cluster_store.hpp"
#include "state/store/store.hpp"

namespace cashier::store {

/// The stored state a transition starts from, as column text (valid during the call it is
/// passed to); nothing for a creation.
struct stored_state {
  std::string_view status;   ///< status name
  std::string_view pending;  ///< pending action name
};

/// Throws constraint_failed unless event `e` leads from `from` (none: a creation) to `after`.
void check_event(const event_record& e, const payment& after, std::optional<stored_state> from);

/// Bit i set: column i of `p` differs from the stored value (`stored_holds(i, value)` false).
/// A differing fixed column is a broken invariant (constraint_failed).
template <class Holds>
std::uint64_t changed_columns(const payment& p, Holds stored_holds) {
  const auto columns = payment_columns();
  std::uint64_t changed = 0;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (stored_holds(i, columns[i].get(p))) continue;
    if (!columns[i].is_mutable) {
      throw constraint_failed("immutable field changed: " + std::string(columns[i].name));
    }
    changed |= std::uint64_t{1} << i;
  }
  return changed;
}

/// Authentic notifies are verified ("ok") or signed by Alipay+ but not decodable ("garbled");
/// every other verdict is a rejected notify, kept within the budget.
inline bool is_rejected(std::string_view verification) {
  return verification != "ok" && verification != "garbled";
}

/// The merchant events a transition's deliveries and webhook attempts name, each once, sorted
/// (a settled attempt names its event twice): what the fence looks up, one lookup per event.
std::vector<std::string_view> events_named(const transition& t);

/// The fence's rule for one transition of a fenced commit (cluster_store::commit_fenced), given
/// `passes[shard]` (held at the epoch the table holds) and the engine's lookups of a payment's
/// shard by row id and of an event's payment's shard by event id (nothing: not stored). A
/// transition with a payment passes when that payment's shard does. One without a payment
/// passes when every payment its refund writes, merchant-event deliveries and webhook attempts
/// name is in a shard that passes: the refund engine and the webhook sender write such
/// transitions, and a former owner must not move a refund or an event of a shard it lost. Other
/// log-only records (calls, notifies, anomalies) are append-only and not fenced. A name the store
/// does not know fences nothing (apply() rejects it).
template <class PaymentShard, class EventShard>
bool passes_fence(const transition& t, const std::vector<bool>& passes, std::int64_t shard_count,
                  PaymentShard payment_shard, EventShard event_shard) {
  const auto pass = [&](std::int64_t shard) {
    return shard >= 0 && shard < shard_count && passes[static_cast<std::size_t>(shard)];
  };
  if (t.after) return pass(shard_of(*t.after, static_cast<std::int32_t>(shard_count)));
  for (const auto& r : t.refunds) {
    const std::optional<std::int64_t> shard = payment_shard(r.after.payment_row);
    if (shard && !pass(*shard)) return false;
  }
  for (const auto e : events_named(t)) {
    const std::optional<std::int64_t> shard = event_shard(std::string(e));
    if (shard && !pass(*shard)) return false;
  }
  return true;
}

}  // namespace cashier::store
