// The simulated cashierd process: the real engine over the real SQLite store, driven the way
// orchestrator/daemon/driver.cpp drives it, but on the virtual clock. Inputs queued during one
// virtual instant are group-committed in one engine.apply; effects run only after that commit
// returned; one deadline heap with one timer; deadlines of payments with a call in flight are
// ignored; a cancel is never started while a pay of the same payment is in flight. Merchant
// webhooks are delivered from the outbox with the webhook_delay schedule. crash() loses all of
// this memory (answers to the old incarnation are dropped); start() reloads from the file.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "orchestrator/engine/deadline_heap.hpp"
#include "orchestrator/engine/engine.hpp"
#include "tests/sim/event_queue.hpp"
#include "tests/sim/faults.hpp"
#include "tests/sim/rng.hpp"

namespace cashier::sim {

/// The Alipay+ call a payment is making.
enum class call_kind {
  pay,      ///< pay (the stored request bytes)
  inquiry,  ///< inquiryPayment
  cancel,   ///< cancelPayment
};

/// Deliberate bugs, to prove that the checks catch them.
enum class injected_bug {
  none,             ///< the real behaviour
  unverified,       ///< unsigned answers and forged notifies are applied as if verified
  drop_event,       ///< a failed webhook delivery is recorded as delivered
  cancel_over_pay,  ///< a cancel is sent while a pay of the same payment is in flight
};

/// What cashierd reaches outside itself: the network to Alipay+ and to the merchant.
class cashierd_env {
 public:
  virtual ~cashierd_env() = default;
  /// Sends Alipay+ call `kind` for `p`; the answer comes back through on_call_answer.
  virtual void send_call(call_kind kind, const payment& p, int incarnation) = 0;
  /// POSTs merchant event `r`; the result comes back through on_webhook_result.
  virtual void deliver_webhook(const store::outbox_record& r, int incarnation) = 0;
  /// The process crashed (the world schedules its restart).
  virtual void crashed() = 0;
};

/// Told about every durable group commit (the checker), before any effect runs.
using commit_hook = std::function<void(const engine::input&, const engine::output&, bool unverified)>;
/// Told when one queued input was committed (merchant answer, notify ack).
using reply = std::function<void(const engine::output&)>;

/// The simulated orchestrator process.
class sim_cashierd {
 public:
  /// A stopped process over the database file `db_path`.
  sim_cashierd(event_queue& queue, rng& random, cashierd_env& env, std::string db_path,
               machine_params params, const fault_rates& rates, fault_counts& faults,
               violation_log& log, injected_bug bug);

  /// Opens the store, re-arms every open payment from engine.recover(), resumes webhooks.
  void start();
  /// Loses every piece of memory: engine, store handle, heap, calls in flight, queued inputs.
  void crash();
  /// Whether the process is running.
  bool up() const { return engine_ != nullptr; }
  /// Bumped by every crash; answers addressed to an older incarnation are dropped.
  int incarnation() const { return incarnation_; }
  /// Observes every group commit.
  void on_commit(commit_hook hook) { hook_ = std::move(hook); }

  /// Queues `in` for the next group commit; false (nothing queued) when the process is down.
  bool submit(engine::input in, reply r = nullptr, bool unverified = false);
  /// The payment with this paymentRequestId (an API or notify handler's lookup), if up.
  std::optional<payment> find(std::string_view payment_request_id);
  /// An Alipay+ call of `incarnation` ended with `ev`.
  void on_call_answer(int incarnation, call_kind kind, std::int64_t id, event ev,
                      store::call_record call, bool unverified);
  /// A webhook delivery of `incarnation` ended.
  void on_webhook_result(int incarnation, const store::outbox_record& r, int http_status);
  /// The operator redelivers every dead merchant event (`cashierctl redeliver`): a fresh
  /// schedule from now. Returns the events redelivered, after showing each to `before`.
  std::size_t redeliver_dead(const std::function<void(const store::outbox_record&)>& before);

  /// Group commits done (all incarnations).
  std::uint64_t commits() const { return commits_; }
  /// Group commits of several inputs, and of several inputs for one payment.
  std::pair<std::uint64_t, std::uint64_t> shared_commits() const { return {multi_, same_payment_}; }
  /// Cancels not sent because a pay of the same payment was in flight.
  std::uint64_t cancels_deferred() const { return cancels_deferred_; }
  /// Whether the last crash was injected between a commit and its effects (then clears it).
  bool take_crashed_after_commit() { return std::exchange(crashed_after_commit_, false); }

 private:
  struct queued {
    engine::input in;
    reply r;
    bool unverified = false;
  };
  struct flight {
    int pays = 0;
    int total = 0;
  };

  void flush(int inc);
  bool commit(std::vector<queued>& batch);
  void count_sharing(const std::vector<queued>& batch);
  void after_commit(queued& q, engine::output& out);
  void start_call(call_kind kind, const payment& p);
  void call_ended(std::int64_t id, call_kind kind);
  void arm_timer();
  void on_timer();
  void wake_webhooks();
  void arm_webhook_wake(time_point at);
  bool injected_store_failure();

  event_queue& queue_;
  rng& rng_;
  cashierd_env& env_;
  std::string db_path_;
  machine_params params_;
  fault_rates rates_;
  fault_counts& faults_;
  violation_log& log_;
  injected_bug bug_;
  commit_hook hook_;
  std::uint64_t commits_ = 0;
  std::uint64_t cancels_deferred_ = 0;
  std::uint64_t multi_ = 0;
  std::uint64_t same_payment_ = 0;
  bool crashed_after_commit_ = false;

  // Process memory: all of it is lost in crash().
  int incarnation_ = 0;
  std::unique_ptr<store::payment_store> store_;
  std::unique_ptr<engine::engine> engine_;
  deadline_heap heap_;
  time_point timer_at_ = never;
  std::vector<queued> queue_in_;
  bool flush_scheduled_ = false;
  std::unordered_map<std::int64_t, flight> in_flight_;  // looked up, never iterated
  std::set<std::string> delivering_;
};

/// "pay", "inquiryPayment" or "cancelPayment".
std::string_view api_name(call_kind k);

}  // namespace cashier::sim
