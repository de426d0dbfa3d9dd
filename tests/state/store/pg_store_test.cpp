// Tests of the PostgreSQL engine alone (the conformance tests in the other files run on it
// too): the schema version and its refusals, a foreign schema, read-only opening beside a
// writer, a row lock held past the lock timeout, a lost connection (store_error io, then the
// store reconnects), a conninfo password kept out of every message, and the history tables
// refusing TRUNCATE. They run in ctest's `postgres` registration only (label postgres), on the
// fixture's throwaway server, each in a schema of its own.
#include <string>

#include "state/store/pg_schema.hpp"
#include "state/store/pg_store.hpp"
#include "tests/state/store/conformance.hpp"

using namespace cashier;
using namespace cashier::store;
using namespace cashier::store::test;

namespace {

// Runs `f`, which must throw store_error; returns its kind (and its message in `what`).
template <class F>
std::optional<store_failure> failure_of(F&& f, std::string* what = nullptr) {
  try {
    f();
  } catch (const store_error& e) {
    MESSAGE(std::string(e.what()));
    if (what != nullptr) *what = e.what();
    return e.kind();
  }
  return std::nullopt;
}

}  // namespace

TEST_SUITE_BEGIN("postgres_only");

TEST_CASE("a new schema is migrated to the newest version, once, and keeps its data") {
  test_db db;
  REQUIRE(db.postgres());
  db.open().reset();
  CHECK(db.text("SELECT version FROM cashier_schema") == std::to_string(latest_pg_schema_version()));
  auto s = db.open();  // reopening migrates nothing and keeps the data
  insert(*s, sample_payment("r"));
  CHECK(db.open()->find("r"));
  CHECK(db.text("SELECT count(*) FROM cashier_schema") == "1");
}

TEST_CASE("a schema with a newer version is refused, read-write and read-only") {
  test_db db;
  db.open().reset();
  REQUIRE(db.exec("UPDATE cashier_schema SET version = 99"));
  CHECK(failure_of([&] { db.open(); }) == store_failure::schema);
  CHECK(failure_of([&] { db.open({.read_only = true}); }) == store_failure::schema);
  CHECK(db.text("SELECT version FROM cashier_schema") == "99");  // untouched
}

TEST_CASE("a schema holding foreign tables and no version is refused, not adopted") {
  test_db db;
  REQUIRE(db.exec("CREATE TABLE payments (x integer)"));
  CHECK(failure_of([&] { db.open(); }) == store_failure::corrupt);
  CHECK(db.text("SELECT to_regclass('cashier_schema') IS NULL") == "t");
}

TEST_CASE("read-only open works beside a writer, sees its commits, and writes nothing") {
  test_db db;
  CHECK(failure_of([&] { db.open({.read_only = true}); }) == store_failure::schema);  // not created yet
  auto writer = db.open();
  payment a = insert(*writer, sample_payment("a"));
  auto reader = db.open({.read_only = true});
  CHECK(reader->find("a"));
  payment b = insert(*writer, sample_payment("b"));
  CHECK(reader->load(b.id));
  CHECK(reader->open_deadlines().size() == 2);
  CHECK(failure_of([&] { reader->commit_one(create(sample_payment("c"))); }) == store_failure::read_only);
  CHECK(failure_of([&] { reader->set_meta("k", "v"); }) == store_failure::read_only);
  CHECK(failure_of([&] { reader->prune(from_epoch_ms(0), true); }) == store_failure::read_only);
  CHECK_FALSE(writer->find("c"));
  CHECK(a.id != b.id);
}

