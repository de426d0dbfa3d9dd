// The simulated cashierd process: the real engine over the real SQLite store, scheduled by the
// real scheduler (orchestrator/engine/scheduler.hpp) that the daemon's Asio driver executes.
// This file is only the world's side of that seam: it reads the virtual clock for both of the
// scheduler's clocks, carries out its actions on the agenda (a flush after a reactor turn of
// 0-10 ms, one engine.apply per batch, the timer, the store probe, the calls handed to the
// network), injects the process's faults (store failures and outages, a crash between a
// commit and its effects) and checks, from outside, that the calls it is asked to start stay
// within the configured budget and never put two pays of one payment in flight. Merchant
// webhooks go out as the production webhook policy (orchestrator/engine/webhook_policy.hpp)
// decides, the daemon's webhook_sender's seam: this file reads the due rows and what the policy
// needs from the store, hands the deliveries to the world's merchant sink, commits deferrals and
// settlements (with the store's faults), and wakes at the policy's instants. crash() loses all
// of this memory, the scheduler and the webhook policy included (answers to the old incarnation
// are dropped); start() reloads from the file.
// Refunds (issue 16) are executed the daemon's way: created through the refund engine (the
// merchant API's path), their deadlines and calls scheduled by the same scheduler, committed in
// the same flush, their calls handed to the world's network.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "orchestrator/engine/engine.hpp"
#include "orchestrator/engine/scheduler.hpp"
#include "orchestrator/engine/webhook_policy.hpp"
#include "orchestrator/engine/refunds.hpp"
#include "tests/sim/event_queue.hpp"
#include "tests/sim/faults.hpp"
#include "tests/sim/rng.hpp"
#include "tests/sim/sim_database.hpp"

namespace cashier::sim {

using engine::call_kind;

/// Deliberate bugs, to prove that the checks catch them.
enum class injected_bug {
  none,             ///< the real behaviour
  unverified,       ///< unsigned answers and forged notifies are applied as if verified
  drop_event,       ///< webhook policy: a failed delivery is settled as delivered
  webhook_out_of_order,  ///< webhook policy: a payment's event goes before its earlier pending one
  cancel_over_pay,  ///< scheduler: a cancel is sent while a pay of the same payment is in flight
  leak_token,       ///< scheduler: a prepaid budget token is not refunded
  ignore_cap,       ///< scheduler: due deadlines fire whatever the calls in flight
  fire_early,       ///< scheduler: deadlines fire up to five seconds early
  no_last_look,     ///< the last inquiry at a cut-off is never sent: answered "no answer" at once
  cancel_after_window,  ///< a cancel refused for the window (payment.cancel_failed) is sent anyway
  refund_new_id,    ///< a refund is resent under a new refundRequestId (Alipay+ sees another refund)
  refund_skips_budget,  ///< scheduler: refund calls take no budget token (before the fold)
};

/// The scheduler's flaw for `bug` (none for the bugs outside it).
engine::scheduler_flaw flaw_of(injected_bug bug);
/// The webhook policy's flaw for `bug` (none for the bugs outside it).
engine::webhook_flaw webhook_flaw_of(injected_bug bug);

/// How the process is configured for one seed (drawn by the world).
struct process_config {
  double max_requests_per_second = 0;  ///< alipayplus.maxRequestsPerSecond (0 = unlimited)
  engine::scheduler_limits limits;     ///< the scheduler's limits (the daemon's unless drawn smaller)
  engine::webhook_limits webhooks;     ///< the webhook policy's limits (the daemon's unless drawn smaller)
  refund_params refund;                ///< refund.* (the daemon's defaults unless drawn otherwise)
};

/// The refund request bytes of the simulation: "refund <paymentRequestId> <refundRequestId>
/// <minor units> <currency>" (the fake Alipay+ reads them; the daemon's are the codec's JSON).
std::string refund_request_text(const payment& p, const refund& r);

/// What cashierd reaches outside itself: the network to Alipay+ and to the merchant.
class cashierd_env {
 public:
  virtual ~cashierd_env() = default;
  /// Sends Alipay+ call `kind` for `p`; the answer comes back through on_call_answer.
  virtual void send_call(call_kind kind, const payment& p, int incarnation) = 0;
  /// POSTs merchant event `r`; the result comes back through on_webhook_result (after at most
  /// `timeout`: an answer later than that is a timeout, whatever the merchant did with it).
  virtual void deliver_webhook(const store::outbox_record& r, int incarnation, duration timeout) = 0;
  /// The process crashed (the world schedules its restart).
  virtual void crashed() = 0;
  /// Sends refund call `kind` (the refund's bytes `request`, or its confirming inquiry) for
  /// refund `r` of `p`; the answer comes back through on_refund_answer.
  virtual void send_refund_call(engine::refund_call kind, const refund& r, const std::string& request,
                                const payment& p, int incarnation) = 0;
};

/// Told about every durable group commit (the checker), before any effect runs.
using commit_hook = std::function<void(const engine::input&, const engine::output&, bool unverified)>;
/// Told about every durable refund commit, with the payment as stored after it.
using refund_hook = std::function<void(const engine::refund_input&, const engine::refund_output&, const payment&)>;
/// Told about every refund the refund engine stored (created).
using refund_created_hook = std::function<void(const refund&)>;
/// Told when one queued input was committed (merchant answer, notify ack).
using reply = std::function<void(const engine::output&)>;

/// The simulated orchestrator process.
class sim_cashierd {
 public:
  /// A stopped process over `database` (which outlives it).
  sim_cashierd(event_queue& queue, rng& random, cashierd_env& env, const sim_database& database,
               machine_params params, process_config process, const fault_rates& rates,
               fault_counts& faults, violation_log& log, injected_bug bug);

