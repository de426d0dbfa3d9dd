// The cluster port on SQLite: the engine-neutral conformance checks (cluster_conformance.hpp)
// over two connections to one file with an injected database clock, then what is SQLite's own:
// the migration that gives existing payments their shard, the epoch trigger, and two processes
// on one file fencing each other.
#include <doctest/doctest.h>

#include <memory>

#include "state/store/schema.hpp"
#include "state/store/sqlite_db.hpp"
#include "tests/state/store/cluster_conformance.hpp"

namespace cashier::store::test {
namespace {

/// Two SQLite connections to one file sharing one virtual database clock.
class sqlite_cluster_fixture final : public cluster_fixture {
 public:
  sqlite_cluster_fixture() {
    sqlite_options o;
    o.synchronous = sync_mode::normal;
    o.background_checkpoint = false;
    o.clock = [this] { return now_; };
    a_ = open_sqlite_clustered(dir_.file("c.db"), o);
    b_ = open_sqlite_clustered(dir_.file("c.db"), o);
  }
  clustered_store& a() override { return *a_; }
  clustered_store& b() override { return *b_; }
  void advance(duration d) override { now_ += d; }

 private:
  temp_dir dir_;
  time_point now_ = from_epoch_ms(1'700'000'000'000);
  std::unique_ptr<clustered_store> a_;
  std::unique_ptr<clustered_store> b_;
};

}  // namespace

TEST_CASE("cluster port (SQLite): claims bump the epoch, leases run on the database's clock") {
  sqlite_cluster_fixture f;
  check_claim(f);
}

TEST_CASE("cluster port (SQLite): renewal, and a lapsed lease taken at the next epoch") {
  sqlite_cluster_fixture f;
  check_renew_and_lapse(f);
}

TEST_CASE("cluster port (SQLite): release") {
  sqlite_cluster_fixture f;
  check_release(f);
}

TEST_CASE("cluster port (SQLite): a release of the last shard held ends the instance's presence") {
  sqlite_cluster_fixture f;
  check_full_release_ends_presence(f);
}

TEST_CASE("cluster port (SQLite): the fence keeps a former owner's writes out") {
  sqlite_cluster_fixture f;
  check_fence(f);
}

TEST_CASE("cluster port (SQLite): the inbox row goes with the transition that applied it") {
  sqlite_cluster_fixture f;
  check_inbox(f);
}

TEST_CASE("cluster port (SQLite): a takeover reads its shards' open payments only") {
  sqlite_cluster_fixture f;
  check_open_deadlines_of(f);
}

TEST_CASE("cluster port (SQLite): a refund, delivery or webhook attempt is fenced by the payment it names") {
  sqlite_cluster_fixture f;
  check_fence_names_payment(f);
}

TEST_CASE("cluster port (SQLite): due merchant events of given shards only") {
  sqlite_cluster_fixture f;
  check_due_outbox_of(f);
}

TEST_CASE("cluster port (SQLite): a takeover reads its shards' open refunds only") {
  sqlite_cluster_fixture f;
  check_open_refund_deadlines_of(f);
}

TEST_CASE("shard_of is FNV-1a 64 mod the count, fixed for good") {
  // FNV-1a 64 of "" is 0xcbf29ce484222325, of "a" 0xaf63dc4c8601ec8c (the published vectors).
  CHECK(shard_of("", 64) == static_cast<shard_id>(0xcbf29ce484222325ULL % 64));
  CHECK(shard_of("a", 64) == static_cast<shard_id>(0xaf63dc4c8601ec8cULL % 64));
  CHECK(shard_of("a", 1000) == static_cast<shard_id>(0xaf63dc4c8601ec8cULL % 1000));
  payment p = sample_payment("merchant-id");
  CHECK(shard_of(p, 64) == shard_of("merchant-id", 64));  // no Alipay+ id: the merchant's
  p.alipay_payment_request_id = "ap-1";
  CHECK(shard_of(p, 64) == shard_of("ap-1", 64));
}

TEST_CASE("the cluster step gives existing payments their shard and 64 free shards") {
  temp_dir dir;
  const auto path = dir.file("old.db");
  const int before = schema_version_after("cluster") - 1;
  REQUIRE(before >= 1);
  {
    sqlite_db db(path, false);
    migrate_to(db, before);
    // Rows written by the previous schema: one with its own Alipay+ id, one from before cashierd
    // had its own ids (the Alipay+ id is the merchant's), open and final.
    db.exec(R"sql(
      INSERT INTO payments (id, version, alipay_payment_request_id, payment_request_id, merchant_id,
        status, pending, cancel_abandoned, attempt, event_seq, amount_minor, currency, expiry_at,
        poll_deadline_at, next_action_at, last_hint_inquiry_at, created_at, updated_at, pay_request,
        merchant_request, merchant_notify_url, aplus_payment_id, normal_url, payment_data,
        wallet_brand_name, customer_id, payment_time, cancel_reason)
      VALUES (1, 1, 'ap-old-1', 'order-1', 'm1', 'IN_PROCESS', 'INQUIRY', 0, 1, 0, 1000, 'USD', 10, 20,
        30, 0, 1, 2, CAST('{}' AS BLOB), CAST('{}' AS BLOB), '', '', '', '', '', '', '', ''),
             (2, 3, 'order-2', 'order-2', 'm1', 'SUCCESS', '', 0, 1, 1, 1000, 'USD', 10, 20,
        9223372036854775807, 0, 1, 2, CAST('{}' AS BLOB), CAST('{}' AS BLOB), '', 'pid-2', '', '',
        '', '', '', '');
    )sql");
  }
  {
    sqlite_options o;
    o.background_checkpoint = false;
    auto s = open_sqlite_clustered(path, o);
    CHECK(s->shard_count() == default_shard_count);
    const auto t = s->shards();
    REQUIRE(t.table.size() == 64);
    for (const auto& row : t.table) {
      CHECK(row.owner.empty());
      CHECK(row.epoch == 0);
    }
    const std::vector<shard_id> s1{shard_of("ap-old-1", 64)};
    const auto open = s->open_deadlines_of(s1);
    REQUIRE(open.size() == 1);
    CHECK(open[0].payment_id == 1);
    CHECK(open[0].shard == s1[0]);
    CHECK(s->open_deadlines().size() == 1);
  }
  raw_db raw(path);
  CHECK(raw.text("PRAGMA user_version") == std::to_string(latest_schema_version()));
  CHECK(raw.text("PRAGMA integrity_check") == "ok");
  CHECK(raw.text("SELECT shard FROM payments WHERE id = 1") == std::to_string(shard_of("ap-old-1", 64)));
  CHECK(raw.text("SELECT shard FROM payments WHERE id = 2") == std::to_string(shard_of("order-2", 64)));
  CHECK(raw.text("SELECT value FROM meta WHERE key = 'shard_count'") == "64");
  // Fixed: neither a payment's shard nor an epoch going back can be written.
  CHECK(raw.exec("UPDATE payments SET shard = shard + 1 WHERE id = 1") != SQLITE_OK);
  CHECK(raw.exec("UPDATE cluster_shards SET epoch = 5 WHERE shard = 0") == SQLITE_OK);
  CHECK(raw.exec("UPDATE cluster_shards SET epoch = 4 WHERE shard = 0") != SQLITE_OK);
}

TEST_CASE("new payments are stored with the shard of their Alipay+ id") {
  temp_dir dir;
  auto s = open_sqlite_clustered(dir.file("n.db"));
  auto p = sample_payment("order-9");
  p.alipay_payment_request_id = "ap-9";
  insert(*s, p);
  s.reset();
  raw_db raw(dir.file("n.db"));
  CHECK(raw.text("SELECT shard FROM payments") == std::to_string(shard_of("ap-9", 64)));
}

TEST_CASE("two processes on one SQLite file fence each other") {
  // Each starts as a single instance does: it claims every shard with force (an epoch bump).
  temp_dir dir;
  const auto path = dir.file("two.db");
  auto first = open_sqlite_clustered(path);
  auto second = open_sqlite_clustered(path);
  const auto fence1 = epochs_of(first->claim("first", 0, std::chrono::seconds(10), true).changed);
  auto p = sample_payment("order-1");
  p.alipay_payment_request_id = "ap-1";
  const transition t = create(p);
  const auto o = first->commit_fenced(std::span(&t, 1), fence1).front();
  REQUIRE(o.status == commit_status::committed);
  const auto stored = *first->load(o.payment_id);
  const auto fence2 = epochs_of(second->claim("second", 0, std::chrono::seconds(10), true).changed);
  auto next = stored;
  next.status = payment_status::in_process;
  next.pending = pending_action::inquiry;
  const transition step = change(stored, next);
  CHECK(first->commit_fenced(std::span(&step, 1), fence1).front().status == commit_status::not_owner);
  CHECK(second->commit_fenced(std::span(&step, 1), fence2).front().status == commit_status::committed);
  // And back: the first restarting takes over, the second is fenced out.
  const auto fence1b = epochs_of(first->claim("first", 0, std::chrono::seconds(10), true).changed);
  auto after = *first->load(o.payment_id);
  auto final_state = after;
  final_state.status = payment_status::success;
  final_state.pending = pending_action::none;
  const transition last = change(after, final_state);
  CHECK(second->commit_fenced(std::span(&last, 1), fence2).front().status == commit_status::not_owner);
  CHECK(first->commit_fenced(std::span(&last, 1), fence1b).front().status == commit_status::committed);
}

}  // namespace cashier::store::test
