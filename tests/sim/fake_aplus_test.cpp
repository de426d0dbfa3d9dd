// Unit tests of the simulator's parts: the PRNG and the virtual clock are deterministic, the
// fake Alipay+ answers and notifies as ALIPAYPLUS.md says and flags what only it can see, and a
// whole run replays identically from its seed.
#include <doctest/doctest.h>

#include <filesystem>

#include "tests/sim/fake_aplus.hpp"
#include "tests/sim/world.hpp"

namespace cashier::sim {
namespace {
using namespace std::chrono_literals;

const time_point t0 = time_point{std::chrono::sys_days{std::chrono::year{2026} / 3 / 1}} + 12h;

/// A fake without random faults, with its clock, and the notifies it sent.
struct fixture {
  event_queue queue{t0};
  rng random{7};
  fault_counts faults;
  violation_log violations;
  fake_aplus fake{queue, random, fault_rates{}.scaled(0), faults, violations};
  std::vector<notify_message> notifies;
  money amount{1234, *currency_code::parse("USD")};

  fixture() {
    fake.send_notify = [this](notify_message m) { notifies.push_back(std::move(m)); };
  }
  std::string body(std::string_view id) { return make_pay_body(id, amount, t0 + 15min, "o-1"); }
  void run_until(time_point t) {
    queue.at(t, [] {});
    while (queue.now() < t && queue.run_one()) {
    }
  }
};

payer_plan plan(payer_action a, duration after) {
  payer_plan p;
  p.action = a;
  p.after = after;
  p.close_lag = 20min;
  return p;
}

TEST_CASE("rng: one seed, one sequence") {
  rng a{42}, b{42}, c{43};
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next();
    CHECK(x == b.next());
    differs |= x != c.next();
  }
  CHECK(differs);
  for (int i = 0; i < 1000; ++i) {
    const auto v = a.uniform(3, 5);
    CHECK((v >= 3 && v <= 5));
  }
}

TEST_CASE("event_queue: time order, ties in scheduling order, the clock jumps") {
  event_queue q{t0};
  std::vector<int> order;
  q.after(2s, [&] { order.push_back(3); });
  q.after(1s, [&] { order.push_back(1); });
  q.after(1s, [&] { order.push_back(2); q.after(0s, [&] { order.push_back(25); }); });
  q.at(t0 - 1h, [&] { order.push_back(0); });  // the past runs now
  while (q.run_one()) {
  }
  CHECK(order == std::vector<int>{0, 1, 2, 25, 3});
  CHECK(q.now() == t0 + 2s);
}

TEST_CASE("fake: pay creates the order once, the payer pays, inquiry and notify say so") {
  fixture f;
  f.fake.script("p1", plan(payer_action::pay, 30s));
  const auto a = f.fake.pay(f.body("p1"));
  CHECK(a.result.status == 'U');
  CHECK(a.result.code == "PAYMENT_IN_PROCESS");
  CHECK_FALSE(a.normal_url.empty());
  const auto before = f.fake.inquiry("p1");
  REQUIRE(before.payment_result);
  CHECK(before.payment_result->status == 'U');
  CHECK(before.amount == f.amount);

  f.run_until(t0 + 40s);
  const auto after = f.fake.inquiry("p1");
  REQUIRE(after.payment_result);
  CHECK(after.payment_result->status == 'S');
  CHECK(f.fake.pay(f.body("p1")).result.status == 'S');  // an idempotent retry
  REQUIRE(f.notifies.size() == 1);
  CHECK(f.notifies[0].payment_result.status == 'S');
  CHECK(f.notifies[0].amount == f.amount);
  CHECK(f.violations.empty());
}

TEST_CASE("fake: notifies follow Alipay+'s schedule until acked") {
  fixture f;
  f.fake.script("p1", plan(payer_action::fail, 10s));
  f.fake.pay(f.body("p1"));
  f.run_until(t0 + 10s + 2s + 12min + 1s);  // first delivery, then +2 min and +10 min
  CHECK(f.notifies.size() == 3);
  CHECK(f.notifies.back().payment_result.status == 'F');
  f.fake.ack("p1");
  f.run_until(t0 + 2 * 24h);
  CHECK(f.notifies.size() == 3);

  fixture g;
  g.fake.script("p2", plan(payer_action::pay, 10s));
  g.fake.pay(g.body("p2"));
  g.run_until(t0 + 2 * 24h);
  CHECK(g.notifies.size() == 8);  // the first delivery and 7 retries, then Alipay+ gives up
}

TEST_CASE("fake: a pay retry with other bytes is a violation") {
  fixture f;
  f.fake.pay(f.body("p1"));
  f.fake.pay(f.body("p1"));
  CHECK(f.violations.empty());
  f.fake.pay(make_pay_body("p1", f.amount, t0 + 16min, "o-1"));
  CHECK(f.violations.items().size() == 1);
}

TEST_CASE("fake: cancel of an unknown order, then the pay arrives: a violation") {
  fixture f;
  const auto c = f.fake.cancel("p1");
  CHECK(c.result.status == 'F');
  CHECK(c.result.code == "ORDER_NOT_EXIST");
  CHECK(f.fake.inquiry("p1").result.code == "ORDER_NOT_EXIST");
  CHECK(f.violations.empty());
  f.fake.pay(f.body("p1"));
  CHECK(f.violations.items().size() == 1);
}

TEST_CASE("fake: cancel refunds a paid order and is idempotent") {
  fixture f;
  f.fake.script("p1", plan(payer_action::pay, 5s));
  f.fake.pay(f.body("p1"));
  f.run_until(t0 + 10s);
  CHECK(f.fake.truth("p1")->state == order_state::paid);
  CHECK(f.fake.cancel("p1").result.status == 'S');
  CHECK(f.fake.cancel("p1").result.status == 'S');
  CHECK(f.fake.truth("p1")->cancelled);
  // Paid, then reversed: the inquiry still says paid and lists the cancel (proof of the refund).
  const auto q = f.fake.inquiry("p1");
  CHECK(q.payment_result->status == 'S');
  REQUIRE(q.transactions.size() == 1);
  CHECK(q.transactions[0].type == "CANCEL");
  CHECK(is_successful_reversal(q.transactions[0]));
}

TEST_CASE("fake: a cancel after the window is refused, an abandoned order closes after expiry") {
  fixture f;
  auto p = plan(payer_action::abandon, 0s);
  p.cancel_window = 30min;
  f.fake.script("p1", p);
  f.fake.pay(f.body("p1"));
  f.run_until(t0 + 15min + 19min);
  CHECK(f.fake.inquiry("p1").payment_result->status == 'U');
  f.run_until(t0 + 15min + 21min);
  const auto q = f.fake.inquiry("p1");
  CHECK(q.payment_result->status == 'F');
  const auto c = f.fake.cancel("p1");
  CHECK(c.result.code == "CANCEL_WINDOW_EXCEED");
  CHECK(f.fake.truth("p1")->window_exceeded);
  CHECK(f.notifies.empty());  // nobody paid: nothing to notify
}

TEST_CASE("fake: the usual cancel window ends at 00:15 UTC+8 the next day") {
  CHECK(usual_cancel_window_end(t0) == t0 + 4h + 15min);             // 20:00+08 -> 00:15+08
  CHECK(usual_cancel_window_end(t0 - 12h) == t0 - 12h + 16h + 15min);  // 08:00+08 -> 00:15+08
}

TEST_CASE("a run replays identically from its seed, and finds nothing wrong") {
  const std::string dir = std::filesystem::temp_directory_path().string();
  const auto a = run_seed({3, 8, injected_bug::none, false, dir, scenario::random, ""});
  const auto b = run_seed({3, 8, injected_bug::none, false, dir, scenario::random, ""});
  CHECK(a.violations.empty());
  CHECK(a.commits == b.commits);
  CHECK(a.simulated == b.simulated);
  CHECK(a.faults.n == b.faults.n);
  CHECK(a.totals.merchant_events == b.totals.merchant_events);
  CHECK(a.totals.success + a.totals.fail + a.totals.cancelled == 8);
}

}  // namespace
}  // namespace cashier::sim