TEST_CASE("a row lock held past the lock timeout gives store_error(busy) and writes nothing of the batch") {
  test_db db;
  auto s = open_postgres_store(db.conninfo(), {.lock_timeout_ms = 100});
  payment p = insert(*s, sample_payment("p"));
  raw_pg other(db.conninfo());
  REQUIRE(other.exec("BEGIN"));
  REQUIRE(other.exec("SELECT 1 FROM payments WHERE id = " + std::to_string(p.id) + " FOR UPDATE"));
  payment q = p;
  q.attempt = 2;
  std::vector<transition> batch = {create(sample_payment("n")), change(p, q)};
  std::string what;
  CHECK(failure_of([&] { s->commit(batch); }, &what) == store_failure::busy);
  CHECK(what.find("WHERE") == std::string::npos);  // the statement's verb and SQLSTATE, not its text
  CHECK(what.find("55P03") != std::string::npos);
  REQUIRE(other.exec("ROLLBACK"));
  CHECK(s->load(p.id)->version == 1);
  CHECK_FALSE(s->find("n"));
  auto out = s->commit(batch);  // the store is usable again and the same batch now commits
  CHECK(out[0].status == commit_status::committed);
  CHECK(out[1].status == commit_status::committed);
}

TEST_CASE("a lost connection is store_error(io), nothing of the batch is written, then the store reconnects") {
  test_db db;
  const std::string name = "lost" + std::to_string(std::random_device{}());
  auto s = open_postgres_store(db.conninfo() + " application_name=" + name);
  payment p = insert(*s, sample_payment("p"));
  raw_pg admin(db.conninfo());
  // The server ends the store's session (as a restart or a network cut would).
  REQUIRE(admin.text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '" +
                     name + "'") == "1");
  payment q = p;
  q.attempt = 2;
  std::vector<transition> batch = {change(p, q), create(sample_payment("n"))};
  CHECK(failure_of([&] { s->commit(batch); }) == store_failure::io);
  auto reader = db.open();
  CHECK(reader->load(p.id)->version == 1);
  CHECK_FALSE(reader->find("n"));
  // The next call reconnects (prepared statements are prepared again) and the batch commits.
  auto out = s->commit(batch);
  CHECK(out[0].status == commit_status::committed);
  CHECK(out[1].status == commit_status::committed);
  CHECK(s->load(p.id)->attempt == 2);
}

TEST_CASE("a password in the conninfo never reaches an error message") {
  test_db db;
  std::string what;
  // No server listens there: the connection fails, naming the place but not the secret.
  const auto kind = failure_of(
      [&] { open_postgres_store("host=/nonexistent-dir port=1 user=cashier password=s3cret-pw dbname=x"); }, &what);
  CHECK(kind == store_failure::cannot_open);
  CHECK(what.find("s3cret-pw") == std::string::npos);
  // A server that refuses the user: the message names the failure, never the password.
  const auto refused = failure_of(
      [&] { open_postgres_store(db.conninfo() + " dbname=no_such_database password=s3cret-pw"); }, &what);
  CHECK(refused == store_failure::cannot_open);
  CHECK(what.find("s3cret-pw") == std::string::npos);
  // A malformed string: libpq's parser would quote the piece after the password.
  const auto malformed = failure_of([&] { open_postgres_store("host=/tmp password=s3cret pw-rest"); }, &what);
  CHECK(malformed == store_failure::cannot_open);
  CHECK(what.find("pw-rest") == std::string::npos);
}

TEST_CASE("the history tables refuse TRUNCATE, which row triggers do not see") {
  test_db db;
  auto s = db.open();
  insert(*s, sample_payment("p"));
  for (const char* table : {"payments", "refunds", "payment_events", "aplus_calls", "inbound_notifies",
                            "webhook_attempts", "anomalies"}) {
    CAPTURE(table);
    CHECK_FALSE(db.exec(std::string("TRUNCATE ") + table + " CASCADE"));
  }
  CHECK(s->events_of(s->find("p")->id).size() == 1);
}

