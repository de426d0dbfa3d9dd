// Tests of the store's write path, on both engines (store_fixture.hpp): every payment field round-trips
// byte-exact, compare-and-set, duplicate creates, group commit with per-transition rollback,
// atomicity of a transition, and the invariants the schema enforces.
#include "tests/state/store/conformance.hpp"

using namespace cashier;
using namespace cashier::store;
using namespace cashier::store::test;

namespace {

// Set per SUBCASE: whether transitions carry `before` (the store then does not read the row).
bool pass_before = false;

// Moving `before` to `after`, with or without `before` in the transition.
transition step(const payment& before, const payment& after, std::string cause = "test") {
  transition t = change(before, after, std::move(cause));
  if (pass_before) t.before = before;
  return t;
}

const std::string nasty_bytes = std::string("a\0b\xff\xfe\xc3(z", 8);  // NUL and invalid UTF-8

// Every mutable field of `p` changed to something else.
payment changed_everything(payment p) {
  p.status = payment_status::in_process;
  p.pending = pending_action::inquiry;
  p.track = settle_track::slow_path;
  p.slow_path_since = from_epoch_ms(1'700'000'444'000);
  p.cancel_refusals = 5;
  p.notice = pending_notice::sent;
  p.attempt = 7;
  p.event_seq = 3;
  p.poll_deadline_at += std::chrono::minutes(1);
  p.next_action_at = never;
  p.last_hint_inquiry_at = from_epoch_ms(1'700'000'555'000);
  p.updated_at += std::chrono::seconds(9);
  p.payment_id = "2024010112345678" + nasty_bytes;
  p.normal_url = "https://wallet.example/checkout?x=1";
  p.payment_data = "{\"k\":\"" + nasty_bytes + "\"}";
  p.wallet_brand_name = "GCash";
  p.customer_id = "cust-9";
  p.payment_time = "2024-01-01T12:00:00+08:00";
  p.settlement_amount = money{987, *currency_code::parse("JPY")};
  p.result = aplus_result{"PAYMENT_IN_PROCESS", 'U', "in process " + nasty_bytes};
  p.cancel_reason = "operator";
  return p;
}

}  // namespace

TEST_CASE("every payment field round-trips byte-exact through insert and update") {
  SUBCASE("the store reads the row") { pass_before = false; }
  SUBCASE("the caller passes before") { pass_before = true; }
  // A new field in payment.hpp must be persisted too: this fails until the store keeps it.
  CHECK_MESSAGE(sizeof(payment) == 672,
                "payment.hpp changed: persist the new field and update this");
  test_db db;
  auto s = db.open();
  payment p = sample_payment("req-" + nasty_bytes);
  p.pay_request += nasty_bytes;
  p.merchant_request = nasty_bytes + p.merchant_request;
  p.merchant_notify_url = "https://m.example/" + nasty_bytes;
  p.alipay_payment_request_id = "cp1-" + nasty_bytes;
  p.checkout_id = "00112233445566778899aabbccddeeff";

  auto created = s->commit_one(create(p));
  REQUIRE(created.status == commit_status::committed);
  CHECK(created.version == 1);
  payment stored = *s->load(created.payment_id);
  p.id = created.payment_id;
  p.version = 1;
  check_same(stored, p);
  check_same(*s->find(p.alipay_payment_request_id), p);
  check_same(*s->find(p.merchant_id, p.payment_request_id), p);
  CHECK_FALSE(s->find(p.payment_request_id));  // not an Alipay+ id
  CHECK_FALSE(s->find("m1", "req-a"));  // the NUL is part of the key, not a terminator

  payment after = changed_everything(stored);
  auto updated = s->commit_one(step(stored, after));
  REQUIRE(updated.status == commit_status::committed);
  CHECK(updated.version == 2);
  after.version = 2;
  check_same(*s->load(p.id), after);

  payment cleared = after;  // optional fields go back to "unknown"
  cleared.settlement_amount.reset();
  cleared.result.reset();
  REQUIRE(s->commit_one(step(after, cleared)).status == commit_status::committed);
  cleared.version = 3;
  check_same(*s->load(p.id), cleared);
}

