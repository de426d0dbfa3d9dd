// Tests of the driver executing the scheduler's budget and cap decisions end to end, over a real
// engine and SQLite store in a temporary directory, a fake gateway that records every call in
// order, and a payment clock that stands still unless a test moves it. The rules themselves
// (lanes, polling share, borrowing, refunds, the cap, exact timings) are tested with made-up
// instants in tests/orchestrator/engine/scheduler_test.cpp; here only what needs the real
// machine, store and reactor: an unmade call resent by its answer guard, the throttle reacting
// to real answers, the cap holding calls in the heap while Alipay+ holds the answers, and the
// calls of an acked decision (the amount-mismatch cancel) held until the ack is written.
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/serialized_store.hpp"
#include "state/store/sqlite_store.hpp"
#include "tests/state/store/store_fixture.hpp"

namespace cashier::daemon {
namespace {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;
using store::test::temp_dir;

const time_point t0 = from_epoch_ms(1'700'000'000'000);

/// A payment clock that stands still unless a test moves it; deadlines in the future are
/// looked at again every millisecond, so moving it takes effect at once.
class still_clock final : public payment_clock {
 public:
  time_point t = t0;
  time_point now() const override { return t; }
  steady::duration wall_wait_until(time_point at) const override {
    return at <= t ? steady::duration::zero() : std::chrono::milliseconds(1);
  }
};

/// One call the gateway saw.
struct seen_call {
  std::string api;      ///< "pay", "inquiryPayment", "cancelPayment"
  std::int64_t id = 0;  ///< the payment
  steady::time_point at;
};

/// Alipay+ as the driver sees it: pay U/PAYMENT_IN_PROCESS, inquiry S with the payment still
/// U (or U/REQUEST_TRAFFIC_EXCEED_LIMIT when `limit`), cancel S; answers a few turns later, or
/// (inquiries, while `holding`) not before release().
class recording_gateway final : public gateway {
 public:
  explicit recording_gateway(asio::io_context& io) : hold_(io) {
    hold_.expires_at(asio::steady_timer::time_point::max());
  }
  std::vector<seen_call> calls;
  bool limit = false;
  bool holding = false;
  int answered = 0;
  /// Lets held inquiries answer.
  void release() {
    holding = false;
    hold_.cancel();
  }

  asio::awaitable<call_result> pay(const payment& p) override {
    saw("pay", p);
    co_await later();
    pay_answer a;
    a.result = {"PAYMENT_IN_PROCESS", 'U', "in process"};
    co_return done(a, "pay", p);
  }
  asio::awaitable<call_result> inquiry(const payment& p) override {
    saw("inquiryPayment", p);
    const bool limited = limit;
    if (holding) {
      boost::system::error_code ec;
      co_await hold_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    co_await later();
    inquiry_answer a;
    if (limited) {
      a.result = {"REQUEST_TRAFFIC_EXCEED_LIMIT", 'U', "slow down"};
    } else {
      a.result = {"SUCCESS", 'S', "success"};
      a.payment_result = aplus_result{"PAYMENT_IN_PROCESS", 'U', "in process"};
    }
    co_return done(a, "inquiryPayment", p);
  }
  asio::awaitable<call_result> cancel(const payment& p) override {
    saw("cancelPayment", p);
    co_await later();
    co_return done(cancel_answer{{"SUCCESS", 'S', "success"}}, "cancelPayment", p);
  }

  /// How many calls of `api` were seen.
  std::size_t count(const std::string& api) const {
    return static_cast<std::size_t>(
        std::count_if(calls.begin(), calls.end(), [&](const seen_call& c) { return c.api == api; }));
  }

 private:
  void saw(std::string api, const payment& p) { calls.push_back({std::move(api), p.id, steady::now()}); }
  static asio::awaitable<void> later() {
    for (int i = 0; i < 3; ++i)
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  }
  call_result done(event ev, std::string api, const payment& p) {
    ++answered;
    store::call_record c;
    c.payment_id = p.id;
    c.api = std::move(api);
    c.http_status = 200;
    c.outcome = "fake";
    return call_result{std::move(ev), std::move(c)};
  }
  asio::steady_timer hold_;
};

struct fixture {
  asio::io_context io;  // first: destroyed last, after everything that holds its handlers
  temp_dir dir;
  // Serialized as in the daemon (serialized_store.hpp): the test reads it while the store
  // thread's jobs may run.
  std::unique_ptr<store::payment_store> store =
      std::make_unique<serialized_store>(store::open_sqlite_store(dir.file("cashier.db")));
  engine::engine eng{*store, engine::engine_config{}};
  still_clock clock;
  recording_gateway gw{io};
  store_thread db{*store};
  driver drv{io, eng, clock, gw, db};

