// Tests of `cashierctl check`: the clean sample passes (exit 0); each invariant, broken by a
// payment committed through the real store (or, where the store itself refuses, by raw SQL under
// it), is reported with its name and the payment, and the command exits 1.
#include "tools/cashierctl/check.hpp"
#include "tests/tools/cashierctl/ctl_fixture.hpp"

using namespace cashier;
using namespace cashier::ctl;
using namespace cashier::ctl::test;
using namespace std::chrono_literals;

namespace {

/// The violations check_store finds in the database at `path` at test_now().
std::vector<violation> violations_in(const std::string& path, duration grace = 60s) {
  auto s = store::open_sqlite_store(path, {.read_only = true});
  return check_store(*s, test_now(), grace).violations;
}

/// The one violation found; fails the test when there is not exactly one.
violation only_violation(const std::string& path) {
  const auto v = violations_in(path);
  REQUIRE(v.size() == 1);
  return v.front();
}

/// A new payment `id` moved straight to `status` (pending none), with `events` merchant events.
payment settled(store::payment_store& s, const std::string& id, payment_status status,
                std::vector<store::outbox_record> events) {
  auto p = store::test::insert(s, store::test::sample_payment(id, t0_ms + 5000));
  store::transition t;
  t.outbox = std::move(events);
  p.event_seq = static_cast<std::int32_t>(t.outbox.size());
  return advance(s, p, status, pending_action::none, at(5100), "test", t);
}

}  // namespace

TEST_CASE("the clean sample holds every invariant: exit 0") {
  sample_db db;
  CHECK(violations_in(db.path).empty());
  const auto r = run({"--db", db.path, "check"});
  INFO(r.out);
  CHECK(r.status == exit_status::ok);
  CHECK(r.out.find("checked 5 payments and 4 merchant events: all invariants hold") !=
        std::string::npos);
  const auto v = parse_json(run({"--db", db.path, "check", "--json"}).out);
  expect_shape(v, {{"now", "string"},
                   {"ok", "bool"},
                   {"payments", "int"},
                   {"merchantEvents", "int"},
                   {"violations", "array"}});
  CHECK(v.at("ok") == true);
}

TEST_CASE(
    "final_pending: a SUCCESS still polling (the schema forbids it: written under the store)") {
  sample_db db;
  {
    store::test::raw_db raw(db.path);
    REQUIRE(
        raw.exec("PRAGMA ignore_check_constraints = ON; UPDATE payments SET pending = 'INQUIRY', "
                 "next_action_at = 1700000700000 WHERE payment_request_id = 'pr-success'") == 0);
  }
  const auto v = violations_in(db.path);
  REQUIRE(v.size() == 2);
  CHECK(v[0].rule == invariant::final_pending);
  CHECK(v[0].payment_request_id == "pr-success");
  CHECK(v[0].message.find("SUCCESS/INQUIRY") != std::string::npos);
  CHECK(v[1].rule == invariant::event_log);  // the log says SUCCESS

  const auto r = run({"--db", db.path, "check"});
  CHECK(r.status == exit_status::failed);
  CHECK(r.out.find("final_pending  pr-success") != std::string::npos);
  CHECK(r.out.find("2 violations\n") != std::string::npos);
  const auto j = parse_json(run({"--db", db.path, "check", "--json"}).out);
  CHECK(j.at("ok") == false);
  REQUIRE(j.at("violations").as_array().size() == 2);
  expect_shape(j.at("violations").at(0), {{"invariant", "string"},
                                          {"paymentRequestId", "string"},
                                          {"eventId", "string?"},
                                          {"message", "string"}});
  CHECK(j.at("violations").at(0).at("invariant") == "final_pending");
}

TEST_CASE(
    "phase: an open payment waiting on nothing is no machine phase (written under the store)") {
  sample_db db;
  {
    store::test::raw_db raw(db.path);
    REQUIRE(raw.exec("PRAGMA ignore_check_constraints = ON; "
                     "UPDATE payments SET pending = '' WHERE payment_request_id = 'pr-open'") == 0);
  }
  const auto v = violations_in(db.path);
  REQUIRE(v.size() == 2);
  CHECK(v[0].rule == invariant::phase);
  CHECK(v[0].message.find("IN_PROCESS is no phase") != std::string::npos);
  CHECK(v[1].rule == invariant::event_log);
}

