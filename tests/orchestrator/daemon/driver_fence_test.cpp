// The driver fenced as a single instance (driver::fence_with, proto-docs/cluster.md): two
// daemons' drivers on one SQLite file, each having claimed every shard with force at its start.
// The later one owns the file; the earlier one's commits come back not_owner and write nothing.
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "orchestrator/daemon/driver.hpp"
#include "state/store/sqlite_store.hpp"
#include "tests/state/store/store_fixture.hpp"

namespace cashier::daemon {
namespace {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

const time_point t0 = from_epoch_ms(1'700'000'000'000);

class fixed_clock final : public payment_clock {
 public:
  time_point now() const override { return t0; }
  steady::duration wall_wait_until(time_point at) const override {
    return at <= t0 ? steady::duration::zero() : std::chrono::hours(1);
  }
};

/// Alipay+ answering every call at once: pay and inquiry "in process", cancel S.
class quiet_gateway final : public gateway {
 public:
  asio::awaitable<call_result> pay(const payment& p) override {
    pay_answer a;
    a.result = {"PAYMENT_IN_PROCESS", 'U', "in process"};
    co_return done(a, "pay", p);
  }
  asio::awaitable<call_result> inquiry(const payment& p) override {
    inquiry_answer a;
    a.result = {"SUCCESS", 'S', "success"};
    a.payment_result = aplus_result{"PAYMENT_IN_PROCESS", 'U', "in process"};
    co_return done(a, "inquiryPayment", p);
  }
  asio::awaitable<call_result> cancel(const payment& p) override {
    co_return done(cancel_answer{{"SUCCESS", 'S', "success"}}, "cancelPayment", p);
  }

 private:
  static call_result done(event ev, std::string api, const payment& p) {
    store::call_record c;
    c.payment_id = p.id;
    c.api = std::move(api);
    c.http_status = 200;
    c.outcome = "fake";
    return call_result{std::move(ev), std::move(c)};
  }
};

/// One daemon's store connection, engine and driver on the shared file.
struct process {
  process(asio::io_context& io, const std::string& path)
      : store(store::open_sqlite_clustered(path)), eng(*store, engine::engine_config{}), drv(io, eng, clock, gw) {}
  /// What the daemon does at start: every shard claimed with force, commits fenced with them.
  void start(const std::string& name) {
    std::vector<store::shard_epoch> held;
    for (const auto& row : store->claim(name, 0, std::chrono::seconds(10), true).changed)
      held.push_back({row.shard, row.epoch});
    REQUIRE(held.size() == static_cast<std::size_t>(store->shard_count()));
    drv.fence_with(*store, std::move(held));
    drv.recover();
  }
  std::unique_ptr<store::clustered_store> store;
  engine::engine eng;
  fixed_clock clock;
  quiet_gateway gw;
  driver drv;
};

/// Submits `in` through `d` and runs `io` until its commit is in.
engine::output submit(asio::io_context& io, driver& d, engine::input in) {
  std::optional<engine::output> out;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await d.submit(std::move(in)); }, asio::detached);
  const auto give_up = steady::now() + std::chrono::seconds(30);
  io.restart();
  while (!out) {
    REQUIRE(steady::now() < give_up);
    io.run_for(std::chrono::milliseconds(2));
  }
  return *out;
}

}  // namespace

TEST_CASE("a second daemon on the same SQLite file takes it over: the first one's writes are refused") {
  asio::io_context io;
  store::test::temp_dir dir;
  const auto path = dir.file("cashier.db");
  process first(io, path);
  first.start("first");
  engine::input create;
  create.create = store::test::sample_payment("order-1", to_epoch_ms(t0));
  create.ev = created{};
  const auto made = submit(io, first.drv, create);
  REQUIRE(made.result == engine::outcome::applied);
  const auto id = made.after.id;

  process second(io, path);
  second.start("second");
  engine::input cancel;
  cancel.payment_id = id;
  cancel.ev = cancel_requested{requester::merchant, "by the first"};
  const auto stale = submit(io, first.drv, cancel);
  CHECK(stale.result == engine::outcome::not_owner);
  CHECK(stale.made.effects.empty());
  const auto stored = second.store->load(id);
  REQUIRE(stored);
  CHECK(stored->pending != pending_action::cancel);  // nothing of it was written
  CHECK(stored->status != payment_status::cancelled);
  cancel.ev = cancel_requested{requester::merchant, "by the second"};
  const auto fresh = submit(io, second.drv, cancel);
  CHECK(fresh.result == engine::outcome::applied);
  const auto after = second.store->load(id);
  REQUIRE(after);
  CHECK((after->pending == pending_action::cancel || after->status == payment_status::cancelled));
  io.restart();
  io.run_for(std::chrono::milliseconds(50));  // let the cancel's call end before the stores close
}

}  // namespace cashier::daemon
