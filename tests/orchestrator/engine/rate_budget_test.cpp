// Tests for the outbound call budget: the token bucket on made-up instants (no clock, no
// sleeps), borrowing by calls that cannot wait, the wait hint for the timer, the reaction to
// REQUEST_TRAFFIC_EXCEED_LIMIT, and the lanes of payments' deadlines.
#include <doctest/doctest.h>

#include <chrono>

#include "orchestrator/engine/rate_budget.hpp"

using namespace cashier;
using cashier::call_lane;
using cashier::lane_of;
using cashier::rate_budget;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

const rate_budget::instant t0 = rate_budget::instant{} + std::chrono::hours(1);

/// Takes queued tokens every `step` from `from` for `span`; returns how many were granted.
int drain(rate_budget& b, rate_budget::instant from, milliseconds span, milliseconds step) {
  int granted = 0;
  for (auto t = from; t < from + span; t += step)
    while (b.take_queued(t)) ++granted;
  return granted;
}

}  // namespace

TEST_CASE("an unlimited budget grants every call") {
  rate_budget b;
  for (int i = 0; i < 100000; ++i) REQUIRE(b.take_queued(t0));
  CHECK(b.take_now(t0));
  CHECK(b.wait(t0) == std::chrono::nanoseconds{0});
  CHECK(b.rate() == 0);
  CHECK(b.configured() == 0);
  CHECK(b.taken() == 100001);
  CHECK(rate_budget(0).take_queued(t0));
}

TEST_CASE("queued calls get the configured rate, with a burst of 20 ms worth") {
  rate_budget b(1000);
  // The bucket starts full: 20 tokens.
  CHECK(drain(b, t0, milliseconds(1), milliseconds(1)) == 20);
  CHECK_FALSE(b.take_queued(t0));
  // Ten seconds polled every millisecond: 1000 per second, never more.
  const int granted = drain(b, t0 + milliseconds(1), seconds(10), milliseconds(1));
  CHECK(granted >= 9990);
  CHECK(granted <= 10000);
  // Polled every 5 ms, nothing is lost to the bucket's cap (5 ms < 20 ms).
  rate_budget c(1000);
  drain(c, t0, milliseconds(1), milliseconds(1));
  CHECK(drain(c, t0 + milliseconds(5), seconds(10), milliseconds(5)) >= 9990);
}

TEST_CASE("no span of a second carries more than rate + two bursts") {
  rate_budget b(200);  // burst 4
  int window[2000] = {};
  // Calls that cannot wait (borrowing) mixed with queued ones, every millisecond for 2 s.
  for (int ms = 0; ms < 2000; ++ms) {
    const auto t = t0 + milliseconds(ms);
    if (ms % 3 == 0 && b.take_now(t)) ++window[ms];
    while (b.take_queued(t)) ++window[ms];
  }
  int worst = 0;
  for (int start = 0; start + 1000 <= 2000; ++start) {
    int n = 0;
    for (int ms = start; ms < start + 1000; ++ms) n += window[ms];
    worst = std::max(worst, n);
  }
  CHECK(worst <= 200 + 2 * 4);
}

TEST_CASE("calls that cannot wait borrow one burst ahead, and the heap waits for the debt") {
  rate_budget b(100);  // burst 2
  CHECK(b.take_now(t0));
  CHECK(b.take_now(t0));
  CHECK(b.take_now(t0));  // borrowing: tokens 2 -> -1
  CHECK(b.take_now(t0));  // -2: the whole burst borrowed
  CHECK_FALSE(b.take_now(t0));
  CHECK(b.refused() == 1);
  CHECK_FALSE(b.take_queued(t0));
  // 30 ms later the debt (2) is paid and one token is there (0.01 s per token).
  CHECK_FALSE(b.take_queued(t0 + milliseconds(25)));
  CHECK(b.take_queued(t0 + milliseconds(31)));
  CHECK(b.taken() == 5);
}

TEST_CASE("wait says when to try again: now, or half a burst later") {
  rate_budget b(1000);  // burst 20, half a burst = 10 tokens = 10 ms
  CHECK(b.wait(t0) == std::chrono::nanoseconds{0});
  while (b.take_queued(t0)) {
  }
  const auto w = b.wait(t0);
  CHECK(w >= milliseconds(9));
  CHECK(w <= milliseconds(10));
  CHECK(drain(b, t0 + w, milliseconds(1), milliseconds(1)) >= 9);
  // A slow budget waits for one token.
  rate_budget slow(2);
  CHECK(slow.take_queued(t0));
  CHECK_FALSE(slow.take_queued(t0));
  CHECK(slow.wait(t0) == milliseconds(500));
}

TEST_CASE("a refund gives the token back") {
  rate_budget b(50);  // burst 1
  CHECK(b.take_queued(t0));
  CHECK_FALSE(b.take_queued(t0));
  b.refund();
  CHECK(b.taken() == 0);
  CHECK(b.take_queued(t0));
}

