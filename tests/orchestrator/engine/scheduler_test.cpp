// Tests of the sans-I/O scheduler with made-up instants: no io_context, no store, no wall time.
// A small executor (`rig`) plays the driver: it flushes when told, "commits" each batch with
// outputs a toy machine makes up (a deadline of a payment waiting on X sends X; answers settle
// nothing and re-arm ten seconds on), records every action, and moves the clocks by hand. The
// checks are exact: what fires, in which order, when, and what is paid from the budget.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "orchestrator/engine/scheduler.hpp"

namespace cashier::engine {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

const time_point t0 = from_epoch_ms(1'700'000'000'000);

/// The driver's part, carried out by hand.
struct rig {
  explicit rig(scheduler_limits limits = {}) : s(limits) {
    s.on_broken_invariant([this](std::string_view what) { broken.emplace_back(what); });
  }

  scheduler s;
  time_point pay = t0;
  steady::time_point wall = steady::time_point{} + 1000h;
  std::map<std::int64_t, pending_action> waiting;  // the toy machine's payments
  std::int64_t next_id = 1000;
  std::vector<start_call> calls;        // every call started, in order
  std::vector<deadline_fired> fired;    // every deadline fired
  std::vector<notice> notices;
  std::vector<std::int64_t> woken;      // wake_watchers ids
  std::optional<arm_timer> timer;       // the armed timer
  bool flush_posted = false;
  int store_retries = 0;
  int probes = 0;
  std::vector<std::chrono::nanoseconds> hold_waits;  // arm_hold_limit waits, in order
  std::vector<std::string> broken;
  bool fail_next_commit = false;

  instants now() const { return {pay, wall}; }

  /// Takes the scheduler's actions and records them as the driver would carry them out.
  void collect() {
    std::vector<action> acts;
    for (s.take_actions(acts); !acts.empty(); s.take_actions(acts)) {
      for (auto& a : acts) {
        if (std::holds_alternative<flush_soon>(a)) flush_posted = true;
        else if (auto* c = std::get_if<start_call>(&a)) calls.push_back(*c);
        else if (auto* t = std::get_if<arm_timer>(&a)) timer = *t;
        else if (std::holds_alternative<cancel_timer>(a)) timer.reset();
        else if (auto* w = std::get_if<wake_watchers>(&a)) woken.push_back(w->id);
        else if (auto* f = std::get_if<deadline_fired>(&a)) fired.push_back(*f);
        else if (auto* n = std::get_if<notice>(&a)) notices.push_back(*n);
        else if (std::holds_alternative<arm_store_retry>(a)) ++store_retries;
        else if (std::holds_alternative<probe_store>(a)) ++probes;
        else if (auto* h = std::get_if<arm_hold_limit>(&a)) hold_waits.push_back(h->wait);
      }
    }
  }

  /// A stored payment waiting on `pending`, due at `at`, as recovery finds it.
  store::deadline open(pending_action pending, time_point at) {
    const auto id = next_id++;
    waiting[id] = pending;
    return {id, at, pending, t0 + 1h};
  }
  void recover(const std::vector<store::deadline>& open) {
    s.recover(open, now());
    collect();
  }

  /// The toy machine: what `in` does to its payment.
  output decide(const input& in) {
    output out;
    out.result = outcome::applied;
    std::int64_t id = in.payment_id;
    if (in.create) {
      id = next_id++;
      waiting[id] = pending_action::pay;
      out.made.effects.push_back(send_pay{});
    } else if (std::holds_alternative<deadline_reached>(in.ev) || std::holds_alternative<notify_unverified>(in.ev)) {
      switch (waiting[id]) {
        case pending_action::pay: out.made.effects.push_back(send_pay{}); break;
        case pending_action::inquiry: out.made.effects.push_back(send_inquiry{}); break;
        case pending_action::cancel: out.made.effects.push_back(send_cancel{}); break;
        case pending_action::none: out.result = outcome::unchanged; break;
      }
    } else if (std::holds_alternative<cancel_requested>(in.ev)) {
      waiting[id] = pending_action::cancel;
      out.made.effects.push_back(send_cancel{});
    } else if (std::holds_alternative<notify_verified>(in.ev)) {
      // An amount mismatch: acked, and a cancel (refund) asked for.
      waiting[id] = pending_action::cancel;
      out.made.effects.push_back(send_cancel{});
      out.made.ack = true;
    }
    out.after.id = id;
    out.after.pending = waiting[id];
    out.after.next_action_at = pay + 10s;  // the answer guard
    out.after.poll_deadline_at = t0 + 1h;
    return out;
  }

