// The scheduler: every decision of the daemon's driver about WHEN things happen, with no I/O and
// no clock reads (the sans-I/O half, as Boost.MySQL's sansio_connection_node is to its Asio
// connection_node). It owns the queue of inputs and their group-commit batching, the deadline
// heap with its two lanes, the outbound rate budget and the tokens deadlines prepay, the calls
// in flight and their cap, the hold after a store failure, and draining. The executor (the
// daemon's Asio driver, or the simulation's virtual world) hands it instants and results as
// plain values and carries out the actions it returns: post a flush, commit a batch, start a
// call, arm the timer, wake the watchers of a payment, probe the store. Refunds (issue 16) are
// scheduled by the same rules, beside the payments: their deadlines in the same heap (urgent
// lane), their calls paid from the same budget and counted against the same cap, their commits
// in the same flush (one refund_engine.apply each, after the payments' batches); the refund
// entry points live in scheduler_refunds.cpp. It never calls the
// engine, the store or the network itself, so a test drives it with made-up instants and a
// simulated world drives the very same code. Its invariants are checked after every entry
// point and stay on in release builds (a broken one calls the handler, which aborts by default).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "orchestrator/engine/deadline_heap.hpp"
#include "orchestrator/engine/engine.hpp"
#include "orchestrator/engine/rate_budget.hpp"
#include "orchestrator/engine/refunds.hpp"
#include "state/store/cluster_store.hpp"