TEST_CASE("REQUEST_TRAFFIC_EXCEED_LIMIT halves the rate once a second, then it grows back") {
  rate_budget b(1000);
  // 400 calls went out in the last second.
  for (int ms = 0; ms < 1000; ms += 5)
    for (int i = 0; i < 2; ++i) REQUIRE(b.take_queued(t0 + milliseconds(ms)));
  const auto t1 = t0 + milliseconds(1000);
  b.throttled(t1);
  CHECK(b.rate() == doctest::Approx(200));  // half of what went out
  CHECK(b.throttles() == 1);
  b.throttled(t1 + milliseconds(500));  // the other calls in flight answer alike: no new halving
  CHECK(b.rate() == doctest::Approx(200));
  CHECK(b.throttles() == 1);
  // During the next second the budget grants 200 calls, not 400.
  CHECK(drain(b, t1, seconds(1), milliseconds(1)) <= 200 + 4);
  // From a second after the throttle it grows 5 % a second, back to the ceiling.
  b.wait(t1 + seconds(1));
  CHECK(b.rate() == doctest::Approx(200));
  b.wait(t1 + seconds(11));
  CHECK(b.rate() == doctest::Approx(200 * 1.628894627).epsilon(0.001));
  b.wait(t1 + seconds(60));
  CHECK(b.rate() == doctest::Approx(1000));
  CHECK(b.configured() == doctest::Approx(1000));
}

TEST_CASE("an unlimited budget is throttled to half of what went out, then unlimited again") {
  rate_budget b;
  for (int i = 0; i < 3000; ++i) REQUIRE(b.take_queued(t0 + milliseconds(i / 3)));
  b.throttled(t0 + milliseconds(1000));
  CHECK(b.rate() == doctest::Approx(1500));
  CHECK_FALSE(drain(b, t0 + milliseconds(1000), seconds(1), milliseconds(1)) > 1500 + 60);
  b.wait(t0 + seconds(1000));
  CHECK(b.rate() == 0);
  CHECK(b.take_queued(t0 + seconds(1000)));
}

TEST_CASE("REQUEST_TRAFFIC_EXCEED_LIMIT is recognised in pay, inquiry and cancel answers") {
  const aplus_result limit{"REQUEST_TRAFFIC_EXCEED_LIMIT", 'U', "too many"};
  pay_answer pay;
  pay.result = limit;
  inquiry_answer inquiry;
  inquiry.result = limit;
  CHECK(is_traffic_limit(pay));
  CHECK(is_traffic_limit(inquiry));
  CHECK(is_traffic_limit(cancel_answer{limit}));
  pay.result.code = "UNKNOWN_EXCEPTION";
  CHECK_FALSE(is_traffic_limit(pay));
  CHECK_FALSE(is_traffic_limit(inquiry_no_answer{no_answer_reason::timeout}));
  CHECK_FALSE(is_traffic_limit(deadline_reached{}));
}

TEST_CASE("pay and cancel are urgent, polls only near the polling deadline") {
  const auto poll_deadline = from_epoch_ms(1'000'000'000);
  const auto at = [&](std::int64_t s) { return poll_deadline + seconds(s); };
  CHECK(lane_of(pending_action::pay, at(-3600), poll_deadline) == call_lane::urgent);
  CHECK(lane_of(pending_action::cancel, at(3600), poll_deadline) == call_lane::urgent);
  CHECK(lane_of(pending_action::inquiry, at(-3600), poll_deadline) == call_lane::polling);
  CHECK(lane_of(pending_action::inquiry, at(-61), poll_deadline) == call_lane::polling);
  CHECK(lane_of(pending_action::inquiry, at(-60), poll_deadline) == call_lane::urgent);
  CHECK(lane_of(pending_action::inquiry, at(0), poll_deadline) == call_lane::urgent);
  CHECK(lane_of(pending_action::inquiry, at(60), poll_deadline) == call_lane::urgent);
  // Polling after an abandoned cancel runs long past the deadline: ordinary polling.
  CHECK(lane_of(pending_action::inquiry, at(3600), poll_deadline) == call_lane::polling);
  CHECK(lane_of(pending_action::inquiry, never, poll_deadline) == call_lane::polling);
  CHECK(lane_of(pending_action::none, at(0), poll_deadline) == call_lane::polling);
  payment p;
  p.pending = pending_action::inquiry;
  p.poll_deadline_at = poll_deadline;
  p.next_action_at = at(-10);
  CHECK(lane_of(p) == call_lane::urgent);
}

// Issue 14 (security review 7): one merchant looping consult must not starve polls, cancels and
// pay retries. Before, consult took take_now tokens (borrowing), so the heap got nothing.
TEST_CASE("consults draw on their own share, never borrow, and leave the heap its budget") {
  rate_budget b(1000);  // burst 20; consult share 100/s
  int consults = 0;
  int queued = 0;
  // Ten seconds: a consult flood (every 0.1 ms, as many as granted) beside the heap's calls.
  for (auto t = t0; t < t0 + seconds(10); t += std::chrono::microseconds(100)) {
    while (b.take_consult(t)) ++consults;
    if ((t - t0) % milliseconds(1) == std::chrono::nanoseconds{0})
      while (b.take_queued(t)) ++queued;
  }
  CHECK(consults <= 1000 + 2);  // 10 % of 10 s at 1,000/s, plus the share's burst
  CHECK(consults >= 900);
  CHECK(queued >= 8900);        // the rest of the budget went to the heap
  CHECK(consults + queued <= 10000 + 40);
  // A consult never borrows: with the bucket empty it is refused.
  rate_budget empty(100);
  while (empty.take_now(t0)) {
  }
  CHECK_FALSE(empty.take_consult(t0));
  // Unlimited: consults are unlimited too (the merchant API caches their answers).
  rate_budget unlimited;
  for (int i = 0; i < 1000; ++i) REQUIRE(unlimited.take_consult(t0));
}