  /// The posted flush, committing every batch through the toy machine.
  void flush() {
    flush_posted = false;
    s.begin_flush(now());
    collect();
    while (auto b = s.next_batch()) {
      if (std::exchange(fail_next_commit, false)) {
        s.commit_failed(*b);
      } else {
        std::vector<output> outs;
        for (const auto& in : b->inputs) outs.push_back(decide(in));
        s.committed(*b, outs, now());
      }
      collect();
    }
    s.end_flush(now());
    collect();
  }
  /// Runs the timer if it is due (payment clock or, for a budget wait, wall clock).
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
  /// Answers the oldest call in flight (an answer that changes nothing but the guard).
  void answer(std::size_t i) {
    const auto c = calls.at(i);
    input in;
    in.payment_id = c.p.id;
    in.ev = no_answer_of(c.kind, no_answer_reason::timeout);
    s.call_ended(c.kind, std::move(in), now());
    collect();
  }
  input create() {
    input in;
    in.create = payment{};
    in.ev = created{};
    return in;
  }
};

}  // namespace

TEST_CASE("inputs of one reactor turn commit together, at most max_batch at a time") {
  scheduler_limits l;
  l.max_batch = 3;
  rig r(l);
  for (int i = 0; i < 7; ++i) r.s.submit(r.create(), static_cast<ticket>(i + 1));
  r.collect();
  CHECK(r.flush_posted);  // one flush for the seven
  CHECK(r.s.stats().actions[0] == 1);
  std::vector<std::size_t> sizes;
  r.s.begin_flush(r.now());
  while (auto b = r.s.next_batch()) {
    sizes.push_back(b->inputs.size());
    CHECK(b->tickets.front() == sizes.size() * 3 - 2);  // tickets travel with their inputs
    std::vector<output> outs;
    for (const auto& in : b->inputs) outs.push_back(r.decide(in));
    r.s.committed(*b, outs, r.now());
  }
  r.s.end_flush(r.now());
  r.collect();
  CHECK(sizes == std::vector<std::size_t>{3, 3, 1});
  CHECK(r.s.stats().batches == 3);
  CHECK(r.calls.size() == 7);  // unlimited budget: every pay goes
  CHECK(r.woken.size() == 7);
  CHECK(r.broken.empty());
}

TEST_CASE("nothing fires before its time: the timer waits on the payment clock") {
  rig r;
  r.recover({r.open(pending_action::inquiry, t0 + 30s)});
  REQUIRE(r.timer);
  CHECK_FALSE(r.timer->due);
  CHECK(r.timer->at == t0 + 30s);
  // A stale timer (armed for another instant) does nothing.
  r.s.timer_fired(t0 + 29s, r.now());
  r.collect();
  CHECK(r.fired.empty());
  // Woken early (a scaled clock rounds): the deadline stays, the timer is armed again.
  r.pay = t0 + 29s;
  r.s.timer_fired(t0 + 30s, r.now());
  r.collect();
  CHECK(r.fired.empty());
  REQUIRE(r.timer);
  r.tick();
  REQUIRE(r.fired.size() == 1);
  CHECK(r.fired[0].late == 0ms);
  CHECK(r.calls.size() == 1);
  CHECK(r.calls[0].kind == call_kind::inquiry);
  CHECK(r.broken.empty());
}

