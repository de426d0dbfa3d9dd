// What the inbox tests share: daemons' drivers on one clustered store (a SQLite file or a
// PostgreSQL schema), each with its engine, a fixed payment clock, an Alipay+ that answers at
// once, and an inbox relay that acts for the shards the instance claimed; and a loop that runs
// the io_context until a condition holds (bounded). The test thread never uses an instance's
// store connection (it is the store thread's): it reads through a connection of its own (the
// observer) or as a job on the store thread (ask).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/serialized_store.hpp"
#include "orchestrator/daemon/inbox_relay.hpp"
#include "orchestrator/daemon/metrics.hpp"
#include "orchestrator/daemon/store_thread.hpp"
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

/// Alipay+ answering every call at once: pay and inquiry "in process", cancel S. While
/// `hold_pays` is set, a pay's answer waits until the test clears it (a slow Alipay+).
class quiet_gateway final : public gateway {
 public:
  bool hold_pays = false;

  asio::awaitable<call_result> pay(const payment& p) override {
    if (hold_pays) {
      asio::steady_timer tick(co_await asio::this_coro::executor);
      while (hold_pays) {
        tick.expires_after(std::chrono::milliseconds(1));
        co_await tick.async_wait(asio::use_awaitable);
      }
    }
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

/// Submits `in` through `d` and runs `io` until its commit is in; a wait that ended with an
/// error (a store_error: the shard moved, the store is down) is rethrown here, not lost in a
/// detached coroutine while the caller waits 30 s for an answer that never comes.
inline engine::output submit(asio::io_context& io, driver& d, engine::input in) {
  std::optional<engine::output> out;
  std::exception_ptr error;
  asio::co_spawn(io, d.submit(std::move(in)), [&](std::exception_ptr e, engine::output o) {
    if (e) error = e;
    else out = std::move(o);
  });
  run_until(io, [&] { return out.has_value() || error != nullptr; });
  if (error) std::rethrow_exception(error);
  return *out;
}

/// A job that holds `db`'s thread until `gate` opens (what a slow commit or a failing-over
/// server does to the store thread).
inline void block(asio::io_context& io, store_thread& db, std::shared_future<void> gate) {
  db.run(io.get_executor(), [gate](store::payment_store&) { gate.wait(); },
         [](std::exception_ptr, std::optional<std::monostate>) {});
}

/// A reactor timer firing every millisecond: how many times it fired.
struct heartbeat {
  explicit heartbeat(asio::io_context& io) : timer(io) { arm(); }
  ~heartbeat() { timer.cancel(); }
  void arm() {
    timer.expires_after(std::chrono::milliseconds(1));
    timer.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      ++beats;
      arm();
    });
  }
  asio::steady_timer timer;
  int beats = 0;
};
/// Runs `job` on `db`'s thread and `io` until its result is back.
template <class F>
auto ask(asio::io_context& io, store_thread& db, F job) {
  std::optional<store_thread::result_of<F>> r;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { r.emplace(co_await db.call(job)); }, asio::detached);
  run_until(io, [&] { return r.has_value(); });
  return std::move(*r);
}

/// relay.route(in, ...) run on `io` until the row is durable (or the answer is known).
inline std::optional<engine::output> route(asio::io_context& io, inbox_relay& relay, engine::input in,
                                           const payment& stored) {
  std::optional<std::optional<engine::output>> r;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { r.emplace(co_await relay.route(in, stored)); }, asio::detached);
  run_until(io, [&] { return r.has_value(); });
  return *r;
}
inline std::optional<engine::output> route(asio::io_context& io, inbox_relay& relay, engine::input in,
                                           const std::string& alipay_request_id) {
  std::optional<std::optional<engine::output>> r;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { r.emplace(co_await relay.route(in, alipay_request_id)); },
                 asio::detached);
  run_until(io, [&] { return r.has_value(); });
  return *r;
}

/// relay.poll(held) run on `io` until its read came back (its rows submitted).
inline void poll(asio::io_context& io, inbox_relay& relay, const std::vector<store::shard_id>& held) {
  relay.poll(held);
  run_until(io, [&] { return !relay.polling(); });
}

/// One daemon on the shared database: its store connection, engine, driver and relay. It acts
/// for the shards it claimed (all of them, with force, or none).
struct instance {
  /// `observe`: another connection to the same database, for the test's reads (else they are
  /// jobs on the store thread).
  instance(asio::io_context& io, std::unique_ptr<store::clustered_store> s,
           std::unique_ptr<store::clustered_store> observe = nullptr)
      : io_(&io),
        store(std::make_unique<serialized_store>(std::move(s))),  // as the daemon does (serialized_store.hpp)
        observer(std::move(observe)),
        shard_count(store->shard_count()),
        eng(*store, engine::engine_config{}),
        db(*store),
        drv(io, eng, clock, gw, db),
        relay(inbox_relay_deps{io, *store, db, eng, drv, clock, shard_count,
                               [this](store::shard_id s) { return holds(s); }, &stats}) {}
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
  /// Every inbox row of the database (read on the store thread).
  std::vector<store::inbox_entry> inbox() {
    std::vector<store::shard_id> all;
    for (store::shard_id s = 0; s < shard_count; ++s) all.push_back(s);
    if (observer) return observer->inbox_of(all, 0, 1000);
    return ask(*io_, db, [all](store::payment_store& s) {
      return dynamic_cast<store::cluster_store&>(s).inbox_of(all, 0, 1000);
    });
  }
  /// Payment `id` as stored (read on the store thread).
  std::optional<payment> load(std::int64_t id) {
    if (observer) return observer->load(id);
    return ask(*io_, db, [id](store::payment_store& s) { return s.load(id); });
  }

  asio::io_context* io_;
  std::unique_ptr<store::clustered_store> store;
  std::unique_ptr<store::clustered_store> observer;  ///< the test's own connection, if any
  store::shard_id shard_count;  ///< shards in the database
  engine::engine eng;
  fixed_clock clock;
  quiet_gateway gw;
  store_thread db;
  driver drv;
  std::vector<store::shard_epoch> held;
  metrics stats;  // the relay's cashierd_inbox_* counters
  inbox_relay relay;
};

}  // namespace cashier::daemon::test
