// The driver fenced as a single instance (driver::fence_with, proto-docs/cluster.md): two
// daemons' drivers on one SQLite file, each having claimed every shard with force at its start.
// The later one owns the file; the earlier one's commits come back not_owner and write nothing.
// Then the cluster executor (cluster_member) on the same rig and a real SQLite cluster store:
// its claims take shards over, creates are drawn into them, a refused commit drops the shard,
// and a drain releases them for the next instance, which re-arms their open payments. The
// member's statements are jobs on the store thread: a job blocking that thread on a gate shows
// the reactor running meanwhile, and what changed before an answer came back is respected.
#include <doctest/doctest.h>

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
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "orchestrator/daemon/cluster_member.hpp"
#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/metrics.hpp"
#include "state/store/sqlite_store.hpp"
#include "tests/orchestrator/daemon/inbox_rig.hpp"
#include "tests/state/store/store_fixture.hpp"

namespace cashier::daemon {
namespace {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

using test::block;
using test::fixed_clock;
using test::heartbeat;
using test::quiet_gateway;
using test::run_until;
using test::submit;
using test::t0;

/// One daemon's store connection, engine and driver on the shared file.
struct process {
  process(asio::io_context& io, const std::string& path)
      : store(store::open_sqlite_clustered(path)), eng(*store, engine::engine_config{}), db(*store), drv(io, eng, clock, gw, db) {}
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
  store_thread db;
  driver drv;
};

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

namespace {
/// A cluster member over `p`, with a 10 s lease (no test here waits for one to pass).
std::unique_ptr<cluster_member> member_of(asio::io_context& io, process& p, metrics& m, const std::string& name) {
  auto lc = lease_timing(std::chrono::seconds(10));
  lc.instance = name;
  lc.shards = p.store->shard_count();
  return std::make_unique<cluster_member>(cluster_member_deps{io, *p.store, *p.store, p.db, p.drv, nullptr, m}, lc);
}

/// A create whose Alipay+ id is `alipay_id`.
engine::input create_with(const std::string& order, const std::string& alipay_id) {
  engine::input in;
  in.create = store::test::sample_payment(order, to_epoch_ms(t0));
  in.create->alipay_payment_request_id = alipay_id;
  in.ev = created{};
  return in;
}

int counter = 0;
std::string next_id() { return "cp1-test-" + std::to_string(++counter); }

/// Runs `m`'s drain to its end (the release answered).
void drain(asio::io_context& io, cluster_member& m) {
  bool done = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await m.drain();
    done = true;
  }, asio::detached);
  run_until(io, [&] { return done; });
}

/// One cluster member alone on a fresh file, started (every shard its own).
struct lone_member {
  lone_member() : path(dir.file("cashier.db")), a(io, path), member(member_of(io, a, stats, "a")) { member->start(); }
  /// A payment it creates (`made`, in `shard`); its pay held when `hold_pay` (Alipay+ has not
  /// answered it yet).
  void create(const std::string& order, bool hold_pay = false) {
    const auto id = member->draw_payment_request_id(next_id);
    REQUIRE(id);
    a.gw.hold_pays = hold_pay;
    made = submit(io, a.drv, create_with(order, *id));
    REQUIRE(made.result == engine::outcome::applied);
    shard = store::shard_of(*id, 64);
  }

  asio::io_context io;
  store::test::temp_dir dir;
  std::string path;
  metrics stats;
  process a;
  std::unique_ptr<cluster_member> member;
  engine::output made;
  store::shard_id shard = 0;
};

}  // namespace

TEST_CASE("a cluster member takes the shards it claims over, and a second one gets none while they are held") {
  asio::io_context io;
  store::test::temp_dir dir;
  const auto path = dir.file("cashier.db");
  metrics ma;
  metrics mb;
  process a(io, path);
  auto ma_member = member_of(io, a, ma, "a");
  ma_member->start();
  CHECK(ma_member->held() == 64);  // alone: its target is every shard
  const auto id = ma_member->draw_payment_request_id(next_id);
  REQUIRE(id);
  const auto made = submit(io, a.drv, create_with("order-a", *id));
  CHECK(made.result == engine::outcome::applied);  // fenced with the epochs claimed

  process b(io, path);
  auto mb_member = member_of(io, b, mb, "b");
  mb_member->start();
  CHECK(mb_member->held() == 0);  // every lease is live: nothing to claim yet
  CHECK_FALSE(mb_member->draw_payment_request_id(next_id));  // a create is answered 503
  // A create that reaches b anyway (it drew nothing) is refused by the fence, nothing written.
  const auto stray = submit(io, b.drv, create_with("order-b", next_id()));
  CHECK(stray.result == engine::outcome::not_owner);
  CHECK_FALSE(b.store->find("shop", "order-b"));
  CHECK(ma.render().find("cashierd_cluster_shards_held 64") != std::string::npos);
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
}

