// The inbox wake-up on PostgreSQL (label postgres; orchestrator/daemon/inbox_listener.hpp): the
// listener connects without blocking the reactor, LISTENs, wakes once at every (re)connection
// and once per batch of NOTIFYs the store sends after an inbox insert, and reconnects after its
// backend is killed. Then the whole path on one schema with two daemons' drivers: instance A
// posts an inquiry for B's payment, and B applies it with no claim-tick poll at all, only the
// wake-up's (what a lost NOTIFY would cost instead is one tick: inbox_relay_test.cpp). The
// latency post -> applied is printed.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "orchestrator/daemon/inbox_listener.hpp"
#include "state/store/pg_store.hpp"
#include "tests/orchestrator/daemon/inbox_rig.hpp"
#include "tests/state/store/conformance.hpp"

namespace cashier::store::test {
const bool store_tests_on_postgres = true;  // test_db: a schema on the fixture's server
}  // namespace cashier::store::test

namespace cashier::daemon {
namespace {

using namespace test;
using store::test::raw_pg;
using store::test::test_db;

std::string unique_name(std::string_view prefix) {
  std::random_device rd;
  return std::string(prefix) + std::to_string(rd());
}

/// An instance on the test's PostgreSQL schema.
struct process : instance {
  process(asio::io_context& io, const std::string& conninfo)
      : instance(io, store::open_postgres_store(conninfo), store::open_postgres_store(conninfo)) {}
};

}  // namespace

TEST_CASE("the inbox listener wakes on a post and again after its connection is killed") {
  test_db db;
  asio::io_context io;
  process owner(io, db.conninfo());
  owner.take_all("owner");
  engine::input create;
  create.create = store::test::sample_payment("order-l", to_epoch_ms(t0));
  create.ev = created{};
  const auto made = submit(io, owner.drv, create);
  REQUIRE(made.result == engine::outcome::applied);

  const auto app = unique_name("inbox_listener_test_");
  int woken = 0;
  metrics stats;
  inbox_listener listener(io, db.conninfo() + " application_name=" + app, [&] { ++woken; }, &stats);
  listener.start();
  run_until(io, [&] { return listener.listening(); });
  CHECK(woken == 1);  // once at connection: rows posted while nobody listened

  const auto poster = store::open_postgres_store(db.conninfo());
  const auto shard = store::shard_of(made.after, poster->shard_count());
  poster->post_inbox(shard, made.after.id, "inquiry", "{}");
  run_until(io, [&] { return woken >= 2; });
  CHECK(listener.stats().notifications >= 1);

  // The server kills the listener's backend: the listener reconnects and wakes once more.
  raw_pg admin(db.conninfo());
  REQUIRE(admin.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" + app + "'"));
  run_until(io, [&] { return listener.stats().failures == 1; });
  run_until(io, [&] { return listener.stats().connects == 2; });
  CHECK(listener.listening());
  CHECK(stats.render().find("cashierd_inbox_listen_failures_total 1") != std::string::npos);
  CHECK(stats.render().find("cashierd_inbox_listening 1") != std::string::npos);
  const int before = woken;
  CHECK(before >= 3);
  poster->post_inbox(shard, made.after.id, "inquiry", "{}");
  run_until(io, [&] { return woken > before; });
  listener.stop();
  io.restart();
  io.run_for(std::chrono::milliseconds(20));
  CHECK_FALSE(listener.listening());
  CHECK(stats.render().find("cashierd_inbox_listening 0") != std::string::npos);
}

TEST_CASE("a post to another instance's shard is applied on the LISTEN wake-up alone") {
  test_db db;
  asio::io_context io;
  process a(io, db.conninfo());
  process b(io, db.conninfo());
  b.take_all("b");
  engine::input create;
  create.create = store::test::sample_payment("order-w", to_epoch_ms(t0));
  create.ev = created{};
  const auto made = submit(io, b.drv, create);
  REQUIRE(made.result == engine::outcome::applied);
  const auto p = made.after;

  // B polls only when woken: no claim tick in this test.
  inbox_listener listener(io, db.conninfo(), [&] { b.relay.poll_held(); });
  listener.start();
  run_until(io, [&] { return listener.listening(); });
  std::vector<double> ms;
  for (int i = 0; i < 10; ++i) {
    engine::input in;
    in.payment_id = p.id;
    in.ev = inquiry_requested{};
    const auto posted = steady::now();
    REQUIRE(route(io, a.relay, in, p));
    run_until(io, [&] { return b.inbox().empty(); });
    ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - posted).count());
  }
  run_until(io, [&] { return b.relay.stats().applied == 10; });  // the waiters resume after the commit
  CHECK(b.relay.stats().submitted == 10);
  std::sort(ms.begin(), ms.end());
  std::printf("inbox latency post->applied (PostgreSQL, LISTEN wake-up): p50 %.2f ms, max %.2f ms\n",
              ms[ms.size() / 2], ms.back());
  listener.stop();
  io.restart();
  io.run_for(std::chrono::milliseconds(20));
}

}  // namespace cashier::daemon
