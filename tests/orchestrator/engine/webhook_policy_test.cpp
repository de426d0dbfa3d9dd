// Tests of the webhook policy with made-up rows and instants: no store, no io_context, no clock.
// Slots in total and per merchant, per-payment order (held, left alone, a dead row does not
// hold), the retry schedule and the give-up, a redeliver during an attempt, a failed settle.
#include <doctest/doctest.h>

#include <string>
#include <variant>
#include <vector>

#include "orchestrator/engine/webhook_policy.hpp"
#include "state/machine/schedule.hpp"

using namespace cashier;
using namespace cashier::engine;
using namespace std::chrono_literals;

namespace {

const time_point t0 = from_epoch_ms(1'700'000'000'000);

store::outbox_record row(std::int64_t payment, std::int32_t seq, time_point next = t0, std::int32_t attempts = 0,
                         store::outbox_state state = store::outbox_state::pending) {
  store::outbox_record r;
  r.event_id = "evt_" + std::to_string(payment) + "_" + std::to_string(seq);
  r.payment_id = payment;
  r.seq = seq;
  r.attempts = attempts;
  r.next_attempt_at = next;
  r.state = state;
  return r;
}

webhook_candidate candidate(store::outbox_record r, std::string merchant = "m1",
                            std::vector<store::outbox_record> siblings = {}) {
  return {std::move(r), std::move(merchant), std::move(siblings)};
}

/// A policy whose broken invariants fail the test instead of aborting.
struct checked_policy : webhook_policy {
  explicit checked_policy(webhook_limits l = {}) : webhook_policy(l) {
    on_broken_invariant([](std::string_view what) { FAIL(std::string(what)); });
  }
};

/// Ends `id`'s attempt with `status`, settles at `now`, commits it, and returns its report.
delivery_report end_and_settle(webhook_policy& p, const std::string& id, int status, time_point now) {
  p.attempt_ended(id, {status, status == 200 ? "" : "HTTP " + std::to_string(status), {}});
  const auto s = p.settle(now);
  REQUIRE(s.reports.size() == 1);
  const std::vector<store::commit_outcome> ok(1);  // committed
  const auto recorded = p.settled(s, ok);
  REQUIRE(recorded.size() == 1);
  return recorded.front();
}

}  // namespace

TEST_CASE("a due row with no earlier pending row starts, a full policy reads nothing") {
  checked_policy p({.max_in_flight = 2, .max_in_flight_per_merchant = 2});
  REQUIRE(p.begin_poll(t0));
  CHECK(std::holds_alternative<start_delivery>(p.admit(candidate(row(1, 1)), t0)));
  CHECK_FALSE(p.worth_reading(row(1, 1)));  // under way
  CHECK(std::holds_alternative<leave_delivery>(p.admit(candidate(row(1, 1)), t0)));
  CHECK(std::holds_alternative<start_delivery>(p.admit(candidate(row(2, 1)), t0)));
  CHECK_FALSE(p.has_room());
  CHECK_FALSE(p.begin_poll(t0));
  CHECK(p.stats().full == 1);
  CHECK(p.in_flight() == 2);
}

TEST_CASE("a merchant's slots: its rows beyond the share are deferred by the attempt timeout") {
  checked_policy p({.max_in_flight = 8, .max_in_flight_per_merchant = 1, .attempt_timeout = 10s});
  CHECK(std::holds_alternative<start_delivery>(p.admit(candidate(row(1, 1), "slow"), t0)));
  const auto held = p.admit(candidate(row(2, 1), "slow"), t0);
  REQUIRE(std::holds_alternative<defer_delivery>(held));
  CHECK(std::get<defer_delivery>(held).until == t0 + 10s);
  CHECK(std::get<defer_delivery>(held).t.deliveries.front().next_attempt_at == t0 + 10s);
  CHECK(std::holds_alternative<start_delivery>(p.admit(candidate(row(3, 1), "other"), t0)));
  CHECK(p.stats().held_for_share == 1);
  CHECK(p.next_wake() == t0 + 10s);
  // The slot frees when the attempt settles.
  end_and_settle(p, "evt_1_1", 200, t0 + 1s);
  CHECK(std::holds_alternative<start_delivery>(p.admit(candidate(row(2, 1), "slow"), t0 + 1s)));
}

TEST_CASE("per-payment order: a row waits for the earlier pending row of its payment") {
  checked_policy p;
  const auto first = row(1, 1, t0 + 5min, 2);  // failed twice, next try in 5 min
  const auto second = row(1, 2, t0);
  // Held until its blocker's next attempt, so the due query stops returning it.
  auto a = p.admit(candidate(second, "m1", {first, second}), t0);
  REQUIRE(std::holds_alternative<defer_delivery>(a));
  CHECK(std::get<defer_delivery>(a).until == t0 + 5min);
  CHECK(p.stats().held_for_order == 1);
  // The blocker due now, or under way: the row is left alone until the blocker's attempt ends.
  const auto first_due = row(1, 1, t0, 2);
  CHECK(std::holds_alternative<leave_delivery>(p.admit(candidate(second, "m1", {first_due, second}), t0)));
  CHECK(std::holds_alternative<start_delivery>(p.admit(candidate(first_due, "m1", {first_due, second}), t0)));
  CHECK(std::holds_alternative<leave_delivery>(p.admit(candidate(second, "m1", {first_due, second}), t0)));
  CHECK(p.stats().left_for_order == 2);
  // Once the first is delivered (not pending), the second goes.
  end_and_settle(p, first_due.event_id, 200, t0 + 1s);
  auto delivered = first_due;
  delivered.state = store::outbox_state::delivered;
  CHECK(std::holds_alternative<start_delivery>(p.admit(candidate(second, "m1", {delivered, second}), t0 + 1s)));
}

