// Tests of what the PostgreSQL engine does for several writers at once (proto-docs/cluster.md
// "Events feed and counters", schema.md "The PostgreSQL engine"): the careful rerun of a batch
// takes at most 64 savepoints per transaction (PostgreSQL's per-backend subtransaction cache),
// the per-shard status counters and their migration step, and the all-merchants feed cursor
// that never skips a row committed after a higher one was read. Label postgres only.
#include <algorithm>
#include <string>
#include <vector>

#include "state/store/pg_schema.hpp"
#include "state/store/pg_store.hpp"
#include "tests/state/store/conformance.hpp"

using namespace cashier;
using namespace cashier::store;
using namespace cashier::store::test;

TEST_SUITE_BEGIN("postgres_only");

TEST_CASE("the careful rerun of a batch over 64 transitions takes at most 64 savepoints per transaction") {
  test_db db;
  auto s = db.open();
  constexpr int n = 100;
  std::vector<payment> stored;
  for (int i = 0; i < n; ++i) stored.push_back(insert(*s, sample_payment("cap-" + std::to_string(i))));
  // Each transition moves its payment; three of them then name a merchant event that does not
  // exist, which fails after the payment row was written: only a rerun can drop them alone (the
  // first is found by the plain pass, the second inside a savepoint, the third past 64 of them).
  std::vector<transition> batch;
  for (int i = 0; i < n; ++i) {
    auto next = stored[static_cast<std::size_t>(i)];
    next.status = payment_status::in_process;
    next.pending = pending_action::inquiry;
    batch.push_back(change(stored[static_cast<std::size_t>(i)], next));
    if (i == 7 || i == 30 || i == 90)
      batch.back().deliveries.push_back(outbox_progress{"no-such-event", 1, next.updated_at, outbox_state::delivered, 200, ""});
  }
  const auto out = s->commit(batch);
  REQUIRE(out.size() == static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    CAPTURE(i);
    const auto& st = stored[static_cast<std::size_t>(i)];
    if (i == 7 || i == 30 || i == 90) {
      CHECK(out[static_cast<std::size_t>(i)].status == commit_status::rejected);
      CHECK(s->load(st.id)->version == st.version);
    } else {
      CHECK(out[static_cast<std::size_t>(i)].status == commit_status::committed);
      CHECK(s->load(st.id)->version == st.version + 1);
    }
  }
  // A row version's xmin is the (sub)transaction that wrote it: every released savepoint that
  // wrote is one subtransaction of the batch's transaction. One transaction, at most 64 of them
  // plus the top level.
  const auto writers = std::stoi(db.text(
      "SELECT count(DISTINCT xmin::text) FROM payments WHERE status = 'IN_PROCESS'"));
  MESSAGE("distinct writing (sub)transactions: " << writers);
  CHECK(writers <= 65);
}

namespace {

/// `before` moved to `status` (final: nothing pending).
transition settle(const payment& before, payment_status status) {
  auto after = before;
  after.status = status;
  after.pending = pending_action::none;
  after.next_action_at = never;
  return change(before, after);
}

/// The (shard, status) counter rows that disagree with a count of the payments.
std::string wrong_counters(test_db& db) {
  return db.text(
      "SELECT count(*) FROM status_counts c WHERE n <> (SELECT count(*) FROM payments p "
      "WHERE p.shard = c.shard AND p.status = c.status)");
}

}  // namespace

