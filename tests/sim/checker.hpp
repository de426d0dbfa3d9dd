// The invariants of the simulation, checked after every group commit, after every step of the
// virtual clock, and at the end against the store and the fake's truth:
// - every payment is final by its polling deadline plus the cancel retries, none open past it;
// - the final state agrees with Alipay+'s truth (SUCCESS only if paid and not refunded,
//   CANCELLED only if Alipay+ holds no payment kept: cancelled, failed, closed or unknown, FAIL
//   only on a failed or closed order); a verified wrong amount seen while the payment was open
//   ends CANCELLED unless no cancel could reverse it (window closed, slow path, a paid order
//   whose cancel was answered ORDER_IS_CLOSED);
// - no cancel is sent at or after the payment's cancel window (00:15 UTC+8 the next day), and a
//   deadline cancel follows a last inquiry actually sent after the cut-off;
// - every payment ends final, or parked with an `unresolved` anomaly after 7 days of slow path;
// - no state change on an unverified answer or notify;
// - exactly one status event per change into a final state (payment.cancel_failed and
//   payment.pending besides), sequence 1..n, stable ids, each delivered at least once (or dead
//   only after the merchant refused every attempt).
// The checker mirrors what was committed (it sees each commit before its effects run), so a
// crash between a commit and its effects cannot hide a change from it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "orchestrator/engine/engine.hpp"
#include "tests/sim/cashierd.hpp"
#include "tests/sim/event_queue.hpp"
#include "tests/sim/fake_aplus.hpp"
#include "tests/sim/faults.hpp"

namespace cashier::sim {

/// Slack after a cut-off (expiry in INIT/PAY, polling deadline in IN_PROCESS/INQUIRY) before a
/// payment still in that phase is a violation: a request timeout, the answer guard, a retry.
inline constexpr duration cutoff_slack = std::chrono::seconds{45};
/// How long a payment may stay open after max(polling deadline, entering cancel): cancel
/// retries (capped at 5 min), one refused cancel (1 h), a cancel window exceeded (Alipay+
/// closes the order within an hour of expiry), plus the process's total downtime.
inline constexpr duration open_allowance = std::chrono::hours{3};

/// Totals the checker reports.
struct check_totals {
  std::uint64_t success = 0;          ///< payments that ended SUCCESS
  std::uint64_t fail = 0;             ///< ... FAIL
  std::uint64_t cancelled = 0;        ///< ... CANCELLED
  std::uint64_t merchant_events = 0;  ///< outbox rows
  std::uint64_t dead_events = 0;      ///< events dead after the merchant refused all attempts (redelivered)
  std::uint64_t anomalies = 0;        ///< anomaly rows
  duration latest_final{};            ///< the latest settling after max(deadline, cancel start)
  std::uint64_t parked = 0;           ///< payments parked after 7 days of slow path (unresolved)
  std::uint64_t cancel_failed_events = 0;  ///< payment.cancel_failed events
  std::uint64_t webhook_receipts = 0;      ///< deliveries the merchant took (duplicates included)
  std::uint64_t webhook_duplicates = 0;    ///< of which it already had (at-least-once at work)
  std::uint64_t webhook_after_earlier = 0; ///< first receipts of an event after its payment's earlier ones (order checked)
};

/// Checks the invariants of one run.
class checker {
 public:
  /// A checker reading the clock of `queue` and the truth of `fake`, reporting into `log`.
  checker(const event_queue& queue, const fake_aplus& fake, violation_log& log);

  /// A durable commit of `in` with outcome `out`; `unverified` when the input came from an
  /// unsigned or badly signed answer, or a forged notify.
  void on_commit(const engine::input& in, const engine::output& out, bool unverified);
  /// A refund commit stored payment `after` (its event_seq moved with a refund event): the
  /// mirror follows, one version on at most (refund_world.hpp checks the refunds themselves).
  void on_refund_commit(const payment& after);
  /// After each step of the clock: cut-offs (when the process has been up since `up_since`)
  /// and the open allowance (stretched by `downtime`).
  void after_step(bool up, time_point up_since, duration downtime);
  /// cashierd sent call `kind` for `p` to the network (before any loss).
  void on_call_sent(call_kind kind, const payment& p);
  /// The merchant endpoint received delivery `r`: it took it (`accepted`) or refused it, and
  /// the sender learns so in time (`confirmed`; false when it answered after the sender's
  /// timeout or refused). A payment's events must reach the merchant in sequence order: the
  /// first time an event is taken, each earlier event of its payment was taken before or
  /// failed often enough to be given up on (dead).
  void on_webhook(const store::outbox_record& r, bool accepted, bool confirmed);
  /// An operator redelivered event `event_id` (not dead): it starts a fresh schedule.
  void on_redelivered(const std::string& event_id);
  /// Merchant event `r` is dead: legitimate only if no attempt was confirmed taken.
  void on_dead(const store::outbox_record& r);
  /// The final checks against a store opened on the file, for the merchant's `payment_ids`.
  void at_end(store::payment_store& s, const std::vector<std::string>& payment_ids);
  /// The totals (complete after at_end).
  const check_totals& totals() const { return totals_; }

 private:
  struct tracked {
    payment p;
    time_point open_ref{};  // max(poll deadline, last entry into cancel pending)
    bool wrong_amount_seen = false;  // a verified wrong amount was committed while open
    bool slow_path_seen = false;     // the payment went through the slow path
    bool cancel_failed_seen = false; // a payment.cancel_failed was emitted (a cancel did not happen)
    bool last_look_asked = false;    // an inquiry was sent since it entered its last look
    bool cutoff_reported = false;
    bool open_reported = false;
  };
  struct sink_view {
    std::string payload;
    int refused = 0;
    int delivered = 0;
    int unconfirmed = 0;        // taken, but the sender heard of it too late (it counts as failed)
    int failed_since_reset = 0; // attempts the sender saw fail since the event was last redelivered
  };

  void fail(const payment& p, const std::string& what);
  void check_change(const payment& before, const payment& after, const decision& d, bool unverified);
  void check_events(const payment& before, const payment& after, const decision& d);
  void check_truth(const payment& p, bool at_end, bool wrong_amount_seen = false);
  static bool states_wrong_amount(const payment& p, const event& ev);
  static bool is_open_phase(const payment& p);
  void check_outbox(store::payment_store& s, const payment& p);
  void check_settled(const tracked& t);

  const event_queue& queue_;
  const fake_aplus& fake_;
  violation_log& log_;
  std::map<std::int64_t, tracked> mirror_;
  std::map<std::string, sink_view, std::less<>> sink_;
  /// The event id first seen for each (payment id, seq): an id must never change.
  std::map<std::pair<std::int64_t, std::int32_t>, std::string> ids_;
  time_point last_scan_{};
  check_totals totals_;
};

}  // namespace cashier::sim
