// Tests of the inbound-notify budget and of prune (issue 14, item 2; guarantee 6), on both
// engines (store_fixture.hpp): identical re-sent notifies counted on their row, rejected notifies kept as a bounded
// prefix within a row and byte budget (oldest evicted), verified notifies kept whole and
// deletable only by prune, prune's choice of rows, and the migration of existing notify rows.
#include <doctest/doctest.h>

#include "state/store/schema.hpp"
#include "state/store/sqlite_db.hpp"
#include "tests/state/store/conformance.hpp"

namespace cashier::store::test {
namespace {

notify_record notify(std::string verification, std::string body, std::string digest,
                     std::int64_t at_ms, std::int64_t payment_id = 0) {
  notify_record n;
  n.payment_id = payment_id;
  n.payment_request_id = "r1";
  n.body = std::move(body);
  n.headers = "Client-Id: c\nSignature: s";
  n.verification = std::move(verification);
  n.received_at = from_epoch_ms(at_ms);
  n.digest = std::move(digest);
  return n;
}

void log_notify(payment_store& s, notify_record n) {
  transition t;
  t.notifies = {std::move(n)};
  REQUIRE(s.commit_one(t).status == commit_status::committed);
}

// A payment committed through `statuses` (each a transition with one event), ending at `last_ms`.
payment settled(payment_store& s, const std::string& id, payment_status final_status,
                std::int64_t last_ms) {
  auto p = sample_payment(id, last_ms - 10'000);
  auto out = s.commit_one(create(p));
  REQUIRE(out.status == commit_status::committed);
  p.id = out.payment_id;
  p.version = 1;
  auto q = p;
  q.status = final_status;
  q.pending = pending_action::none;
  q.updated_at = from_epoch_ms(last_ms);
  auto t = change(p, q, "final");
  call_record c;
  c.api = "inquiryPayment";
  c.request_body = "{}";
  c.started_at = from_epoch_ms(last_ms - 1);
  t.calls = {c};
  t.notifies = {notify("ok", "{\"whole\":true}", "d-" + id, last_ms - 2)};
  outbox_record o;
  o.event_id = "evt_" + id;
  o.seq = 1;
  o.type = "payment.succeeded";
  o.payload = "{}";
  o.state = outbox_state::delivered;
  o.created_at = from_epoch_ms(last_ms);
  t.outbox = {o};
  REQUIRE(s.commit_one(t).status == commit_status::committed);
  transition attempt;
  attempt.webhook_attempts = {{0, "evt_" + id, from_epoch_ms(last_ms), 200, "", 5}};
  REQUIRE(s.commit_one(attempt).status == commit_status::committed);
  q.version = 2;
  return q;
}

// The stored bodies of the notifies matching `where`, oldest first, joined by ','.
std::string bodies(test_db& db, const std::string& where = "TRUE") {
  return db.text(db.sql("SELECT group_concat(CAST(body AS TEXT), ',') FROM (SELECT body FROM inbound_notifies WHERE " +
                            where + " ORDER BY id)",
                        "SELECT string_agg(convert_from(body, 'UTF8'), ',' ORDER BY id) FROM inbound_notifies WHERE " +
                            where));
}

}  // namespace

TEST_CASE("an identical re-sent notify is counted on its row, not stored again") {
  test_db db;
  auto s = db.open();
  auto p = sample_payment("p1");
  p.id = s->commit_one(create(p)).payment_id;
  log_notify(*s, notify("ok", "{\"a\":1}", "digest-1", 100, p.id));
  log_notify(*s, notify("ok", "{\"a\":1}", "digest-1", 250, p.id));
  log_notify(*s, notify("ok", "{\"a\":1}", "digest-1", 200, p.id));  // late: last stays 250
  log_notify(*s, notify("ok", "{\"a\":1}", "", 300, p.id));          // no digest: a row of its own
  const auto rows = s->notifies_of(p.id);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].times_received == 3);
  CHECK(rows[0].received_at == from_epoch_ms(100));
  CHECK(rows[0].last_received_at == from_epoch_ms(250));
  CHECK(rows[0].digest == "digest-1");
  CHECK(rows[1].times_received == 1);
  CHECK(rows[1].last_received_at == from_epoch_ms(300));
}