TEST_CASE("the shard_counts step (PostgreSQL) carries every count over, per shard, and stats sum them") {
  test_db db;
  store_stats before;
  const auto now = from_epoch_ms(1'700'000'000'000);
  {
    auto s = db.open();
    for (int i = 0; i < 30; ++i) {
      const auto p = insert(*s, sample_payment("count-" + std::to_string(i)));
      if (i % 3 == 1) REQUIRE(s->commit_one(settle(p, payment_status::success)).status == commit_status::committed);
      else if (i % 5 == 2) REQUIRE(s->commit_one(settle(p, payment_status::fail)).status == commit_status::committed);
    }
    before = s->stats(now);
  }
  REQUIRE(before.init > 0);
  REQUIRE(before.success > 0);
  REQUIRE(before.fail > 0);
  CHECK(std::stoi(db.text("SELECT count(DISTINCT shard) FROM payments")) > 5);
  // Back to the schema before the step, rows kept: one counter per status and its trigger, as an
  // older cashierd left them. The rewind undoes this step only: the steps after it run again
  // (feed_txid is re-runnable).
  REQUIRE(db.exec(R"sql(
    DROP TABLE status_counts;
    CREATE TABLE status_counts (status text PRIMARY KEY, n bigint NOT NULL CHECK (n >= 0));
    INSERT INTO status_counts (status, n)
      SELECT st, (SELECT count(*) FROM payments WHERE status = st)
      FROM unnest(ARRAY['INIT', 'IN_PROCESS', 'SUCCESS', 'FAIL', 'CANCELLED']) AS st;
    CREATE OR REPLACE FUNCTION payments_count() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN
      IF TG_OP = 'UPDATE' THEN
        UPDATE status_counts SET n = n - 1 WHERE status = OLD.status;
      END IF;
      UPDATE status_counts SET n = n + 1 WHERE status = NEW.status;
      RETURN NULL;
    END $$;
  )sql"));
  REQUIRE(db.exec("UPDATE cashier_schema SET version = " + std::to_string(pg_schema_version_after("shard_counts") - 1)));
  auto s = db.open();  // migrates
  CHECK(db.text("SELECT version FROM cashier_schema") == std::to_string(latest_pg_schema_version()));
  CHECK(db.text("SELECT count(*) FROM status_counts") == std::to_string(64 * 5));
  CHECK(wrong_counters(db) == "0");
  const auto after = s->stats(now);
  CHECK(after.init == before.init);
  CHECK(after.in_process == before.in_process);
  CHECK(after.success == before.success);
  CHECK(after.fail == before.fail);
  CHECK(after.cancelled == before.cancelled);
  // The trigger keeps them from here on: a create and a status change each move their shard's rows.
  const auto p = insert(*s, sample_payment("count-new"));
  REQUIRE(s->commit_one(settle(p, payment_status::cancelled)).status == commit_status::committed);
  CHECK(wrong_counters(db) == "0");
  CHECK(s->stats(now).cancelled == before.cancelled + 1);
  CHECK(s->stats(now).init == before.init);
}

TEST_CASE("concurrent instances (PostgreSQL) changing payments of different shards lock no common counter row") {
  test_db db;
  auto s = db.open();
  const auto pa = insert(*s, sample_payment("hot-a"));
  const auto pb = sample_payment("hot-b");
  REQUIRE(shard_of(pa, 64) != shard_of(pb, 64));
  // Another instance's batch in flight moves a payment of its shard out of INIT: its counter
  // rows stay locked until it commits ...
  raw_pg held(db.conninfo());
  REQUIRE(held.exec("BEGIN"));
  REQUIRE(held.exec("UPDATE payments SET status = 'FAIL', pending = '' WHERE id = " + std::to_string(pa.id)));
  // ... and a create of another shard's payment does not wait for it (it would fail busy after
  // the lock timeout).
  postgres_options o;
  o.lock_timeout_ms = 500;
  auto b = open_postgres_store(db.conninfo(), o);
  CHECK(b->commit_one(create(pb)).status == commit_status::committed);
  REQUIRE(held.exec("COMMIT"));
  CHECK(wrong_counters(db) == "0");
}

TEST_CASE("the all-merchants feed (PostgreSQL) never skips an event committed after a later one was read") {
  test_db db;
  auto s = db.open();
  const auto pa = insert(*s, sample_payment("late-a"));
  const auto pb = insert(*s, sample_payment("late-b"));
  // Instance A's batch inserts an event (the lower id) and has not committed yet ...
  raw_pg a(db.conninfo());
  REQUIRE(a.exec("BEGIN"));
  REQUIRE(a.exec("INSERT INTO merchant_outbox (event_id, payment_id, seq, type, payload, target_url, attempts, "
                 "next_attempt_at, state, last_status, last_error, created_at, merchant_id, feed_seq) VALUES "
                 "('evt-a', " + std::to_string(pa.id) + ", 1, 'payment.succeeded', '{}', '', 0, 0, 'delivered', 0, "
                 "'', 0, 'm-a', 1)"));
  // ... while instance B commits one (the higher id).
  auto next = pb;
  next.status = payment_status::success;
  next.pending = pending_action::none;
  next.next_action_at = never;
  next.event_seq = 1;
  auto t = change(pb, next);
  outbox_record o;
  o.event_id = "evt-b";
  o.seq = 1;
  o.type = "payment.succeeded";
  o.payload = "{}";
  o.state = outbox_state::delivered;
  t.outbox.push_back(o);
  REQUIRE(s->commit_one(t).status == commit_status::committed);
  // A reader pages through the feed, then A commits: the reader must still get A's event.
  auto reader = db.open();
  std::vector<std::string> seen;
  auto page = reader->events_after("", 10);
  REQUIRE(page);
  for (const auto& r : page->events) seen.push_back(r.event_id);
  CHECK(seen.empty());  // B's event waits behind A's open transaction
  const std::string cursor = page->next;
  REQUIRE(a.exec("COMMIT"));
  page = events_after_settled(*reader, cursor, 10, 2);
  for (const auto& r : page->events) seen.push_back(r.event_id);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == "evt-a");  // commit order of the transactions as they began writing
  CHECK(seen[1] == "evt-b");
  CHECK(reader->events_after(page->next, 10)->events.empty());
}