namespace cashier::engine {

/// The Alipay+ call an effect asks for.
enum class call_kind {
  pay,      ///< pay (the stored request bytes)
  inquiry,  ///< inquiryPayment
  cancel,   ///< cancelPayment
};

/// "pay", "inquiryPayment" or "cancelPayment".
std::string_view api_name(call_kind kind);
/// The machine event for a call of `kind` that ended without an answer, for reason `why`.
event no_answer_of(call_kind kind, no_answer_reason why);

/// The Alipay+ call a refund effect asks for.
enum class refund_call {
  refund,   ///< refund (the refund's stored request bytes)
  inquiry,  ///< inquiryPayment of its payment, to find the refund in transactions[]
};

/// A refund's key in the deadline heap, the calls in flight and the hold after a store failure:
/// the negative of its id, so a refund never collides with a payment (ids are positive).
constexpr std::int64_t refund_key(std::int64_t refund_id) { return -refund_id; }

/// One input to a refund: its timer, its call's answer or the confirming inquiry's answer, with
/// the call records that produced it.
struct refund_input {
  std::int64_t refund_id = 0;              ///< the refund (store id)
  refund_event ev;                         ///< what happened
  std::vector<store::call_record> calls;   ///< the call that produced it, for the audit trail
};

/// Deliberate scheduler bugs, for the simulation to prove its checks catch them. Always `none`
/// in the daemon.
enum class scheduler_flaw {
  none,             ///< the real behaviour
  leak_token,       ///< a prepaid token of a deadline whose call is not made is never refunded
  ignore_cap,       ///< due deadlines fire whatever the calls in flight
  fire_early,       ///< deadlines fire up to five seconds before their time
  cancel_over_pay,  ///< a cancel starts while a pay of the same payment is in flight
  refund_skips_budget,  ///< refund calls take no budget token (the refund driver before issue 15)
};

/// The scheduler's limits; the defaults are the daemon's.
struct scheduler_limits {
  /// Inputs committed together at most; more wait for the next batch of the same flush.
  std::size_t max_batch = 512;
  /// Due deadlines looked at per tick; the rest on the next tick.
  std::size_t max_due_per_tick = 2048;
  /// Alipay+ calls under way at most before due deadlines wait in the heap: enough to keep the
  /// gateway's connections (16) busy, few enough that when Alipay+ answers slower than the
  /// budget allows, the backlog waits in the heap instead of in the HTTP client's queue (and
  /// times out). Calls that cannot wait (a new payment's pay, a requested cancel) do not count
  /// against it when they start, only while they are in flight.
  std::size_t max_calls_in_flight = 64;
  /// Of this many deadlines fired in a row while both lanes have due ones, the last is a poll:
  /// the urgent lane goes first, but a flood of pays and cancels cannot starve polling.
  int polling_share = 8;
  /// After a failed commit, how long (wall clock) until the store is probed.
  std::chrono::nanoseconds retry_after_store_failure = std::chrono::seconds(1);
  /// A deliberate bug (the simulation's --inject-bug).
  scheduler_flaw flaw = scheduler_flaw::none;
};

/// Both clocks as plain values: the executor reads them in one place and hands them in.
struct instants {
  time_point payment;          ///< the payment clock (deadlines, the machine)
  rate_budget::instant wall;   ///< the wall clock (the rate budget)
};

/// The executor's handle on whoever waits for one input's commit; 0 = nobody.
using ticket = std::uint64_t;

/// Inputs to commit in one engine.apply, and who waits for each (same order).
struct batch {
  std::vector<input> inputs;    ///< to commit
  std::vector<ticket> tickets;  ///< who waits for each
};

/// Call flush() on a later reactor turn (inputs are queued and no flush is scheduled).
struct flush_soon {};
/// Start Alipay+ call `kind` for `p`; report its end with call_ended().
struct start_call {
  call_kind kind;  ///< which call
  payment p;       ///< the payment as committed
};
/// Start refund call `kind` for refund `refund_id`; report its end with refund_call_ended().
struct start_refund_call {
  refund_call kind;          ///< which call
  std::int64_t refund_id;    ///< the refund (store id)
};
/// Wake whoever waits for refund `refund_id` to settle (it was committed SUCCESS or FAIL).
struct wake_refund_watchers {
  std::int64_t refund_id;  ///< the refund
};
/// Wake whoever waits for payment `id` to change (it was committed with a change).
struct wake_watchers {
  std::int64_t id;  ///< the payment
};
/// Arm the one timer (replacing any armed one) and report it with timer_fired(at): when the
/// payment clock reaches `at`, or, when `due` (it has, and the budget is short), after
/// `budget_wait` of wall time.
struct arm_timer {
  time_point at;                         ///< the earliest deadline in the heap
  std::chrono::nanoseconds budget_wait;  ///< when `due`: wall time until a token is there
  bool due;                              ///< `at` is not in the future
};
/// Disarm the timer (nothing armed, draining, or every call slot taken: an answer re-arms).
struct cancel_timer {};
/// After `wait` of wall time, call store_retry_due().
struct arm_store_retry {
  std::chrono::nanoseconds wait;  ///< wall time
};
/// Write a small probe to the store and report it with probe_result().
struct probe_store {};
/// A due deadline left the heap `late` after its time (metrics).
struct deadline_fired {
  call_lane lane;  ///< the lane it waited in
  duration late;   ///< payment-clock time past its due instant (timer, reactor, budget)
};
/// What a notice reports (a log line for the daemon, a counter for the simulation).
enum class notice_kind {
  call_deferred,    ///< a call over even the borrowed budget was not made (its guard resends it)
  cancel_deferred,  ///< a cancel was held back behind the same payment's pay in flight
  rate_lowered,     ///< REQUEST_TRAFFIC_EXCEED_LIMIT lowered the outbound rate (`value`)
  store_failed,     ///< the first failed commit: the store cannot commit
  store_recovered,  ///< a probe committed after failures (`value`: failures so far)
};
/// Something worth a log line.
struct notice {
  notice_kind kind;            ///< what
  std::int64_t payment_id = 0; ///< the payment, if one
  double value = 0;            ///< a figure, per kind
  std::int64_t refund_id = 0;  ///< the refund, if one
};
/// One thing for the executor to do.
using action = std::variant<flush_soon, start_call, wake_watchers, arm_timer, cancel_timer, arm_store_retry,
                            probe_store, deadline_fired, notice, start_refund_call, wake_refund_watchers>;
/// Kinds of action (the index of the variant).
inline constexpr std::size_t action_kinds = std::variant_size_v<action>;
/// The name of action kind `index` ("flush_soon", "start_call", …).
std::string_view action_name(std::size_t index);

/// Counters of what the scheduler did.
struct scheduler_stats {
  std::uint64_t batches = 0;           ///< batches handed out and committed
  std::uint64_t inputs = 0;            ///< inputs committed
  std::uint64_t store_failures = 0;    ///< batches whose commit failed
  bool store_writable = true;          ///< false from a failed commit until a probe commits
  std::size_t armed_deadlines = 0;     ///< payments and refunds in the deadline heap
  std::uint64_t refund_inputs = 0;     ///< refund inputs committed
  std::size_t calls_in_flight = 0;     ///< Alipay+ calls under way
  std::uint64_t budget_deferred = 0;   ///< calls not made for want of budget
  std::uint64_t hints_skipped = 0;     ///< hint inquiries skipped for want of budget
  std::uint64_t cancels_deferred = 0;  ///< cancels held back behind a pay in flight
  std::uint64_t budget_waits = 0;      ///< ticks that stopped on an empty budget
  std::uint64_t cap_waits = 0;         ///< ticks that stopped on the cap of calls in flight
  std::uint64_t tokens_refunded = 0;   ///< prepaid tokens given back
  std::uint64_t tokens_borrowed = 0;   ///< calls that took a token outside the heap (take_now)
  double worst_urgent_lateness_s = 0;  ///< most a due urgent deadline fired late (payment clock)
  double worst_polling_lateness_s = 0; ///< most a due polling deadline fired late (payment clock)
  std::array<std::uint64_t, action_kinds> actions{};  ///< actions emitted, by kind
  std::array<std::uint64_t, 2> fired{};  ///< deadlines fired, by lane (urgent, polling)
};

/// The driver's policy: what commits, fires and calls when.
class scheduler {
 public:
  /// A scheduler with `limits` and an unlimited budget.
  explicit scheduler(scheduler_limits limits = {});