TEST_CASE("log records round-trip byte-exact") {
  test_db db;
  auto s = db.open();
  payment p = insert(*s, sample_payment("r1"));
  call_record c{0,
                0,
                "pay",
                "{" + nasty_bytes + "}",
                "Signature: x\nClient-Id: c",
                200,
                nasty_bytes,
                "Response-Time: t",
                "S/PAYMENT_IN_PROCESS",
                from_epoch_ms(42),
                1234};
  notify_record n{
      0, 0, "r1", nasty_bytes, "Signature: " + nasty_bytes, "bad_signature", from_epoch_ms(43)};
  transition t{.after = std::nullopt, .expected_version = 0, .event = std::nullopt};
  c.payment_id = p.id;
  n.payment_id = p.id;
  t.calls = {c};
  t.notifies = {n};
  REQUIRE(s->commit_one(t).status == commit_status::committed);
  auto calls = s->calls_of(p.id);
  REQUIRE(calls.size() == 1);
  c.id = calls[0].id;
  CHECK(calls[0] == c);
  auto notifies = s->notifies_of(p.id);
  REQUIRE(notifies.size() == 1);
  n.id = notifies[0].id;
  n.body_bytes = static_cast<std::int64_t>(n.body.size());  // a short body: kept whole
  n.last_received_at = n.received_at;
  CHECK(notifies[0] == n);
  auto events = s->events_of(p.id);
  REQUIRE(events.size() == 1);
  CHECK_FALSE(events[0].from_status);
  CHECK(events[0].to_status == payment_status::init);
  CHECK(events[0].to_pending == pending_action::pay);
  CHECK(events[0].cause == "merchant_create");
  CHECK(events[0].version == 1);
}

TEST_CASE("compare-and-set: a stale version conflicts and writes nothing") {
  SUBCASE("the store reads the row") { pass_before = false; }
  SUBCASE("the caller passes before") { pass_before = true; }
  test_db db;
  auto s = db.open();
  payment v1 = insert(*s, sample_payment("r1"));
  payment next = v1;
  next.attempt = 2;
  REQUIRE(s->commit_one(step(v1, next)).status == commit_status::committed);

  payment stale = v1;
  stale.status = payment_status::success;
  stale.pending = pending_action::none;
  transition t = step(v1, stale);
  t.calls = {call_record{.api = "inquiryPayment", .outcome = "S/SUCCESS"}};
  auto o = s->commit_one(t);
  CHECK(o.status == commit_status::conflict);
  CHECK(o.version == 2);
  payment now = *s->load(v1.id);
  CHECK(now.status == payment_status::init);
  CHECK(now.attempt == 2);
  CHECK(s->events_of(v1.id).size() == 2);
  CHECK(s->calls_of(v1.id).empty());

  payment ghost = next;
  ghost.id = 999;
  payment ghost_read = v1;
  ghost_read.id = 999;
  auto missing = s->commit_one(step(ghost_read, ghost));
  CHECK(missing.status == commit_status::conflict);
  CHECK(missing.version == 0);
}

TEST_CASE("a duplicate create returns the existing payment and writes nothing") {
  test_db db;
  auto s = db.open();
  payment first = insert(*s, sample_payment("same"));
  payment second = sample_payment("same");
  second.pay_request = "another body";
  transition t = create(second);
  t.anomalies = {anomaly_record{.kind = "x"}};
  auto o = s->commit_one(t);
  CHECK(o.status == commit_status::duplicate);
  CHECK(o.payment_id == first.id);
  CHECK(s->load(first.id)->pay_request == first.pay_request);
  CHECK(s->events_of(first.id).size() == 1);
  CHECK(s->anomalies({}).empty());
}

TEST_CASE("group commit: a conflict in the batch rolls back only its own transition") {
  SUBCASE("the store reads the row") { pass_before = false; }
  SUBCASE("the caller passes before") { pass_before = true; }
  test_db db;
  auto s = db.open();
  std::vector<payment> ps;
  for (auto id : {"a", "b", "c"}) ps.push_back(insert(*s, sample_payment(id)));
  std::vector<transition> batch;
  for (auto& p : ps) {
    payment next = p;
    next.status = payment_status::in_process;
    next.pending = pending_action::inquiry;
    batch.push_back(step(p, next, "pay U/PAYMENT_IN_PROCESS"));
    batch.back().calls = {call_record{.api = "pay", .outcome = "U/PAYMENT_IN_PROCESS"}};
  }
  batch[1].expected_version = 5;  // stale
  if (batch[1].before) batch[1].before->version = 5;
  batch.push_back(create(sample_payment("d")));

  auto out = s->commit(batch);
  REQUIRE(out.size() == 4);
  CHECK(out[0].status == commit_status::committed);
  CHECK(out[1].status == commit_status::conflict);
  CHECK(out[2].status == commit_status::committed);
  CHECK(out[3].status == commit_status::committed);
  CHECK(s->load(ps[0].id)->status == payment_status::in_process);
  CHECK(s->load(ps[1].id)->status == payment_status::init);
  CHECK(s->load(ps[2].id)->version == 2);
  CHECK(s->events_of(ps[1].id).size() == 1);
  CHECK(s->calls_of(ps[1].id).empty());
  CHECK(s->calls_of(ps[2].id).size() == 1);
  CHECK(s->find("d")->id == out[3].payment_id);
}