  /// Opens the store, re-arms every open payment from engine.recover(), resumes webhooks.
  void start();
  /// Loses every piece of memory: engine, store handle, scheduler, calls in flight, queued inputs.
  void crash();
  /// Whether the process is running.
  bool up() const { return engine_ != nullptr; }
  /// Bumped by every crash; answers addressed to an older incarnation are dropped.
  int incarnation() const { return incarnation_; }
  /// Observes every group commit.
  void on_commit(commit_hook hook) { hook_ = std::move(hook); }
  /// Observes every refund created and every refund commit.
  void on_refund(refund_created_hook created, refund_hook committed) {
    refund_created_ = std::move(created);
    refund_hook_ = std::move(committed);
  }
  /// The merchant API's refund create (POST /v1/payments/{id}/refunds): nothing when no answer
  /// comes back (the process is down, the store failed, it crashed before answering).
  std::optional<engine::refund_order_result> create_refund(const engine::refund_order& order);
  /// A refund call of `incarnation` ended with `answer`.
  void on_refund_answer(int incarnation, engine::refund_input answer);

  /// Queues `in` for the next group commit; false (nothing queued) when the process is down.
  bool submit(engine::input in, reply r = nullptr, bool unverified = false);
  /// Like submit(), but the calls of an acked decision wait for release() (the notify handler's
  /// submit_and_hold: the ack leaves first). Returns the hold's ticket, 0 when the process is down.
  engine::ticket submit_held(engine::input in, reply r);
  /// The ack of what `incarnation` submitted under `hold` was written: its held calls start.
  void release(int incarnation, engine::ticket hold);
  /// The payment with this paymentRequestId (an API or notify handler's lookup), if up.
  std::optional<payment> find(std::string_view payment_request_id);
  /// An Alipay+ call of `incarnation` ended with `ev`.
  void on_call_answer(int incarnation, call_kind kind, std::int64_t id, event ev,
                      store::call_record call, bool unverified);
  /// A webhook delivery of `incarnation` ended: `http_status` (0 = no answer, e.g. a timeout).
  void on_webhook_result(int incarnation, const store::outbox_record& r, int http_status);
  /// The operator redelivers every dead merchant event (`cashierctl redeliver`): a fresh
  /// schedule from now. Returns the events redelivered, after showing each to `before`.
  std::size_t redeliver_dead(const std::function<void(const store::outbox_record&)>& before);
  /// The operator redelivers merchant event `event_id` now, whatever its state (`cashierctl
  /// redeliver`, e.g. while an attempt is under way). False when it is not committed.
  bool redeliver(const std::string& event_id);