  /// Re-arms every open payment (engine.recover()) and arms the timer.
  void recover(std::span<const store::deadline> open, instants now);
  /// Queues `in` (waited for by `t`) for the next group commit. With `hold_for_ack`, the calls
  /// of its decision wait when that decision must be acked (a verified notify): they start at
  /// ack_written(t), so the ack leaves before, e.g., the cancel of an amount mismatch.
  void submit(input in, ticket t, bool hold_for_ack = false);
  /// True while the calls of the input waited for by `t` are held for its ack.
  bool holding(ticket t) const { return held_for_ack_.contains(t); }
  /// The ack of the input waited for by `t` was written (or could not be): its held calls start
  /// now, paid like any call that cannot wait. An unknown or released ticket does nothing.
  void ack_written(ticket t, instants now);
  /// A posted flush begins: the deadlines due by now join the queued inputs.
  void begin_flush(instants now);
  /// The next batch to commit (at most max_batch inputs), or nothing when the queue is empty.
  /// Exactly one of committed() or commit_failed() must follow before the next call.
  std::optional<batch> next_batch();
  /// The batch just handed out is durable with `outs` (engine.apply's, same order).
  void committed(const batch& b, std::span<const output> outs, instants now);
  /// The batch just handed out failed to commit (store_error): nothing of it was written.
  void commit_failed(const batch& b);
  /// Re-arms every PROCESSING refund (refund_engine.recover()) and arms the timer. Also after a
  /// payment commit that created a refund (a cancel after the window): arming one already
  /// armed moves it to its stored deadline, and one in flight is skipped when it comes due.
  void recover_refunds(std::span<const store::refund_deadline> open, instants now);
  /// refund_engine.create stored refund `r` (PROCESSING) with `effects`: arms its answer guard
  /// and starts its first send, paid like any call that cannot wait (the merchant waits).
  void refund_created(const refund& r, std::span<const refund_effect> effects, instants now);
  /// The next refund input to commit (after the payments' batches of the same flush), or
  /// nothing. Exactly one of refund_committed() or refund_commit_failed() must follow before
  /// the next batch or refund is handed out.
  std::optional<refund_input> next_refund();
  /// The refund input just handed out is durable with `out` (refund_engine.apply's).
  void refund_committed(const refund_input& in, const refund_output& out, instants now);
  /// The refund input just handed out failed to commit (store_error): nothing was written.
  void refund_commit_failed(const refund_input& in);
  /// A refund call ended with `answer` (its event: an answer, or no answer); queues it.
  void refund_call_ended(refund_input answer, instants now);
  /// The flush ends: arms the timer for what is left.
  void end_flush(instants now);
  /// The timer armed for `at` went off.
  void timer_fired(time_point at, instants now);
  /// A call of `kind` ended with `answer` (its event: an answer, or no_answer_of()); queues it,
  /// waited for by `t`.
  void call_ended(call_kind kind, input answer, instants now, ticket t = 0);
  /// The wall-clock wait of arm_store_retry is over.
  void store_retry_due();
  /// The probe write committed (`ok`) or failed.
  void probe_result(bool ok, instants now);
  /// Stops starting calls and firing deadlines (shutdown); queued inputs still commit.
  void drain();