TEST_CASE("atomicity: a transition whose outbox insert fails leaves no trace") {
  SUBCASE("the store reads the row") { pass_before = false; }
  SUBCASE("the caller passes before") { pass_before = true; }
  test_db db;
  auto s = db.open();
  payment a = insert(*s, sample_payment("a"));
  payment b = insert(*s, sample_payment("b"));
  payment a2 = a;
  a2.status = payment_status::success;
  a2.pending = pending_action::none;
  a2.event_seq = 1;
  transition ta = step(a, a2, "pay S");
  ta.outbox = {outbox_record{.event_id = "evt_dup", .seq = 1, .type = "payment.succeeded"}};
  REQUIRE(s->commit_one(ta).status == commit_status::committed);

  payment b2 = b;
  b2.status = payment_status::fail;
  b2.pending = pending_action::none;
  b2.event_seq = 1;
  transition tb = step(b, b2, "pay F");
  tb.calls = {call_record{.api = "pay", .outcome = "F/USER_BALANCE_NOT_ENOUGH"}};
  tb.anomalies = {anomaly_record{.kind = "k"}};
  tb.outbox = {outbox_record{.event_id = "evt_dup", .seq = 1, .type = "payment.failed"}};
  payment c = sample_payment("c");
  std::vector<transition> batch = {tb, create(c)};
  auto out = s->commit(batch);
  CHECK(out[0].status == commit_status::rejected);
  CHECK(out[0].detail.find("event_id") != std::string::npos);
  CHECK(out[1].status == commit_status::committed);

  payment b_now = *s->load(b.id);
  CHECK(b_now.status == payment_status::init);
  CHECK(b_now.version == 1);
  CHECK(s->events_of(b.id).size() == 1);
  CHECK(s->calls_of(b.id).empty());
  CHECK(s->anomalies({}).empty());
  CHECK(s->outbox_by_event_id("evt_dup")->payment_id == a.id);
  CHECK(s->find("c"));
  store_stats st = s->stats(from_epoch_ms(0));  // the per-status counters rolled back too
  CHECK(st.init == 2);
  CHECK(st.success == 1);
  CHECK(st.fail == 0);
}

TEST_CASE("the schema's invariants reject a transition instead of storing it") {
  SUBCASE("the store reads the row") { pass_before = false; }
  SUBCASE("the caller passes before") { pass_before = true; }
  test_db db;
  auto s = db.open();
  payment p = insert(*s, sample_payment("r"));

  payment new_body = p;
  new_body.pay_request = "tampered";
  auto o = s->commit_one(step(p, new_body));
  CHECK(o.status == commit_status::rejected);
  CHECK(o.detail.find("pay_request") != std::string::npos);

  payment final_polling = p;  // a final payment may wait on nothing but a cancel
  final_polling.status = payment_status::success;
  final_polling.pending = pending_action::inquiry;
  CHECK(s->commit_one(step(p, final_polling)).status == commit_status::rejected);

  payment open_idle = p;  // an open payment must wait on something
  open_idle.pending = pending_action::none;
  CHECK(s->commit_one(step(p, open_idle)).status == commit_status::rejected);

  payment moved = p;
  moved.attempt = 2;
  transition lying = step(p, moved);
  lying.event->to_status = payment_status::success;
  CHECK(s->commit_one(lying).status == commit_status::rejected);

  transition wrong_origin = step(p, moved);
  wrong_origin.event->from_status = payment_status::in_process;
  CHECK(s->commit_one(wrong_origin).status == commit_status::rejected);

  transition created_from_somewhere = create(sample_payment("new"));
  created_from_somewhere.event->from_status = payment_status::init;
  CHECK(s->commit_one(created_from_somewhere).status == commit_status::rejected);
  CHECK_FALSE(s->find("new"));

  transition stale_before = step(p, moved);
  stale_before.before = p;
  stale_before.before->version = 7;  // `before` must be the payment at expected_version
  CHECK(s->commit_one(stale_before).status == commit_status::rejected);

  transition event_alone{.event = event_record{.cause = "x"}};
  CHECK(s->commit_one(event_alone).status == commit_status::rejected);

  transition unknown_delivery{.deliveries = {outbox_progress{.event_id = "nope"}}};
  CHECK(s->commit_one(unknown_delivery).status == commit_status::rejected);

  transition foreign{.anomalies = {anomaly_record{.payment_id = 4242, .kind = "k"}}};
  CHECK(s->commit_one(foreign).status == commit_status::rejected);

  payment same = *s->load(p.id);
  check_same(same, p);
  CHECK(s->events_of(p.id).size() == 1);
}

