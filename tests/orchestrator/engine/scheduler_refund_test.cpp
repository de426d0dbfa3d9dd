// Tests of the scheduler's refunds with made-up instants (no io_context, no store, no wall time):
// refund deadlines in the payments' heap, refund calls paid from the same budget and counted
// against the same cap, refund commits in the same flush, the hold after a store failure, and
// recovery. A small executor (`rig`) plays the driver; its toy refund machine sends the refund
// on every deadline, answers settle it (S) or leave it PROCESSING with a guard ten seconds on.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "orchestrator/engine/scheduler.hpp"

namespace cashier::engine {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

const time_point t0 = from_epoch_ms(1'700'000'000'000);

struct rig {
  explicit rig(scheduler_limits limits = {}) : s(limits) {
    s.on_broken_invariant([this](std::string_view what) { broken.emplace_back(what); });
  }

  scheduler s;
  time_point pay = t0;
  steady::time_point wall = steady::time_point{} + 1000h;
  std::vector<start_refund_call> refund_calls;  // every refund call started, in order
  std::vector<start_call> calls;                // every payment call started
  std::vector<std::int64_t> settled;            // wake_refund_watchers ids
  std::vector<deadline_fired> fired;
  std::vector<notice> notices;
  std::optional<arm_timer> timer;
  bool flush_posted = false;
  int probes = 0;
  bool fail_next_commit = false;
  std::map<std::int64_t, refund> refunds;  // the toy refund machine's records
  std::vector<std::string> broken;

  instants now() const { return {pay, wall}; }

  void collect() {
    std::vector<action> acts;
    for (s.take_actions(acts); !acts.empty(); s.take_actions(acts)) {
      for (auto& a : acts) {
        if (std::holds_alternative<flush_soon>(a)) flush_posted = true;
        else if (auto* c = std::get_if<start_refund_call>(&a)) refund_calls.push_back(*c);
        else if (auto* p = std::get_if<start_call>(&a)) calls.push_back(*p);
        else if (auto* w = std::get_if<wake_refund_watchers>(&a)) settled.push_back(w->refund_id);
        else if (auto* t = std::get_if<arm_timer>(&a)) timer = *t;
        else if (std::holds_alternative<cancel_timer>(a)) timer.reset();
        else if (auto* f = std::get_if<deadline_fired>(&a)) fired.push_back(*f);
        else if (auto* n = std::get_if<notice>(&a)) notices.push_back(*n);
        else if (std::holds_alternative<probe_store>(a)) ++probes;
      }
    }
  }

  /// A refund stored PROCESSING at `at` (as recovery or a payment's cancel leaves it).
  store::refund_deadline open(std::int64_t id, time_point at) {
    refund r;
    r.id = id;
    r.next_action_at = at;
    refunds[id] = r;
    return {id, 1, at};
  }

  /// refund_engine.create stored refund `id`: its first send is asked for, its guard armed.
  void create(std::int64_t id) {
    refund r;
    r.id = id;
    r.attempt = 1;
    r.next_action_at = pay + 20s;
    refunds[id] = r;
    const std::vector<refund_effect> effects{send_refund{}};
    s.refund_created(r, effects, now());
    collect();
  }

  /// The toy refund machine.
  refund_output decide(const refund_input& in) {
    refund_output out;
    refund& r = refunds[in.refund_id];
    out.result = outcome::applied;
    if (std::holds_alternative<deadline_reached>(in.ev)) {
      ++r.attempt;
      r.next_action_at = pay + 10s;
      out.made.effects.emplace_back(send_refund{});
    } else if (const auto* a = std::get_if<refund_answer>(&in.ev); a && a->result.status == 'S') {
      r.status = refund_status::success;
      r.next_action_at = never;
    } else {
      r.next_action_at = pay + 10s;  // retried with backoff from the heap
    }
    out.after = r;
    out.made.next = r;
    out.made.changed = true;
    return out;
  }

