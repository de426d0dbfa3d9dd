// Tests of the store's refunds, on both engines (store_fixture.hpp): (SQLite) the "refunds"
// migration step over a database with rows, creating and moving refunds inside transitions, the money rule (refunds
// not FAIL never sum above the payment's amount, only SUCCESS payments take refunds) checked in
// the creating transaction even when two connections race, refund calls in the audit trail, and
// the recovery scan.
#include <barrier>
#include <thread>

#include "state/store/schema.hpp"
#include "state/store/sqlite_db.hpp"
#include "tests/state/store/conformance.hpp"

using namespace cashier;
using namespace cashier::store;
using namespace cashier::store::test;

namespace {

/// Inserts a payment of `amount` (USD minor units) and settles it SUCCESS; returns it as stored.
payment paid(payment_store& s, const std::string& id, std::int64_t amount) {
  payment p = sample_payment(id);
  p.amount = usd(amount);
  return insert_paid(s, p);
}

refund new_refund(const payment& p, const std::string& key, std::int64_t amount) {
  refund r;
  r.payment_row = p.id;
  r.refund_request_id = key;
  r.alipay_refund_request_id = "rf-" + std::to_string(p.id) + "-" + key;
  r.amount = usd(amount);
  r.created_at = r.updated_at = p.updated_at;
  r.next_action_at = p.updated_at;
  r.request = R"({"refundRequestId":")" + r.alipay_refund_request_id + R"("})";
  r.merchant_request = R"({"refundRequestId":")" + key + R"("})";
  return r;
}

/// A transition that only creates refund `r` (no payment change).
transition create_refund(const refund& r) { return transition{.refunds = {refund_write{r, 0}}}; }

}  // namespace

TEST_CASE("refunds within the amount are created, one past it is rejected in the transaction") {
  test_db db;
  auto s = db.open();
  const payment p = paid(*s, "order-1", 1000);

  const auto a = s->commit_one(create_refund(new_refund(p, "r1", 400)));
  REQUIRE(a.status == commit_status::committed);
  CHECK(a.refund_id > 0);
  CHECK(a.refund_version == 1);
  CHECK(s->commit_one(create_refund(new_refund(p, "r2", 400))).status == commit_status::committed);
  CHECK(s->refunded_or_pending(p.id) == 800);

  const auto over = s->commit_one(create_refund(new_refund(p, "r3", 201)));
  CHECK(over.status == commit_status::rejected);
  CHECK(over.detail == refund_amount_exceed);
  CHECK_FALSE(s->find_refund(p.id, "r3"));

  // Another currency is never within the amount.
  refund jpy = new_refund(p, "r4", 1);
  jpy.amount = {1, *currency_code::parse("JPY")};
  CHECK(s->commit_one(create_refund(jpy)).detail == refund_amount_exceed);

  // A FAIL refund gives its amount back: the rest can be refunded.
  refund second = *s->find_refund(p.id, "r2");
  refund failed = second;
  failed.status = refund_status::fail;
  failed.next_action_at = never;
  failed.result = aplus_result{"REFUND_WINDOW_EXCEED", 'F', "too late"};
  const auto moved = s->commit_one(transition{.refunds = {refund_write{failed, second.version}}});
  REQUIRE(moved.status == commit_status::committed);
  CHECK(moved.refund_version == second.version + 1);
  CHECK(s->refunded_or_pending(p.id) == 400);
  CHECK(s->commit_one(create_refund(new_refund(p, "r5", 600))).status == commit_status::committed);
  CHECK(s->refunded_or_pending(p.id) == 1000);
  CHECK(s->commit_one(create_refund(new_refund(p, "r6", 1))).detail == refund_amount_exceed);

  // Read back exactly, oldest first.
  const auto all = s->refunds_of(p.id);
  REQUIRE(all.size() == 3);
  CHECK(all[0].refund_request_id == "r1");
  CHECK(all[1].status == refund_status::fail);
  CHECK(all[1].result == failed.result);
  CHECK(all[1].request == second.request);
  CHECK(all[2].amount == usd(600));
  CHECK(s->find_refund_by_alipay_id(all[2].alipay_refund_request_id)->id == all[2].id);
}

