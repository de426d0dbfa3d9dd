// Tests for the scaled payment clock (timeScale): one timeline from the database's origin.
#include <doctest/doctest.h>

#include "orchestrator/daemon/clock.hpp"

using namespace cashier;
using cashier::daemon::scaled_clock;

TEST_CASE("scaled clock maps wall time onto the payment timeline") {
  const auto origin = from_epoch_ms(1'000'000);
  scaled_clock c(origin, 60);
  CHECK(c.at_wall(origin) == origin);
  CHECK(c.at_wall(origin + duration{1000}) == origin + duration{60'000});
  CHECK(c.at_wall(origin + duration{1500}) == origin + duration{90'000});
}

TEST_CASE("scaled clock waits a scaled-down wall time, never too short") {
  scaled_clock c(daemon::wall_now(), 1000);
  const auto at = c.now() + std::chrono::minutes(10);
  const auto wait = c.wall_wait_until(at);
  // Ten payment minutes at ×1000 is 600 ms of wall time (minus what elapsed since now()).
  CHECK(wait <= std::chrono::milliseconds(601));
  CHECK(wait >= std::chrono::milliseconds(500));
  CHECK(c.wall_wait_until(c.now() - std::chrono::seconds(1)) == std::chrono::steady_clock::duration{0});
}

TEST_CASE("real clock follows the wall clock") {
  daemon::real_clock c;
  const auto a = daemon::wall_now();
  const auto b = c.now();
  CHECK(b >= a);
  CHECK(b - a < std::chrono::seconds(5));
}
