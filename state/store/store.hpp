// The payment store interface: the one port through which the orchestrator and the CLI keep and
// read payments. Writes are transitions committed in groups (one durable commit per batch);
// reads return plain records. No storage engine type appears here: SQLite lives behind
// open_sqlite_store (sqlite_store.hpp), and a PostgreSQL engine can implement the same class.
// Infrastructure failures (disk full, I/O error, read-only database, lock timeout) throw
// store_error; expected outcomes (a lost compare-and-set, a duplicate create) are values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "state/machine/payment.hpp"
#include "state/machine/time.hpp"
#include "state/store/records.hpp"

namespace cashier::store {

/// Why the storage engine failed; every kind means "nothing of the batch was written".
enum class store_failure {
  cannot_open,  ///< the database file or its directory cannot be opened or created
  busy,         ///< another writer held the lock past the busy timeout
  read_only,    ///< the database is read-only (file, medium, or opened read-only)
  disk_full,    ///< no space left
  io,           ///< an I/O error
  corrupt,      ///< the file is not a (sane) cashierd database
  schema,       ///< the schema version is newer than this build, or not yet migrated
  internal,     ///< anything else the engine reported
};

/// An infrastructure failure of the storage engine (STYLE rule 10: caught at the session edge).
class store_error : public std::runtime_error {
 public:
  /// A failure of `kind` described by `what`.
  store_error(store_failure kind, const std::string& what)
      : std::runtime_error(what), kind_(kind) {}
  /// What kind of failure this is.
  store_failure kind() const { return kind_; }

 private:
  store_failure kind_;
};

/// One atomic change: a payment's new state with everything that must commit with it, or (no
/// payment) a standalone log write. Records inside a transition with a payment belong to it.
struct transition {
  std::optional<payment> after{};             ///< the payment after the change; nothing = log-only
  std::int64_t expected_version = 0;          ///< the version read (CAS); 0 = insert a new payment
  std::optional<event_record> event{};        ///< the transition-log row (needs a payment)
  std::vector<outbox_record> outbox{};        ///< merchant events to enqueue
  std::vector<outbox_progress> deliveries{};  ///< outbox rows whose delivery state changes
  std::vector<call_record> calls{};           ///< Alipay+ calls to log
  std::vector<notify_record> notifies{};      ///< inbound notifies to log
  std::vector<webhook_attempt_record> webhook_attempts{};  ///< webhook attempts to log
  std::vector<anomaly_record> anomalies{};                 ///< anomalies to record
  /// Optional, for updates: the payment exactly as load() or find() returned it at
  /// `expected_version`. The store then finds the changed columns without re-reading the row;
  /// the compare-and-set still holds. Never pass a copy that was modified after the read.
  std::optional<payment> before{};
};

/// What happened to one transition of a committed batch.
enum class commit_status {
  committed,  ///< durable
  conflict,   ///< the payment's version was not `expected_version`: nothing of it was written
  duplicate,  ///< insert of a payment_request_id that exists: nothing of it was written
  rejected,   ///< it broke a store invariant (e.g. a repeated event_id): nothing of it was written
};

/// "committed", "conflict", "duplicate" or "rejected".
std::string_view to_string(commit_status s);

/// The outcome of one transition, in the order of the batch.
struct commit_outcome {
  commit_status status = commit_status::committed;  ///< what happened
  std::int64_t payment_id =
      0;  ///< committed: the payment (new id on insert); duplicate: the existing one
  std::int64_t version =
      0;  ///< committed: the version now stored; conflict: the version found (0 = none)
  std::string detail{};  ///< rejected: which invariant failed
};

/// A recovery entry: an open payment, when it wants to be woken, and what the daemon needs to
/// rank that wake-up (its pending action and polling deadline), all read from the recovery index.
struct deadline {
  std::int64_t payment_id = 0;  ///< the payment
  time_point next_action_at{};  ///< its next deadline (`never` when none is armed)
  pending_action pending = pending_action::none;  ///< what it waits on
  time_point poll_deadline_at{};                  ///< when polling stops and cancel starts
  friend bool operator==(const deadline&, const deadline&) = default;
};

/// Filter for list(): newest first.
struct list_query {
  std::optional<payment_status> status{};  ///< only this status, or all
  time_point since{};                      ///< only payments created at or after this instant
  std::size_t limit = 100;                 ///< at most this many
};

/// Filter for anomalies(): newest first.
struct anomaly_query {
  std::int64_t payment_id = 0;  ///< only this payment's, or 0 for all
  time_point since{};           ///< only anomalies at or after this instant
  std::size_t limit = 100;      ///< at most this many
};

/// Counters for `cashierctl stats` and the daemon's metrics.
struct store_stats {
  std::int64_t init = 0;                ///< payments in INIT
  std::int64_t in_process = 0;          ///< payments in IN_PROCESS
  std::int64_t success = 0;             ///< payments in SUCCESS
  std::int64_t fail = 0;                ///< payments in FAIL
  std::int64_t cancelled = 0;           ///< payments in CANCELLED
  std::int64_t cancel_pending = 0;      ///< payments whose pending action is CANCEL
  std::int64_t open_past_deadline = 0;  ///< open payments whose poll deadline is before `now`
  std::int64_t outbox_pending = 0;      ///< merchant events not yet delivered
  std::int64_t outbox_dead = 0;         ///< merchant events given up on
  duration oldest_pending_age{};  ///< now - created_at of the oldest pending event (0 if none)
  std::int64_t anomalies = 0;     ///< anomalies recorded
};

/// The payment store. One object is used by one thread at a time; a process may open several
/// (e.g. a writer and a reader). Every read sees only committed data.
class payment_store {
 public:
  virtual ~payment_store() = default;

