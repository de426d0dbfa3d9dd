// Time as data for the pure core: a payment-clock instant in milliseconds since the Unix epoch.
// Nothing here reads a clock; the orchestrator's injected clock (real, scaled or manual) hands
// `now` to the machine, and the store keeps instants as integer milliseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>

namespace cashier {

/// A payment-clock instant with millisecond resolution (UTC).
using time_point = std::chrono::sys_time<std::chrono::milliseconds>;
/// A span of payment-clock time.
using duration = std::chrono::milliseconds;

/// The instant `ms` milliseconds after the Unix epoch.
constexpr time_point from_epoch_ms(std::int64_t ms) { return time_point{duration{ms}}; }
/// Milliseconds since the Unix epoch of `t`.
constexpr std::int64_t to_epoch_ms(time_point t) { return t.time_since_epoch().count(); }
/// "Never": the value of a deadline that is not armed.
constexpr time_point never = time_point{duration{std::numeric_limits<std::int64_t>::max()}};

}  // namespace cashier
