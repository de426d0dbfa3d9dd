// What the inbox tests share: daemons' drivers on one clustered store (a SQLite file or a
// PostgreSQL schema), each with its engine, a fixed payment clock, an Alipay+ that answers at
// once, and an inbox relay that acts for the shards the instance claimed; and a loop that runs
// the io_context until a condition holds (bounded).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/serialized_store.hpp"
#include "orchestrator/daemon/inbox_relay.hpp"
#include "state/store/cluster_store.hpp"

namespace cashier::daemon::test {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

/// The payment clock of the tests.
inline const time_point t0 = from_epoch_ms(1'700'000'000'000);

/// A payment clock standing at t0.
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

/// Runs `io` until `done()` (at most 30 s).
inline void run_until(asio::io_context& io, const std::function<bool()>& done) {
  const auto give_up = steady::now() + std::chrono::seconds(30);
  io.restart();
  while (!done()) {
    REQUIRE(steady::now() < give_up);
    io.run_for(std::chrono::milliseconds(1));
  }
}

/// Submits `in` through `d` and runs `io` until its commit is in.
inline engine::output submit(asio::io_context& io, driver& d, engine::input in) {
  std::optional<engine::output> out;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { out = co_await d.submit(std::move(in)); }, asio::detached);
  run_until(io, [&] { return out.has_value(); });
  return *out;
}

/// One daemon on the shared database: its store connection, engine, driver and relay. It acts
/// for the shards it claimed (all of them, with force, or none).
struct instance {
  instance(asio::io_context& io, std::unique_ptr<store::clustered_store> s)
      : store(std::make_unique<serialized_store>(std::move(s))),  // as the daemon does (serialized_store.hpp)
        eng(*store, engine::engine_config{}),
        db(*store),
        drv(io, eng, clock, gw, db),
        relay(inbox_relay_deps{io, *store, eng, drv, clock, store->shard_count(),
                               [this](store::shard_id s) { return holds(s); }}) {}
  /// Claims every shard with force (a takeover of whoever held them) and fences with them.
  void take_all(const std::string& name) {
    held.clear();
    for (const auto& row : store->claim(name, 0, std::chrono::seconds(10), true).changed)
      held.push_back({row.shard, row.epoch});
    drv.fence_with(*store, held);
  }
  bool holds(store::shard_id s) const {
    return std::any_of(held.begin(), held.end(), [s](const auto& h) { return h.shard == s; });
  }
  std::vector<store::shard_id> shards() const {
    std::vector<store::shard_id> out;
    for (const auto& h : held) out.push_back(h.shard);
    return out;
  }
  /// Every inbox row of the database.
  std::vector<store::inbox_entry> inbox() {
    std::vector<store::shard_id> all;
    for (store::shard_id s = 0; s < store->shard_count(); ++s) all.push_back(s);
    return store->inbox_of(all, 0, 1000);
  }

  std::unique_ptr<store::clustered_store> store;
  engine::engine eng;
  fixed_clock clock;
  quiet_gateway gw;
  store_thread db;
  driver drv;
  std::vector<store::shard_epoch> held;
  inbox_relay relay;
};

}  // namespace cashier::daemon::test
