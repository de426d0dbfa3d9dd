// The cluster half of the PostgreSQL store (label postgres): the engine-neutral conformance
// checks (cluster_conformance.hpp) over two connections to one schema, the database's clock
// moved by the store's test hook (postgres_options::clock_offset, no sleeping); then what is
// PostgreSQL's own: the `cluster` migration step (pg_schema.cpp) gives existing payments the
// shard store::shard_of gives (its SQL function cashier_shard is checked against the C++ one on
// awkward ids and counts), new payments are stored with theirs, the shard and epoch triggers
// hold, and the row locks order claims, renewals and fenced batches as pg_cluster.cpp says.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "state/store/cluster_store.hpp"
#include "state/store/pg_schema.hpp"
#include "tests/state/store/cluster_conformance.hpp"
#include "tests/state/store/conformance.hpp"

namespace cashier::store::test {
namespace {

/// `bytes` as a PostgreSQL bytea literal ('\x..'::bytea), so NULs and invalid UTF-8 go in exact.
std::string bytea_literal(const std::string& bytes) {
  static const char* hex = "0123456789abcdef";
  std::string out = "'\\x";
  for (const unsigned char c : bytes) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out + "'::bytea";
}

/// Two connections to one fresh schema; the database's clock, as both read it, moved by `advance`.
class pg_cluster_fixture final : public cluster_fixture {
 public:
  pg_cluster_fixture() {
    postgres_options o;
    o.lock_timeout_ms = 1000;
    o.clock_offset = [this] { return offset_; };
    a_ = open_postgres_store(db_.conninfo(), o);
    b_ = open_postgres_store(db_.conninfo(), o);
  }
  clustered_store& a() override { return *a_; }
  clustered_store& b() override { return *b_; }
  void advance(duration d) override { offset_ += d; }
  test_db& db() { return db_; }

