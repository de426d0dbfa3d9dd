// The global budget of outbound Alipay+ calls (`alipayplus.maxRequestsPerSecond`): one token
// bucket on the wall clock shared by every payment, the lane that says how urgent a payment's
// next call is, and the reaction to Alipay+'s REQUEST_TRAFFIC_EXCEED_LIMIT (halve the rate,
// then win it back slowly). Pure: every function takes the instant from its caller, so tests
// drive it with made-up instants. Calls that must wait are not queued here: they stay in the
// deadline heap, and the budget only answers "may a call go now, and if not, how long until".
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <string_view>

#include "state/machine/events.hpp"
#include "state/machine/payment.hpp"
#include "state/machine/time.hpp"

namespace cashier {

/// The queue of the deadline heap a deadline waits in, i.e. how urgent its call is.
enum class call_lane {
  urgent,   ///< pay, cancel, and the last poll before the polling deadline: served first
  polling,  ///< scheduled inquiries: served by due time with the budget the urgent lane leaves
};

/// "urgent" or "polling" (the metrics label).
std::string_view to_string(call_lane lane);

/// Polls due this close to the polling deadline (before or after) count as urgent.
inline constexpr duration near_poll_deadline = std::chrono::seconds{60};

/// The lane of a payment whose next deadline is `at` while it waits on `pending` and polls
/// until `poll_deadline`.
call_lane lane_of(pending_action pending, time_point at, time_point poll_deadline);
/// The lane of `p`'s next deadline.
call_lane lane_of(const payment& p);

/// True when `ev` is an Alipay+ answer with resultCode REQUEST_TRAFFIC_EXCEED_LIMIT.
bool is_traffic_limit(const event& ev);

/// The share of the budget consultPayment may use (its own lane, issue 14 item 11).
inline constexpr double consult_share = 0.1;

/// A token bucket of outbound calls per wall-clock second. Over any span of T seconds at most
/// rate·T + 2·burst calls go out, where burst = max(1, rate / 50) (20 ms worth).
class rate_budget {
 public:
  /// Wall-clock instants (steady clock).
  using instant = std::chrono::steady_clock::time_point;

  /// An unlimited budget.
  rate_budget() = default;
  /// A budget of `per_second` calls per second; 0 (or less) means unlimited.
  explicit rate_budget(double per_second);

  /// For a call that cannot wait in the heap (a new payment's pay, a requested cancel or
  /// inquiry, consult): takes a token, borrowing up to one burst ahead, so the heap's calls
  /// wait until the debt is paid. False when even the borrowing is spent.
  bool take_now(instant now);
  /// For a call from the deadline heap or an optional one: takes a token only if one is there.
  bool take_queued(instant now);
  /// For consultPayment (the consult lane): takes a token only if one is there (never
  /// borrowing) and the consult share, a bucket of consult_share of the rate in force, has one
  /// too. So consults, however many, use at most that share and never delay polls, cancels and
  /// pay retries by debt. Unlimited when the budget is.
  bool take_consult(instant now);
  /// Gives back a token taken for a call that was not made after all.
  void refund();
  /// How long until take_queued is worth trying again: zero when a token is there, else the
  /// time to gather half a burst (so one timer tick serves several calls).
  std::chrono::nanoseconds wait(instant now);
  /// Alipay+ answered REQUEST_TRAFFIC_EXCEED_LIMIT at `now`: the rate drops to half of what
  /// went out in the last second (once per second at most, since the calls already in flight
  /// answer alike), then grows back by 5 % a second up to the configured rate.
  void throttled(instant now);

  /// The configured rate (0 = unlimited).
  double configured() const { return is_unlimited(ceiling_) ? 0 : ceiling_; }
  /// The rate in force after the last refill, calls per second (0 = unlimited).
  double rate() const { return is_unlimited(rate_) ? 0 : rate_; }
  /// Tokens taken so far (calls admitted), refunds subtracted.
  std::uint64_t taken() const { return taken_; }
  /// Calls take_now refused so far.
  std::uint64_t refused() const { return refused_; }
  /// REQUEST_TRAFFIC_EXCEED_LIMIT answers that lowered the rate.
  std::uint64_t throttles() const { return throttles_; }

 private:
  static constexpr double unlimited = std::numeric_limits<double>::infinity();
  static bool is_unlimited(double r) { return r == unlimited; }
  double burst() const;
  void refill(instant now);
  void count(instant now);

  double ceiling_ = unlimited;  // the configured rate
  double rate_ = unlimited;     // the rate in force (below the ceiling after a throttle)
  double tokens_ = 0;
  double consult_tokens_ = 1;   // the consult lane's bucket (consult_share of rate_)
  instant consult_last_{};      // its last refill
  instant last_{};              // last refill
  instant throttled_at_{};      // last throttle; growth resumes a second later
  bool started_ = false;        // last_ is set
  bool recovering_ = false;     // rate_ < ceiling_ after a throttle
  instant second_start_{};      // calls counted per wall second, for throttled()
  std::uint64_t this_second_ = 0;
  std::uint64_t last_second_ = 0;
  std::uint64_t taken_ = 0;
  std::uint64_t refused_ = 0;
  std::uint64_t throttles_ = 0;
};

}  // namespace cashier