TEST_CASE("a dead row does not hold back the next one") {
  checked_policy p;
  const auto dead = row(1, 1, t0, 8, store::outbox_state::dead);
  const auto next = row(1, 2, t0);
  CHECK(std::holds_alternative<start_delivery>(p.admit(candidate(next, "m1", {dead, next}), t0)));
}

TEST_CASE("the retry schedule is webhook_delay's and the row is dead when it runs out") {
  checked_policy p;
  auto r = row(1, 1);
  time_point now = t0;
  for (std::int32_t attempt = 1;; ++attempt) {
    r.attempts = attempt - 1;
    REQUIRE(std::holds_alternative<start_delivery>(p.admit(candidate(r), now)));
    const auto report = end_and_settle(p, r.event_id, 503, now);
    CHECK(report.attempts == attempt);
    const auto delay = webhook_delay(attempt);
    if (!delay) {
      CHECK(report.result == delivery_result::dead);
      break;
    }
    CHECK(report.result == delivery_result::retry);
    CHECK(p.next_wake() == now + *delay);
    now += *delay;
    p.begin_poll(now);
  }
  CHECK(p.stats().dead == 1);
  CHECK(p.stats().retried == 7);
}

TEST_CASE("an operator's redeliver during an attempt keeps the fresh schedule") {
  checked_policy p;
  auto r = row(1, 1, t0, 7);
  REQUIRE(std::holds_alternative<start_delivery>(p.admit(candidate(r), t0)));
  const auto t = webhook_policy::redeliver(r, t0 + 1s);
  CHECK(t.deliveries.front().attempts == 0);
  CHECK(t.deliveries.front().next_attempt_at == t0 + 1s);
  p.redelivered(r.event_id);
  p.attempt_ended(r.event_id, {0, "timeout", {}});
  const auto s = p.settle(t0 + 2s);
  const auto& progress = s.transitions.front().deliveries.front();
  CHECK(progress.state == store::outbox_state::pending);  // not dead though it was the 8th try
  CHECK(progress.attempts == 0);
  CHECK(progress.next_attempt_at == t0 + 2s);
  p.settled(s, std::vector<store::commit_outcome>(1));  // committed
  CHECK(p.stats().redelivered_in_flight == 1);
}

TEST_CASE("a failed settle stalls its rows until the timer ticks, nothing is reported") {
  checked_policy p;
  REQUIRE(std::holds_alternative<start_delivery>(p.admit(candidate(row(1, 1)), t0)));
  CHECK(p.attempt_ended("evt_1_1", {200, "", {}}));
  const auto s = p.settle(t0);
  p.settle_failed(s);
  CHECK(p.idle());
  CHECK_FALSE(p.worth_reading(row(1, 1)));
  CHECK(std::holds_alternative<leave_delivery>(p.admit(candidate(row(1, 1)), t0)));
  p.timer_ticked();
  CHECK(std::holds_alternative<start_delivery>(p.admit(candidate(row(1, 1)), t0 + 1s)));
  CHECK(p.stats().commit_failures == 1);
}

TEST_CASE("a progress the store did not commit is not reported and frees the slot") {
  checked_policy p({.max_in_flight = 1});
  REQUIRE(std::holds_alternative<start_delivery>(p.admit(candidate(row(1, 1)), t0)));
  p.attempt_ended("evt_1_1", {200, "", {}});
  const auto s = p.settle(t0);
  std::vector<store::commit_outcome> lost(1);
  lost[0].status = store::commit_status::rejected;
  CHECK(p.settled(s, lost).empty());
  CHECK(p.has_room());
}

TEST_CASE("the flaws the simulation injects change what they say") {
  SUBCASE("drop_on_failure settles a failure as delivered") {
    checked_policy p({.flaw = webhook_flaw::drop_on_failure});
    REQUIRE(std::holds_alternative<start_delivery>(p.admit(candidate(row(1, 1)), t0)));
    CHECK(end_and_settle(p, "evt_1_1", 500, t0).result == delivery_result::delivered);
  }
  SUBCASE("out_of_order starts a row whose earlier row is pending") {
    checked_policy p({.flaw = webhook_flaw::out_of_order});
    const auto first = row(1, 1, t0 + 5min, 2);
    const auto second = row(1, 2, t0);
    CHECK(std::holds_alternative<start_delivery>(p.admit(candidate(second, "m1", {first, second}), t0)));
  }
}

TEST_CASE("draining stops polling, attempts under way still settle") {
  checked_policy p;
  REQUIRE(std::holds_alternative<start_delivery>(p.admit(candidate(row(1, 1)), t0)));
  p.drain();
  CHECK_FALSE(p.begin_poll(t0));
  CHECK_FALSE(p.idle());
  end_and_settle(p, "evt_1_1", 200, t0);
  CHECK(p.idle());
}