 private:
  test_db db_;
  duration offset_{};
  std::unique_ptr<clustered_store> a_;
  std::unique_ptr<clustered_store> b_;
};

}  // namespace

TEST_SUITE_BEGIN("postgres_only");

TEST_CASE("cluster port (PostgreSQL): claims bump the epoch, leases run on the database's clock") {
  pg_cluster_fixture f;
  check_claim(f);
}

TEST_CASE("cluster port (PostgreSQL): renewal, and a lapsed lease taken at the next epoch") {
  pg_cluster_fixture f;
  check_renew_and_lapse(f);
}

TEST_CASE("cluster port (PostgreSQL): release") {
  pg_cluster_fixture f;
  check_release(f);
}

TEST_CASE("cluster port (PostgreSQL): a release of the last shard held ends the instance's presence") {
  pg_cluster_fixture f;
  check_full_release_ends_presence(f);
}

TEST_CASE("cluster port (PostgreSQL): the fence keeps a former owner's writes out") {
  pg_cluster_fixture f;
  check_fence(f);
}

TEST_CASE("cluster port (PostgreSQL): the inbox row goes with the transition that applied it") {
  pg_cluster_fixture f;
  check_inbox(f);
}

TEST_CASE("cluster port (PostgreSQL): a takeover reads its shards' open payments only") {
  pg_cluster_fixture f;
  check_open_deadlines_of(f);
}

TEST_CASE("cluster port (PostgreSQL): a refund, delivery or webhook attempt is fenced by the payment it names") {
  pg_cluster_fixture f;
  check_fence_names_payment(f);
}

TEST_CASE("cluster port (PostgreSQL): due merchant events of given shards only") {
  pg_cluster_fixture f;
  check_due_outbox_of(f);
}

TEST_CASE("cluster port (PostgreSQL): a takeover reads its shards' open refunds only") {
  pg_cluster_fixture f;
  check_open_refund_deadlines_of(f);
}

TEST_CASE("cluster port (PostgreSQL): a claim skips a shard a batch holds and takes it once the batch commits") {
  pg_cluster_fixture f;
  const std::vector<shard_id> first{0, 1};
  const auto a = f.a().claim("a", 2, test_lease, false, first);
  REQUIRE(a.changed.size() == 2);
  f.advance(test_lease * 2);  // both lapsed
  // A fenced batch in flight on shard 0, as commit_fenced locks it.
  raw_pg batch(f.db().conninfo());
  REQUIRE(batch.exec("BEGIN"));
  REQUIRE(batch.exec("SELECT epoch FROM cluster_shards WHERE shard = 0 FOR KEY SHARE"));
  // b's claim skips the locked shard 0 (SKIP LOCKED; waiting would fail busy after 1 s) and
  // takes the next lapsed or free ones; no epoch moves under the batch.
  const auto b = f.b().claim("b", 2, test_lease);
  REQUIRE(b.changed.size() == 2);
  CHECK(b.changed[0].shard == 1);
  CHECK(b.changed[1].shard == 2);
  REQUIRE(batch.exec("COMMIT"));
  const auto b2 = f.b().claim("b", 1, test_lease);
  REQUIRE(b2.changed.size() == 1);
  CHECK(b2.changed[0].shard == 0);
  CHECK(b2.changed[0].epoch == a.changed[0].epoch + 1);
}

TEST_CASE("cluster port (PostgreSQL): a renewal does not wait for a batch in flight on its shard") {
  pg_cluster_fixture f;
  const std::vector<shard_id> one{4};
  const auto a = f.a().claim("a", 1, test_lease, false, one);
  REQUIRE(a.changed.size() == 1);
  raw_pg batch(f.db().conninfo());
  REQUIRE(batch.exec("BEGIN"));
  REQUIRE(batch.exec("SELECT epoch FROM cluster_shards WHERE shard = 4 FOR KEY SHARE"));
  f.advance(test_lease / 2);
  const auto r = f.a().renew("a", epochs_of(a.changed), test_lease);  // lock_timeout 1 s: busy if it waited
  REQUIRE(r.changed.size() == 1);
  CHECK(r.changed[0].lease_until == r.db_now + test_lease);
  REQUIRE(batch.exec("COMMIT"));
}

TEST_CASE("cluster port (PostgreSQL): a post to the inbox wakes listeners with NOTIFY cashierd_inbox") {
  pg_cluster_fixture f;
  raw_pg listener(f.db().conninfo());
  REQUIRE(listener.exec("LISTEN cashierd_inbox"));
  const auto all = f.a().claim("a", 0, test_lease, true);
  const auto p = payment_in_shard(9, f.a().shard_count(), "wake");
  const transition t = create(p);
  const auto id = f.a().commit_fenced(std::span(&t, 1), epochs_of(all.changed)).front().payment_id;
  f.b().post_inbox(9, id, "notify", "x");
  REQUIRE(listener.exec("SELECT 1"));  // reads what the server sent, the notification included
  PQconsumeInput(listener.native());
  PGnotify* n = PQnotifies(listener.native());
  REQUIRE(n != nullptr);
  CHECK(std::string(n->relname) == "cashierd_inbox");
  PQfreemem(n);
}

TEST_CASE("cashier_shard (PostgreSQL) gives the shard store::shard_of gives") {
  test_db db;
  db.open().reset();
  const std::vector<std::string> ids{"",
                                     "a",
                                     "ap-1",
                                     "order-2",
                                     std::string("nul\0inside", 10),
                                     "\xff\xfe not utf-8 \x80",
                                     std::string(64, 'z'),
                                     "2026120519000000000000000000000000000001"};
  for (const shard_id count : {1, 7, 64, 1000, 2147483647}) {
    for (const auto& id : ids) {
      CAPTURE(count);
      CHECK(db.text("SELECT cashier_shard(" + bytea_literal(id) + ", " + std::to_string(count) + ")") ==
            std::to_string(shard_of(id, count)));
    }
  }
}

TEST_CASE("the cluster step (PostgreSQL) gives existing payments their shard and 64 free shards") {
  test_db db;
  {
    auto s = db.open();
    auto a = sample_payment("order-1");
    a.alipay_payment_request_id = "ap-old-1";
    insert(*s, a);
    insert(*s, sample_payment("order-2"));  // no Alipay+ id of its own: the merchant's
  }
  // Back to the schema before the cluster step, rows kept: what an older cashierd left.
  REQUIRE(db.exec(R"sql(
    DROP TABLE inbox, cluster_instances, cluster_shards;
    DROP TRIGGER payments_shard_fixed ON payments;
    DROP FUNCTION payments_shard_fixed(), cluster_epoch_forward(), cashier_shard(bytea, integer);
    DROP INDEX payments_open_by_shard;
    ALTER TABLE payments DROP COLUMN shard;
    DELETE FROM meta WHERE key = 'shard_count'::bytea;
    UPDATE cashier_schema SET version = 1;
  )sql"));
  // The step right after v1: this rewind is that schema (the steps after it run again too;
  // shard_counts rebuilds its table from the payments).
  REQUIRE(pg_schema_version_after("cluster") == 2);
  db.open().reset();
  CHECK(db.text("SELECT version FROM cashier_schema") == std::to_string(latest_pg_schema_version()));
  CHECK(db.text("SELECT shard FROM payments WHERE alipay_payment_request_id = 'ap-old-1'::bytea") ==
        std::to_string(shard_of("ap-old-1", 64)));
  CHECK(db.text("SELECT shard FROM payments WHERE payment_request_id = 'order-2'::bytea") ==
        std::to_string(shard_of("order-2", 64)));
  CHECK(db.text("SELECT convert_from(value, 'UTF8') FROM meta WHERE key = 'shard_count'::bytea") == "64");
  CHECK(db.text("SELECT count(*) FROM cluster_shards WHERE owner IS NULL AND epoch = 0 AND shard BETWEEN 0 AND 63") ==
        "64");
  CHECK(db.text("SELECT count(*) FROM cluster_shards") == "64");
  // Fixed: neither a payment's shard nor an epoch going back can be written.
  CHECK_FALSE(db.exec("UPDATE payments SET shard = shard + 1"));
  CHECK(db.exec("UPDATE cluster_shards SET epoch = 5 WHERE shard = 0"));
  CHECK_FALSE(db.exec("UPDATE cluster_shards SET epoch = 4 WHERE shard = 0"));
  // Inbox ids come from an identity that a delete never gives back.
  const std::string id = db.text("SELECT id FROM payments WHERE payment_request_id = 'order-2'::bytea");
  REQUIRE(db.exec("INSERT INTO inbox (shard, payment_id, kind, body, posted_at) VALUES (0, " + id +
                  ", 'notify', '', 0)"));
  REQUIRE(db.exec("DELETE FROM inbox"));
  REQUIRE(db.exec("INSERT INTO inbox (shard, payment_id, kind, body, posted_at) VALUES (0, " + id +
                  ", 'notify', '', 0)"));
  CHECK(db.text("SELECT id FROM inbox") == "2");
}

TEST_CASE("new payments are stored (PostgreSQL) with the shard of their Alipay+ id") {
  test_db db;
  auto s = db.open();
  auto p = sample_payment("order-9");
  p.alipay_payment_request_id = "ap-9";
  insert(*s, p);
  insert(*s, sample_payment("order-10"));
  CHECK(db.text("SELECT shard FROM payments ORDER BY id") ==
        std::to_string(shard_of("ap-9", 64)) + "\n" + std::to_string(shard_of("order-10", 64)));
}

TEST_SUITE_END();

}  // namespace cashier::store::test