TEST_CASE("due deadlines wait in the heap for the budget, urgent lane first, oldest first") {
  rig r;
  r.s.budget() = rate_budget(20);  // burst 1
  std::vector<store::deadline> open;
  std::vector<std::int64_t> polls, cancels;
  for (int i = 0; i < 24; ++i) open.push_back(r.open(pending_action::inquiry, t0 - std::chrono::seconds(100 - i)));
  for (int i = 0; i < 4; ++i) open.push_back(r.open(pending_action::cancel, t0 - 1s));
  for (const auto& d : open) (d.pending == pending_action::cancel ? cancels : polls).push_back(d.payment_id);
  const auto start = r.wall;
  r.recover(open);
  std::vector<steady::time_point> at;
  while (r.calls.size() < 28) {
    const auto before = r.calls.size();
    REQUIRE(r.tick());
    for (auto i = before; i < r.calls.size(); ++i) at.push_back(r.wall);
  }
  // The cancels, due together, go first (in any order); then the polls in due order.
  for (std::size_t i = 0; i < 4; ++i) CHECK(std::count(cancels.begin(), cancels.end(), r.calls[i].p.id) == 1);
  for (std::size_t i = 0; i < 24; ++i) CHECK(r.calls[4 + i].p.id == polls[i]);
  // 20 per second with a burst of 1: the first at once, then one per 50 ms (each timer waits
  // for a whole token since half a burst is less than one): 27 × 50 ms = 1.35 s exactly.
  CHECK(at.front() == start);
  CHECK(at.back() - start == 1350ms);
  CHECK(r.s.stats().budget_waits >= 27);
  CHECK(r.s.stats().worst_polling_lateness_s >= 100);
  CHECK(r.s.stats().budget_deferred == 0);
  CHECK(r.s.stats().fired[0] == 4);
  CHECK(r.s.stats().fired[1] == 24);
  CHECK(r.broken.empty());
}

TEST_CASE("a flood of urgent deadlines leaves every eighth call to polling") {
  rig r;
  std::vector<store::deadline> open;
  for (int i = 0; i < 30; ++i) open.push_back(r.open(pending_action::cancel, t0 - 10s));
  for (int i = 0; i < 3; ++i) open.push_back(r.open(pending_action::inquiry, t0 - std::chrono::seconds(60 - i)));
  r.recover(open);
  r.tick();  // unlimited budget: one tick fires them all, in lane order
  REQUIRE(r.calls.size() == 33);
  std::vector<std::size_t> polls;
  for (std::size_t i = 0; i < r.calls.size(); ++i)
    if (r.calls[i].kind == call_kind::inquiry) polls.push_back(i);
  CHECK(polls == std::vector<std::size_t>{7, 15, 23});
}

TEST_CASE("a new payment's pay borrows from the budget ahead of the polling backlog") {
  rig r;
  r.s.budget() = rate_budget(5);  // burst 1
  std::vector<store::deadline> open;
  for (int i = 0; i < 20; ++i) open.push_back(r.open(pending_action::inquiry, t0 - std::chrono::seconds(60 - i)));
  r.recover(open);
  r.tick();
  REQUIRE(r.calls.size() == 1);  // the one token
  r.s.submit(r.create(), 1);
  r.collect();
  r.flush();
  REQUIRE(r.calls.size() == 2);
  CHECK(r.calls[1].kind == call_kind::pay);  // borrowed: no token was there
  CHECK(r.s.stats().tokens_borrowed == 1);
  // The debt is paid before the heap's next poll: 200 ms to get back to zero, then one token.
  REQUIRE(r.timer);
  CHECK(r.timer->due);
  r.tick();
  CHECK(r.calls.size() == 2);
  r.tick();
  CHECK(r.calls.size() == 3);
  CHECK(r.broken.empty());
}

