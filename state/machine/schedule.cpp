// Backoffs, polling intervals and webhook schedules (see schedule.hpp).
#include "state/machine/schedule.hpp"

#include <algorithm>
#include <array>

namespace cashier {

namespace {

using std::chrono::hours;
using std::chrono::minutes;

/// splitmix64's finaliser: a well-mixed 64-bit hash of `x`.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

constexpr std::array<duration, 8> webhook_delays{
    duration::zero(), minutes{1}, minutes{5}, minutes{10}, hours{1}, hours{2}, hours{6}, hours{15}};

constexpr std::array<duration, 7> notify_retries{
    minutes{2}, minutes{10}, minutes{10}, hours{1}, hours{2}, hours{6}, hours{15}};

}  // namespace

std::uint64_t payment_seed(std::string_view payment_request_id) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : payment_request_id) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

duration backoff_delay(std::int32_t attempt, std::uint64_t seed, duration base, duration cap) {
  if (base <= duration::zero() || cap <= duration::zero()) return duration::zero();
  // Doubling stops as soon as the cap is reached, so a huge attempt count neither loops long
  // nor overflows.
  duration d = base;
  for (std::int32_t i = 1; i < attempt && d < cap; ++i) d *= 2;
  d = std::min(d, cap);
  const std::int64_t half = d.count() / 2;
  const std::uint64_t span = static_cast<std::uint64_t>(d.count() - half) + 1;
  const std::uint64_t pick = mix(seed ^ mix(static_cast<std::uint64_t>(attempt))) % span;
  return duration{half + static_cast<std::int64_t>(pick)};
}

duration pay_retry_delay(std::int32_t attempt, std::uint64_t seed, duration base, duration cap) {
  return backoff_delay(attempt, seed, base, cap);
}

duration cancel_retry_delay(std::int32_t attempt, std::uint64_t seed, duration base,
                            duration cap) {
  // A different stream from the pay jitter, so the two retries of one payment do not align.
  return backoff_delay(attempt, ~seed, base, cap);
}

duration inquiry_delay(std::int32_t attempt, std::span<const duration> intervals) {
  if (intervals.empty()) return std::chrono::seconds{60};
  const std::size_t last = intervals.size() - 1;
  const std::size_t i = attempt < 0 ? 0 : std::min(static_cast<std::size_t>(attempt), last);
  return intervals[i];
}

time_point cancel_window_closes(time_point created) {
  using std::chrono::floor;
  constexpr auto utc8 = std::chrono::hours{8};
  const auto local = created + utc8;  // the same instant read on a UTC+8 wall clock
  const auto local_day = floor<std::chrono::days>(local.time_since_epoch());
  const auto close_local = local_day + std::chrono::days{1} + std::chrono::minutes{15};
  return time_point{std::chrono::duration_cast<duration>(close_local - utc8)};
}

duration slow_path_delay(duration elapsed, duration fast, duration fast_for, duration slow) {
  return elapsed < fast_for ? fast : slow;
}

time_point poll_deadline(time_point expiry, duration grace) {
  // Saturate instead of overflowing: a deadline past `never` is `never`.
  if (grace > duration::zero() && expiry > never - grace) return never;
  return expiry + grace;
}

std::optional<duration> webhook_delay(std::int32_t attempt) {
  if (attempt < 0) return webhook_delays.front();
  if (static_cast<std::size_t>(attempt) >= webhook_delays.size()) return std::nullopt;
  return webhook_delays[static_cast<std::size_t>(attempt)];
}

std::span<const duration> notify_retry_schedule() { return notify_retries; }

}  // namespace cashier
