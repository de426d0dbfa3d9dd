// The tunable numbers of the payment state machine: retry bases and caps, the inquiry polling
// intervals, the polling grace after expiry, the answer guard and the hint rate limit. Plain
// data checked once by validate() when the daemon loads its config; the machine never reads
// config files or clocks itself.
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "state/machine/time.hpp"

namespace cashier {

/// The configurable defaults PRODUCT.md names ("Defaults: requestTimeoutMs 15000, ..."), written
/// once, here, in the lowest layer that needs them: machine_params below starts from them, and
/// the daemon's config (orchestrator/daemon/config.hpp) takes its `payment` and
/// `alipayplus.requestTimeoutMs` defaults from them. config_defaults_test checks them against
/// proto-docs/operations.md.
namespace product_defaults {
inline constexpr duration default_expiry = std::chrono::minutes{15};  ///< `payment.defaultExpiryMinutes`
inline constexpr duration poll_grace = std::chrono::minutes{10};      ///< `payment.pollGraceMinutes`
/// `payment.pollIntervalsSeconds`: inquiry delays after pay answered U; the last one repeats.
inline constexpr std::array<duration, 6> inquiry_intervals{
    std::chrono::seconds{2},  std::chrono::seconds{4},  std::chrono::seconds{8},
    std::chrono::seconds{15}, std::chrono::seconds{30}, std::chrono::seconds{60}};
inline constexpr duration request_timeout = std::chrono::seconds{15};  ///< `alipayplus.requestTimeoutMs`
/// How much longer than a request may take the machine waits for its answer before it treats
/// the call as lost (answer_guard = request timeout + this).
inline constexpr duration answer_guard_margin = std::chrono::seconds{5};
}  // namespace product_defaults

/// Every duration the machine schedules with. Defaults follow PRODUCT.md (product_defaults).
struct machine_params {
  duration pay_retry_base = std::chrono::seconds{1};   ///< first pay retry delay (doubles)
  duration pay_retry_cap = std::chrono::seconds{30};   ///< longest pay retry delay
  std::vector<duration> inquiry_intervals{             ///< poll delays; the last one repeats
      product_defaults::inquiry_intervals.begin(), product_defaults::inquiry_intervals.end()};
  duration poll_grace = product_defaults::poll_grace;  ///< polling deadline = expiry + grace
  duration cancel_retry_base = std::chrono::seconds{2};   ///< first cancel retry delay (doubles)
  duration cancel_retry_cap = std::chrono::minutes{5};    ///< longest cancel retry delay
  duration cancel_refused_retry = std::chrono::hours{1};  ///< retry after "cancel F <other code>"
  std::int32_t cancel_refused_limit = 24;  ///< "cancel F <other code>" answers before the cancel is abandoned
  duration slow_path_fast = std::chrono::minutes{10};  ///< slow path: inquiry interval during its first day
  duration slow_path_fast_for = std::chrono::hours{24};  ///< slow path: how long the fast interval lasts
  duration slow_path_slow = std::chrono::hours{1};  ///< slow path: inquiry interval afterwards
  duration slow_path_for = std::chrono::hours{24 * 7};  ///< slow path: parked (unresolved) after this
  /// Wait for an in-flight answer: the request timeout plus a margin.
  duration answer_guard = product_defaults::request_timeout + product_defaults::answer_guard_margin;
  duration hint_inquiry_interval = std::chrono::seconds{10};  ///< min gap between hint inquiries
  duration default_expiry = product_defaults::default_expiry;  ///< paymentExpiryTime when the merchant sends none

  /// The first problem with these parameters, naming the field, or nothing when they are usable.
  std::optional<std::string> validate() const;
};

/// The shortest polling grace PRODUCT.md allows (Alipay+: poll ≥ 10 min past expiry).
inline constexpr duration min_poll_grace = std::chrono::minutes{10};

}  // namespace cashier
