// What the simulation injects and what it found: the fault kinds with their per-seed rates,
// counters of injected faults, and the log of invariant violations. Rates are probabilities per
// opportunity (per message, per call, per payment), scaled per seed by an intensity so that
// some seeds are calm and some stormy.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "state/machine/time.hpp"

namespace cashier::sim {

/// Every kind of fault the simulator injects.
enum class fault {
  request_lost,           ///< a request to Alipay+ never arrives (the call times out)
  answer_lost,            ///< Alipay+ committed but its answer never arrives (timeout)
  server_error,           ///< a 5xx before Alipay+ processed anything
  unsigned_answer,        ///< an answer without a signature
  bad_signature,          ///< an answer whose signature does not verify
  pay_u_other,            ///< pay answered U with a code other than PAYMENT_IN_PROCESS
  pay_throttled,          ///< pay refused U REQUEST_TRAFFIC_EXCEED_LIMIT before creating the order
  inquiry_u,              ///< inquiry answered U
  early_order_not_exist,  ///< inquiry shortly after pay answered F ORDER_NOT_EXIST
  cancel_u,               ///< cancel answered U (processed or not)
  cancel_refused,         ///< cancel answered F with another code (once per payment)
  cancel_window_exceed,   ///< cancel answered F CANCEL_WINDOW_EXCEED (the payment's window is short)
  order_is_closed,        ///< cancel of an expired order answered F ORDER_IS_CLOSED
  no_notify,              ///< Alipay+ never notifies this payment
  notify_lost,            ///< a notify delivery never arrives
  ack_lost,               ///< our ack of a notify never reaches Alipay+
  notify_duplicate,       ///< a notify delivered twice
  notify_late,            ///< a notify held back for minutes to hours
  notify_reordered,       ///< a notify held back for seconds, overtaken by later messages
  notify_forged,          ///< a notify that fails verification
  notify_wrong_amount,    ///< a verified notify stating another amount (per payment)
  inquiry_wrong_amount,   ///< an inquiry answer stating another amount (same payments)
  merchant_duplicate,     ///< the merchant sends its create twice
  merchant_early_cancel,  ///< the merchant cancels within a second of creating
  webhook_sink_down,      ///< the merchant's webhook endpoint is down for a while
  webhook_error,          ///< one webhook delivery answered 5xx
  webhook_timeout,        ///< the merchant answers one delivery after the sender's timeout (it may have taken it)
  small_webhook_slots,    ///< per seed: few webhook deliveries in flight, fewer per merchant
  operator_redeliver,     ///< the operator redelivers an event while its delivery is under way
  store_failure,          ///< a group commit fails (nothing written)
  store_outage,           ///< after a store failure the store stays broken for seconds (probes fail)
  tight_budget,           ///< per seed: a low maxRequestsPerSecond (calls wait for the budget)
  small_cap,              ///< per seed: few calls in flight allowed (deadlines wait for a slot)
  long_downtime,          ///< the process is down for minutes to hours: a backlog at restart
  refund_request_lost,    ///< a refund call (or its confirming inquiry) never arrives (timeout)
  refund_answer_lost,     ///< Alipay+ acted on a refund call but its answer never arrives (timeout)
  refund_server_error,    ///< a refund call answered 5xx before Alipay+ processed anything
  refund_unsigned,        ///< a refund call's answer without a valid signature
  refund_garbled,         ///< a refund call's answer that cannot be read
  refund_u,               ///< refund answered U (processed or not)
  refund_refused,         ///< refund answered F REFUND_WINDOW_EXCEED (per refund)
  refund_crash_after_commit,  ///< crash between a refund's commit and its send
  release_lost,           ///< a notify's held calls are never released after its ack: the hold limit starts them
  count_,                 ///< number of kinds (not a fault)
};

/// The enumerator's name.
std::string_view to_string(fault f);

/// Injected faults by kind.
struct fault_counts {
  std::array<std::uint64_t, static_cast<std::size_t>(fault::count_)> n{};
  /// Counts one injection of `f`.
  void add(fault f) { ++n[static_cast<std::size_t>(f)]; }
  /// Injections of `f`.
  std::uint64_t of(fault f) const { return n[static_cast<std::size_t>(f)]; }
  /// All injections.
  std::uint64_t total() const;
  /// Adds `o`'s counts.
  void merge(const fault_counts& o);
};

/// Probabilities of each fault per opportunity.
struct fault_rates {
  double request_lost = 0.03;           ///< per call
  double answer_lost = 0.03;            ///< per call that reached Alipay+
  double server_error = 0.02;           ///< per call
  double unsigned_answer = 0.015;       ///< per answer
  double bad_signature = 0.015;         ///< per answer
  double pay_u_other = 0.05;            ///< per pay
  double pay_throttled = 0.03;          ///< per pay
  double inquiry_u = 0.05;              ///< per inquiry
  double early_order_not_exist = 0.5;   ///< per inquiry within 10 s of the order's creation
  double cancel_u = 0.1;                ///< per cancel
  double cancel_refused = 0.05;         ///< per cancel, at most once per payment
  double short_cancel_window = 0.03;    ///< per payment
  double order_is_closed = 0.5;         ///< per cancel of an expired order
  double no_notify = 0.05;              ///< per payment
  double notify_lost = 0.1;             ///< per notify delivery
  double ack_lost = 0.05;               ///< per ack
  double notify_duplicate = 0.05;       ///< per notify delivery
  double notify_late = 0.03;            ///< per notify delivery
  double notify_reordered = 0.05;       ///< per notify delivery
  double forged_per_payment = 0.3;      ///< forged notifies per payment (expected)
  double wrong_amount = 0.02;           ///< per payment
  double merchant_duplicate = 0.05;     ///< per create
  double merchant_cancel = 0.1;         ///< per payment: the merchant cancels at a random time
  double merchant_early_cancel = 0.03;  ///< per payment: the merchant cancels right away
  double webhook_error = 0.03;          ///< per delivery
  double webhook_timeout = 0.02;        ///< per delivery
  double operator_redeliver = 0.01;     ///< per delivery, while it is under way
  double store_failure = 0.002;         ///< per group commit
  double crash_after_commit = 0.001;    ///< per group commit: crash before its effects run
  double refund_u = 0.1;                ///< per refund call
  double refund_garbled = 0.03;         ///< per refund answer
  double refund_refused = 0.05;         ///< per refund Alipay+ first processes
  double refund_crash_after_commit = 0.01;  ///< per refund commit: crash before its send
  double release_lost = 0.02;           ///< per verified notify's commit

  /// These rates with every fault probability multiplied by `k` (capped at 1).
  fault_rates scaled(double k) const;
};

/// One broken invariant.
struct violation {
  time_point at;     ///< virtual instant it was found
  std::string what;  ///< what broke, naming the payment
};

/// The invariant violations found in one run.
class violation_log {
 public:
  /// Records a violation found at `at`.
  void add(time_point at, std::string what) { items_.push_back({at, std::move(what)}); }
  /// Everything found.
  const std::vector<violation>& items() const { return items_; }
  /// True when nothing was found.
  bool empty() const { return items_.empty(); }

 private:
  std::vector<violation> items_;
};

}  // namespace cashier::sim