TEST_CASE("a fenced-out commit drops its shard, a drain releases the rest and the next member re-arms them") {
  asio::io_context io;
  store::test::temp_dir dir;
  const auto path = dir.file("cashier.db");
  metrics ma;
  metrics mb;
  process a(io, path);
  auto ma_member = member_of(io, a, ma, "a");
  ma_member->start();
  // In one of the lower shards: the next member keeps the lowest ones (see below).
  auto id = ma_member->draw_payment_request_id(next_id);
  while (id && store::shard_of(*id, 64) >= 16) id = ma_member->draw_payment_request_id(next_id);
  REQUIRE(id);
  const auto made = submit(io, a.drv, create_with("order-1", *id));
  REQUIRE(made.result == engine::outcome::applied);
  const auto shard = store::shard_of(*id, 64);
  // The pay's answer commits before the intruder comes, so the cancel below is the write that is
  // refused (when the answer's is refused first, the cancel held behind it fails: next case).
  run_until(io, [&] { return a.drv.stats().calls_in_flight == 0 && a.drv.stats().inputs >= 2; });

  // Another process takes that one shard with force (a new epoch): a's next write of it is
  // refused, and a stops acting for it, the others kept.
  auto other = store::open_sqlite_clustered(path);
  const std::vector<store::shard_id> one{shard};
  REQUIRE(other->claim("intruder", 0, std::chrono::seconds(10), true, one).changed.size() == 1);
  engine::input cancel;
  cancel.payment_id = made.after.id;
  cancel.ev = cancel_requested{requester::merchant, "stale"};
  CHECK(submit(io, a.drv, cancel).result == engine::outcome::not_owner);
  io.restart();
  io.run_for(std::chrono::milliseconds(20));  // the lease manager hears it after the commit
  CHECK(ma_member->held() == 63);
  CHECK_FALSE(ma_member->leases().acts_for(shard));
  CHECK(ma.render().find("cashierd_cluster_shards_lost_total 1") != std::string::npos);
  // The intruder lets it go again; a's draws never land in it meanwhile.
  other->release("intruder", std::vector<store::shard_epoch>{{shard, other->shards().table[static_cast<std::size_t>(shard)].epoch}});
  for (int i = 0; i < 200; ++i) {
    const auto drawn = ma_member->draw_payment_request_id(next_id);
    REQUIRE(drawn);
    CHECK(store::shard_of(*drawn, 64) != shard);
  }

  // Drain: every shard released at once (owner cleared), so the next member claims them.
  drain(io, *ma_member);
  CHECK(ma_member->held() == 0);
  for (const auto& row : other->shards().table) CHECK(row.owner.empty());
  process b(io, path);
  auto mb_member = member_of(io, b, mb, "b");
  mb_member->start();
  // a and the intruder released the last shards they held, which ended their presence: b is
  // alone and takes every shard at once, not a third of them until a lease has passed.
  CHECK(mb_member->held() == 64);
  CHECK(mb.render().find("cashierd_cluster_takeovers_total 64") != std::string::npos);
  // The open payment is armed with its shard (claims take the lowest free shards first).
  REQUIRE(mb_member->leases().acts_for(shard));
  CHECK(b.drv.stats().armed_deadlines == 1);
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
}

