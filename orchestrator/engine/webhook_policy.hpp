// The webhook policy: every decision of the merchant-webhook sender about WHICH outbox row goes
// out WHEN, with no I/O and no clock reads (the sans-I/O half of orchestrator/daemon/
// webhook_sender, as the scheduler is of the driver). It owns the attempts under way and their
// slots (in total and per merchant), the per-payment ordering (a row waits while an earlier row
// of its payment is pending), the retry schedule and the give-up rule (webhook_delay(); dead
// when it runs out), an operator's redeliver during an attempt, the rows stalled by a failed
// commit, and the instants the sender must wake at. The executor (the daemon's Asio sender, or
// the simulation's world) reads the store and the clocks, hands rows and instants in as plain
// values, and carries out what comes back: start a delivery, commit a deferral, commit the
// settled attempts, arm the wake-up. Its invariants are checked after every entry point.
//
// PRODUCT.md guarantee 5: at-least-once with a stable webhook-id, a payment's events in
// sequence order. A dead row no longer holds back the next one (the merchant can still order by
// `sequence` and the events feed); a redelivered earlier event holds back later pending ones.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "state/machine/time.hpp"
#include "state/store/records.hpp"
#include "state/store/store.hpp"

namespace cashier::engine {

/// Deliberate policy bugs, for the simulation to prove its checks catch them. Always `none` in
/// the daemon.
enum class webhook_flaw {
  none,            ///< the real behaviour
  drop_on_failure, ///< a failed attempt is settled as delivered (the event is lost)
  out_of_order,    ///< a row does not wait for the earlier pending rows of its payment
};

/// The policy's limits; the defaults are the daemon's.
struct webhook_limits {
  std::size_t max_in_flight = 32;  ///< deliveries under way at most
  /// Deliveries under way for one merchant at most: its slow or tarpit URLs cannot take every
  /// slot (its due rows beyond it are deferred by `attempt_timeout`, so other merchants' rows
  /// are read).
  std::size_t max_in_flight_per_merchant = 16;
  duration attempt_timeout = std::chrono::seconds(10);  ///< how far a share deferral moves a row
  webhook_flaw flaw = webhook_flaw::none;  ///< a deliberate bug (the simulation's --inject-bug)
};

/// How one delivery attempt ended.
enum class delivery_result {
  delivered,  ///< the merchant answered 2xx
  retry,      ///< it failed; another attempt is scheduled
  dead,       ///< it failed and the retry schedule is exhausted
};

/// "delivered", "retry" or "dead" (the `result` label of cashierd_webhooks_total).
std::string_view to_string(delivery_result r);

/// The merchant's answer to one attempt, as the executor saw it.
struct attempt_outcome {
  std::int32_t http_status = 0;          ///< 0 = no HTTP answer (refused, timeout, no route)
  std::string error;                     ///< empty on a 2xx
  std::chrono::microseconds latency{0};  ///< wall time of the attempt
  /// True on a 2xx.
  bool ok() const { return http_status >= 200 && http_status < 300; }
};

/// One committed attempt, for metrics and logs.
struct delivery_report {
  std::string event_id;                             ///< the outbox row
  delivery_result result = delivery_result::retry;  ///< what became of it
  std::int32_t http_status = 0;                     ///< 0 = no HTTP answer
  std::string error;                                ///< empty on a 2xx
  std::chrono::microseconds latency{0};             ///< wall time of the attempt
  std::int32_t attempts = 0;                        ///< attempts recorded for the row so far
};

/// A due row and what the executor read about it for the policy.
struct webhook_candidate {
  store::outbox_record row;             ///< as the due query returned it
  std::optional<std::string> merchant;  ///< its payment's merchant; nothing when the payment is gone
  /// Its payment's outbox rows (store.outbox_of), read only when needs_siblings(row).
  std::vector<store::outbox_record> siblings;
};

/// Deliver `row` now (sign and POST it) and report with attempt_ended(row.event_id, …).
struct start_delivery {
  store::outbox_record row;  ///< the row as read
  std::string merchant;      ///< its merchant ("" when the payment is gone: the attempt fails)
};
/// Commit `t`: the row may not go before `until` (its blocker's next attempt, or later when its
/// merchant's slots are taken), so the due query stops returning it until then.
struct defer_delivery {
  store::transition t;  ///< moves next_attempt_at
  time_point until;     ///< the new next_attempt_at
};
/// Nothing to do now: the row is under way, stalled, or waits for an earlier row under way or due.
struct leave_delivery {};
/// What to do with one candidate.
using admission = std::variant<start_delivery, defer_delivery, leave_delivery>;

/// The transitions to commit for the attempts that ended, and their reports (same order).
struct settlement {
  std::vector<store::transition> transitions;  ///< one per attempt: outbox progress + attempt log
  std::vector<delivery_report> reports;        ///< what each became
};

/// Counters of what the policy did (the simulation's coverage summary, metrics).
struct webhook_policy_stats {
  std::uint64_t started = 0;            ///< deliveries started
  std::uint64_t held_for_order = 0;     ///< rows deferred behind an earlier pending row of their payment
  std::uint64_t left_for_order = 0;     ///< rows left alone: an earlier row is under way or due
  std::uint64_t held_for_share = 0;     ///< rows deferred: their merchant's slots were taken
  std::uint64_t full = 0;               ///< polls that stopped: every slot was taken
  std::uint64_t delivered = 0;          ///< attempts settled delivered
  std::uint64_t retried = 0;            ///< attempts settled for another try
  std::uint64_t dead = 0;               ///< attempts settled dead (schedule exhausted)
  std::uint64_t redelivered_in_flight = 0;  ///< redelivers that met an attempt under way
  std::uint64_t commit_failures = 0;    ///< settlements whose commit failed (rows stalled)
  std::uint64_t attempts_lost = 0;      ///< attempts that ended with no outcome (rows stalled)
};

/// The sender's policy: which row goes out when, and what an attempt's end means.
class webhook_policy {
 public:
  /// A policy with `limits`.
  explicit webhook_policy(webhook_limits limits = {});