  /// Stores a payment `name` waiting on `pending`, due at `next`; its id.
  std::int64_t seed(const std::string& name, pending_action pending, time_point next) {
    const payment p = store::test::insert(*store, store::test::sample_payment(name, to_epoch_ms(t0)));
    payment q = p;
    q.status = payment_status::in_process;
    q.pending = pending;
    q.next_action_at = next;
    REQUIRE(store->commit_one(store::test::change(p, q)).status == store::commit_status::committed);
    return p.id;
  }

  /// A new payment's create input, as the merchant API posts it.
  static engine::input create(const std::string& name) {
    engine::input in;
    in.create = store::test::sample_payment(name, to_epoch_ms(t0));
    in.ev = created{};
    return in;
  }

  /// Runs the reactor until `done()` (fails after 60 s of wall time).
  void run_until(const std::function<bool()>& done) {
    const auto give_up = steady::now() + std::chrono::seconds(60);
    io.restart();
    while (!done()) {
      REQUIRE(steady::now() < give_up);
      io.run_for(std::chrono::milliseconds(2));
    }
  }
  /// Every call answered and committed.
  bool settled() const { return gw.answered == static_cast<int>(gw.calls.size()) && drv.stats().calls_in_flight == 0; }
};

}  // namespace

TEST_CASE("a call over even the borrowing is not made, and its answer guard resends it through the heap") {
  fixture f;
  f.drv.budget() = rate_budget(5);  // burst 1: take 1, borrow 1, refuse the third
  f.drv.recover();
  for (const auto* name : {"new-1", "new-2", "new-3"}) f.drv.post(fixture::create(name));
  f.run_until([&] { return f.gw.calls.size() == 2 && f.settled(); });
  CHECK(f.drv.stats().budget_deferred == 1);
  const auto third = f.store->find("new-3");
  REQUIRE(third);
  CHECK(third->pending == pending_action::pay);
  const auto guard = third->next_action_at;
  CHECK(guard > t0);

  // Past the answer guard the pay goes again, from the urgent lane, ahead of the two other
  // payments' polls that are due by then too.
  f.clock.t = guard + std::chrono::seconds(5);
  f.run_until([&] { return f.gw.calls.size() >= 3; });
  CHECK(f.gw.calls[2].api == "pay");
  CHECK(f.gw.calls[2].id == third->id);
  f.run_until([&] { return f.gw.calls.size() == 5 && f.settled(); });
  CHECK(f.gw.count("inquiryPayment") == 2);
}

TEST_CASE("REQUEST_TRAFFIC_EXCEED_LIMIT answers lower the rate of an unlimited budget once") {
  fixture f;
  f.gw.limit = true;
  for (int i = 0; i < 10; ++i)
    f.seed("poll-" + std::to_string(i), pending_action::inquiry, t0 - std::chrono::seconds(10 - i));
  f.drv.recover();
  f.run_until([&] { return f.gw.calls.size() == 10 && f.settled(); });
  CHECK(f.drv.budget().throttles() == 1);
  CHECK(f.drv.budget().rate() > 0);
  CHECK(f.drv.budget().rate() <= 5);  // half of the (at most) 10 calls of the last second
  // The machine re-arms each payment as for any U answer.
  for (const auto* p : {"poll-0", "poll-9"}) CHECK(f.store->find(p)->next_action_at > t0);
}

TEST_CASE("with 64 calls in flight, due deadlines wait in the heap, not in the HTTP client") {
  fixture f;
  f.gw.holding = true;
  for (int i = 0; i < 100; ++i)
    f.seed("poll-" + std::to_string(i), pending_action::inquiry, t0 - std::chrono::seconds(100 - i));
  f.drv.recover();  // unlimited budget
  f.run_until([&] { return f.gw.calls.size() >= 64; });
  // Give the reactor a few more turns: nothing more may start while Alipay+ holds the answers.
  for (int i = 0; i < 20; ++i) f.io.run_for(std::chrono::milliseconds(2));
  CHECK(f.gw.calls.size() == 64);
  CHECK(f.drv.stats().calls_in_flight == 64);
  CHECK(f.drv.stats().armed_deadlines == 100);  // 64 answer guards + 36 still waiting
  f.gw.release();
  f.run_until([&] { return f.gw.calls.size() == 100 && f.settled(); });
  for (std::size_t i = 1; i < 100; ++i) CHECK(f.gw.calls[i].id > f.gw.calls[i - 1].id);  // oldest first
}


TEST_CASE("the cancel of an amount-mismatch notify waits until the ack is written") {
  fixture f;
  const auto id = f.seed("mismatch", pending_action::inquiry, t0 + std::chrono::hours(1));
  f.drv.recover();
  engine::input in;
  in.payment_id = id;
  notify_verified n;
  n.payment_result = {"SUCCESS", 'S', "success"};
  n.amount = store::test::usd(1);  // the order is 12.34
  in.ev = n;
  std::optional<held_output> done;
  asio::co_spawn(f.io, [&]() -> asio::awaitable<void> {
    done = co_await f.drv.submit_and_hold(std::move(in));
  }, asio::detached);
  f.run_until([&] { return done.has_value(); });
  CHECK(done->out.result == engine::outcome::applied);
  CHECK(done->out.after.pending == pending_action::cancel);
  // Committed, the ack not yet written: no cancel may start, however long the reactor runs.
  for (int i = 0; i < 20; ++i) f.io.run_for(std::chrono::milliseconds(1));
  CHECK(f.gw.count("cancelPayment") == 0);
  REQUIRE(done->hold != 0);
  f.drv.release(done->hold);  // the network thread wrote the ack
  f.run_until([&] { return f.gw.count("cancelPayment") == 1 && f.settled(); });
  f.drv.release(done->hold);  // a second release does nothing
  for (int i = 0; i < 5; ++i) f.io.run_for(std::chrono::milliseconds(1));
  CHECK(f.gw.count("cancelPayment") == 1);
}

TEST_CASE("a decision without calls holds nothing, plain submit never holds") {
  fixture f;
  const auto id = f.seed("paid", pending_action::inquiry, t0 + std::chrono::hours(1));
  f.drv.recover();
  engine::input in;
  in.payment_id = id;
  notify_verified n;
  n.payment_result = {"SUCCESS", 'S', "success"};
  n.amount = store::test::usd(1234);
  in.ev = n;
  std::optional<held_output> done;
  asio::co_spawn(f.io, [&]() -> asio::awaitable<void> {
    done = co_await f.drv.submit_and_hold(std::move(in));
  }, asio::detached);
  f.run_until([&] { return done.has_value(); });
  CHECK(done->out.after.status == payment_status::success);
  CHECK(done->hold == 0);
}

namespace {
/// Holds the store thread until open(): a job that waits on a gate, handed over first.
struct store_gate {
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  bool passed = false;
  void close(fixture& f) {
    f.db.run(f.io.get_executor(), [o = opened](store::payment_store&) { o.wait(); },
             [this](std::exception_ptr, std::optional<std::monostate>) { passed = true; });
  }
  void open() { gate.set_value(); }
};

/// Runs the reactor for about `ms` milliseconds of wall time, counting the turns of a timer
/// that re-arms itself every millisecond (it fires only while the reactor is free).
int ticks_for(fixture& f, int ms) {
  int ticks = 0;
  asio::steady_timer t(f.io);
  std::function<void()> arm = [&] {
    t.expires_after(std::chrono::milliseconds(1));
    t.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      ++ticks;
      arm();
    });
  };
  arm();
  f.io.restart();
  f.io.run_for(std::chrono::milliseconds(ms));
  t.cancel();
  f.io.run_for(std::chrono::milliseconds(1));
  return ticks;
}
}  // namespace

