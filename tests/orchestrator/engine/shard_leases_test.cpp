// The lease manager with made-up instants and made-up database answers: no store, no sleeps.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "orchestrator/engine/shard_leases.hpp"

namespace cashier::engine {
namespace {
using namespace std::chrono_literals;

const local_instant t0 = local_instant{} + 1000s;

/// A database answer whose `changed` rows are `shards` held by `owner` at `epoch`.
store::lease_answer answer(const std::string& owner, std::vector<store::shard_id> shards, std::int64_t epoch,
                           int live = 1) {
  store::lease_answer a;
  a.db_now = time_point{} + 5000s;  // the database's clock: unrelated to the local one on purpose
  for (const auto s : shards) a.changed.push_back({s, owner, epoch, a.db_now + 10s});
  a.live_instances = live;
  return a;
}

std::vector<store::shard_id> range(store::shard_id from, store::shard_id to) {
  std::vector<store::shard_id> v;
  for (auto s = from; s < to; ++s) v.push_back(s);
  return v;
}

template <class T>
std::vector<T> of(const std::vector<lease_action>& acts) {
  std::vector<T> v;
  for (const auto& a : acts)
    if (const auto* x = std::get_if<T>(&a)) v.push_back(*x);
  return v;
}

/// Index of the first action of kind T, or acts.size().
template <class T>
std::size_t first(const std::vector<lease_action>& acts) {
  for (std::size_t i = 0; i < acts.size(); ++i)
    if (std::holds_alternative<T>(acts[i])) return i;
  return acts.size();
}

lease_config single_config() {
  lease_config c;
  c.instance = "a";
  c.single = true;
  c.budget = 64;
  return c;
}

struct fixture {
  explicit fixture(lease_config c) : leases(std::move(c)) {
    leases.on_broken_invariant([this](std::string_view what) { broken.emplace_back(what); });
  }
  std::vector<lease_action> take() {
    std::vector<lease_action> acts;
    leases.take_actions(acts);
    return acts;
  }
  shard_leases leases;
  std::vector<std::string> broken;
};

}  // namespace

TEST_CASE("a single instance claims every shard with force, then acts for all of them") {
  fixture f(single_config());
  f.leases.tick(t0);
  auto acts = f.take();
  REQUIRE(of<send_claim>(acts).size() == 1);
  CHECK(of<send_claim>(acts)[0].force);
  CHECK(of<send_claim>(acts)[0].want == 64);
  CHECK(f.leases.share() == 0);  // nothing held yet: no share
  f.leases.claim_answered(answer("a", range(0, 64), 1), t0 + 5ms);
  acts = f.take();
  CHECK(of<start_acting>(acts).size() == 64);
  REQUIRE(of<set_share>(acts).size() == 1);
  CHECK(of<set_share>(acts)[0].per_second == 64);
  // Raised after the takeovers, never before.
  CHECK(first<set_share>(acts) > first<start_acting>(acts));
  CHECK(f.leases.held() == 64);
  CHECK(f.leases.fence().size() == 64);
  CHECK(f.leases.epoch_of(7) == 1);
  CHECK(f.broken.empty());
}

TEST_CASE("trust ends at the claim's send time + lease - margin, however late the answer came") {
  fixture f(single_config());
  f.leases.tick(t0);
  f.take();
  f.leases.claim_answered(answer("a", range(0, 64), 1), t0 + 4s);  // a slow database
  f.take();
  REQUIRE(f.leases.trusted_until(0));
  CHECK(*f.leases.trusted_until(0) == t0 + 10s - 1s);
  // The renewal is due at send + 2.5 s; it fails (the database is away).
  f.leases.tick(t0 + 4s);
  auto acts = f.take();
  REQUIRE(of<send_renew>(acts).size() == 1);
  CHECK(of<send_renew>(acts)[0].held.size() == 64);
  f.leases.request_failed(t0 + 5s);
  f.leases.tick(t0 + 9s - 1ns);
  acts = f.take();
  CHECK(of<stop_acting>(acts).empty());
  CHECK(f.leases.acts_for(0));
  f.leases.tick(t0 + 9s);
  acts = f.take();
  CHECK(of<stop_acting>(acts).size() == 64);
  REQUIRE(of<set_share>(acts).size() == 1);
  CHECK(of<set_share>(acts)[0].per_second == 0);
  CHECK_FALSE(f.leases.acts_for(0));
  CHECK(f.leases.stats().lapsed == 64);
  CHECK(f.broken.empty());
}

TEST_CASE("without the margin (the no-margin flaw) trust runs to send + lease") {
  auto c = single_config();
  c.flaw = lease_flaw::no_margin;
  fixture f(c);
  f.leases.tick(t0);
  f.leases.claim_answered(answer("a", range(0, 64), 1), t0 + 1ms);
  CHECK(*f.leases.trusted_until(3) == t0 + 10s);
}

TEST_CASE("a renewal extends trust from its send, a shard missing from its answer is lost at once") {
  fixture f(single_config());
  f.leases.tick(t0);
  f.leases.claim_answered(answer("a", range(0, 64), 1), t0 + 1ms);
  f.take();
  f.leases.tick(t0 + 2500ms);
  auto acts = f.take();
  REQUIRE(of<send_renew>(acts).size() == 1);
  auto renewed = range(0, 64);
  renewed.erase(renewed.begin() + 10);  // shard 10 was taken over by someone else
  f.leases.renew_answered(answer("a", renewed, 1), t0 + 3s);
  acts = f.take();
  REQUIRE(of<stop_acting>(acts).size() == 1);
  CHECK(of<stop_acting>(acts)[0].shard == 10);
  REQUIRE(of<set_share>(acts).size() == 1);
  CHECK(of<set_share>(acts)[0].per_second == 63);
  CHECK(*f.leases.trusted_until(0) == t0 + 2500ms + 9s);
  CHECK_FALSE(f.leases.acts_for(10));
  CHECK(f.leases.stats().lost == 1);
}

TEST_CASE("a not_owner commit drops its shard at that epoch only") {
  fixture f(single_config());
  f.leases.tick(t0);
  f.leases.claim_answered(answer("a", range(0, 64), 3), t0 + 1ms);
  f.take();
  f.leases.not_owner(5, 2, t0 + 1s);  // an older epoch: already moot
  CHECK(f.take().empty());
  f.leases.not_owner(5, 3, t0 + 1s);
  const auto acts = f.take();
  REQUIRE(of<stop_acting>(acts).size() == 1);
  CHECK(of<stop_acting>(acts)[0].shard == 5);
  CHECK(f.leases.held() == 63);
  CHECK(f.leases.share() == 63);
}

TEST_CASE("when more instances share the shards, the excess is dropped and the share lowered before the release") {
  lease_config c;
  c.instance = "a";
  c.budget = 100;
  fixture f(c);
  f.leases.tick(t0);
  auto acts = f.take();
  REQUIRE(of<send_claim>(acts).size() == 1);
  CHECK_FALSE(of<send_claim>(acts)[0].force);
  f.leases.claim_answered(answer("a", range(0, 64), 1, 1), t0 + 1ms);
  f.take();
  f.leases.tick(t0 + 2500ms);
  f.take();
  f.leases.renew_answered(answer("a", range(0, 64), 1, 2), t0 + 2501ms);  // b showed up
  acts = f.take();
  CHECK(of<stop_acting>(acts).size() == 32);
  CHECK(of<stop_acting>(acts).front().shard == 63);  // the highest go
  REQUIRE(of<set_share>(acts).size() == 1);
  CHECK(of<set_share>(acts)[0].per_second == doctest::Approx(50));
  CHECK(first<set_share>(acts) > first<stop_acting>(acts));
  CHECK(of<send_release>(acts).empty());  // on the next tick, after the share is lowered
  f.leases.tick(t0 + 2502ms);
  acts = f.take();
  REQUIRE(of<send_release>(acts).size() == 1);
  CHECK(of<send_release>(acts)[0].shards.size() == 32);
  f.leases.release_answered(answer("a", {}, 1, 2), t0 + 2503ms);
  CHECK(f.leases.held() == 32);
  CHECK(f.broken.empty());
}

TEST_CASE("a second instance claims only up to its fair share, and its share follows the claims committed") {
  lease_config c;
  c.instance = "b";
  c.budget = 64;
  fixture f(c);
  f.leases.tick(t0);
  f.take();
  f.leases.claim_answered(answer("b", {}, 0, 2), t0 + 1ms);  // all held by a: nothing, 2 live
  CHECK(f.leases.held() == 0);
  f.take();
  f.leases.tick(t0 + 1s);
  auto acts = f.take();
  REQUIRE(of<send_claim>(acts).size() == 1);
  CHECK(of<send_claim>(acts)[0].want == 32);
  CHECK(f.leases.share() == 0);  // not before the claim commits
  f.leases.claim_answered(answer("b", range(32, 64), 2, 2), t0 + 1001ms);
  CHECK(f.leases.held() == 32);
  CHECK(f.leases.share() == 32);
}

TEST_CASE("with no shard free, claims pause until the earliest lease in the table can lapse") {
  lease_config c;
  c.instance = "b";
  fixture f(c);
  f.leases.tick(t0);
  f.take();
  auto a = answer("b", {}, 0, 2);
  for (store::shard_id s = 0; s < 64; ++s) a.table.push_back({s, "a", 1, a.db_now + 10s - std::chrono::milliseconds(s)});
  a.table[9].lease_until = a.db_now + 6s;  // the earliest
  f.leases.claim_answered(a, t0 + 1ms);
  CHECK(f.leases.next_tick() == t0 + 6s);
  f.leases.tick(t0 + 5s);
  CHECK(of<send_claim>(f.take()).empty());
  f.leases.tick(t0 + 6s);
  CHECK(of<send_claim>(f.take()).size() == 1);
}

TEST_CASE("at its target, an instance asks once another's lease has run out, and claims its shards at once") {
  lease_config c;
  c.instance = "b";
  fixture f(c);
  f.leases.tick(t0);
  f.take();
  // b got the upper half; a holds the lower half with 2 s left by the database's clock.
  auto a = answer("b", range(32, 64), 1, 2);
  for (store::shard_id s = 0; s < 32; ++s) a.table.push_back({s, "a", 1, a.db_now + 2s});
  for (store::shard_id s = 32; s < 64; ++s) a.table.push_back({s, "b", 1, a.db_now + 10s});
  f.leases.claim_answered(a, t0 + 1ms);
  f.take();
  REQUIRE(f.leases.held() == 32);
  // The claim tick paused until a's leases may lapse (from the send) asks nothing: at its target
  // (32 of 2 live). The question comes when they have run out, measured from the receipt.
  CHECK(f.leases.next_tick() == t0 + 2s);
  f.leases.tick(t0 + 2s);
  CHECK(of<send_claim>(f.take()).empty());
  CHECK(f.leases.next_tick() == t0 + 1ms + 2s);
  f.leases.tick(t0 + 1ms + 2s);
  auto acts = f.take();
  REQUIRE(of<send_claim>(acts).size() == 1);
  CHECK(of<send_claim>(acts)[0].want == 0);  // a question: is a still there?
  // a is gone (its presence lapsed with its leases): the target is all 64, so the lapsed shards
  // are claimed at once, not at the next claim tick or after the next renewal.
  auto gone = answer("b", {}, 1, 1);
  gone.db_now += 2s;
  for (store::shard_id s = 0; s < 32; ++s) gone.table.push_back({s, "a", 1, a.db_now + 2s - 1ms});
  for (store::shard_id s = 32; s < 64; ++s) gone.table.push_back({s, "b", 1, a.db_now + 10s});
  f.leases.claim_answered(gone, t0 + 2002ms);
  CHECK(f.leases.next_tick() == t0 + 2002ms);
  f.leases.tick(t0 + 2002ms);
  acts = f.take();
  REQUIRE(of<send_claim>(acts).size() == 1);
  CHECK(of<send_claim>(acts)[0].want == 32);
  CHECK(f.broken.empty());
}

TEST_CASE("the early-share flaw raises the share when the claim is sent") {
  lease_config c;
  c.instance = "b";
  c.budget = 64;
  c.flaw = lease_flaw::early_share;
  fixture f(c);
  f.leases.tick(t0);
  CHECK(f.leases.share() == 64);  // the bug: nothing is held yet
}

TEST_CASE("a claim answered after its trust would have ended is not acted on") {
  fixture f(single_config());
  f.leases.tick(t0);
  f.leases.claim_answered(answer("a", range(0, 64), 1), t0 + 9s);
  CHECK(f.leases.held() == 0);
  CHECK(of<start_acting>(f.take()).empty());
}

TEST_CASE("an epoch that goes back breaks an invariant") {
  fixture f(single_config());
  f.leases.tick(t0);
  f.leases.claim_answered(answer("a", range(0, 64), 5), t0 + 1ms);
  f.leases.drain(t0 + 1s);
  f.leases.release_answered(answer("a", {}, 5), t0 + 1s);
  CHECK(f.broken.empty());
  fixture g(single_config());
  g.leases.tick(t0);
  g.leases.claim_answered(answer("a", range(0, 1), 5), t0 + 1ms);
  g.leases.tick(t0 + 9s);  // lapsed
  g.leases.tick(t0 + 10s);  // claims again
  g.leases.claim_answered(answer("a", range(0, 1), 4), t0 + 10s + 1ms);
  REQUIRE_FALSE(g.broken.empty());
  CHECK(g.broken.front().find("epoch") != std::string::npos);
}

TEST_CASE("drain stops acting on everything, lowers the share, then releases all") {
  fixture f(single_config());
  f.leases.tick(t0);
  f.leases.claim_answered(answer("a", range(0, 64), 1), t0 + 1ms);
  f.take();
  f.leases.drain(t0 + 1s);
  const auto acts = f.take();
  CHECK(of<stop_acting>(acts).size() == 64);
  REQUIRE(of<send_release>(acts).size() == 1);
  CHECK(of<send_release>(acts)[0].shards.size() == 64);
  CHECK(first<set_share>(acts) < first<send_release>(acts));
  CHECK(f.leases.share() == 0);
  CHECK(f.leases.held() == 0);
}

TEST_CASE("a claim answered after a drain began is not acted on: its shards are released too") {
  // The executor hands requests to the store thread, so a drain can start while a claim is out.
  lease_config c;
  c.instance = "a";
  c.budget = 64;
  fixture f(c);
  f.leases.tick(t0);
  REQUIRE(of<send_claim>(f.take()).size() == 1);
  f.leases.drain(t0 + 1ms);  // the claim is still out: nothing to release yet
  CHECK(of<send_release>(f.take()).empty());
  f.leases.claim_answered(answer("a", range(0, 3), 1), t0 + 2ms);
  auto acts = f.take();
  CHECK(of<start_acting>(acts).empty());
  CHECK(f.leases.held() == 0);
  CHECK(f.leases.share() == 0);
  // The next tick releases what the claim got, at the epoch it got.
  REQUIRE(f.leases.next_tick());
  f.leases.tick(t0 + 3ms);
  acts = f.take();
  REQUIRE(of<send_release>(acts).size() == 1);
  CHECK(of<send_release>(acts)[0].shards.size() == 3);
  CHECK(of<send_release>(acts)[0].shards[0].epoch == 1);
  f.leases.release_answered(answer("a", {}, 0), t0 + 4ms);
  CHECK_FALSE(f.leases.next_tick());  // drained: nothing more to do
  CHECK(f.broken.empty());
}

TEST_CASE("next_tick is the earliest of trust, renewal and claim") {
  fixture f(single_config());
  CHECK(f.leases.next_tick() == local_instant::min());  // never claimed: at once
  f.leases.tick(t0);
  f.take();
  CHECK(f.leases.next_tick() == std::nullopt);  // waiting for the answer, nothing held
  f.leases.claim_answered(answer("a", range(0, 64), 1), t0 + 1ms);
  f.take();
  // Claim tick at t0 + 1 s (a single instance holding all wants nothing more, but looks).
  CHECK(f.leases.next_tick() == t0 + 1s);
  f.leases.tick(t0 + 1s);
  CHECK(f.take().empty());
  CHECK(f.leases.next_tick() == t0 + 2s);
}

}  // namespace cashier::engine