TEST_CASE("a repeated refundRequestId is a duplicate, a stale version a conflict, a final refund fixed") {
  test_db db;
  auto s = db.open();
  const payment p = paid(*s, "order-1", 1000);
  const auto a = s->commit_one(create_refund(new_refund(p, "r1", 300)));
  REQUIRE(a.status == commit_status::committed);

  refund again = new_refund(p, "r1", 300);
  again.alipay_refund_request_id = "rf-other";
  const auto dup = s->commit_one(create_refund(again));
  CHECK(dup.status == commit_status::duplicate);
  CHECK(dup.refund_id == a.refund_id);
  CHECK(dup.refund_version == 1);

  refund r = *s->load_refund(a.refund_id);
  refund sent = r;
  sent.attempt = 1;
  REQUIRE(s->commit_one(transition{.refunds = {refund_write{sent, r.version}}}).status ==
          commit_status::committed);
  const auto stale = s->commit_one(transition{.refunds = {refund_write{sent, r.version}}});
  CHECK(stale.status == commit_status::conflict);
  CHECK(stale.refund_version == r.version + 1);

  // Never two bodies for one refundRequestId: the stored request cannot change.
  refund rebuilt = *s->load_refund(a.refund_id);
  rebuilt.request = R"({"refundRequestId":"rf-1-r1","refundAmount":"999"})";
  CHECK(s->commit_one(transition{.refunds = {refund_write{rebuilt, rebuilt.version}}}).status ==
        commit_status::rejected);

  refund done = *s->load_refund(a.refund_id);
  const std::int64_t v = done.version;
  done.status = refund_status::success;
  done.next_action_at = never;
  REQUIRE(s->commit_one(transition{.refunds = {refund_write{done, v}}}).status == commit_status::committed);
  refund flip = *s->load_refund(a.refund_id);
  flip.status = refund_status::fail;
  CHECK(s->commit_one(transition{.refunds = {refund_write{flip, flip.version}}}).status ==
        commit_status::rejected);
  CHECK(s->load_refund(a.refund_id)->status == refund_status::success);
}

TEST_CASE("only a SUCCESS payment with nothing pending takes a refund") {
  test_db db;
  auto s = db.open();
  const payment open = insert(*s, sample_payment("order-open"));
  CHECK(s->commit_one(create_refund(new_refund(open, "r1", 1))).detail == payment_not_refundable);

  const payment p = paid(*s, "order-paid", 1000);
  payment cancelling = p;
  cancelling.pending = pending_action::cancel;
  cancelling.next_action_at = p.updated_at;
  REQUIRE(s->commit_one(change(p, cancelling)).status == commit_status::committed);
  CHECK(s->commit_one(create_refund(new_refund(p, "r1", 1))).detail == payment_not_refundable);
  CHECK(s->refunds_of(p.id).empty());
}

TEST_CASE("a refund commits with its payment's change, or not at all") {
  test_db db;
  auto s = db.open();
  const payment p = paid(*s, "order-1", 1000);
  // The payment's event counter moves with the refund's merchant event, in one transaction.
  payment after = p;
  after.event_seq = 2;
  transition t{.after = after, .expected_version = p.version};
  t.refunds = {refund_write{new_refund(p, "r1", 1000), 0}};
  t.outbox = {outbox_record{.event_id = "evt_r1", .seq = 2, .type = "refund.succeeded",
                            .payload = "{}", .target_url = "https://m/hook"}};
  const auto ok = s->commit_one(t);
  REQUIRE(ok.status == commit_status::committed);
  CHECK(ok.refund_id > 0);
  CHECK(s->load(p.id)->event_seq == 2);
  CHECK(s->outbox_of(p.id).size() == 1);

  // Over the amount: the payment's change is rolled back too.
  const payment now = *s->load(p.id);
  payment next = now;
  next.event_seq = 3;
  transition over{.after = next, .expected_version = now.version};
  over.refunds = {refund_write{new_refund(now, "r2", 1), 0}};
  const auto o = s->commit_one(over);
  CHECK(o.status == commit_status::rejected);
  CHECK(o.detail == refund_amount_exceed);
  CHECK(s->load(p.id)->event_seq == 2);
  CHECK(s->load(p.id)->version == now.version);
}

