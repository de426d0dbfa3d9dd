// The injected payment clock. The machine never reads a clock; the daemon hands it `now` from
// one of these. `scaled_clock` implements PRODUCT.md's timeScale: the payment clock runs
// `scale` times faster than the wall clock, counted from the database's creation time (kept in
// the database, so restarts keep one timeline). Transport times (network timeouts, Request-Time,
// webhook-timestamp) stay on the wall clock and do not come from here.
#pragma once

#include <chrono>

#include "state/machine/time.hpp"

namespace cashier {

/// A source of payment-clock time.
class payment_clock {
 public:
  virtual ~payment_clock() = default;
  /// The payment clock's current instant.
  virtual time_point now() const = 0;
  /// How long to wait on the wall clock until the payment clock reaches `at` (zero if past).
  virtual std::chrono::steady_clock::duration wall_wait_until(time_point at) const = 0;
};

/// The wall clock (timeScale 1).
class real_clock final : public payment_clock {
 public:
  time_point now() const override;
  std::chrono::steady_clock::duration wall_wait_until(time_point at) const override;
};

/// now = origin + (wall − origin) × scale, for demos and tests.
class scaled_clock final : public payment_clock {
 public:
  /// A clock that runs `scale` (≥ 1) times faster than the wall clock from `origin` on.
  scaled_clock(time_point origin, double scale) : origin_(origin), scale_(scale) {}
  time_point now() const override;
  std::chrono::steady_clock::duration wall_wait_until(time_point at) const override;
  /// The payment-clock instant for the wall-clock instant `wall`.
  time_point at_wall(time_point wall) const;

 private:
  time_point origin_;
  double scale_;
};

/// The current wall-clock instant in milliseconds.
time_point wall_now();

}  // namespace cashier
