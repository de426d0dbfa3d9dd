// The tunable numbers of the payment state machine: retry bases and caps, the inquiry polling
// intervals, the polling grace after expiry, the answer guard and the hint rate limit. Plain
// data checked once by validate() when the daemon loads its config; the machine never reads
// config files or clocks itself.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "state/machine/time.hpp"

namespace cashier {

/// Every duration the machine schedules with. Defaults follow PRODUCT.md.
struct machine_params {
  duration pay_retry_base = std::chrono::seconds{1};   ///< first pay retry delay (doubles)
  duration pay_retry_cap = std::chrono::seconds{30};   ///< longest pay retry delay
  std::vector<duration> inquiry_intervals{             ///< poll delays; the last one repeats
      std::chrono::seconds{2},  std::chrono::seconds{4},  std::chrono::seconds{8},
      std::chrono::seconds{15}, std::chrono::seconds{30}, std::chrono::seconds{60}};
  duration poll_grace = std::chrono::minutes{10};      ///< polling deadline = expiry + grace
  duration cancel_retry_base = std::chrono::seconds{2};   ///< first cancel retry delay (doubles)
  duration cancel_retry_cap = std::chrono::minutes{5};    ///< longest cancel retry delay
  duration cancel_refused_retry = std::chrono::hours{1};  ///< retry after "cancel F <other code>"
  std::int32_t cancel_refused_limit = 24;  ///< "cancel F <other code>" answers before the cancel is abandoned
  duration slow_path_fast = std::chrono::minutes{10};  ///< slow path: inquiry interval during its first day
  duration slow_path_fast_for = std::chrono::hours{24};  ///< slow path: how long the fast interval lasts
  duration slow_path_slow = std::chrono::hours{1};  ///< slow path: inquiry interval afterwards
  duration slow_path_for = std::chrono::hours{24 * 7};  ///< slow path: parked (unresolved) after this
  duration answer_guard = std::chrono::seconds{20};       ///< wait for an in-flight answer (request timeout + 5 s)
  duration hint_inquiry_interval = std::chrono::seconds{10};  ///< min gap between hint inquiries
  duration default_expiry = std::chrono::minutes{15};     ///< paymentExpiryTime when the merchant sends none

  /// The first problem with these parameters, naming the field, or nothing when they are usable.
  std::optional<std::string> validate() const;
};

/// The shortest polling grace PRODUCT.md allows (Alipay+: poll ≥ 10 min past expiry).
inline constexpr duration min_poll_grace = std::chrono::minutes{10};

}  // namespace cashier