TEST_CASE("a cancel queued behind a commit that is fenced out fails like a store outage, nothing written") {
  lone_member t;
  t.create("order-h", true);  // the pay goes out and its answer waits
  auto& io = t.io;
  auto& a = t.a;
  const auto& made = t.made;
  const auto shard = t.shard;
  run_until(io, [&] { return a.drv.stats().calls_in_flight == 1; });

  // The shard is taken by force while the pay is out. Its answer comes back and its commit goes
  // out to a store thread held by a gate; the merchant's cancel arrives meanwhile and queues.
  auto other = store::open_sqlite_clustered(t.path);
  const std::vector<store::shard_id> one{shard};
  REQUIRE(other->claim("intruder", 0, std::chrono::seconds(10), true, one).changed.size() == 1);
  std::promise<void> gate;
  block(io, a.db, gate.get_future().share());
  a.gw.hold_pays = false;
  run_until(io, [&] { return a.drv.stats().calls_in_flight == 0; });
  io.restart();
  io.poll();  // the answer's flush: its commit is out, behind the gate
  engine::input cancel;
  cancel.payment_id = made.after.id;
  cancel.ev = cancel_requested{requester::merchant, "queued"};
  std::exception_ptr error;
  bool answered = false;
  asio::co_spawn(io, a.drv.submit(cancel), [&](std::exception_ptr e, engine::output) {
    error = e;
    answered = e == nullptr;
  });
  io.restart();
  io.poll();  // the cancel is queued for the next batch

  // The answer's commit is refused: the scheduler drops the shard with the queued cancel, whose
  // wait ends with a store_error (the merchant's 503: its retry reaches the new owner), and the
  // member stops acting for the shard.
  gate.set_value();
  run_until(io, [&] { return error != nullptr || answered; });
  CHECK_FALSE(answered);
  REQUIRE(error);
  CHECK_THROWS_AS(std::rethrow_exception(error), store::store_error);
  run_until(io, [&] { return !t.member->leases().acts_for(shard); });
  CHECK(t.member->held() == 63);
  const auto stored = other->load(made.after.id);
  REQUIRE(stored);
  CHECK(stored->pending != pending_action::cancel);  // neither the answer nor the cancel written
  CHECK(stored->status == made.after.status);
  io.restart();
  io.run_for(std::chrono::milliseconds(20));
}

TEST_CASE("an input queued for a shard the member stops acting for fails like a store outage") {
  lone_member t;
  t.create("order-q");
  auto& io = t.io;
  auto& a = t.a;
  const auto& made = t.made;
  const auto shard = t.shard;

  // The cancel is queued (its flush posted after the second coroutine), then the shard is
  // dropped before the flush: the merchant's wait ends with a store_error (503, retry).
  bool failed = false;
  bool answered = false;
  engine::input cancel;
  cancel.payment_id = made.after.id;
  cancel.ev = cancel_requested{requester::merchant, "queued"};
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    try {
      co_await a.drv.submit(cancel);
      answered = true;
    } catch (const store::store_error&) {
      failed = true;
    }
  }, asio::detached);
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    a.drv.stop_acting(shard);
    co_return;
  }, asio::detached);
  io.restart();
  const auto give_up = steady::now() + std::chrono::seconds(30);
  while (!failed && !answered && steady::now() < give_up) io.run_for(std::chrono::milliseconds(2));
  CHECK(failed);
  CHECK_FALSE(answered);
  const auto stored = a.store->load(made.after.id);
  REQUIRE(stored);
  CHECK(stored->pending != pending_action::cancel);  // nothing of it was written
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
}

TEST_CASE("a drain's release waits on the store thread while the reactor keeps running") {
  lone_member t;
  auto& io = t.io;
  auto& member = t.member;
  REQUIRE(member->held() == 64);
  auto other = store::open_sqlite_clustered(t.path);  // observes the lease table on its own connection

  std::promise<void> gate;
  block(io, t.a.db, gate.get_future().share());
  bool drained = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await member->drain();
    drained = true;
  }, asio::detached);
  heartbeat hb(io);
  run_until(io, [&] { return hb.beats >= 20; });  // the reactor runs while the release waits
  CHECK_FALSE(drained);
  CHECK(member->held() == 0);  // stopped acting at once, before the release is in
  for (const auto& row : other->shards().table) CHECK(row.owner == "a");  // not released yet
  gate.set_value();
  run_until(io, [&] { return drained; });
  for (const auto& row : other->shards().table) CHECK(row.owner.empty());
}

TEST_CASE("a drain does not wait longer than a lease for a release the database does not answer") {
  asio::io_context io;
  store::test::temp_dir dir;
  const auto path = dir.file("cashier.db");
  metrics ma;
  process a(io, path);
  auto lc = lease_timing(std::chrono::milliseconds(300));
  lc.instance = "a";
  lc.shards = a.store->shard_count();
  cluster_member member(cluster_member_deps{io, *a.store, *a.store, a.db, a.drv, nullptr, ma}, lc);
  member.start();
  REQUIRE(member.held() == 64);
  std::promise<void> gate;
  block(io, a.db, gate.get_future().share());  // the database stops answering
  const auto began = steady::now();
  drain(io, member);
  const auto waited = steady::now() - began;
  CHECK(waited >= std::chrono::milliseconds(250));  // waited for the answer ...
  CHECK(waited < std::chrono::seconds(5));          // ... a lease at most, not forever
  CHECK(member.held() == 0);
  gate.set_value();
  io.restart();
  io.run_for(std::chrono::milliseconds(50));  // the release runs once the thread is free
}

