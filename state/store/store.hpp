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
#include <utility>
#include <vector>

#include "state/machine/payment.hpp"
#include "state/machine/time.hpp"
#include "state/store/records.hpp"
#include "state/store/refund_records.hpp"

namespace cashier::store {

/// The paymentRequestId Alipay+ knows the payment by: its alipay_payment_request_id, or its
/// payment_request_id when none was set (payments made before cashierd had its own ids, and
/// tools that seed payments for a simulator keyed by the merchant's id).
inline std::string_view alipay_request_id(const payment& p) {
  return p.alipay_payment_request_id.empty() ? std::string_view(p.payment_request_id)
                                             : std::string_view(p.alipay_payment_request_id);
}

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
  /// Refunds to create or move, written before the rest. A refund inside a transition with a
  /// payment must belong to it. A duplicate (payment, refundRequestId) or a lost refund CAS makes
  /// the whole transition `duplicate` / `conflict` (refund_id and refund_version say which); a
  /// creation past the payment's amount or on a payment that is not refundable makes it
  /// `rejected` with detail refund_amount_exceed / payment_not_refundable.
  std::vector<refund_write> refunds{};
  /// Optional, for updates: the payment exactly as load() or find() returned it at
  /// `expected_version`. The store then finds the changed columns without re-reading the row;
  /// the compare-and-set still holds. Never pass a copy that was modified after the read.
  std::optional<payment> before{};
};

/// What happened to one transition of a committed batch.
enum class commit_status {
  committed,  ///< durable
  conflict,   ///< the payment's version was not `expected_version`: nothing of it was written
  duplicate,  ///< insert of a (merchant_id, payment_request_id) that exists: nothing written
  rejected,   ///< it broke a store invariant (e.g. a repeated event_id): nothing of it was written
  not_owner,  ///< a fenced commit (cluster_store.hpp): the payment's shard is no longer held at the
              ///< epoch given; nothing of it was written
};

/// "committed", "conflict", "duplicate", "rejected" or "not_owner".
std::string_view to_string(commit_status s);

/// The outcome of one transition, in the order of the batch.
struct commit_outcome {
  commit_status status = commit_status::committed;  ///< what happened
  std::int64_t payment_id =
      0;  ///< committed: the payment (new id on insert); duplicate: the existing one
  std::int64_t version =
      0;  ///< committed: the version now stored; conflict: the version found (0 = none)
  std::string detail{};  ///< rejected: which invariant failed
  /// The transition's last refund written (committed: its id, new on insert; duplicate: the
  /// existing one; conflict: the one whose version differed), or 0.
  std::int64_t refund_id = 0;
  std::int64_t refund_version = 0;  ///< that refund's version now stored (committed) or found
};

/// A recovery entry: an open payment, when it wants to be woken, and what the daemon needs to
/// rank that wake-up (its pending action and polling deadline), all read from the recovery index.
struct deadline {
  std::int64_t payment_id = 0;  ///< the payment
  time_point next_action_at{};  ///< its next deadline (`never` when none is armed)
  pending_action pending = pending_action::none;  ///< what it waits on
  time_point poll_deadline_at{};                  ///< when polling stops and cancel starts
  std::int32_t shard = 0;  ///< its shard (cluster_store::open_deadlines_of; 0 from open_deadlines)
  friend bool operator==(const deadline&, const deadline&) = default;
};

/// One page of the all-merchants events feed (payment_store::events_after).
struct feed_page {
  std::vector<outbox_record> events;  ///< in commit order
  std::string next;                   ///< the cursor after the last event (the one given when none)
};

/// Filter for list(): newest first.
struct list_query {
  std::optional<payment_status> status{};  ///< only this status, or all
  time_point since{};                      ///< only payments created at or after this instant
  std::size_t limit = 100;                 ///< at most this many
  std::string merchant_id{};               ///< only this merchant's, or all ("")
};

/// Filter for anomalies(): newest first.
struct anomaly_query {
  std::int64_t payment_id = 0;  ///< only this payment's, or 0 for all
  time_point since{};           ///< only anomalies at or after this instant
  std::size_t limit = 100;      ///< at most this many
};

/// Counters for `cashierctl stats` and the daemon's metrics.
/// How late, on the payment clock, a cut-off or an armed timer may be before the payment counts
/// as overdue in store_stats: the answer guard, a budget backlog, a restart's re-arming.
inline constexpr duration overdue_slack = std::chrono::minutes{10};

struct store_stats {
  std::int64_t init = 0;                ///< payments in INIT
  std::int64_t in_process = 0;          ///< payments in IN_PROCESS
  std::int64_t success = 0;             ///< payments in SUCCESS
  std::int64_t fail = 0;                ///< payments in FAIL
  std::int64_t cancelled = 0;           ///< payments in CANCELLED
  std::int64_t cancel_pending = 0;      ///< payments whose pending action is CANCEL
  std::int64_t overdue = 0;  ///< open payments cashierd left behind (see overdue_slack): must stay 0
  std::int64_t outbox_pending = 0;      ///< merchant events not yet delivered
  std::int64_t outbox_dead = 0;         ///< merchant events given up on
  duration oldest_pending_age{};  ///< now - created_at of the oldest pending event (0 if none)
  std::int64_t anomalies = 0;     ///< anomalies recorded
};

