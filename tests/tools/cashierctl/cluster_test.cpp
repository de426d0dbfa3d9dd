// Tests of `cashierctl cluster` (table and --json) on a SQLite database built with the real
// store: three instances' claims (two with live leases, one lapsed), the rest of the shards free.
// The leases are judged by the database's clock, which for SQLite is the wall clock at the read,
// so the claims are made relative to the real wall clock (not the fixture's test_now()).
#include <chrono>

#include <boost/json/serialize.hpp>

#include "state/store/sqlite_store.hpp"
#include "tests/tools/cashierctl/ctl_fixture.hpp"

namespace cashier::ctl::test {
namespace {

bool has(const std::string& s, std::string_view what) { return s.find(what) != std::string::npos; }

time_point wall() {
  return from_epoch_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
}

/// Claims `shards` for `owner` for `lease`, by a database clock that reads `clock_at`.
void claim(const sample_db& db, const std::string& owner, std::vector<store::shard_id> shards, duration lease,
           time_point clock_at) {
  store::sqlite_options o;
  o.background_checkpoint = false;
  o.clock = [clock_at] { return clock_at; };
  auto s = store::open_sqlite_clustered(db.path, o);
  REQUIRE(s->claim(owner, static_cast<int>(shards.size()), lease, false, shards).changed.size() == shards.size());
}

void three_owners(const sample_db& db) {
  const auto now = wall();
  claim(db, "node-a:1", {0, 1, 2, 3}, std::chrono::hours(1), now);
  claim(db, "node-b:2", {4, 5}, std::chrono::hours(1), now);
  claim(db, "node-c:3", {6}, std::chrono::hours(1), now - std::chrono::hours(2));  // lapsed an hour ago
}

}  // namespace

TEST_CASE("cluster --json: instances, every shard's owner, epoch and lease by the database's clock") {
  sample_db db;
  three_owners(db);
  auto r = run({"--db", db.path, "--json", "cluster"});
  INFO(r.out << r.err);
  REQUIRE(r.status == exit_status::ok);
  const auto doc = parse_json(r.out).as_object();
  CHECK(doc.at("shardCount").as_int64() == 64);
  CHECK(doc.at("freeShards").as_int64() == 57);
  CHECK(doc.at("liveInstances").as_int64() == 2);  // node-c's presence lapsed with its lease
  const auto& instances = doc.at("instances").as_array();
  REQUIRE(instances.size() == 3);
  CHECK(instances[0].at("instance").as_string() == "node-a:1");
  CHECK(instances[0].at("shards").as_int64() == 4);
  CHECK(instances[0].at("lapsed").as_int64() == 0);
  CHECK(instances[2].at("instance").as_string() == "node-c:3");
  CHECK(instances[2].at("lapsed").as_int64() == 1);
  const auto& shards = doc.at("shards").as_array();
  REQUIRE(shards.size() == 64);
  CHECK(shards[0].at("owner").as_string() == "node-a:1");
  CHECK(shards[0].at("epoch").as_int64() == 1);
  CHECK(shards[0].at("lapsed").as_bool() == false);
  CHECK(shards[6].at("lapsed").as_bool() == true);
  CHECK(shards[7].at("owner").is_null());
  CHECK(shards[7].at("epoch").as_int64() == 0);
  CHECK(shards[7].at("leaseUntil").is_null());
}

TEST_CASE("cluster: one table of instances, one of shards") {
  sample_db db;
  three_owners(db);
  auto r = run({"--db", db.path, "cluster"});
  INFO(r.out << r.err);
  REQUIRE(r.status == exit_status::ok);
  CHECK(has(r.out, "INSTANCE"));
  CHECK(has(r.out, "node-b:2"));
  CHECK(has(r.out, "(free)"));
  CHECK(has(r.out, "(1 lapsed)"));
  CHECK(has(r.out, "64 shards, 2 live instances, database clock "));
  CHECK(has(r.out, "SHARD"));
}

TEST_CASE("cluster: a database no instance has claimed shows every shard free") {
  sample_db db;
  auto r = run({"--db", db.path, "--json", "cluster"});
  REQUIRE(r.status == exit_status::ok);
  const auto doc = parse_json(r.out).as_object();
  CHECK(doc.at("freeShards").as_int64() == 64);
  CHECK(doc.at("instances").as_array().empty());
  CHECK(doc.at("liveInstances").as_int64() == 0);
}

}  // namespace cashier::ctl::test
