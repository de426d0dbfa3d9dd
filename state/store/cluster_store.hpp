// The cluster port of the store (proto-docs/cluster.md): the shard table with its leases, the
// fenced group commit and the inbox, beside payment_store rather than inside it, so an engine
// that implements only payment_store still builds. Every lease instant is the DATABASE's clock,
// returned by the call that read or wrote it (the caller never compares it with its own clock);
// the SQLite engine takes that clock at open (sqlite_options::clock), PostgreSQL reads the
// server's clock_timestamp() (pg_cluster.cpp).
// Expected outcomes (a shard someone else holds, a transition for a lost shard) are values;
// infrastructure failures throw store_error, as in store.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "state/store/store.hpp"

namespace cashier::store {

/// A shard number, 0 .. shard_count - 1.
using shard_id = std::int32_t;

/// Shards of a new database (fixed at creation, stored in meta `shard_count`).
inline constexpr shard_id default_shard_count = 64;

/// The shard of the payment Alipay+ knows by `alipay_payment_request_id`: FNV-1a (64-bit) of its
/// bytes mod `shard_count`. Stable across builds, engines and platforms: never change it.
shard_id shard_of(std::string_view alipay_payment_request_id, shard_id shard_count);
/// The shard of payment `p` (by alipay_request_id()).
inline shard_id shard_of(const payment& p, shard_id shard_count) {
  return shard_of(alipay_request_id(p), shard_count);
}

/// One row of the shard table.
struct shard_lease {
  shard_id shard = 0;        ///< the shard
  std::string owner{};       ///< the instance holding it ("" = free)
  std::int64_t epoch = 0;    ///< bumped by every claim: the fencing token
  time_point lease_until{};  ///< database clock; the lease has lapsed once the database's now passes it
  friend bool operator==(const shard_lease&, const shard_lease&) = default;
};

/// A shard and the epoch its holder claimed it at.
struct shard_epoch {
  shard_id shard = 0;      ///< the shard
  std::int64_t epoch = 0;  ///< the epoch
  friend bool operator==(const shard_epoch&, const shard_epoch&) = default;
};

/// The answer of a lease call: what the database's clock read, the rows the call changed
/// (claimed, renewed or released, in shard order) and the whole table after it.
struct lease_answer {
  time_point db_now{};               ///< the database's clock at the statement
  std::vector<shard_lease> changed;  ///< rows this call claimed / renewed / released
  std::vector<shard_lease> table;    ///< every shard row after the call, in shard order
  int live_instances = 0;            ///< instances whose presence has not lapsed, the caller included
};

/// One inbox row: an input for a payment of `shard`, posted by any instance, applied by the owner.
struct inbox_entry {
  std::int64_t id = 0;          ///< row id (the order of posting)
  shard_id shard = 0;           ///< the payment's shard
  std::int64_t payment_id = 0;  ///< the payment
  std::string kind{};           ///< what the input is ("notify", "cancel", ...; the poster's encoding)
  std::string body{};           ///< the encoded input
  time_point posted_at{};       ///< database clock
  friend bool operator==(const inbox_entry&, const inbox_entry&) = default;
};

/// An inbox row a batch applies: deleted in the same transaction, if `shard` passes the fence and
/// the transition `transition` (index in the batch; nothing = the input wrote nothing) ended
/// committed, duplicate or rejected. A conflict or not_owner keeps the row for a retry.
struct inbox_applied {
  std::int64_t inbox_id = 0;                ///< the row
  shard_id shard = 0;                       ///< its shard
  std::optional<std::size_t> transition{};  ///< the transition that applied it, if any
};

/// The cluster half of a store. One object is used by one thread at a time.
class cluster_store {
 public:
  virtual ~cluster_store() = default;

  /// The number of shards (fixed at database creation).
  virtual shard_id shard_count() = 0;
  /// The shard table as it is (nothing changed).
  virtual lease_answer shards() = 0;
  /// Claims, for `owner`, up to `want` shards that are free or whose lease has lapsed (by the
  /// database's clock), lowest first: each one's epoch + 1, lease_until = now + `lease`. With
  /// `force`, takes the shards listed in `only` (or all, when empty) whoever holds them: a
  /// single instance starting on its own file. Also records `owner` as live until now + lease.
  virtual lease_answer claim(std::string_view owner, int want, duration lease, bool force = false,
                             std::span<const shard_id> only = {}) = 0;
  /// Extends to now + `lease` the shards of `held` that `owner` still holds at that epoch with a
  /// lease not yet lapsed; `changed` lists those (a missing one is lost). Records presence too.
  virtual lease_answer renew(std::string_view owner, std::span<const shard_epoch> held, duration lease) = 0;
  /// Frees the shards of `held` that `owner` holds at that epoch (owner cleared, lease lapsed).
  virtual lease_answer release(std::string_view owner, std::span<const shard_epoch> held) = 0;

  /// commit() fenced: in the same transaction, each transition with a payment commits only if
  /// that payment's shard is in `fence` at the epoch the shard table holds now; else it writes
  /// nothing and comes back `not_owner`. Log-only transitions are not fenced. `applied` inbox
  /// rows are deleted with the transition that applied them (inbox_applied).
  virtual std::vector<commit_outcome> commit_fenced(std::span<const transition> batch,
                                                    std::span<const shard_epoch> fence,
                                                    std::span<const inbox_applied> applied = {}) = 0;
  /// open_deadlines() of the payments in `shards` only, earliest first (takeover).
  virtual std::vector<deadline> open_deadlines_of(std::span<const shard_id> shards) = 0;
  /// open_refund_deadlines() of the payments in `shards` only, earliest first (a takeover arms
  /// the shard's PROCESSING refunds too: their former owner dropped them on not_owner).
  virtual std::vector<refund_deadline> open_refund_deadlines_of(std::span<const shard_id> shards) = 0;
  /// due_outbox() of the payments in `shards` only: their pending merchant events whose next
  /// attempt is at or before `now`, earliest first. In cluster mode a payment's webhooks are sent
  /// by its shard's owner alone, which keeps them in order (PRODUCT.md, webhook_sender.hpp).
  virtual std::vector<outbox_record> due_outbox_of(std::span<const shard_id> shards, time_point now,
                                                   std::size_t limit) = 0;

  /// Posts an input for payment `payment_id` of `shard` (not fenced: any instance may post).
  /// Returns the row id; the post is durable when this returns.
  virtual std::int64_t post_inbox(shard_id shard, std::int64_t payment_id, std::string_view kind,
                                  std::string_view body) = 0;
  /// Up to `limit` inbox rows of `shards` with an id above `after`, oldest first. Not a cursor
  /// to resume from: on PostgreSQL a row with a lower id can commit after a higher one was read
  /// (ids are drawn at insert), so an owner reads from 0 and skips the rows it has taken, by id.
  virtual std::vector<inbox_entry> inbox_of(std::span<const shard_id> shards, std::int64_t after,
                                            std::size_t limit) = 0;
};

/// A store with both halves (the SQLite engine's, and a cluster engine's).
class clustered_store : public payment_store, public cluster_store {};

}  // namespace cashier::store