namespace {

// The opcodes SQLite compiles `sql` into, one per line.
std::string opcodes(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, ("EXPLAIN " + sql).c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  std::string out;
  while (sqlite3_step(stmt) == SQLITE_ROW)
    out += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)) + std::string("\n");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

}  // namespace

// SQLite only: the opcodes are SQLite's VDBE program (PostgreSQL checks IN lists without one).
TEST_CASE("enumeration checks need no ephemeral index per write" * sqlite_only) {
  temp_dir dir;
  const auto path = dir.file("p.db");
  open_sqlite_store(path).reset();
  // The writes of every transition: a CHECK written as `IN (a, b, c)` would make SQLite build
  // an ephemeral index each time one of them runs (the notify path took ~10x longer).
  for (const std::string sql :
       {"UPDATE payments SET status = ?1, pending = ?2, result_code = 'X', result_status = ?3, "
        "result_message = '' WHERE id = ?4",
        "INSERT INTO merchant_outbox (event_id, payment_id, seq, type, payload, target_url, "
        "attempts, next_attempt_at, state, last_status, last_error, created_at) "
        "VALUES ('e', ?1, 1, 't', '{}', '', 0, 0, ?2, 0, '', 0)",
        "UPDATE merchant_outbox SET state = ?1 WHERE event_id = ?2"}) {
    CAPTURE(sql);
    CHECK(opcodes(path, sql).find("OpenEphemeral") == std::string::npos);
  }
}

TEST_CASE("enumeration checks reject unknown values written under the store") {
  test_db db;
  auto s = db.open();
  payment p = insert(*s, sample_payment("r"));
  s.reset();
  const auto id = std::to_string(p.id);
  CHECK_FALSE(db.exec("UPDATE payments SET status = 'PAID' WHERE id = " + id));
  CHECK_FALSE(db.exec("UPDATE payments SET pending = 'WAIT' WHERE id = " + id));
  CHECK_FALSE(db.exec("UPDATE payments SET result_code = 'X', result_status = 'Q', result_message = '' "
                      "WHERE id = " + id));
  // The row is otherwise valid (PostgreSQL has no defaults for the merchant feed columns).
  const std::string outbox = db.sql(
      "INSERT INTO merchant_outbox (event_id, payment_id, seq, type, payload, target_url, attempts, "
      "next_attempt_at, state, last_status, last_error, created_at) VALUES ('e', " + id +
          ", 1, 't', '{}', '', 0, 0, '%s', 0, '', 0)",
      "INSERT INTO merchant_outbox (event_id, payment_id, seq, type, payload, target_url, attempts, "
      "next_attempt_at, state, last_status, last_error, created_at, merchant_id, feed_seq) VALUES "
      "('e', " + id + ", 1, 't', '{}', '', 0, 0, '%s', 0, '', 0, 'm1', 1)");
  auto with_state = [&](const std::string& state) {
    std::string sql = outbox;
    return sql.replace(sql.find("%s"), 2, state);
  };
  CHECK_FALSE(db.exec(with_state("lost")));
  CHECK(db.exec(with_state("dead")));
  CHECK(db.exec("UPDATE payments SET status = 'FAIL', pending = '' WHERE id = " + id));
}

TEST_CASE("standalone log writes keep their own payment ids, orphans have none") {
  test_db db;
  auto s = db.open();
  payment p = insert(*s, sample_payment("r"));
  transition logs;
  logs.calls = {call_record{.payment_id = 0, .api = "consultPayment"},
                call_record{.payment_id = p.id, .api = "inquiryPayment"}};
  logs.notifies = {notify_record{.payment_id = 0, .payment_request_id = "unknown"}};
  logs.anomalies = {
      anomaly_record{.payment_id = 0, .kind = "orphan_notify", .at = from_epoch_ms(5)},
      anomaly_record{.payment_id = p.id, .kind = "late_notify", .at = from_epoch_ms(6)}};
  auto o = s->commit_one(logs);
  CHECK(o.status == commit_status::committed);
  CHECK(o.payment_id == 0);
  auto calls = s->calls_of(p.id);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].api == "inquiryPayment");
  auto all = s->anomalies({});
  REQUIRE(all.size() == 2);
  CHECK(all[0].kind == "late_notify");  // newest first
  CHECK(all[1].payment_id == 0);
  auto mine = s->anomalies({.payment_id = p.id});
  REQUIRE(mine.size() == 1);
  CHECK(mine[0].kind == "late_notify");
  CHECK(s->anomalies({.since = from_epoch_ms(6)}).size() == 1);
}