TEST_CASE("a group commit runs on the store thread: while it is out the reactor serves, and inputs queue for the next batch") {
  fixture f;
  f.drv.recover();
  store_gate g;
  g.close(f);  // the store thread is busy (a slow fsync, a database failing over)
  std::optional<engine::output> first;
  asio::co_spawn(f.io, [&]() -> asio::awaitable<void> { first = co_await f.drv.submit(fixture::create("first")); },
                 asio::detached);
  // The commit of "first" is handed over and waits behind the gate; the reactor keeps turning.
  CHECK(ticks_for(f, 30) >= 5);
  CHECK_FALSE(first);
  f.drv.post(fixture::create("second"));  // taken while the first commit is out
  CHECK(ticks_for(f, 10) >= 2);
  CHECK(f.drv.stats().batches == 0);
  CHECK_FALSE(g.passed);
  g.open();
  f.run_until([&] { return first && f.drv.stats().inputs >= 2 && f.gw.calls.size() == 2 && f.settled(); });
  CHECK(first->result == engine::outcome::applied);
  // One batch each: the second input went in the next batch of the same flush, after the first.
  CHECK(f.drv.stats().batches >= 2);
  CHECK(f.gw.calls[0].id < f.gw.calls[1].id);
}

TEST_CASE("a drain waits for the commit that is out on the store thread") {
  fixture f;
  f.drv.recover();
  store_gate g;
  g.close(f);
  f.drv.post(fixture::create("late"));
  bool drained = false;
  asio::co_spawn(f.io, [&]() -> asio::awaitable<void> {
    co_await f.drv.drain(std::chrono::seconds(30));
    drained = true;
  }, asio::detached);
  ticks_for(f, 20);
  CHECK_FALSE(drained);  // the scheduler alone is idle (nothing queued, no call): the commit is not in
  g.open();
  f.run_until([&] { return drained; });
  CHECK(f.drv.stats().inputs == 1);
  CHECK(f.store->find("late"));
}

}  // namespace cashier::daemon