  // Cluster mode (proto-docs/cluster.md): the scheduler acts only for the shards the lease
  // manager (shard_leases.hpp) gives it. The executor carries out the manager's actions here.
  /// Turns cluster mode on for a database of `shards` shards: nothing is acted for until
  /// start_acting. Call before anything else.
  void enable_shards(store::shard_id shards);
  /// Takes shard `shard` over: arms its open payments (cluster_store::open_deadlines_of) as
  /// recover() does.
  void start_acting(store::shard_id shard, std::span<const store::deadline> open, instants now);
  /// Stops acting for `shard` now: its deadlines leave the heap, its queued inputs and the calls
  /// held for an ack are dropped (prepaid tokens refunded), answers of its calls in flight are
  /// not committed. Returns the tickets of the dropped inputs: their waiters must be told.
  std::vector<ticket> stop_acting(store::shard_id shard, instants now);
  /// Takeover of `shard`'s refunds: arms the PROCESSING refunds of its payments (the executor
  /// picks them out of refund_engine::recover() by their payment's shard) and ties them to the
  /// shard, so stop_acting drops them too. A refund belongs to its payment's shard.
  void start_acting_refunds(store::shard_id shard, std::span<const store::refund_deadline> open, instants now);
  /// True when this scheduler acts for `shard` (always outside cluster mode).
  bool acts_for(store::shard_id shard) const;
  /// The shard of `p` (0 outside cluster mode).
  store::shard_id shard_of(const payment& p) const;
  /// Tickets of inputs dropped because a commit came back not_owner (their shard was dropped).
  std::vector<ticket> take_dropped_tickets() { return std::exchange(dropped_tickets_, {}); }
  /// The lease manager's budget share (set_share): calls per second for this instance.
  void set_budget_share(double per_second);

  /// Moves the actions emitted since the last take into `into` (cleared first).
  void take_actions(std::vector<action>& into);
  /// True when no call is in flight and no input is queued.
  bool idle() const { return in_flight_.empty() && queue_.empty() && refunds_queued_.empty(); }
  /// True once drain() was called.
  bool draining() const { return draining_; }
  /// The outbound call budget (unlimited until set).
  rate_budget& budget() { return budget_; }
  /// The deadline heap (read-only).
  const deadline_heap& heap() const { return heap_; }
  /// Counters.
  scheduler_stats stats() const;
  /// Called with a description when an invariant breaks (default: print it and abort).
  void on_broken_invariant(std::function<void(std::string_view)> handler) { broken_ = std::move(handler); }