/// What `prune` removes (or, counting only, would remove): audit rows of payments that are final
/// (no pending action, no merchant event still being delivered) and last changed before a date,
/// plus orphan notifies and payment-less calls from before it. The payment row, its last
/// (final) event, its merchant events (the feed) and anomalies are kept.
struct prune_report {
  std::int64_t payments = 0;          ///< final payments whose audit rows are (would be) removed
  std::int64_t events = 0;            ///< transition-log rows other than each payment's last
  std::int64_t calls = 0;             ///< Alipay+ call rows
  std::int64_t notifies = 0;          ///< inbound notify rows (verified and rejected)
  std::int64_t webhook_attempts = 0;  ///< webhook delivery attempt rows
  friend bool operator==(const prune_report&, const prune_report&) = default;
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

  /// The payment Alipay+ knows by `alipay_payment_request_id` (alipay_request_id()), or nothing.
  virtual std::optional<payment> find(std::string_view alipay_payment_request_id) = 0;
  /// The store id of the payment Alipay+ knows by `alipay_payment_request_id`, or nothing: an
  /// index lookup that reads no payment row (for callers that only route an input to it).
  virtual std::optional<std::int64_t> id_of(std::string_view alipay_payment_request_id) = 0;
  /// Merchant `merchant_id`'s payment with its `payment_request_id`, or nothing.
  virtual std::optional<payment> find(std::string_view merchant_id,
                                      std::string_view payment_request_id) = 0;
  /// The store id of merchant `merchant_id`'s payment `payment_request_id`, or nothing.
  virtual std::optional<std::int64_t> id_of(std::string_view merchant_id,
                                            std::string_view payment_request_id) = 0;
  /// Up to `limit` payments, of any merchant, whose merchant paymentRequestId is
  /// `payment_request_id` (operators naming a payment without its merchant), oldest first.
  virtual std::vector<payment> find_any_merchant(std::string_view payment_request_id,
                                                 std::size_t limit) = 0;
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

  /// The refund with this store id, or nothing.
  virtual std::optional<refund> load_refund(std::int64_t id) = 0;
  /// The payment's refund with the merchant's `refund_request_id`, or nothing.
  virtual std::optional<refund> find_refund(std::int64_t payment_id,
                                            std::string_view refund_request_id) = 0;
  /// The refund Alipay+ knows by cashierd's `alipay_refund_request_id`, or nothing.
  virtual std::optional<refund> find_refund_by_alipay_id(std::string_view alipay_refund_request_id) = 0;
  /// The payment's refunds, oldest first.
  virtual std::vector<refund> refunds_of(std::int64_t payment_id) = 0;
  /// Every PROCESSING refund with its next deadline, earliest first (recovery).
  virtual std::vector<refund_deadline> open_refund_deadlines() = 0;
  /// The sum of the payment's refunds that are not FAIL (PROCESSING and SUCCESS), minor units.
  virtual std::int64_t refunded_or_pending(std::int64_t payment_id) = 0;
  /// The refund's Alipay+ calls, oldest first.
  virtual std::vector<call_record> calls_of_refund(std::int64_t refund_id) = 0;

  /// A merchant's events feed in commit order: `merchant_id`'s events whose feed_seq is after
  /// `after` (each merchant's feed_seq is assigned in commit order on every engine).
  virtual std::vector<outbox_record> events_feed(std::string_view merchant_id, std::int64_t after,
                                                 std::size_t limit) = 0;
  /// Every merchant's events in commit order after `cursor` ("" = from the start; otherwise the
  /// `next` of an earlier page: opaque digits), at most `limit`; nothing when `cursor` is not one
  /// this engine gives. No event is ever behind a cursor handed out before it committed, with any
  /// number of writers (PostgreSQL reads up to its oldest open write transaction: cluster.md).
  virtual std::optional<feed_page> events_after(std::string_view cursor, std::size_t limit) = 0;
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

  /// Removes the audit rows of payments final before `before` (see prune_report) in one
  /// transaction, or with `apply` false only counts them. The only path that deletes from the
  /// append-only logs. Throws store_error (read_only on a read-only store).
  virtual prune_report prune(time_point before, bool apply) = 0;
  /// Rejected (not authentic) notifies kept now: rows and stored bytes (body + headers).
  virtual std::pair<std::int64_t, std::int64_t> rejected_notifies() = 0;
};

/// What an operator's payment name resolved to (resolve_payment_name).
enum class name_resolution {
  found,      ///< exactly one payment
  not_found,  ///< none
  ambiguous,  ///< several merchants use that paymentRequestId: name the merchant
};

/// The payment an operator names (admin API, cashierctl): `name` is an alipayPaymentRequestId
/// or, with `merchant_id`, that merchant's paymentRequestId; without a merchant, a merchant's
/// paymentRequestId is accepted too when exactly one payment answers to the name.
struct named_payment {
  name_resolution resolution = name_resolution::not_found;  ///< what was found
  std::optional<payment> p{};                              ///< the payment, when found
};

/// Resolves an operator's payment name (see named_payment) on `s`.
named_payment resolve_payment_name(payment_store& s, std::string_view name,
                                   std::optional<std::string_view> merchant_id);

}  // namespace cashier::store