TEST_CASE("a call over even the borrowing is not made and says so, a hint without a token is skipped") {
  rig r;
  r.s.budget() = rate_budget(5);  // burst 1: take 1, borrow 1, refuse the third
  r.recover({});
  for (int i = 0; i < 3; ++i) r.s.submit(r.create(), 0);
  r.collect();
  r.flush();
  CHECK(r.calls.size() == 2);
  CHECK(r.s.stats().budget_deferred == 1);
  REQUIRE(r.notices.size() == 1);
  CHECK(r.notices[0].kind == notice_kind::call_deferred);
  // A notify's inquiry never borrows.
  input hint;
  hint.payment_id = r.calls[0].p.id;
  r.waiting[hint.payment_id] = pending_action::inquiry;
  hint.ev = notify_unverified{};
  r.s.submit(std::move(hint), 0);
  r.collect();
  r.flush();
  CHECK(r.calls.size() == 2);
  CHECK(r.s.stats().hints_skipped == 1);
  // The refused payment's answer guard is in the heap, in the urgent lane.
  CHECK(r.s.heap().deadline_of(r.next_id - 1) == t0 + 10s);
}

TEST_CASE("with every call slot taken, due deadlines wait in the heap and the timer is off") {
  scheduler_limits l;
  l.max_calls_in_flight = 4;
  rig r(l);
  std::vector<store::deadline> open;
  for (int i = 0; i < 10; ++i) open.push_back(r.open(pending_action::inquiry, t0 - std::chrono::seconds(100 - i)));
  r.recover(open);
  r.tick();
  CHECK(r.calls.size() == 4);
  CHECK(r.s.stats().calls_in_flight == 4);
  CHECK_FALSE(r.timer);  // due, but saturated: the next answer's commit re-arms
  CHECK(r.s.stats().cap_waits >= 1);
  r.answer(0);
  r.flush();  // the answer commits; its flush fires the next due deadline
  CHECK(r.calls.size() == 5);
  for (std::size_t i = 1; i < r.calls.size(); ++i) CHECK(r.calls[i].p.id > r.calls[i - 1].p.id);  // oldest first
  CHECK(r.broken.empty());
}

TEST_CASE("a deadline of a payment with a call in flight is dropped: the answer re-arms it") {
  rig r;
  r.recover({r.open(pending_action::inquiry, t0)});
  r.tick();
  REQUIRE(r.calls.size() == 1);
  const auto id = r.calls[0].p.id;
  // The answer guard comes due before the answer arrives.
  r.pay = t0 + 20s;
  r.s.begin_flush(r.now());
  r.s.end_flush(r.now());
  r.collect();
  CHECK(r.calls.size() == 1);
  CHECK_FALSE(r.s.heap().deadline_of(id));
  r.answer(0);
  r.flush();
  CHECK(r.s.heap().deadline_of(id) == r.pay + 10s);
}

TEST_CASE("a cancel waits while the same payment's pay is in flight") {
  rig r;
  r.recover({});
  r.s.submit(r.create(), 0);
  r.collect();
  r.flush();
  REQUIRE(r.calls.size() == 1);
  input cancel;
  cancel.payment_id = r.calls[0].p.id;
  cancel.ev = cancel_requested{};
  r.s.submit(std::move(cancel), 0);
  r.collect();
  r.flush();
  CHECK(r.calls.size() == 1);
  CHECK(r.s.stats().cancels_deferred == 1);
  CHECK(r.notices.back().kind == notice_kind::cancel_deferred);
}

TEST_CASE("a prepaid token is refunded when its deadline changes nothing") {
  rig r;
  r.s.budget() = rate_budget(5);
  r.recover({r.open(pending_action::none, t0)});
  const auto before = r.s.budget().taken();
  r.tick();
  CHECK(r.calls.empty());
  CHECK(r.s.stats().tokens_refunded == 1);
  CHECK(r.s.budget().taken() == before);
  CHECK(r.broken.empty());
}