TEST_CASE("a rejected notify keeps a bounded prefix, a verified one is kept whole") {
  test_db db;
  auto s = db.open();
  auto p = sample_payment("p1");
  p.id = s->commit_one(create(p)).payment_id;
  const std::string big(60000, 'x');
  log_notify(*s, notify("bad_signature", big, "d1", 1, p.id));
  log_notify(*s, notify("ok", big, "d2", 2, p.id));
  const auto rows = s->notifies_of(p.id);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].body == big.substr(0, rejected_notify_body_prefix));
  CHECK(rows[0].body_bytes == 60000);
  CHECK(rows[1].body == big);
  CHECK(rows[1].body_bytes == 60000);
}

TEST_CASE("rejected notifies stay within the row and byte budget, oldest evicted first") {
  test_db db;
  SUBCASE("rows") {
    auto s = db.open({.rejected_notify_rows = 3});
    log_notify(*s, notify("ok", "{}", "v", 0));
    for (int i = 1; i <= 5; ++i) log_notify(*s, notify("bad_signature", "b" + std::to_string(i), "d" + std::to_string(i), i));
    CHECK(s->rejected_notifies().first == 3);
    CHECK(bodies(db) == "{},b3,b4,b5");
    // The tally survives a reopen (it is read from the table again).
    s.reset();
    auto again = db.open({.rejected_notify_rows = 3});
    log_notify(*again, notify("missing_signature", "b6", "d6", 6));
    CHECK(bodies(db) == "{},b4,b5,b6");
  }
  SUBCASE("bytes") {
    const std::string body(1000, 'y');
    const auto row_bytes = static_cast<std::int64_t>(body.size() + std::string("Client-Id: c\nSignature: s").size());
    auto s = db.open({.rejected_notify_bytes = 2 * row_bytes + 10});
    for (int i = 0; i < 6; ++i) log_notify(*s, notify("bad_signature", body, "d" + std::to_string(i), i));
    const auto [rows, bytes] = s->rejected_notifies();
    CHECK(rows == 2);
    CHECK(bytes == 2 * row_bytes);
  }
}

TEST_CASE("an authentic but garbled notify is kept whole and never evicted by the budget") {
  test_db db;
  auto s = db.open({.rejected_notify_rows = 1});
  const std::string big(5000, 'g');
  log_notify(*s, notify("garbled", big, "g1", 1));
  log_notify(*s, notify("bad_signature", "j1", "j1", 2));
  log_notify(*s, notify("bad_signature", "j2", "j2", 3));
  CHECK(s->rejected_notifies().first == 1);
  CHECK(db.text("SELECT length(body) FROM inbound_notifies WHERE verification = 'garbled'") == "5000");
  CHECK(bodies(db, "verification <> 'garbled'") == "j2");
  CHECK_FALSE(db.exec("DELETE FROM inbound_notifies WHERE verification = 'garbled'"));
}

