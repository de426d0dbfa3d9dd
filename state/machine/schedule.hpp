// Pure schedules: retry backoffs with deterministic jitter, inquiry polling intervals, the
// polling deadline, and the two fixed webhook schedules (ours to merchants, Alipay+'s notify
// retries to us). Functions of their arguments only: no clock, no randomness source, so a
// replay with the same payment_request_id makes the same decisions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "state/machine/time.hpp"

namespace cashier {

/// A stable 64-bit seed for a payment: FNV-1a of its payment_request_id.
std::uint64_t payment_seed(std::string_view payment_request_id);

/// Capped exponential backoff with jitter: nominal d = min(base·2^(attempt−1), cap) (attempt
/// < 1 counts as 1), then a deterministic pick in [d/2, d] from a hash of (seed, attempt).
duration backoff_delay(std::int32_t attempt, std::uint64_t seed, duration base, duration cap);

/// Delay before resending pay after `attempt` unanswered sends: 1 s doubling, cap 30 s, jittered.
duration pay_retry_delay(std::int32_t attempt, std::uint64_t seed,
                         duration base = std::chrono::seconds{1},
                         duration cap = std::chrono::seconds{30});

/// Delay before resending cancel after `attempt` unanswered sends: 2 s doubling, cap 5 min, jittered.
duration cancel_retry_delay(std::int32_t attempt, std::uint64_t seed,
                            duration base = std::chrono::seconds{2},
                            duration cap = std::chrono::minutes{5});

/// Delay before the next inquiry after `attempt` polls: intervals[attempt], the last one
/// repeating; 60 s when `intervals` is empty (machine_params::validate rejects that).
duration inquiry_delay(std::int32_t attempt, std::span<const duration> intervals);

/// When polling stops and cancel starts: expiry + grace.
time_point poll_deadline(time_point expiry, duration grace);

/// The instant Alipay+ stops accepting cancelPayment for a payment created at `created` (its
/// payment clock): 00:15 UTC+8 on the day after the UTC+8 calendar day of `created` (UTC+8 has
/// no daylight saving time).
time_point cancel_window_closes(time_point created);

/// Delay before resending the next slow-path inquiry, `elapsed` after the slow path started:
/// `fast` during the first `fast_for`, then `slow`.
duration slow_path_delay(duration elapsed, duration fast, duration fast_for, duration slow);

/// Delay before merchant-webhook delivery number `attempt` + 1, after `attempt` failed ones:
/// 0 (immediately), 1 min, 5 min, 10 min, 1 h, 2 h, 6 h, 15 h; nothing (dead) after 8 attempts.
std::optional<duration> webhook_delay(std::int32_t attempt);

/// Alipay+'s notifyPayment retry delays after an un-acked delivery: 2 min, 10 min, 10 min,
/// 1 h, 2 h, 6 h, 15 h (7 retries, 24 h 22 min in all). For the simulator.
std::span<const duration> notify_retry_schedule();

}  // namespace cashier