TEST_CASE("a failed commit holds its payments until a probe write commits") {
  rig r;
  r.s.budget() = rate_budget(5);
  const auto d = r.open(pending_action::inquiry, t0);
  r.recover({d});
  r.s.submit(r.create(), 7);
  r.collect();
  r.fail_next_commit = true;
  r.flush();  // the deadline joined the create's batch; both are lost
  CHECK(r.calls.empty());
  CHECK(r.s.stats().store_failures == 1);
  CHECK_FALSE(r.s.stats().store_writable);
  CHECK(r.s.stats().tokens_refunded == 1);
  CHECK(r.store_retries == 1);
  CHECK(r.notices.back().kind == notice_kind::store_failed);
  CHECK_FALSE(r.s.heap().deadline_of(d.payment_id));
  r.s.store_retry_due();
  r.collect();
  CHECK(r.probes == 1);
  r.s.probe_result(false, r.now());  // still broken: another retry
  r.collect();
  CHECK(r.store_retries == 2);
  r.pay += 2s;
  r.s.store_retry_due();
  r.s.probe_result(true, r.now());
  r.collect();
  CHECK(r.s.stats().store_writable);
  CHECK(r.notices.back().kind == notice_kind::store_recovered);
  CHECK(r.s.heap().deadline_of(d.payment_id) == r.pay);  // due now
  REQUIRE(r.timer);
  r.tick();
  CHECK(r.calls.size() == 1);
  CHECK(r.broken.empty());
}

TEST_CASE("REQUEST_TRAFFIC_EXCEED_LIMIT lowers the rate of an unlimited budget once") {
  rig r;
  std::vector<store::deadline> open;
  for (int i = 0; i < 10; ++i) open.push_back(r.open(pending_action::inquiry, t0 - std::chrono::seconds(10 - i)));
  r.recover(open);
  r.tick();
  REQUIRE(r.calls.size() == 10);
  for (const auto& c : r.calls) {
    input in;
    in.payment_id = c.p.id;
    inquiry_answer a;
    a.result = {"REQUEST_TRAFFIC_EXCEED_LIMIT", 'U', "slow down"};
    in.ev = a;
    r.s.call_ended(c.kind, std::move(in), r.now());
  }
  r.collect();
  CHECK(r.s.budget().throttles() == 1);
  CHECK(r.s.budget().rate() == 5);  // half of the 10 calls of this second
  CHECK(std::count_if(r.notices.begin(), r.notices.end(),
                      [](const notice& n) { return n.kind == notice_kind::rate_lowered; }) == 1);
}

TEST_CASE("draining starts no call and fires no deadline, idle once answers are in") {
  rig r;
  r.recover({r.open(pending_action::inquiry, t0), r.open(pending_action::inquiry, t0 + 1s)});
  r.tick();
  REQUIRE(r.calls.size() == 1);
  r.s.drain();
  r.collect();
  CHECK_FALSE(r.timer);
  CHECK_FALSE(r.s.idle());
  r.pay += 5s;
  r.answer(0);
  r.flush();
  CHECK(r.calls.size() == 1);
  CHECK(r.s.idle());
  CHECK(r.broken.empty());
}

TEST_CASE("the invariants catch the deliberate flaws") {
  SUBCASE("a leaked token") {
    scheduler_limits l;
    l.flaw = scheduler_flaw::leak_token;
    rig r(l);
    r.recover({r.open(pending_action::none, t0)});
    r.tick();
    CHECK_FALSE(r.broken.empty());
  }
  SUBCASE("the cap ignored") {
    scheduler_limits l;
    l.flaw = scheduler_flaw::ignore_cap;
    l.max_calls_in_flight = 2;
    rig r(l);
    r.recover({r.open(pending_action::inquiry, t0), r.open(pending_action::inquiry, t0),
               r.open(pending_action::inquiry, t0)});
    r.tick();
    CHECK_FALSE(r.broken.empty());
  }
  SUBCASE("a deadline fired early") {
    scheduler_limits l;
    l.flaw = scheduler_flaw::fire_early;
    rig r(l);
    r.recover({r.open(pending_action::inquiry, t0 + 3s)});
    r.s.submit(r.create(), 0);
    r.collect();
    r.flush();
    CHECK_FALSE(r.broken.empty());
  }
}