  /// Commits the batch durably in one engine transaction; each transition is all-or-nothing on
  /// its own (a conflict, duplicate or rejection skips only that one). Throws store_error.
  virtual std::vector<commit_outcome> commit(std::span<const transition> batch) = 0;
  /// Commits one transition (a batch of one).
  commit_outcome commit_one(const transition& t) {
    return commit(std::span<const transition>(&t, 1)).front();
  }

  /// The payment with this payment_request_id, or nothing.
  virtual std::optional<payment> find(std::string_view payment_request_id) = 0;
  /// The store id of the payment with this payment_request_id, or nothing: an index lookup that
  /// reads no payment row (for callers that only route an input to the payment).
  virtual std::optional<std::int64_t> id_of(std::string_view payment_request_id) = 0;
  /// The payment with this store id, or nothing.
  virtual std::optional<payment> load(std::int64_t id) = 0;
  /// The payment whose hosted-page id is `checkout_id` (one unique-index lookup), or nothing;
  /// an empty id finds nothing.
  virtual std::optional<payment> find_by_checkout(std::string_view checkout_id) = 0;
  /// Every open payment (non-final, or a pending action) with its next deadline, earliest first.
  virtual std::vector<deadline> open_deadlines() = 0;
  /// Payments matching `q`, newest first.
  virtual std::vector<payment> list(const list_query& q) = 0;
  /// Open payments whose poll deadline is before `now`, oldest deadline first.
  virtual std::vector<payment> overdue(time_point now, std::size_t limit) = 0;

  /// The payment's transition log, oldest first.
  virtual std::vector<event_record> events_of(std::int64_t payment_id) = 0;
  /// The payment's Alipay+ calls, oldest first.
  virtual std::vector<call_record> calls_of(std::int64_t payment_id) = 0;
  /// The payment's inbound notifies, oldest first.
  virtual std::vector<notify_record> notifies_of(std::int64_t payment_id) = 0;
  /// The payment's merchant events, in sequence order.
  virtual std::vector<outbox_record> outbox_of(std::int64_t payment_id) = 0;
  /// Delivery attempts of the payment's merchant events, oldest first.
  virtual std::vector<webhook_attempt_record> webhook_attempts_of(std::int64_t payment_id) = 0;
  /// Anomalies matching `q`, newest first.
  virtual std::vector<anomaly_record> anomalies(const anomaly_query& q) = 0;

  /// The merchant events feed: events after cursor `after` (an outbox row id) in commit order;
  /// only `merchant_id`'s when not empty.
  virtual std::vector<outbox_record> events_feed(std::string_view merchant_id, std::int64_t after,
                                                 std::size_t limit) = 0;
  /// Pending merchant events whose next attempt is at or before `now`, earliest first.
  virtual std::vector<outbox_record> due_outbox(time_point now, std::size_t limit) = 0;
  /// Dead merchant events, oldest first.
  virtual std::vector<outbox_record> dead_outbox(std::size_t limit) = 0;
  /// The merchant event with this event_id, or nothing.
  virtual std::optional<outbox_record> outbox_by_event_id(std::string_view event_id) = 0;

  /// Counts per status, overdue payments at `now`, outbox backlog.
  virtual store_stats stats(time_point now) = 0;

  /// The value stored under `key`, or nothing.
  virtual std::optional<std::string> meta(std::string_view key) = 0;
  /// Stores `value` under `key` durably (replacing any value).
  virtual void set_meta(std::string_view key, std::string_view value) = 0;
  /// Stores `value` under `key` unless a value is there; returns the value now stored.
  virtual std::string meta_or_set(std::string_view key, std::string_view value) = 0;
};

}  // namespace cashier::store