TEST_CASE("two partial refunds racing on two connections never exceed the amount") {
  test_db db;
  auto first = db.open();
  auto second = db.open();
  int one_won = 0;
  for (int round = 0; round < 20; ++round) {
    const payment p = paid(*first, "order-" + std::to_string(round), 1000);
    // Each sees nothing refunded yet, then both create 600 at once.
    REQUIRE(first->refunded_or_pending(p.id) == 0);
    REQUIRE(second->refunded_or_pending(p.id) == 0);
    std::barrier start(2);
    commit_outcome a, b;
    std::thread ta([&] {
      start.arrive_and_wait();
      a = first->commit_one(create_refund(new_refund(p, "a", 600)));
    });
    std::thread tb([&] {
      start.arrive_and_wait();
      b = second->commit_one(create_refund(new_refund(p, "b", 600)));
    });
    ta.join();
    tb.join();
    INFO("round " << round);
    CHECK((a.status == commit_status::committed) != (b.status == commit_status::committed));
    const auto& loser = a.status == commit_status::committed ? b : a;
    CHECK(loser.status == commit_status::rejected);
    CHECK(loser.detail == refund_amount_exceed);
    CHECK(first->refunded_or_pending(p.id) == 600);
    one_won += a.status == commit_status::committed ? 1 : 0;
  }
  MESSAGE("the first connection won " << one_won << " of 20 rounds");
}

