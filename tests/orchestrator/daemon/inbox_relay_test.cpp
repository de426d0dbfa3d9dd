// The inbox relay (orchestrator/daemon/inbox_relay.hpp) between two daemons' drivers on one
// SQLite file: instance A acts for no shard, B for all of them. A routes an input for B's payment
// to the inbox (durable when route() returns, answered with the payment as stored); B's poll
// applies it through its fenced driver and the row is deleted in that commit; a poll that comes
// back not_owner keeps the row for the next owner; a request the machine refuses on a final
// payment is answered without a row; rows that do not decode are kept (the malformed ones
// reported as an anomaly), once per process. Also the inbox latency, post -> applied, with a poll
// on a 1 s claim tick and with a wake-up right after the post.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "state/store/sqlite_store.hpp"
#include "tests/orchestrator/daemon/inbox_rig.hpp"
#include "tests/state/store/store_fixture.hpp"

namespace cashier::daemon {
namespace {

using namespace test;

/// An instance on the SQLite file `path`.
struct process : instance {
  process(asio::io_context& io, const std::string& path)
      : instance(io, store::open_sqlite_clustered(path), store::open_sqlite_clustered(path)) {}
};

/// Creates a payment through `p` (which must act for its shard).
payment create(asio::io_context& io, process& p, const std::string& id) {
  engine::input in;
  in.create = store::test::sample_payment(id, to_epoch_ms(t0));
  in.ev = created{};
  const auto out = submit(io, p.drv, in);
  REQUIRE(out.result == engine::outcome::applied);
  run_until(io, [&] { return p.load(out.after.id)->pending != pending_action::pay; });  // pay answered
  return *p.load(out.after.id);
}

engine::input cancel_of(const payment& p) {
  engine::input in;
  in.payment_id = p.id;
  in.ev = cancel_requested{requester::merchant, "customer asked"};
  return in;
}

struct rig {
  rig() : a(io, dir.file("cashier.db")), b(io, dir.file("cashier.db")) { b.take_all("b"); }
  ~rig() {
    io.restart();
    io.run_for(std::chrono::milliseconds(20));  // let calls end before the stores close
  }
  asio::io_context io;
  store::test::temp_dir dir;
  process a, b;
};

}  // namespace

TEST_CASE("a cancel reaching a non-owner is posted, the owner's poll applies it and deletes the row") {
  rig r;
  const auto p = create(r.io, r.b, "order-1");
  const auto routed = route(r.io, r.a.relay, cancel_of(p), p);
  REQUIRE(routed);
  CHECK(routed->result == engine::outcome::unchanged);
  CHECK(routed->after == p);  // the payment as stored, for the merchant's 202
  CHECK_FALSE(routed->made.rejected);
  CHECK(r.a.relay.stats().posted == 1);
  const auto rows = r.a.inbox();
  REQUIRE(rows.size() == 1);  // durable when route() returned
  CHECK(rows[0].kind == "cancel");
  CHECK(rows[0].payment_id == p.id);
  CHECK(rows[0].shard == store::shard_of(p, r.a.shard_count));
  CHECK(r.a.load(p.id)->pending == p.pending);  // nothing applied by the poster

  CHECK_FALSE(route(r.io, r.b.relay, cancel_of(p), p));  // the owner submits it itself
  poll(r.io, r.b.relay, r.b.shards());
  run_until(r.io, [&] { return r.b.inbox().empty(); });
  const auto after = r.b.load(p.id);
  CHECK((after->pending == pending_action::cancel || after->status == payment_status::cancelled));
  CHECK(r.b.relay.stats().submitted == 1);
  run_until(r.io, [&] { return r.b.relay.stats().applied == 1; });
  poll(r.io, r.b.relay, r.b.shards());  // nothing left: nothing submitted again
  CHECK(r.b.relay.stats().submitted == 1);
  // On /metrics: what each side did.
  CHECK(r.a.stats.render().find("cashierd_inbox_posted_total 1") != std::string::npos);
  CHECK(r.b.stats.render().find("cashierd_inbox_applied_total 1") != std::string::npos);
  CHECK(r.b.stats.render().find("cashierd_inbox_posted_total 0") != std::string::npos);
}

TEST_CASE("a verified notify reaching a non-owner is posted with its record and applied by the owner") {
  rig r;
  const auto p = create(r.io, r.b, "order-2");
  engine::input in;
  in.payment_id = p.id;
  in.ev = notify_verified{aplus_result{"SUCCESS", 'S', "success"}, p.amount, payment_facts{"pay-1", "", "", "", {}}};
  store::notify_record rec;
  rec.payment_request_id = std::string(store::alipay_request_id(p));
  rec.body = R"({"paymentRequestId":"x"})";
  rec.headers = "Signature: x";
  rec.verification = "ok";
  rec.received_at = t0;
  rec.digest = std::string(32, '\x07');
  in.notifies.push_back(rec);
  const auto routed = route(r.io, r.a.relay, in, std::string(store::alipay_request_id(p)));  // the endpoint has no payment in hand
  REQUIRE(routed);
  CHECK(routed->after.id == 0);
  REQUIRE(r.a.inbox().size() == 1);
  CHECK(r.a.inbox()[0].kind == "notify");
  r.b.relay.poll_held();
  run_until(r.io, [&] { return r.b.inbox().empty(); });
  CHECK(r.b.load(p.id)->status == payment_status::success);
  const auto notifies = ask(r.io, r.b.db, [id = p.id](store::payment_store& s) { return s.notifies_of(id); });
  REQUIRE(notifies.size() == 1);
  CHECK(notifies[0].body == rec.body);
  CHECK(notifies[0].digest == rec.digest);
}

TEST_CASE("a poll whose commit comes back not_owner keeps the row, the new owner applies it") {
  rig r;
  const auto p = create(r.io, r.b, "order-3");
  REQUIRE(route(r.io, r.a.relay, cancel_of(p), p));
  // A takes every shard over; B does not know yet and still polls with its old epochs.
  r.a.take_all("a");
  poll(r.io, r.b.relay, r.b.shards());
  run_until(r.io, [&] { return r.b.relay.stats().retried == 1; });
  CHECK(r.b.relay.stats().applied == 0);
  REQUIRE(r.b.inbox().size() == 1);  // kept for the owner
  CHECK(r.b.load(p.id)->pending == p.pending);
  // Released: B's next poll submits it again (and is refused again).
  poll(r.io, r.b.relay, r.b.shards());
  CHECK(r.b.relay.stats().submitted == 2);
  run_until(r.io, [&] { return r.b.relay.stats().retried == 2; });
  poll(r.io, r.a.relay, r.a.shards());
  run_until(r.io, [&] { return r.a.inbox().empty(); });
  const auto after = r.a.load(p.id);
  CHECK((after->pending == pending_action::cancel || after->status == payment_status::cancelled));
}

TEST_CASE("a request the machine refuses on a final payment is answered without a row") {
  rig r;
  const auto p = create(r.io, r.b, "order-4");
  engine::input fail;
  fail.payment_id = p.id;
  fail.ev = notify_verified{aplus_result{"USER_PAYMENT_FAILED", 'F', ""}, p.amount, payment_facts{}};
  REQUIRE(submit(r.io, r.b.drv, fail).result == engine::outcome::applied);
  const auto failed = *r.b.load(p.id);
  REQUIRE(failed.status == payment_status::fail);
  const auto routed = route(r.io, r.a.relay, cancel_of(failed), failed);
  REQUIRE(routed);
  REQUIRE(routed->made.rejected);
  CHECK(*routed->made.rejected == rejection::already_final);
  CHECK(r.a.inbox().empty());
  CHECK(r.a.relay.stats().posted == 0);
}

TEST_CASE("rows that do not decode are kept, a malformed one is an anomaly, once per process") {
  rig r;
  const auto p = create(r.io, r.b, "order-5");
  const auto shard = store::shard_of(p, r.b.shard_count);
  ask(r.io, r.a.db, [shard, id = p.id](store::payment_store& s) {
    auto& c = dynamic_cast<store::cluster_store&>(s);
    c.post_inbox(shard, id, "notify", "{\"v\":1,\"event\":\"garbage\"}");
    return c.post_inbox(shard, id, "refund_v9", "{\"v\":9}");
  });
  REQUIRE(route(r.io, r.a.relay, cancel_of(p), p));  // a good row behind them still goes through
  poll(r.io, r.b.relay, r.b.shards());
  CHECK(r.b.relay.stats().undecodable == 2);
  run_until(r.io, [&] { return r.b.inbox().size() == 2; });
  const auto anomalies_of = [&] { return ask(r.io, r.b.db, [](store::payment_store& s) { return s.anomalies({}); }); };
  run_until(r.io, [&] { return !anomalies_of().empty(); });
  const auto anomalies = anomalies_of();
  REQUIRE(anomalies.size() == 1);
  CHECK(anomalies[0].kind == "inbox_undecodable");
  poll(r.io, r.b.relay, r.b.shards());
  CHECK(r.b.relay.stats().undecodable == 2);  // said once
  CHECK(r.b.relay.stats().submitted == 1);
}

TEST_CASE("route() waits for its post on the store thread while the reactor keeps running") {
  rig r;
  const auto p = create(r.io, r.b, "order-7");
  std::promise<void> gate;
  block(r.io, r.a.db, gate.get_future().share());  // a slow commit holds A's store thread
  std::optional<std::optional<engine::output>> routed;
  const auto cancel = cancel_of(p);
  asio::co_spawn(r.io, [&]() -> asio::awaitable<void> {
    routed.emplace(co_await r.a.relay.route(cancel, p));
  }, asio::detached);
  {
    heartbeat hb(r.io);
    run_until(r.io, [&] { return hb.beats >= 20; });  // the reactor runs while the post waits
  }
  CHECK_FALSE(routed.has_value());
  CHECK(r.a.relay.stats().posted == 0);
  gate.set_value();
  run_until(r.io, [&] { return routed.has_value(); });
  REQUIRE(*routed);
  CHECK((*routed)->result == engine::outcome::unchanged);
  CHECK(r.a.relay.stats().posted == 1);
  CHECK(r.a.inbox().size() == 1);  // durable once route() resumed
}

TEST_CASE("the rows of a shard lost while a poll's read was out are left to its next owner") {
  rig r;
  const auto p = create(r.io, r.b, "order-8");
  REQUIRE(route(r.io, r.a.relay, cancel_of(p), p));
  std::promise<void> gate;
  block(r.io, r.b.db, gate.get_future().share());
  r.b.relay.poll(r.b.shards());  // the read waits behind the gate
  const auto shard = store::shard_of(p, r.b.shard_count);
  std::erase_if(r.b.held, [&](const store::shard_epoch& h) { return h.shard == shard; });  // lost meanwhile
  gate.set_value();
  run_until(r.io, [&] { return !r.b.relay.polling(); });
  CHECK(r.b.relay.stats().submitted == 0);  // not submitted by an instance that lost the shard
  CHECK(r.b.inbox().size() == 1);           // kept for the next owner
}

TEST_CASE("polls asked for while a read is out run once, after it") {
  rig r;
  const auto p = create(r.io, r.b, "order-9");
  // A row of a newer format: kept and said once, nothing submitted (no commit races the reads).
  const auto shard = store::shard_of(p, r.b.shard_count);
  r.a.observer->post_inbox(shard, p.id, "refund_v9", "{\"v\":9}");
  std::promise<void> gate;
  block(r.io, r.b.db, gate.get_future().share());
  const auto reads = r.b.relay.stats().reads;
  for (int i = 0; i < 5; ++i) r.b.relay.poll_held();  // a burst of wake-ups
  CHECK(r.b.relay.polling());
  gate.set_value();
  run_until(r.io, [&] { return !r.b.relay.polling(); });
  CHECK(r.b.relay.stats().reads == reads + 2);  // the first, then one for the other four
  CHECK(r.b.relay.stats().undecodable == 1);     // the row taken once, whatever the wake-ups
  CHECK(r.b.relay.stats().submitted == 0);
  CHECK(r.b.inbox().size() == 1);
}

// A measurement on the wall clock (several seconds of waiting), so it does not run with the
// suite: `driver_budget_tests -tc="inbox latency*" --no-skip`.
TEST_CASE("inbox latency, post -> applied: a 1 s claim-tick poll against a wake-up at the post" * doctest::skip()) {
  // What LISTEN buys: without it a row waits for the owner's next claim tick (1 s); with it the
  // owner polls as soon as the NOTIFY arrives. Here the wake-up is the post itself (no server).
  rig r;
  const auto p = create(r.io, r.b, "order-6");
  const auto measure = [&](bool wake, int rounds) {
    std::vector<double> ms;
    asio::steady_timer tick(r.io);
    std::function<void()> arm = [&] {
      tick.expires_after(std::chrono::seconds(1));
      tick.async_wait([&](boost::system::error_code ec) {
        if (ec) return;
        r.b.relay.poll(r.b.shards());  // inside the reactor: the read comes back later
        arm();
      });
    };
    arm();
    for (int i = 0; i < rounds; ++i) {
      engine::input in;
      in.payment_id = p.id;
      in.ev = inquiry_requested{};
      const auto posted = steady::now();
      REQUIRE(route(r.io, r.a.relay, in, p));
      if (wake) r.b.relay.poll_held();
      run_until(r.io, [&] { return r.b.inbox().empty(); });
      ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - posted).count());
      if (wake) continue;
      // Wait a pseudo-random fraction of a tick so the posts do not line up with it.
      const auto pause = std::chrono::milliseconds(173 * (i + 1) % 1000);
      asio::steady_timer t(r.io, pause);
      bool slept = false;
      t.async_wait([&](boost::system::error_code) { slept = true; });
      run_until(r.io, [&] { return slept; });
    }
    tick.cancel();
    std::sort(ms.begin(), ms.end());
    return std::pair{ms[ms.size() / 2], ms.back()};
  };
  const auto [woken_p50, woken_max] = measure(true, 20);
  const auto [tick_p50, tick_max] = measure(false, 8);
  std::printf("inbox latency post->applied (SQLite, debug): wake-up p50 %.2f ms max %.2f ms; "
              "1 s poll only p50 %.0f ms max %.0f ms\n",
              woken_p50, woken_max, tick_p50, tick_max);
  CHECK(woken_p50 < tick_p50);
  CHECK(tick_max <= 1100.0);  // a lost wake-up costs at most one tick
}

}  // namespace cashier::daemon