  /// The posted flush: payment batches (none here), then every refund input.
  void flush() {
    flush_posted = false;
    s.begin_flush(now());
    collect();
    while (auto b = s.next_batch()) {
      std::vector<output> outs(b->inputs.size());
      for (std::size_t i = 0; i < outs.size(); ++i) {
        outs[i].result = outcome::unchanged;
        outs[i].after.id = b->inputs[i].payment_id;
        outs[i].after.next_action_at = pay + 1h;
      }
      s.committed(*b, outs, now());
      collect();
    }
    while (auto in = s.next_refund()) {
      if (std::exchange(fail_next_commit, false)) {
        s.refund_commit_failed(*in);
      } else {
        s.refund_committed(*in, decide(*in), now());
      }
      collect();
    }
    s.end_flush(now());
    collect();
  }

  bool tick() {
    if (!timer) return false;
    const auto t = *timer;
    if (t.due) wall += std::chrono::duration_cast<steady::duration>(t.budget_wait);
    else if (t.at > pay) pay = t.at;
    s.timer_fired(t.at, now());
    collect();
    if (flush_posted) flush();
    return true;
  }

  /// Refund call `i` ends with `ev`.
  void answer(std::size_t i, refund_event ev) {
    s.refund_call_ended(refund_input{refund_calls.at(i).refund_id, std::move(ev), {}}, now());
    collect();
    if (flush_posted) flush();
  }
  static refund_event success() { return refund_answer{{"SUCCESS", 'S', "success"}, "rf-id", "", std::nullopt}; }
  static refund_event unknown() { return refund_answer{{"UNKNOWN_EXCEPTION", 'U', "unknown"}, "", "", std::nullopt}; }
};

}  // namespace

TEST_CASE("refund calls are paid from the outbound budget: a burst of new refunds borrows one burst, no more") {
  rig r;
  r.s.budget() = rate_budget(5);  // burst 1: one token, one borrowed, then refused
  for (std::int64_t id = 1; id <= 20; ++id) r.create(id);
  CHECK(r.refund_calls.size() == 2);
  CHECK(r.s.stats().budget_deferred == 18);
  CHECK(r.s.stats().calls_in_flight == 2);
  // Each refused send waits in the heap behind its answer guard, and goes when the budget has
  // refilled: over 10 s at 5/s, at most 5 x 10 + 2 bursts calls in all.
  r.pay += 20s;
  r.s.timer_fired(r.timer->at, r.now());  // the guards are due now
  r.collect();
  for (int i = 0; i < 200 && r.wall < steady::time_point{} + 1000h + 10s; ++i) r.tick();
  CHECK(r.refund_calls.size() <= 5 * 10 + 2);
  CHECK(r.refund_calls.size() > 2);
  CHECK(r.broken.empty());
}

TEST_CASE("with refund_skips_budget (the refund driver before the fold) the burst exceeds the budget") {
  scheduler_limits l;
  l.flaw = scheduler_flaw::refund_skips_budget;
  rig r(l);
  r.s.budget() = rate_budget(5);
  for (std::int64_t id = 1; id <= 20; ++id) r.create(id);
  CHECK(r.refund_calls.size() == 20);  // the check above would fail
}

TEST_CASE("a refund's deadline fires from the one heap, in the urgent lane, with a prepaid token") {
  rig r;
  r.s.recover_refunds(std::vector<store::refund_deadline>{r.open(7, t0 + 30s)}, r.now());
  r.collect();
  // A payment with the same store id waits in the same heap without colliding.
  r.s.recover(std::vector<store::deadline>{{7, t0 + 40s, pending_action::inquiry, t0 + 1h}}, r.now());
  r.collect();
  CHECK(r.s.stats().armed_deadlines == 2);
  REQUIRE(r.timer);
  CHECK(r.timer->at == t0 + 30s);  // nothing fires early
  r.tick();
  REQUIRE(r.fired.size() == 1);
  CHECK(r.fired[0].lane == call_lane::urgent);
  REQUIRE(r.refund_calls.size() == 1);
  CHECK(r.refund_calls[0].refund_id == 7);
  CHECK(r.refund_calls[0].kind == refund_call::refund);
  CHECK(r.calls.empty());
  CHECK(r.s.stats().tokens_borrowed == 0);  // paid by the token it took leaving the heap
  CHECK(r.s.stats().refund_inputs == 1);
  // The payment's deadline is untouched; the refund's is its answer guard now.
  CHECK(r.s.heap().deadline_of(7) == t0 + 40s);
  CHECK(r.s.heap().deadline_of(refund_key(7)) == t0 + 40s);
  r.answer(0, rig::success());
  CHECK(r.settled == std::vector<std::int64_t>{7});
  CHECK_FALSE(r.s.heap().deadline_of(refund_key(7)));
  CHECK(r.s.idle());
  CHECK(r.broken.empty());
}

