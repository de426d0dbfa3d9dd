// Tests of the hosted page's checkout id in the store (both engines): it is kept and found by its
// unique index (never a table scan), payments without one coexist; and (SQLite) the migration
// step gives every row that existed before it a distinct random id.
#include <regex>
#include <set>

#include "state/store/schema.hpp"
#include "tests/state/store/conformance.hpp"

using namespace cashier;
using namespace cashier::store;
using namespace cashier::store::test;

TEST_CASE("a payment's checkout id is kept and found by the unique index") {
  test_db db;
  auto s = db.open();
  auto p = sample_payment("with-id");
  p.checkout_id = "0123456789abcdef0123456789abcdef";
  const auto stored = insert(*s, p);
  CHECK(stored.checkout_id == p.checkout_id);
  const auto found = s->find_by_checkout(p.checkout_id);
  REQUIRE(found);
  CHECK(found->payment_request_id == "with-id");
  CHECK_FALSE(s->find_by_checkout("0123456789abcdef0123456789abcdee"));
  // Payments without an id (store-level writers) coexist, and '' finds none of them.
  insert(*s, sample_payment("no-id-1"));
  insert(*s, sample_payment("no-id-2"));
  CHECK_FALSE(s->find_by_checkout(""));
  // A second payment with the same id is refused by the index.
  auto twin = sample_payment("twin");
  twin.checkout_id = p.checkout_id;
  CHECK(s->commit_one(create(twin)).status != commit_status::committed);
  s.reset();
  const auto plan = db.text(db.sql("EXPLAIN QUERY PLAN ", "SET enable_seqscan = off; EXPLAIN ") +
                            "SELECT id FROM payments WHERE checkout_id = 'x' AND checkout_id <> ''");
  MESSAGE(plan);
  CHECK(plan.find("payments_by_checkout") != std::string::npos);
}

// SQLite only: it migrates a SQLite file as an older cashierd left it (the PostgreSQL schema
// was created with the column).
TEST_CASE("the migration gives every existing payment a distinct random checkout id" * sqlite_only) {
  temp_dir dir;
  const auto path = dir.file("old.db");
  {
    auto s = open_sqlite_store(path);
    for (const char* id : {"old-1", "old-2", "old-3"}) insert(*s, sample_payment(id));
  }
  {
    // Back to the schema before the step: no column, no index, the version before it.
    raw_db raw(path);
    REQUIRE(raw.exec("DROP INDEX payments_by_checkout") == SQLITE_OK);
    REQUIRE(raw.exec("ALTER TABLE payments DROP COLUMN checkout_id") == SQLITE_OK);
    // Dropping the column undoes exactly this step once the steps after it are undone too: the
    // cluster step's objects (its own migration test is in cluster_store_test.cpp).
    REQUIRE(schema_version_after("cluster") == latest_schema_version());
    REQUIRE(schema_version_after("checkout_id") == latest_schema_version() - 1);
    REQUIRE(raw.exec("DROP TABLE inbox; DROP TABLE cluster_instances; DROP TABLE cluster_shards; "
                     "DROP INDEX payments_open_by_shard; DROP TRIGGER payments_shard_fixed; "
                     "ALTER TABLE payments DROP COLUMN shard; DELETE FROM meta WHERE key = 'shard_count'") == SQLITE_OK);
    REQUIRE(raw.exec("PRAGMA user_version = " + std::to_string(schema_version_after("checkout_id") - 1)) == SQLITE_OK);
  }
  auto s = open_sqlite_store(path);
  std::set<std::string> ids;
  const std::regex hex128("[0-9a-f]{32}");
  for (const char* id : {"old-1", "old-2", "old-3"}) {
    const auto p = s->find(id);
    REQUIRE(p);
    CHECK(std::regex_match(p->checkout_id, hex128));
    ids.insert(p->checkout_id);
    const auto again = s->find_by_checkout(p->checkout_id);
    REQUIRE(again);
    CHECK(again->payment_request_id == id);
  }
  CHECK(ids.size() == 3);
}
