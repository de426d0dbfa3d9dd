// Validation of machine_params (see params.hpp).
#include "state/machine/params.hpp"

namespace cashier {

namespace {

std::optional<std::string> check_backoff(duration base, duration cap, const char* name) {
  if (base <= duration::zero()) return std::string(name) + "_base must be positive";
  if (cap < base) return std::string(name) + "_cap must not be shorter than " + name + "_base";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> machine_params::validate() const {
  if (auto e = check_backoff(pay_retry_base, pay_retry_cap, "pay_retry")) return e;
  if (auto e = check_backoff(cancel_retry_base, cancel_retry_cap, "cancel_retry")) return e;
  if (inquiry_intervals.empty()) return "inquiry_intervals must not be empty";
  for (const duration d : inquiry_intervals) {
    if (d <= duration::zero()) return "inquiry_intervals must all be positive";
  }
  if (poll_grace < min_poll_grace) return "poll_grace must be at least 10 minutes";
  if (cancel_refused_retry <= duration::zero()) return "cancel_refused_retry must be positive";
  if (cancel_refused_limit < 1) return "cancel_refused_limit must be at least 1";
  if (slow_path_fast <= duration::zero() || slow_path_slow <= duration::zero())
    return "slow path intervals must be positive";
  if (slow_path_fast_for < duration::zero() || slow_path_for <= duration::zero())
    return "slow path durations must be positive";
  if (answer_guard <= duration::zero()) return "answer_guard must be positive";
  if (hint_inquiry_interval < duration::zero()) return "hint_inquiry_interval must not be negative";
  if (default_expiry <= duration::zero()) return "default_expiry must be positive";
  return std::nullopt;
}

}  // namespace cashier