TEST_CASE("bytes that PostgreSQL text refuses (NUL, invalid UTF-8) are keys like any other") {
  test_db db;
  auto s = db.open();
  const std::string key = std::string("k\0\xff", 3);
  payment p = sample_payment("order-" + key);
  p.merchant_id = "m-" + key;
  p.checkout_id = std::string("c\0", 2);
  const payment stored = insert(*s, p);
  CHECK(s->find(p.merchant_id, p.payment_request_id)->id == stored.id);
  CHECK(s->find_by_checkout(p.checkout_id)->id == stored.id);
  CHECK_FALSE(s->find_by_checkout("c"));
  CHECK(s->list({.merchant_id = p.merchant_id}).size() == 1);
  s->set_meta(key, key);
  CHECK(s->meta(key) == key);
}

TEST_CASE("a pipelined batch commits exactly what the plain pass commits, across chunks, conflicts and creations") {
  // The same payments and the same batches on two schemas, one store pipelining and one not.
  test_db piped_db, plain_db;
  auto piped = open_postgres_store(piped_db.conninfo(), {.pipeline = true});
  auto plain = open_postgres_store(plain_db.conninfo(), {.pipeline = false});
  std::vector<payment> a, b;
  for (int i = 0; i < 150; ++i) {
    a.push_back(insert(*piped, sample_payment("p" + std::to_string(i))));
    b.push_back(insert(*plain, sample_payment("p" + std::to_string(i))));
  }
  // 150 updates (each with an event and a call: 450 statements, four pipeline chunks), a
  // creation in the middle (run plainly between two flushes), and then a second batch with one
  // stale version (the pipelined CAS fails, the batch is redone plainly: one conflict).
  auto batch_of = [](std::vector<payment>& ps, int round, int stale) {
    std::vector<transition> batch;
    for (std::size_t i = 0; i < ps.size(); ++i) {
      payment next = ps[i];
      next.attempt = round + 1;
      next.updated_at += std::chrono::seconds(round);
      transition t = change(ps[i], next, "round " + std::to_string(round));
      t.before = ps[i];
      t.calls = {call_record{.api = "inquiryPayment", .outcome = "U/PAYMENT_IN_PROCESS"}};
      if (static_cast<int>(i) == stale) {
        t.expected_version += 7;
        t.before->version += 7;
      }
      batch.push_back(std::move(t));
      if (i == 70) batch.push_back(create(sample_payment("new-" + std::to_string(round))));
    }
    return batch;
  };
  for (int round = 1; round <= 2; ++round) {
    CAPTURE(round);
    const auto pa = batch_of(a, round, round == 2 ? 99 : -1), pb = batch_of(b, round, round == 2 ? 99 : -1);
    const auto oa = piped->commit(pa), ob = plain->commit(pb);
    REQUIRE(oa.size() == ob.size());
    int conflicts = 0;
    for (std::size_t i = 0; i < oa.size(); ++i) {
      CHECK(oa[i].status == ob[i].status);
      CHECK(oa[i].version == ob[i].version);
      // A creation's id may differ: a redone batch leaves a gap in the identity sequence.
      if (oa[i].version != 1) CHECK(oa[i].payment_id == ob[i].payment_id);
      conflicts += oa[i].status == commit_status::conflict ? 1 : 0;
    }
    CHECK(conflicts == (round == 2 ? 1 : 0));
    for (std::size_t i = 0; i < a.size(); ++i) {
      a[i] = *piped->load(a[i].id);
      b[i] = *plain->load(b[i].id);
      CHECK(a[i].version == b[i].version);
      CHECK(piped->events_of(a[i].id).size() == plain->events_of(b[i].id).size());
      CHECK(piped->calls_of(a[i].id).size() == plain->calls_of(b[i].id).size());
    }
    CHECK(piped->find("new-" + std::to_string(round)));
  }
  CHECK(a[99].version == 2);  // its second update conflicted
  CHECK(a[0].version == 3);
  CHECK(piped->stats(from_epoch_ms(0)).init == 152);
}

TEST_SUITE_END();
