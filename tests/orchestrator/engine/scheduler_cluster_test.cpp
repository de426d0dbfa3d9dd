// The scheduler in cluster mode with made-up instants: it acts only for the shards it is given,
// a takeover arms a shard's open payments as recover() does, dropping a shard (lease lapsed or
// lost, or a commit the fence refused) forgets its deadlines and queued inputs and refunds their
// prepaid tokens, and answers for a dropped shard are not committed.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "orchestrator/engine/scheduler.hpp"

namespace cashier::engine {
namespace {
using namespace std::chrono_literals;

const time_point t0 = from_epoch_ms(1'700'000'000'000);
constexpr store::shard_id shards = 4;

/// A payment whose Alipay+ id lies in `shard`, with store id `id`, waiting on an inquiry.
payment in_shard(store::shard_id shard, std::int64_t id) {
  for (int i = 0;; ++i) {
    payment p;
    p.id = id;
    p.alipay_payment_request_id = "ap-" + std::to_string(id) + "-" + std::to_string(i);
    if (store::shard_of(p, shards) != shard) continue;
    p.status = payment_status::in_process;
    p.pending = pending_action::inquiry;
    p.poll_deadline_at = t0 + 1h;
    p.next_action_at = t0 + 10s;
    return p;
  }
}

struct rig {
  rig() {
    s.on_broken_invariant([this](std::string_view what) { broken.emplace_back(what); });
    s.enable_shards(shards);
    s.budget() = rate_budget(1000);
  }
  instants now() const { return {pay, wall}; }
  std::vector<action> take() {
    std::vector<action> acts;
    s.take_actions(acts);
    return acts;
  }
  scheduler s;
  time_point pay = t0;
  rate_budget::instant wall = rate_budget::instant{} + 1000s;
  std::vector<std::string> broken;
};

store::deadline open_of(const payment& p, store::shard_id shard, time_point at) {
  return {p.id, at, p.pending, p.poll_deadline_at, shard};
}

std::size_t count_calls(const std::vector<action>& acts) {
  std::size_t n = 0;
  for (const auto& a : acts) n += std::holds_alternative<start_call>(a) ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("cluster mode: nothing is acted for before a takeover, which arms only its shard's payments") {
  rig r;
  CHECK_FALSE(r.s.acts_for(0));
  const auto a = in_shard(1, 11);
  const auto b = in_shard(2, 12);
  const std::vector<store::deadline> open{open_of(a, 1, t0 + 1s), open_of(b, 2, t0 + 1s)};
  r.s.start_acting(1, open, r.now());
  CHECK(r.s.acts_for(1));
  CHECK_FALSE(r.s.acts_for(2));
  CHECK(r.s.heap().size() == 1);
  CHECK(r.s.heap().deadline_of(11));
  CHECK_FALSE(r.s.heap().deadline_of(12));
  r.s.start_acting(2, open, r.now());
  CHECK(r.s.heap().size() == 2);
  CHECK(r.broken.empty());
}

TEST_CASE("cluster mode: stopping a shard drops its deadlines and queued inputs and refunds their tokens") {
  rig r;
  const auto a = in_shard(1, 11);
  const auto b = in_shard(2, 12);
  r.s.start_acting(1, std::vector<store::deadline>{open_of(a, 1, t0 + 1s)}, r.now());
  r.s.start_acting(2, std::vector<store::deadline>{open_of(b, 2, t0 + 1s), open_of(in_shard(2, 13), 2, t0 + 1h)},
                   r.now());
  r.take();
  r.pay = t0 + 2s;
  r.s.begin_flush(r.now());  // both due deadlines leave the heap, each with a prepaid token
  CHECK(r.s.heap().size() == 1);
  input cancel;
  cancel.payment_id = 12;
  cancel.ev = cancel_requested{};
  r.s.submit(cancel, 7);
  const auto taken = r.s.budget().taken();
  const auto dropped = r.s.stop_acting(2, r.now());
  CHECK(dropped == std::vector<ticket>{7});
  CHECK(r.s.stats().tokens_refunded == 1);
  CHECK(r.s.budget().taken() == taken - 1);
  CHECK(r.s.heap().size() == 0);  // payment 13's later deadline went too
  CHECK_FALSE(r.s.acts_for(2));
  const auto batch = r.s.next_batch();
  REQUIRE(batch);
  REQUIRE(batch->inputs.size() == 1);
  CHECK(batch->inputs[0].payment_id == 11);
  CHECK(r.broken.empty());  // the token invariant holds
}

TEST_CASE("cluster mode: a not_owner commit drops the shard and its other queued inputs") {
  rig r;
  const auto a = in_shard(3, 21);
  r.s.start_acting(3, std::vector<store::deadline>{open_of(a, 3, t0 + 1s)}, r.now());
  r.take();
  r.pay = t0 + 2s;
  r.s.begin_flush(r.now());
  auto b = r.s.next_batch();
  REQUIRE(b);
  // While the batch commits, a merchant's cancel for the same payment is queued.
  input cancel;
  cancel.payment_id = 21;
  cancel.ev = cancel_requested{};
  r.s.submit(cancel, 9);
  output refused;
  refused.result = outcome::not_owner;
  r.s.committed(*b, std::vector<output>{refused}, r.now());
  CHECK_FALSE(r.s.acts_for(3));
  CHECK(r.s.take_dropped_tickets() == std::vector<ticket>{9});
  CHECK(r.s.stats().tokens_refunded == 1);
  CHECK_FALSE(r.s.next_batch());
  r.s.end_flush(r.now());
  CHECK(count_calls(r.take()) == 0);
  CHECK(r.broken.empty());
}

TEST_CASE("cluster mode: the answer of a call for a dropped shard is not committed") {
  rig r;
  const auto a = in_shard(0, 31);
  r.s.start_acting(0, std::vector<store::deadline>{open_of(a, 0, t0 + 1s)}, r.now());
  r.pay = t0 + 2s;
  r.s.begin_flush(r.now());
  auto b = r.s.next_batch();
  REQUIRE(b);
  output out;
  out.result = outcome::applied;
  out.after = a;
  out.after.next_action_at = r.pay + 20s;  // the answer guard
  out.made.effects.push_back(send_inquiry{});
  r.s.committed(*b, std::vector<output>{out}, r.now());
  r.s.end_flush(r.now());
  CHECK(count_calls(r.take()) == 1);
  CHECK(r.s.stop_acting(0, r.now()).empty());
  input answer;
  answer.payment_id = 31;
  answer.ev = inquiry_no_answer{no_answer_reason::timeout};
  r.s.call_ended(call_kind::inquiry, answer, r.now());
  CHECK(r.s.idle());  // nothing queued: the new owner resends after the guard
  CHECK(r.s.stats().calls_in_flight == 0);
  CHECK(r.broken.empty());
}

// A refund belongs to its payment's shard: once the shard is dropped, its new owner drives the
// refund (it arms the shard's PROCESSING refunds at takeover), so this instance must not.
TEST_CASE("cluster mode: stopping a shard drops the refund a cancel of its payment started") {
  rig r;
  const auto a = in_shard(1, 41);
  r.s.start_acting(1, std::vector<store::deadline>{open_of(a, 1, t0 + 1s)}, r.now());
  r.pay = t0 + 2s;
  r.s.begin_flush(r.now());
  auto b = r.s.next_batch();
  REQUIRE(b);
  output out;
  out.result = outcome::applied;
  out.after = a;
  out.after.next_action_at = r.pay + 1h;
  out.started_refund = store::refund_deadline{7, 41, r.pay + 20s};
  r.s.committed(*b, std::vector<output>{out}, r.now());
  r.s.end_flush(r.now());
  REQUIRE(r.s.heap().deadline_of(refund_key(7)));
  r.s.stop_acting(1, r.now());
  CHECK_FALSE(r.s.heap().deadline_of(refund_key(7)));
  CHECK(r.s.heap().size() == 0);
  CHECK(r.broken.empty());
}

TEST_CASE("cluster mode: a takeover arms the shard's refunds, and stopping the shard drops them") {
  rig r;
  const auto a = in_shard(2, 51);
  r.s.start_acting(2, std::vector<store::deadline>{}, r.now());
  r.s.start_acting_refunds(2, std::vector<store::refund_deadline>{{8, a.id, t0 + 5s}, {9, a.id, t0 + 6s}}, r.now());
  CHECK(r.s.heap().deadline_of(refund_key(8)));
  CHECK(r.s.heap().size() == 2);
  r.s.stop_acting(2, r.now());
  CHECK(r.s.heap().size() == 0);
  // A shard not acted for takes no refunds (the executor's bug, reported).
  r.s.start_acting_refunds(3, std::vector<store::refund_deadline>{{10, a.id, t0 + 5s}}, r.now());
  CHECK(r.s.heap().size() == 0);
  CHECK(r.broken.size() == 1);
}

TEST_CASE("cluster mode: a budget share of 0 is no budget, not an unlimited one") {
  rig r;
  r.s.set_budget_share(0);
  CHECK(r.s.budget().configured() > 0);
  CHECK(r.s.budget().configured() < 1e-6);
  r.s.set_budget_share(25);
  CHECK(r.s.budget().configured() == 25);
}

}  // namespace cashier::engine