TEST_CASE("the calls of an acked decision submitted to be held wait for ack_written") {
  rig r;
  r.recover({r.open(pending_action::inquiry, t0 + 1h)});
  const std::int64_t id = r.next_id - 1;
  input notify;
  notify.payment_id = id;
  notify.ev = notify_verified{};
  r.s.submit(notify, 7, true);
  r.collect();
  r.flush();
  CHECK(r.calls.empty());  // committed, the ack not yet written: no cancel
  CHECK(r.woken == std::vector<std::int64_t>{id});  // but whoever waits for the commit is woken
  CHECK(r.s.holding(7));
  r.s.ack_written(7, r.now());
  r.collect();
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].kind == call_kind::cancel);
  CHECK_FALSE(r.s.holding(7));
  r.s.ack_written(7, r.now());  // a second release does nothing
  r.collect();
  CHECK(r.calls.size() == 1);
  // Plain submit never holds, and a ticketless input cannot be held.
  r.s.submit(notify, 8);
  r.s.submit(notify, 0, true);
  r.collect();
  r.flush();
  CHECK(r.calls.size() == 3);
  CHECK_FALSE(r.s.holding(8));
  CHECK(r.broken.empty());
}

TEST_CASE("held calls start by themselves at the hold limit when no ack_written comes") {
  scheduler_limits limits;
  limits.hold_limit = 5s;
  rig r(limits);
  r.recover({r.open(pending_action::inquiry, t0 + 1h), r.open(pending_action::inquiry, t0 + 1h)});
  const std::int64_t a = r.next_id - 2;
  const std::int64_t b = r.next_id - 1;
  input notify;
  notify.ev = notify_verified{};
  notify.payment_id = a;
  r.s.submit(notify, 7, true);
  r.collect();
  r.flush();
  REQUIRE(r.hold_waits.size() == 1);
  CHECK(r.hold_waits[0] == 5s);
  r.wall += 2s;
  notify.payment_id = b;
  r.s.submit(notify, 8, true);
  r.collect();
  r.flush();
  CHECK(r.hold_waits.size() == 1);  // the timer armed for the earlier hold covers this one
  CHECK(r.calls.empty());
  // Early (a timer fires late, never early, but the scheduler checks anyway): nothing starts.
  r.wall += 2s;
  r.s.hold_limit_due(r.now());
  r.collect();
  CHECK(r.calls.empty());
  REQUIRE(r.hold_waits.size() == 2);
  CHECK(r.hold_waits[1] == 1s);
  r.wall += 1s;  // 5 s after the first hold
  r.s.hold_limit_due(r.now());
  r.collect();
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].p.id == a);
  CHECK_FALSE(r.s.holding(7));
  REQUIRE(r.notices.size() == 1);
  CHECK(r.notices[0].kind == notice_kind::hold_expired);
  CHECK(r.notices[0].payment_id == a);
  REQUIRE(r.hold_waits.size() == 3);
  CHECK(r.hold_waits[2] == 2s);  // re-armed for the second hold
  // The second is released in time: its calls start once, and its timer finds nothing.
  r.s.ack_written(8, r.now());
  r.collect();
  CHECK(r.calls.size() == 2);
  r.wall += 2s;
  r.s.hold_limit_due(r.now());
  r.collect();
  CHECK(r.calls.size() == 2);
  CHECK(r.notices.size() == 1);
  CHECK(r.hold_waits.size() == 3);
  CHECK(r.broken.empty());
}

TEST_CASE("action names cover every kind") {
  for (std::size_t i = 0; i < action_kinds; ++i) CHECK(action_name(i) != "?");
  CHECK(api_name(call_kind::inquiry) == "inquiryPayment");
}

}  // namespace cashier::engine