 private:
  struct queued {
    input in;
    ticket t = 0;
    bool prepaid = false;  // a deadline that took a budget token when it left the heap
    bool hold = false;     // submit(hold_for_ack): an acked decision's calls wait for ack_written
    store::shard_id shard = -1;  // cluster mode: the payment's shard (-1: not known, the fence decides)
  };
  // A committed decision whose calls wait for its ack: the event (for the budget's choice) and
  // the output whose effects they are.
  struct held_calls {
    event ev;
    output out;
  };
  struct flight {
    int total = 0;  // calls under way for the payment
    int pays = 0;   // of which pay calls
  };

  void emit(action a);
  void enqueue(input in, ticket t, bool prepaid, bool hold = false);
  void after_commit(const input& in, bool prepaid, bool hold, ticket t, const output& out, instants now);
  void start_calls(const input& in, bool prepaid, const output& out, instants now);
  bool admit(call_kind kind, const event& ev, std::int64_t id, instants now);
  bool may_start(call_kind kind, const payment& p);
  void start(call_kind kind, const payment& p);
  void give_back_token();  // a prepaid token whose call was not made goes back to the budget
  void arm();
  void set_timer(instants now);
  void fire_due(instants now);
  void fired(const due_deadline& due, instants now);
  bool saturated() const;
  void retry_store();
  void ensure(bool ok, std::string_view what);
  void check();
  // Refunds (scheduler_refunds.cpp).
  struct queued_refund {
    refund_input in;
    bool prepaid = false;  // a deadline that took a budget token when it left the heap
  };
  void enqueue_refund(refund_input in, bool prepaid);
  void start_refund_calls(const refund& r, std::span<const refund_effect> effects, bool prepaid, instants now);
  bool admit_refund(std::int64_t refund_id, instants now);
  store::shard_id shard_of_input(const input& in) const;
  std::vector<ticket> drop_shard(store::shard_id shard);

  scheduler_limits limits_;
  deadline_heap heap_;
  rate_budget budget_;
  std::vector<queued> queue_;
  std::vector<queued_refund> refunds_queued_;
  bool refund_in_commit_ = false;  // the one handed out by next_refund(), until its result
  std::vector<bool> in_commit_;  // prepaid flags of the batch handed out, until its result
  std::vector<bool> hold_in_commit_;  // hold flags of the batch handed out, until its result
  std::unordered_map<ticket, held_calls> held_for_ack_;
  bool committing_ = false;
  bool flush_scheduled_ = false;
  bool flushing_ = false;  // between begin_flush and end_flush
  time_point timer_at_ = never;
  int urgent_run_ = 0;  // urgent deadlines fired since the last poll
  std::unordered_map<std::int64_t, flight> in_flight_;
  std::size_t calls_in_flight_ = 0;
  // Prepaid tokens: taken when a deadline leaves the heap; each is then spent by the call its
  // commit starts or refunded. taken == spent + refunded + outstanding, always.
  std::size_t prepaid_outstanding_ = 0;
  std::uint64_t prepaid_taken_ = 0;
  std::uint64_t prepaid_spent_ = 0;
  std::uint64_t prepaid_refunded_ = 0;
  bool draining_ = false;
  // After a failed commit (disk full, read-only, I/O error): the payments whose inputs were
  // lost, re-armed once a probe write commits (on the wall clock: a scaled clock must not spin).
  std::unordered_set<std::int64_t> held_;
  bool store_retry_armed_ = false;
  scheduler_stats st_;
  std::vector<action> out_;
  std::function<void(std::string_view)> broken_;
  // Cluster mode: shards in the database (0 = off), those acted for, and the shard of every
  // payment armed or committed since its shard was taken over.
  store::shard_id shard_count_ = 0;
  std::vector<bool> acting_;
  std::unordered_map<std::int64_t, store::shard_id> shard_by_id_;
  std::vector<ticket> dropped_tickets_;
};

}  // namespace cashier::engine