TEST_CASE("the feed_txid step (PostgreSQL) keeps existing events in id order, before every later one") {
  test_db db;
  auto s = db.open();
  const auto p = insert(*s, sample_payment("old-feed"));
  // Events an older cashierd left: written with the schema before the step.
  REQUIRE(db.exec("DROP INDEX merchant_outbox_commit_order; ALTER TABLE merchant_outbox DROP COLUMN txid"));
  for (const char* e : {"evt-1", "evt-2", "evt-3"})
    REQUIRE(db.exec("INSERT INTO merchant_outbox (event_id, payment_id, seq, type, payload, target_url, attempts, "
                    "next_attempt_at, state, last_status, last_error, created_at, merchant_id, feed_seq) VALUES ('" +
                    std::string(e) + "', " + std::to_string(p.id) + ", " + std::string(1, e[4]) +
                    ", 't', '{}', '', 0, 0, 'delivered', 0, '', 0, 'm1', " + std::string(1, e[4]) + ")"));
  REQUIRE(db.exec("UPDATE cashier_schema SET version = " + std::to_string(pg_schema_version_after("feed_txid") - 1)));
  s = db.open();  // migrates (the steps after feed_txid, if any, run again too)
  CHECK(db.text("SELECT version FROM cashier_schema") == std::to_string(latest_pg_schema_version()));
  const auto first = events_after_settled(*s, "", 2, 2);
  REQUIRE(first.events.size() == 2);
  CHECK(first.events[0].event_id == "evt-1");
  CHECK(first.events[1].event_id == "evt-2");
  auto next = p;
  next.status = payment_status::success;
  next.pending = pending_action::none;
  next.next_action_at = never;
  next.event_seq = 4;
  auto t = change(p, next);
  outbox_record o;
  o.event_id = "evt-4";
  o.seq = 4;
  o.type = "t";
  o.payload = "{}";
  o.state = outbox_state::delivered;
  t.outbox.push_back(o);
  REQUIRE(s->commit_one(t).status == commit_status::committed);
  const auto rest = events_after_settled(*s, first.next, 10, 2);
  REQUIRE(rest.events.size() == 2);
  CHECK(rest.events[0].event_id == "evt-3");
  CHECK(rest.events[1].event_id == "evt-4");
  CHECK_FALSE(s->events_after("1", 10));  // not a cursor of this engine (40 digits)
}

TEST_SUITE_END();
