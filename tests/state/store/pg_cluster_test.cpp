// The cluster half of the PostgreSQL store, PostgreSQL's own part (label postgres): the
// `cluster` migration step (pg_schema.cpp) gives existing payments the shard store::shard_of
// gives (its SQL function cashier_shard is checked against the C++ one on awkward ids and
// counts), new payments are stored with theirs, and the shard and epoch triggers hold.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "state/store/cluster_store.hpp"
#include "state/store/pg_schema.hpp"
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

}  // namespace

TEST_SUITE_BEGIN("postgres_only");

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
  REQUIRE(latest_pg_schema_version() == 2);  // the step right after v1: this rewind is that schema
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