TEST_CASE("refund calls are in the audit trail, open refunds are in the recovery scan") {
  test_db db;
  auto s = db.open();
  const payment p = paid(*s, "order-1", 1000);
  refund r1 = new_refund(p, "r1", 100);
  r1.next_action_at = from_epoch_ms(5'000);
  refund r2 = new_refund(p, "r2", 100);
  r2.next_action_at = from_epoch_ms(3'000);
  const auto o1 = s->commit_one(create_refund(r1));
  const auto o2 = s->commit_one(create_refund(r2));
  REQUIRE(o1.status == commit_status::committed);
  REQUIRE(o2.status == commit_status::committed);

  refund sent = *s->load_refund(o1.refund_id);
  const std::int64_t v = sent.version;
  sent.status = refund_status::success;
  sent.next_action_at = never;
  transition t{.calls = {call_record{.payment_id = p.id, .api = "refund", .request_body = sent.request,
                                     .outcome = "S/SUCCESS", .refund_id = o1.refund_id}},
               .refunds = {refund_write{sent, v}}};
  REQUIRE(s->commit_one(t).status == commit_status::committed);

  const auto calls = s->calls_of_refund(o1.refund_id);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].api == "refund");
  CHECK(calls[0].request_body == sent.request);
  CHECK(s->calls_of(p.id).back().refund_id == o1.refund_id);
  CHECK(s->calls_of_refund(o2.refund_id).empty());

  const auto open = s->open_refund_deadlines();
  REQUIRE(open.size() == 1);
  CHECK(open[0] == refund_deadline{o2.refund_id, p.id, from_epoch_ms(3'000)});
}

// SQLite only: it migrates a SQLite file as an older cashierd left it.
TEST_CASE("the refunds step migrates a database with payments and calls" * sqlite_only) {
  temp_dir dir;
  const auto path = dir.file("old.db");
  const int before = schema_version_after("refunds") - 1;
  REQUIRE(before >= 1);
  {
    sqlite_db db(path, false);
    migrate_to(db, before);
  }
  {
    raw_db raw(path);
    CHECK(raw.text("PRAGMA user_version") == std::to_string(before));
    CHECK(raw.text("SELECT count(*) FROM sqlite_master WHERE name = 'refunds'") == "0");
  }
  // Rows written by the previous schema: the old cashierd could not write refund_id.
  {
    sqlite_db db(path, false);
    db.exec(R"sql(
      INSERT INTO payments (id, version, alipay_payment_request_id, payment_request_id, merchant_id,
        status, pending, cancel_abandoned, attempt, event_seq, amount_minor, currency, expiry_at,
        poll_deadline_at, next_action_at, last_hint_inquiry_at, created_at, updated_at, pay_request,
        merchant_request, merchant_notify_url, aplus_payment_id, normal_url, payment_data,
        wallet_brand_name, customer_id, payment_time, cancel_reason)
      VALUES (1, 2, 'ap-1', 'order-1', 'm1', 'SUCCESS', '', 0, 0, 1, 1000, 'USD', 10, 20,
        9223372036854775807, 0, 1, 2, CAST('{}' AS BLOB), CAST('{}' AS BLOB), '', 'pid-1', '', '',
        '', '', '', '');
      INSERT INTO aplus_calls (payment_id, api, request_body, request_headers, http_status,
        response_body, response_headers, outcome, started_at, latency_us)
      VALUES (1, 'pay', X'7B7D', X'', 200, X'7B7D', X'', 'S/SUCCESS', 1, 10);
    )sql");
  }
  auto s = open_sqlite_store(path);
  {
    raw_db raw(path);
    CHECK(raw.text("PRAGMA user_version") == std::to_string(latest_schema_version()));
    CHECK(raw.text("PRAGMA integrity_check") == "ok");
    CHECK(raw.text("PRAGMA foreign_key_check").empty());
  }
  const auto p = s->load(1);
  REQUIRE(p);
  CHECK(s->refunds_of(1).empty());
  CHECK(s->refunded_or_pending(1) == 0);
  REQUIRE(s->calls_of(1).size() == 1);
  CHECK(s->calls_of(1)[0].refund_id == 0);
  const auto o = s->commit_one(create_refund(new_refund(*p, "r1", 1000)));
  CHECK(o.status == commit_status::committed);
  CHECK(s->load_refund(o.refund_id)->amount == usd(1000));
}

TEST_CASE("prune keeps the audit trail of a payment whose refund is open or recent") {
  test_db db;
  auto s = db.open();
  const payment p = paid(*s, "order-1", 1000);
  refund r = new_refund(p, "r1", 100);
  r.updated_at = p.updated_at + std::chrono::hours{24 * 40};
  transition t{.calls = {call_record{.payment_id = p.id, .api = "refund", .outcome = "U/UNKNOWN_EXCEPTION"}},
               .refunds = {refund_write{r, 0}}};
  const auto o = s->commit_one(t);
  REQUIRE(o.status == commit_status::committed);
  const time_point later = p.updated_at + std::chrono::hours{24 * 30};
  // The payment itself is final and old; its refund is PROCESSING: nothing of it goes.
  CHECK(s->prune(later, true).payments == 0);
  CHECK(s->calls_of(p.id).size() == 1);
  // Settled, but after the prune date: still kept. Settled before it: pruned with the payment.
  refund done = *s->load_refund(o.refund_id);
  const std::int64_t v = done.version;
  done.status = refund_status::success;
  done.next_action_at = never;
  REQUIRE(s->commit_one(transition{.refunds = {refund_write{done, v}}}).status == commit_status::committed);
  CHECK(s->prune(later, true).payments == 0);
  CHECK(s->prune(r.updated_at + std::chrono::hours{1}, true).payments == 1);
  CHECK(s->calls_of(p.id).empty());
  CHECK(s->load_refund(o.refund_id)->status == refund_status::success);
}
