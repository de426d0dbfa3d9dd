// Tests for the scaled payment clock (timeScale): one timeline from the database's origin; and
// the ISO 8601 form every payment time is shown in.
#include <doctest/doctest.h>

#include "orchestrator/engine/clock.hpp"
#include "orchestrator/engine/payment_view.hpp"

using namespace cashier;
using cashier::scaled_clock;

TEST_CASE("scaled clock maps wall time onto the payment timeline") {
  const auto origin = from_epoch_ms(1'000'000);
  scaled_clock c(origin, 60);
  CHECK(c.at_wall(origin) == origin);
  CHECK(c.at_wall(origin + duration{1000}) == origin + duration{60'000});
  CHECK(c.at_wall(origin + duration{1500}) == origin + duration{90'000});
}

TEST_CASE("scaled clock waits a scaled-down wall time, never too short") {
  scaled_clock c(wall_now(), 1000);
  const auto at = c.now() + std::chrono::minutes(10);
  const auto wait = c.wall_wait_until(at);
  // Ten payment minutes at ×1000 is 600 ms of wall time (minus what elapsed since now()).
  CHECK(wait <= std::chrono::milliseconds(601));
  CHECK(wait >= std::chrono::milliseconds(500));
  CHECK(c.wall_wait_until(c.now() - std::chrono::seconds(1)) == std::chrono::steady_clock::duration{0});
}

TEST_CASE("real clock follows the wall clock") {
  real_clock c;
  const auto a = wall_now();
  const auto b = c.now();
  CHECK(b >= a);
  CHECK(b - a < std::chrono::seconds(5));
}

TEST_CASE("iso8601 writes UTC with milliseconds, digit by digit") {
  using engine::iso8601;
  CHECK(iso8601(from_epoch_ms(0)) == "1970-01-01T00:00:00.000Z");
  CHECK(iso8601(from_epoch_ms(1'709'164'800'007)) == "2024-02-29T00:00:00.007Z");  // leap day
  CHECK(iso8601(from_epoch_ms(1'795'000'000'999)) == "2026-11-18T11:06:40.999Z");
  CHECK(iso8601(from_epoch_ms(253'402'300'799'999)) == "9999-12-31T23:59:59.999Z");
  CHECK(iso8601(from_epoch_ms(-1)) == "1969-12-31T23:59:59.999Z");
  CHECK(iso8601(from_epoch_ms(253'402'300'800'000)) == "10000-01-01T00:00:00.000Z");  // 5 digits
}
