// Tests for schedule.hpp: exact values, caps, jitter bounds and determinism per seed.
#include <doctest/doctest.h>

#include <set>

#include "state/machine/params.hpp"
#include "state/machine/schedule.hpp"

using namespace cashier;
using namespace std::chrono_literals;

TEST_CASE("payment_seed is FNV-1a 64") {
  CHECK(payment_seed("") == 0xcbf29ce484222325ULL);
  CHECK(payment_seed("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(payment_seed("foobar") == 0x85944171f73967e8ULL);
  CHECK(payment_seed("pr-1") == payment_seed("pr-1"));
  CHECK(payment_seed("pr-1") != payment_seed("pr-2"));
}

TEST_CASE("pay retry: 1 s doubling, capped at 30 s, jitter within [d/2, d]") {
  const duration nominal[] = {1s, 2s, 4s, 8s, 16s, 30s, 30s, 30s};
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    for (std::int32_t attempt = 1; attempt <= 8; ++attempt) {
      const duration d = nominal[attempt - 1];
      const duration got = pay_retry_delay(attempt, seed);
      CHECK(got >= d / 2);
      CHECK(got <= d);
    }
  }
  CHECK(pay_retry_delay(1'000'000, 7) <= 30s);
  CHECK(pay_retry_delay(INT32_MAX, 7) >= 15s);
  CHECK(pay_retry_delay(0, 7) <= 1s);   // attempt < 1 counts as 1
  CHECK(pay_retry_delay(-5, 7) <= 1s);
}

TEST_CASE("jitter is deterministic per (seed, attempt) and actually spreads") {
  const auto seed = payment_seed("pr-jitter");
  for (std::int32_t attempt = 1; attempt < 10; ++attempt) {
    CHECK(pay_retry_delay(attempt, seed) == pay_retry_delay(attempt, seed));
    CHECK(cancel_retry_delay(attempt, seed) == cancel_retry_delay(attempt, seed));
  }
  std::set<std::int64_t> values;
  for (std::uint64_t s = 0; s < 100; ++s) values.insert(pay_retry_delay(6, s).count());
  CHECK(values.size() > 50);
  CHECK(*values.begin() >= 15'000);
  CHECK(*values.rbegin() <= 30'000);
}

TEST_CASE("jitter formula pinned: replays stay identical across versions") {
  // Computed independently from the formula in proto-docs/state-machine.md (splitmix64).
  const auto seed = payment_seed("pr-1");
  const std::int64_t pay_ms[] = {782, 1142, 3565, 5654, 10523, 29887, 16553};
  for (std::int32_t a = 1; a <= 7; ++a) CHECK(pay_retry_delay(a, seed).count() == pay_ms[a - 1]);
  const std::int64_t cancel_ms[] = {1113, 3942, 5252};
  for (std::int32_t a = 1; a <= 3; ++a) {
    CHECK(cancel_retry_delay(a, seed).count() == cancel_ms[a - 1]);
  }
}

TEST_CASE("backoff_delay: exact bounds, zero and degenerate inputs") {
  CHECK(backoff_delay(1, 42, 1ms, 1ms) >= 0ms);
  CHECK(backoff_delay(1, 42, 1ms, 1ms) <= 1ms);
  CHECK(backoff_delay(3, 42, 0ms, 10s) == 0ms);
  CHECK(backoff_delay(3, 42, 10s, 0ms) == 0ms);
  CHECK(backoff_delay(3, 42, 100ms, 100ms) >= 50ms);
  // Base above the cap: the cap wins.
  CHECK(backoff_delay(1, 42, 10s, 3s) <= 3s);
}

TEST_CASE("cancel retry: 2 s doubling, capped at 5 min, jittered") {
  const duration nominal[] = {2s, 4s, 8s, 16s, 32s, 64s, 128s, 256s, 300s, 300s};
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    for (std::int32_t attempt = 1; attempt <= 10; ++attempt) {
      const duration d = nominal[attempt - 1];
      CHECK(cancel_retry_delay(attempt, seed) >= d / 2);
      CHECK(cancel_retry_delay(attempt, seed) <= d);
    }
  }
}

TEST_CASE("inquiry_delay walks the intervals and repeats the last") {
  const machine_params mp;
  const auto& iv = mp.inquiry_intervals;
  CHECK(inquiry_delay(0, iv) == 2s);
  CHECK(inquiry_delay(1, iv) == 4s);
  CHECK(inquiry_delay(2, iv) == 8s);
  CHECK(inquiry_delay(3, iv) == 15s);
  CHECK(inquiry_delay(4, iv) == 30s);
  CHECK(inquiry_delay(5, iv) == 60s);
  CHECK(inquiry_delay(6, iv) == 60s);
  CHECK(inquiry_delay(INT32_MAX, iv) == 60s);
  CHECK(inquiry_delay(-1, iv) == 2s);
  const std::vector<duration> custom{5s, 7s};
  CHECK(inquiry_delay(0, custom) == 5s);
  CHECK(inquiry_delay(9, custom) == 7s);
  CHECK(inquiry_delay(3, {}) == 60s);
}

TEST_CASE("poll_deadline is expiry plus grace, saturating at never") {
  const time_point expiry = from_epoch_ms(1'700'000'000'000);
  CHECK(poll_deadline(expiry, 10min) == expiry + 10min);
  CHECK(poll_deadline(never, 10min) == never);
  CHECK(poll_deadline(never - 1min, 10min) == never);
}

TEST_CASE("webhook_delay: immediately, 1m, 5m, 10m, 1h, 2h, 6h, 15h, then dead") {
  const duration expected[] = {0ms, 1min, 5min, 10min, 1h, 2h, 6h, 15h};
  for (std::int32_t i = 0; i < 8; ++i) CHECK(webhook_delay(i) == expected[i]);
  CHECK_FALSE(webhook_delay(8));
  CHECK_FALSE(webhook_delay(100));
  CHECK(webhook_delay(-1) == 0ms);
}

TEST_CASE("notify_retry_schedule is Alipay+'s: 7 retries over 24 h 22 min") {
  const auto s = notify_retry_schedule();
  REQUIRE(s.size() == 7);
  const duration expected[] = {2min, 10min, 10min, 1h, 2h, 6h, 15h};
  duration total{};
  for (std::size_t i = 0; i < s.size(); ++i) {
    CHECK(s[i] == expected[i]);
    total += s[i];
  }
  CHECK(total == 24h + 22min);
}

TEST_CASE("machine_params::validate") {
  machine_params mp;
  CHECK_FALSE(mp.validate());
  mp.poll_grace = 9min + 59s;
  REQUIRE(mp.validate());
  CHECK(mp.validate()->find("poll_grace") != std::string::npos);
  mp.poll_grace = 10min;
  CHECK_FALSE(mp.validate());
  mp.inquiry_intervals.clear();
  CHECK(mp.validate()->find("inquiry_intervals") != std::string::npos);
  mp.inquiry_intervals = {2s, 0s};
  CHECK(mp.validate());
  mp = machine_params{};
  mp.pay_retry_cap = 500ms;
  CHECK(mp.validate()->find("pay_retry_cap") != std::string::npos);
  mp = machine_params{};
  mp.cancel_retry_base = 0s;
  CHECK(mp.validate()->find("cancel_retry_base") != std::string::npos);
  mp = machine_params{};
  mp.answer_guard = 0s;
  CHECK(mp.validate()->find("answer_guard") != std::string::npos);
}
