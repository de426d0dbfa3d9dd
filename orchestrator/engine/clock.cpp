// Real and scaled payment clocks (see clock.hpp).
#include "orchestrator/engine/clock.hpp"

#include <algorithm>
#include <cmath>

namespace cashier {

time_point wall_now() {
  return std::chrono::time_point_cast<duration>(std::chrono::system_clock::now());
}

time_point real_clock::now() const { return wall_now(); }

std::chrono::steady_clock::duration real_clock::wall_wait_until(time_point at) const {
  if (at == never) return std::chrono::hours(24 * 365);
  return std::max(duration{0}, at - now());
}

time_point scaled_clock::at_wall(time_point wall) const {
  const double elapsed_ms = static_cast<double>((wall - origin_).count()) * scale_;
  return origin_ + duration{static_cast<std::int64_t>(std::floor(elapsed_ms))};
}

time_point scaled_clock::now() const { return at_wall(wall_now()); }

std::chrono::steady_clock::duration scaled_clock::wall_wait_until(time_point at) const {
  if (at == never) return std::chrono::hours(24 * 365);
  const auto ahead = at - now();
  if (ahead <= duration{0}) return duration{0};
  // Round up so the timer never fires before the payment clock reaches `at`.
  const auto wall_us = std::ceil(static_cast<double>(ahead.count()) * 1000.0 / scale_);
  return std::chrono::microseconds{static_cast<std::int64_t>(wall_us)};
}

}  // namespace cashier