TEST_CASE("verified notifies and the audit logs cannot be deleted outside prune") {
  test_db db;
  auto s = db.open();
  auto p = settled(*s, "p1", payment_status::success, 5'000);
  log_notify(*s, notify("bad_signature", "junk", "j", 1));
  CHECK_FALSE(db.exec("DELETE FROM inbound_notifies WHERE verification = 'ok'"));
  CHECK_FALSE(db.exec("DELETE FROM aplus_calls"));
  CHECK_FALSE(db.exec("DELETE FROM payment_events"));
  CHECK_FALSE(db.exec("DELETE FROM webhook_attempts"));
  CHECK_FALSE(db.exec(db.sql("UPDATE inbound_notifies SET body = x'00'", "UPDATE inbound_notifies SET body = '\\x00'")));
  CHECK(db.exec("UPDATE inbound_notifies SET times_received = times_received + 1"));
  CHECK(db.exec("DELETE FROM inbound_notifies WHERE verification = 'bad_signature'"));  // budget path
}

TEST_CASE("prune removes the audit rows of payments final before the date, and only those") {
  test_db db;
  auto s = db.open();
  const auto old_paid = settled(*s, "old-paid", payment_status::success, 1'000'000);
  const auto new_paid = settled(*s, "new-paid", payment_status::fail, 3'000'000);
  auto open = sample_payment("open", 500'000);
  open.id = s->commit_one(create(open)).payment_id;
  log_notify(*s, notify("bad_signature", "orphan-old", "o1", 900'000));
  log_notify(*s, notify("bad_signature", "orphan-new", "o2", 3'100'000));
  const auto cutoff = from_epoch_ms(2'000'000);

  const auto dry = s->prune(cutoff, false);
  CHECK(dry == prune_report{.payments = 1, .events = 1, .calls = 1, .notifies = 2, .webhook_attempts = 1});
  CHECK(s->events_of(old_paid.id).size() == 2);  // counting removes nothing

  const auto done = s->prune(cutoff, true);
  CHECK(done == dry);
  const auto events = s->events_of(old_paid.id);
  REQUIRE(events.size() == 1);
  CHECK(events[0].to_status == payment_status::success);  // the final event stays
  CHECK(s->calls_of(old_paid.id).empty());
  CHECK(s->notifies_of(old_paid.id).empty());
  CHECK(s->webhook_attempts_of(old_paid.id).empty());
  CHECK(s->outbox_of(old_paid.id).size() == 1);  // the feed keeps its rows
  REQUIRE(s->load(old_paid.id));
  CHECK(s->load(old_paid.id)->status == payment_status::success);
  // Newer and open payments keep everything.
  CHECK(s->events_of(new_paid.id).size() == 2);
  CHECK(s->calls_of(new_paid.id).size() == 1);
  CHECK(s->notifies_of(new_paid.id).size() == 1);
  CHECK(s->webhook_attempts_of(new_paid.id).size() == 1);
  CHECK(s->events_of(open.id).size() == 1);
  CHECK(bodies(db, "payment_id IS NULL") == "orphan-new");
  // The flag does not outlive prune's transaction: the logs are append-only again.
  if (!db.postgres()) CHECK(db.text("SELECT count(*) FROM meta WHERE key = 'prune_in_progress'") == "0");
  CHECK_FALSE(db.exec("DELETE FROM aplus_calls"));
  CHECK(s->prune(cutoff, true) == prune_report{.payments = 1});  // nothing left to remove
}

TEST_CASE("prune needs a writable store") {
  test_db db;
  { auto s = db.open(); }
  auto ro = db.open({.read_only = true});
  CHECK_THROWS_AS(ro->prune(from_epoch_ms(0), true), store_error);
}

// SQLite only: it migrates a SQLite file as an older cashierd left it.
TEST_CASE("the notify-budget migration keeps existing notify rows and fills the new columns" * sqlite_only) {
  temp_dir dir;
  const auto path = dir.file("c.db");
  {
    sqlite_db db(path, false);
    // Rows written before the step must survive it and every later one.
    migrate_to(db, schema_version_after("notify_budget") - 1);
  }
  {
    raw_db raw(path);
    REQUIRE(raw.exec("INSERT INTO inbound_notifies (payment_id, payment_request_id, body, headers, "
                     "verification, received_at) VALUES (NULL, 'r', x'616263', x'', 'ok', 77)") == SQLITE_OK);
    REQUIRE(raw.exec("INSERT INTO inbound_notifies (payment_id, payment_request_id, body, headers, "
                     "verification, received_at) VALUES (NULL, 'r', x'6a', x'', 'bad_signature', 78)") == SQLITE_OK);
  }
  auto s = open_sqlite_store(path);
  raw_db raw(path);
  CHECK(raw.text("PRAGMA user_version") == std::to_string(latest_schema_version()));
  CHECK(raw.text("SELECT group_concat(body_bytes || '/' || times_received || '/' || last_received_at) "
                 "FROM inbound_notifies") == "3/1/77,1/1/78");
  CHECK(s->rejected_notifies().first == 1);
  CHECK(raw.exec("DELETE FROM inbound_notifies WHERE verification = 'ok'") != SQLITE_OK);
}

}  // namespace cashier::store::test
