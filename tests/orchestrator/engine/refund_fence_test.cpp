// The refund engine in cluster mode (refund_engine::fence_with) over a real SQLite store: its
// writes go through the store's fence with the epochs the instance holds, so once another
// instance has claimed the payment's shard neither a new refund nor a refund's answer is written
// by the former owner (create: conflict, apply: not_owner), and the owner's same writes commit.
#include <doctest/doctest.h>

#include <vector>

#include "orchestrator/engine/refunds.hpp"
#include "state/store/cluster_store.hpp"
#include "tests/state/store/store_fixture.hpp"

using namespace cashier;
using namespace cashier::engine;
using namespace cashier::store::test;
using namespace std::chrono_literals;

namespace {

const time_point t0 = from_epoch_ms(1'700'000'000'000);

refund_engine_config config() {
  return {.params = {},
          .build_request = [](const payment&, const refund& r) { return "{\"r\":\"" + r.alipay_refund_request_id + "\"}"; },
          .new_request_id = {},
          .webhook_url = [](const payment&) { return std::string("https://m/hook"); }};
}

}  // namespace

TEST_CASE("a fenced refund engine writes nothing for a shard its instance lost, and the owner writes") {
  temp_dir dir;
  auto s = store::open_sqlite_store(dir.file("f.db"));
  auto& cluster = dynamic_cast<store::cluster_store&>(*s);
  payment p = sample_payment("order-1");
  p.amount = usd(1000);
  const payment stored = insert(*s, p);
  payment paid = stored;
  paid.status = payment_status::success;
  paid.pending = pending_action::none;
  paid.next_action_at = never;
  paid.event_seq = 1;
  REQUIRE(s->commit_one(change(stored, paid, "pay:S")).status == store::commit_status::committed);
  const auto shard = store::shard_of(paid, cluster.shard_count());
  const std::vector<store::shard_id> only{shard};

  // Instance a holds the shard; its engine fences with what it holds.
  const auto a = cluster.claim("a", 0, 10s, true, only);
  REQUIRE(a.changed.size() == 1);
  std::vector<store::shard_epoch> held{{shard, a.changed[0].epoch}};
  refund_engine eng{*s, config()};
  eng.fence_with(cluster, [&] { return held; });
  const refund_order order{paid.id, "r1", usd(400), "", refund_origin::merchant, "{\"v\":400}"};
  const auto created = eng.create(order, t0);
  REQUIRE(created.status == refund_order_status::created);

  // Instance b claims the shard: a's writes for it are refused from here on.
  const auto b = cluster.claim("b", 0, 10s, true, only);
  REQUIRE(b.changed.size() == 1);
  const auto answered = eng.apply(created.r.id, refund_answer{{"SUCCESS", 'S', ""}, "rid-1", "", usd(400)}, {}, t0 + 1s);
  CHECK(answered.result == outcome::not_owner);
  CHECK(answered.made.effects.empty());
  CHECK(s->load_refund(created.r.id)->status == refund_status::processing);
  CHECK(s->outbox_of(paid.id).empty());
  CHECK(s->load(paid.id)->event_seq == 1);
  const refund_order second{paid.id, "r2", usd(100), "", refund_origin::merchant, "{\"v\":100}"};
  CHECK(eng.create(second, t0 + 1s).status == refund_order_status::conflict);
  CHECK(s->refunds_of(paid.id).size() == 1);

  // Holding the new epoch (b's engine, or a after claiming it again), the same answer commits.
  held = {{shard, b.changed[0].epoch}};
  const auto owner = eng.apply(created.r.id, refund_answer{{"SUCCESS", 'S', ""}, "rid-1", "", usd(400)}, {}, t0 + 2s);
  CHECK(owner.result == outcome::applied);
  CHECK(s->load_refund(created.r.id)->status == refund_status::success);
  CHECK(s->outbox_of(paid.id).size() == 1);
  CHECK(eng.create(second, t0 + 2s).status == refund_order_status::created);

  // Unfenced again (an empty source): writes as a single instance does.
  eng.fence_with(cluster, {});
  held.clear();
  const refund_order third{paid.id, "r3", usd(100), "", refund_origin::merchant, "{\"v\":100}"};
  CHECK(eng.create(third, t0 + 3s).status == refund_order_status::created);
}