  /// Group commits done (all incarnations).
  std::uint64_t commits() const { return commits_; }
  /// Group commits of several inputs, and of several inputs for one payment.
  std::pair<std::uint64_t, std::uint64_t> shared_commits() const { return {multi_, same_payment_}; }
  /// When the last injected store outage ended (or ends); the store is unusable before.
  time_point store_back_at() const { return store_broken_until_; }
  /// When the scheduler last held a call back (no token, no free call slot): cut-offs may be
  /// late by the backlog the budget or the cap made.
  time_point held_back_at() const { return held_back_at_; }
  /// Virtual time the store spent in outages so far.
  duration store_outages() const { return outages_; }
  /// Adds the running incarnation's scheduler counters to the totals (the run is over).
  void finish();
  /// The scheduler's counters, summed over every incarnation.
  const engine::scheduler_stats& scheduler_totals() const { return totals_; }
  /// The webhook policy's counters, summed over every incarnation.
  const engine::webhook_policy_stats& webhook_totals() const { return webhook_totals_; }
  /// Whether the last crash was injected between a commit and its effects (then clears it).
  bool take_crashed_after_commit() { return std::exchange(crashed_after_commit_, false); }

 private:
  struct waiting {
    reply r;
    bool unverified = false;
  };

  engine::instants now() const;
  void run();
  void execute(engine::action& a);
  void flush(int inc);
  void commit_next(int inc);
  bool commit(engine::batch& b);
  std::vector<engine::input> inject_machine_bugs(std::vector<engine::output>& outs);
  void count_sharing(const engine::batch& b);
  void start_call(const engine::start_call& c);
  void start_refund_call(const engine::start_refund_call& c);
  bool commit_refund(engine::refund_input& in);
  void check_budget();
  void arm_timer(const engine::arm_timer& t);
  void probe();
  void wake_webhooks(bool tick);
  void arm_webhook_wake(time_point at);
  void settle_webhooks(int inc);
  bool store_fails();
  void add_totals();

  event_queue& queue_;
  rng& rng_;
  cashierd_env& env_;
  const sim_database& database_;
  machine_params params_;
  process_config process_;
  fault_rates rates_;
  fault_counts& faults_;
  violation_log& log_;
  injected_bug bug_;
  commit_hook hook_;
  refund_created_hook refund_created_;
  refund_hook refund_hook_;
  std::uint64_t commits_ = 0;
  std::uint64_t multi_ = 0;
  std::uint64_t same_payment_ = 0;
  bool crashed_after_commit_ = false;
  engine::scheduler_stats totals_;
  engine::webhook_policy_stats webhook_totals_;
  time_point store_broken_until_{};  // an outage: every commit and probe fails until then
  duration outages_{};
  time_point held_back_at_{};
  std::uint64_t held_back_ = 0;  // the running scheduler's count of held-back calls

  // Process memory: all of it is lost in crash().
  int incarnation_ = 0;
  bool flushing_ = false;     // a flush is under way: one commit out at a time (commit_next)
  bool flush_again_ = false;  // a flush was posted meanwhile
  std::unique_ptr<store::payment_store> store_;
  std::unique_ptr<engine::engine> engine_;
  std::unique_ptr<engine::refund_engine> refunds_;
  std::unique_ptr<engine::scheduler> sched_;
  std::unordered_map<engine::ticket, waiting> waiting_;
  engine::ticket next_ticket_ = 1;
  std::uint64_t timer_generation_ = 0;  // a timer event of an older generation was re-armed
  std::deque<time_point> recent_calls_;  // calls started in the last second (the budget check)
  std::unordered_map<std::int64_t, int> pays_in_flight_;  // per payment (the one-pay check)
  std::unique_ptr<engine::webhook_policy> hooks_;
  std::set<time_point> webhook_wakes_;  // instants a wake is armed for (one each)
  bool settle_armed_ = false;
};

using engine::api_name;

}  // namespace cashier::sim