  /// Starts a poll at `now`: forgets the wake-ups that have passed. False when every slot is
  /// taken (do not read the due rows).
  bool begin_poll(time_point now);
  /// False once every slot is taken: stop reading candidates.
  bool has_room() const { return in_flight_.size() < limits_.max_in_flight; }
  /// Whether the executor needs more than `row` to decide: its merchant and, when
  /// needs_siblings(), its payment's rows. False for a row under way or stalled (left alone).
  bool worth_reading(const store::outbox_record& row) const;
  /// Whether admit() needs `row`'s siblings (a row that may have an earlier one).
  static bool needs_siblings(const store::outbox_record& row) { return row.seq > 1; }
  /// Decides about one due candidate at `now` (call in due order, while has_room()).
  admission admit(webhook_candidate c, time_point now);

  /// The attempt of `event_id` ended with `outcome`; true when it is the first to wait for
  /// settle() (the executor schedules one settle for all that end in the same turn).
  bool attempt_ended(const std::string& event_id, attempt_outcome outcome);
  /// The attempt of `event_id` ended without an outcome (an exception): it is forgotten and the
  /// row stalled until the next timer tick, untouched in the store (it stays due: at-least-once).
  void attempt_lost(const std::string& event_id);
  /// The transitions and reports of every attempt that ended since the last settle, at `now`.
  /// Exactly one of settled() or settle_failed() must follow.
  settlement settle(time_point now);
  /// The settlement committed with `outcomes` (same order); returns the reports of the attempts
  /// recorded (a row whose progress was not committed is not reported).
  std::vector<delivery_report> settled(const settlement& s, std::span<const store::commit_outcome> outcomes);
  /// The settlement's commit failed (store_error): nothing was written; its rows are stalled
  /// until the next timer tick.
  void settle_failed(const settlement& s);
  /// An operator made `row` pending again, due `now`, attempts 0: the transition to commit.
  static store::transition redeliver(const store::outbox_record& row, time_point now);
  /// The redeliver of `event_id` committed: an attempt under way keeps the fresh schedule.
  void redelivered(const std::string& event_id);
  /// The timer ticked: stalled rows may be tried again.
  void timer_ticked() { stalled_.clear(); }
  /// The earliest future next_attempt_at this policy wrote or saw committed, if any.
  std::optional<time_point> next_wake() const;

  /// Stops polling for good (shutdown); attempts under way still settle.
  void drain() { draining_ = true; }
  /// True once drain() was called.
  bool draining() const { return draining_; }
  /// True when no attempt is under way or waits for settle().
  bool idle() const { return in_flight_.empty() && ended_.empty(); }
  /// Deliveries under way (ended but not yet settled included).
  std::size_t in_flight() const { return in_flight_.size(); }
  /// Counters.
  const webhook_policy_stats& stats() const { return st_; }
  /// Called with a description when an invariant breaks (default: print it and abort).
  void on_broken_invariant(std::function<void(std::string_view)> handler) { broken_ = std::move(handler); }

 private:
  struct attempt {
    store::outbox_record row;  // as read when the attempt started
    std::string merchant;
    time_point started_at;     // payment clock
    bool redelivered = false;  // an operator redelivered the row while this was under way
  };
  struct ended {
    std::string event_id;
    attempt_outcome outcome;
  };

  defer_delivery defer(const store::outbox_record& row, time_point until);
  void release(const std::string& event_id);
  void ensure(bool ok, std::string_view what);
  void check();

  webhook_limits limits_;
  std::unordered_map<std::string, attempt> in_flight_;  // by event id
  std::unordered_map<std::string, std::size_t> busy_;   // merchant id -> attempts under way
  std::unordered_set<std::string> stalled_;             // skipped until the next timer tick
  std::vector<ended> ended_;                            // waiting for settle()
  std::vector<std::string> settling_;                   // handed out by settle(), until its result
  // Future next_attempt_at values written or committed: the sender wakes at the earliest.
  std::priority_queue<time_point, std::vector<time_point>, std::greater<>> wakes_;
  bool draining_ = false;
  webhook_policy_stats st_;
  std::function<void(std::string_view)> broken_;
};

}  // namespace cashier::engine