TEST_CASE("open_past_deadline: polling past the deadline, and pay past expiry, beyond the grace") {
  sample_db db;
  {
    auto w = db.writer();
    auto sample = store::test::sample_payment("pr-late", t0_ms + 5000);
    sample.poll_deadline_at = at(500'000);  // 100 s before now
    auto p = store::test::insert(*w, sample);
    p.next_action_at = at(400'000);
    advance(*w, p, payment_status::in_process, pending_action::inquiry, at(5100),
            "pay:U/PAYMENT_IN_PROCESS");
    auto paying = store::test::sample_payment("pr-unpaid", t0_ms + 6000);
    paying.expiry_at = at(100'000);
    store::test::insert(*w, paying);
  }
  const auto v = violations_in(db.path);
  REQUIRE(v.size() == 2);
  CHECK(v[0].rule == invariant::open_past_deadline);
  CHECK(v[0].payment_request_id == "pr-unpaid");
  CHECK(v[0].message.find("INIT/PAY past its expiry") != std::string::npos);
  CHECK(v[1].payment_request_id == "pr-late");
  CHECK(v[1].message.find("polling deadline 2023-11-14T22:21:40.000Z (100s ago)") !=
        std::string::npos);
  // A grace longer than the lateness forgives pr-late (100 s late), not pr-unpaid.
  CHECK(violations_in(db.path, 120s).size() == 1);
  // --grace is wall seconds: 120 s forgives pr-late here (timeScale 1).
  CHECK(run({"--db", db.path, "check", "--grace", "120"}).out.find("pr-late") == std::string::npos);
}

TEST_CASE("cancel pending, slow-path and parked payments past the deadline are no violation") {
  sample_db db;  // pr-refused is INIT/CANCEL past its deadline
  {
    auto w = db.writer();
    auto sample = store::test::sample_payment("pr-slow", t0_ms + 5000);
    sample.poll_deadline_at = at(100'000);
    auto p = store::test::insert(*w, sample);
    p.track = settle_track::slow_path;
    p.slow_path_since = at(200'000);
    p.next_action_at = at(700'000);
    advance(*w, p, payment_status::in_process, pending_action::inquiry, at(200'000),
            "cancel:F/CANCEL_WINDOW_EXCEED");
    auto parked = store::test::insert(*w, store::test::sample_payment("pr-parked", t0_ms + 6000));
    parked.track = settle_track::parked;
    parked.next_action_at = never;  // waits on the operator: not "open_unscheduled"
    advance(*w, parked, payment_status::init, pending_action::inquiry, at(300'000),
            "timer:slow_path_end");
  }
  CHECK(violations_in(db.path).empty());
}

TEST_CASE("open_unscheduled: something pending with no timer armed") {
  sample_db db;
  {
    auto w = db.writer();
    auto p = store::test::insert(*w, store::test::sample_payment("pr-asleep", t0_ms + 5000));
    p.next_action_at = never;
    advance(*w, p, payment_status::init, pending_action::cancel, at(5100), "test");
  }
  const auto v = only_violation(db.path);
  CHECK(v.rule == invariant::open_unscheduled);
  CHECK(v.payment_request_id == "pr-asleep");
}

TEST_CASE("event_log: a state change written without its log row") {
  sample_db db;
  {
    auto w = db.writer();
    auto p = store::test::insert(*w, store::test::sample_payment("pr-silent", t0_ms + 5000));
    auto after = p;
    after.status = payment_status::in_process;
    after.pending = pending_action::inquiry;
    const auto o = w->commit_one({.after = after, .expected_version = p.version});
    REQUIRE(o.status == store::commit_status::committed);
  }
  const auto v = only_violation(db.path);
  CHECK(v.rule == invariant::event_log);
  CHECK(v.message.find("last log row ends in INIT/PAY but the payment is IN_PROCESS/INQUIRY") !=
        std::string::npos);
}

TEST_CASE("event_log: a log that does not start with the creation, and a broken chain") {
  // The store refuses both logs since it checks each event's from-state; they are written
  // under it, as a damaged or hand-edited database would hold them.
  sample_db db;
  {
    auto w = db.writer();
    store::test::insert(*w, store::test::sample_payment("pr-nocreate", t0_ms + 5000));
    auto p = store::test::insert(*w, store::test::sample_payment("pr-jump", t0_ms + 6000));
    auto after = p;
    after.status = payment_status::in_process;
    after.pending = pending_action::inquiry;
    REQUIRE(w->commit_one(store::test::change(p, after)).status == store::commit_status::committed);
  }
  {
    store::test::raw_db raw(db.path);
    REQUIRE(raw.exec("DROP TRIGGER payment_events_append_only_u; "
                     "UPDATE payment_events SET from_status = 'INIT', from_pending = 'PAY' "
                     "WHERE payment_id = (SELECT id FROM payments WHERE payment_request_id = 'pr-nocreate'); "
                     "UPDATE payment_events SET from_pending = 'CANCEL' WHERE version = 2 AND "
                     "payment_id = (SELECT id FROM payments WHERE payment_request_id = 'pr-jump')") == 0);
  }
  const auto v = violations_in(db.path);
  REQUIRE(v.size() == 2);
  CHECK(v[0].rule == invariant::event_log);
  CHECK(v[0].payment_request_id == "pr-jump");
  CHECK(v[0].message ==
        "log row version 2 starts from INIT/CANCEL but the row before ended in INIT/PAY");
  CHECK(v[1].payment_request_id == "pr-nocreate");
  CHECK(v[1].message.find("not the creation") != std::string::npos);
}

TEST_CASE("merchant_events: a final payment without its event, a gap, a wrong type") {
  sample_db db;
  {
    auto w = db.writer();
    settled(*w, "pr-quiet", payment_status::fail, {});
    settled(*w, "pr-gap", payment_status::success,
            {merchant_event(7, 2, "payment.succeeded", store::outbox_state::delivered, 1, at(5100),
                            at(5100))});
    settled(*w, "pr-wrong", payment_status::fail,
            {merchant_event(8, 1, "payment.succeeded", store::outbox_state::delivered, 1, at(5100),
                            at(5100))});
  }
  const auto v = violations_in(db.path);
  REQUIRE(v.size() == 3);
  for (const auto& x : v) CHECK(x.rule == invariant::merchant_events);
  CHECK(v[0].payment_request_id == "pr-wrong");
  CHECK(v[0].event_id == "evt_8_1");
  CHECK(v[0].message == "payment.succeeded for the transition to FAIL");
  CHECK(v[1].payment_request_id == "pr-gap");
  CHECK(v[1].message == "sequence 2 where 1 was due");
  CHECK(v[2].payment_request_id == "pr-quiet");
  CHECK(v[2].message == "1 transitions to a final status but 0 merchant events");
}

TEST_CASE("merchant_events: event_seq disagrees with the events kept") {
  sample_db db;
  {
    auto w = db.writer();
    auto p = settled(*w, "pr-count", payment_status::success,
                     {merchant_event(6, 1, "payment.succeeded", store::outbox_state::delivered, 1,
                                     at(5100), at(5100))});
    p.event_seq = 3;
    advance(*w, p, payment_status::success, pending_action::none, at(5200), "test");
  }
  const auto v = only_violation(db.path);
  CHECK(v.rule == invariant::merchant_events);
  CHECK(v.message == "event_seq is 3 but 1 merchant events exist");
}

TEST_CASE("outbox_overdue: a pending event long past its attempt time, and one past the schedule") {
  sample_db db;
  {
    auto w = db.writer();
    settled(*w, "pr-undelivered", payment_status::success,
            {merchant_event(6, 1, "payment.succeeded", store::outbox_state::pending, 3, at(60'000),
                            at(5100))});
    settled(*w, "pr-endless", payment_status::fail,
            {merchant_event(7, 1, "payment.failed", store::outbox_state::pending, 8, at(650'000),
                            at(5100))});
  }
  const auto v = violations_in(db.path);
  REQUIRE(v.size() == 2);
  CHECK(v[0].rule == invariant::outbox_overdue);
  CHECK(v[0].event_id == "evt_7_1");
  CHECK(v[0].message.find("after 8 attempts") != std::string::npos);
  CHECK(v[1].event_id == "evt_6_1");
  CHECK(v[1].message == "pending, attempt 4 was due 9m ago");
}