namespace {
/// Instance b claims shards that another connection held with a short lease, once that lease
/// ran out; its claim and its takeover read each wait behind a gate on b's store thread.
struct takeover_rig {
  takeover_rig() : a(io, path), b(io, path), other(store::open_sqlite_clustered(path)) {
    // An open payment in a low shard (claims take the lowest free shards first).
    auto ma_member = member_of(io, a, ma, "a");
    ma_member->start();
    auto id = ma_member->draw_payment_request_id(next_id);
    while (id && store::shard_of(*id, 64) >= 16) id = ma_member->draw_payment_request_id(next_id);
    REQUIRE(id);
    shard = store::shard_of(*id, 64);
    REQUIRE(submit(io, a.drv, create_with("order-t", *id)).result == engine::outcome::applied);
    drain(io, *ma_member);
    // Every shard held by "x" for 300 ms: b gets none at its start, and claims once it lapsed.
    REQUIRE(other->claim("x", 0, std::chrono::milliseconds(300), true).changed.size() == 64);
    member = member_of(io, b, mb, "b");
    member->start();
    REQUIRE(member->held() == 0);
    // "x" lets them go: b's next claim (when x's lease would have run out) finds them free,
    // whatever the clocks read then.
    std::vector<store::shard_epoch> xs;
    for (const auto& row : other->shards().table) xs.push_back({row.shard, row.epoch});
    REQUIRE(other->release("x", xs).changed.size() == 64);
    // Gate 1 before b's next claim; gate 2 between that claim and its takeover read.
    block(io, b.db, gate1.get_future().share());
    run_until(io, [&] { return member->leases().requesting(); });  // the claim is handed over
    block(io, b.db, gate2.get_future().share());
    gate1.set_value();
    run_until(io, [&] { return member->taking_over() > 0; });  // answered; the read waits
  }
  asio::io_context io;
  store::test::temp_dir dir;
  std::string path = dir.file("cashier.db");
  metrics ma;
  metrics mb;
  process a;
  process b;
  std::unique_ptr<store::clustered_store> other;
  std::unique_ptr<cluster_member> member;
  store::shard_id shard = 0;
  std::promise<void> gate1;
  std::promise<void> gate2;
};
}  // namespace

TEST_CASE("a shard whose takeover read is out is held but not acted for, and armed when the read comes back") {
  takeover_rig r;
  REQUIRE(r.member->leases().acts_for(r.shard));  // the claim committed: held at its epoch
  CHECK_FALSE(r.member->acts_for(r.shard));       // not taken over yet: the inbox, not the driver
  CHECK(r.b.drv.stats().armed_deadlines == 0);
  r.gate2.set_value();
  run_until(r.io, [&] { return r.member->taking_over() == 0; });
  CHECK(r.member->acts_for(r.shard));
  CHECK(r.b.drv.stats().armed_deadlines == 1);  // the open payment, armed by the takeover
  drain(r.io, *r.member);
}

TEST_CASE("a shard released before its takeover read came back is not taken over") {
  takeover_rig r;
  const auto epoch = r.member->leases().epoch_of(r.shard);
  REQUIRE(epoch > 0);
  // The drain stops acting for everything while the read is out; the release queues behind it.
  bool drained = false;
  asio::co_spawn(r.io, [&]() -> asio::awaitable<void> {
    co_await r.member->drain();
    drained = true;
  }, asio::detached);
  r.io.restart();
  r.io.run_for(std::chrono::milliseconds(10));
  CHECK_FALSE(drained);
  r.gate2.set_value();
  run_until(r.io, [&] { return drained; });
  CHECK(r.member->taking_over() == 0);
  CHECK_FALSE(r.member->acts_for(r.shard));
  CHECK(r.b.drv.stats().armed_deadlines == 0);  // never armed for a shard let go
  CHECK(r.mb.render().find("cashierd_cluster_shards_held 0") != std::string::npos);
  for (const auto& row : r.other->shards().table)
    if (row.shard == r.shard) CHECK(row.owner.empty());
}

}  // namespace cashier::daemon