TEST_CASE("a refund deadline whose commit makes no call gives its token back") {
  rig r;
  r.s.budget() = rate_budget(50);  // burst 1
  r.s.recover_refunds(std::vector<store::refund_deadline>{r.open(3, t0)}, r.now());
  r.collect();
  r.refunds[3].status = refund_status::success;  // settled meanwhile (another incarnation's answer)
  r.pay += 1s;
  r.s.timer_fired(r.timer->at, r.now());
  r.collect();
  REQUIRE(r.flush_posted);
  r.s.begin_flush(r.now());
  auto in = r.s.next_refund();
  REQUIRE(in);
  refund_output out;
  out.result = outcome::unchanged;
  out.after = r.refunds[3];
  r.s.refund_committed(*in, out, r.now());
  r.s.end_flush(r.now());
  r.collect();
  CHECK(r.refund_calls.empty());
  CHECK(r.s.stats().tokens_refunded == 1);
  CHECK(r.broken.empty());
}

TEST_CASE("refund calls count against the cap on calls in flight: due refunds wait in the heap") {
  scheduler_limits l;
  l.max_calls_in_flight = 2;
  rig r(l);
  r.create(1);
  r.create(2);  // two refund calls in flight: the cap
  CHECK(r.s.stats().calls_in_flight == 2);
  r.s.recover_refunds(std::vector<store::refund_deadline>{r.open(3, t0)}, r.now());
  r.collect();
  r.pay += 1s;
  CHECK_FALSE(r.timer);  // due, but every call slot is taken: the next answer re-arms
  r.answer(0, rig::unknown());
  // The slot freed by refund 1's answer goes to refund 3's due deadline.
  r.tick();
  REQUIRE(r.refund_calls.size() == 3);
  CHECK(r.refund_calls[2].refund_id == 3);
  CHECK(r.s.stats().calls_in_flight == 2);
  CHECK(r.broken.empty());
}

TEST_CASE("a refund whose commit fails is held until a probe commits, then re-armed due at once") {
  rig r;
  r.create(5);
  r.fail_next_commit = true;
  r.answer(0, rig::unknown());
  CHECK_FALSE(r.s.stats().store_writable);
  CHECK(r.s.heap().deadline_of(refund_key(5)) == t0 + 20s);  // only the guard of its create
  r.s.store_retry_due();
  r.collect();
  CHECK(r.probes == 1);
  r.s.probe_result(true, r.now());
  r.collect();
  CHECK(r.s.heap().deadline_of(refund_key(5)) == r.pay);
  r.tick();
  CHECK(r.refund_calls.size() == 2);  // resent
  CHECK(r.fired.back().lane == call_lane::urgent);
  CHECK(r.broken.empty());
}

TEST_CASE("REQUEST_TRAFFIC_EXCEED_LIMIT on a refund lowers the outbound rate for everything") {
  rig r;
  r.s.budget() = rate_budget(100);
  r.create(1);
  r.answer(0, refund_answer{{"REQUEST_TRAFFIC_EXCEED_LIMIT", 'U', "slow down"}, "", "", std::nullopt});
  CHECK(r.s.budget().rate() < 100);
  CHECK(r.s.budget().throttles() == 1);
}

TEST_CASE("draining: no refund call starts, the stored guard resends after the restart") {
  rig r;
  r.s.drain();
  r.collect();
  r.create(1);
  CHECK(r.refund_calls.empty());
  CHECK(r.s.idle());
  CHECK(r.broken.empty());
}

}  // namespace cashier::engine
