// Tests of cashierctl's refunds: `refunds <id>` (table and --json), refunds in `show`, and refunds
// PROCESSING for more than an hour in `stuck`, on a database built with the real store.
#include <boost/json/serialize.hpp>

#include "tests/tools/cashierctl/ctl_fixture.hpp"
#include "tools/cashierctl/check.hpp"

namespace cashier::ctl::test {
namespace {

bool has(const std::string& s, std::string_view what) { return s.find(what) != std::string::npos; }

/// Adds to pr-success (1234 USD) a refund of 400 SUCCESS and one of 300 PROCESSING since t0.
void add_refunds(const sample_db& db) {
  auto s = db.writer();
  const payment p = *s->find("pr-success");
  refund a;
  a.payment_row = p.id;
  a.refund_request_id = "ret-1";
  a.alipay_refund_request_id = "rf_one";
  a.amount = store::test::usd(400);
  a.created_at = a.updated_at = at(1000);
  a.request = "{}";
  a.merchant_request = "{}";
  a.status = refund_status::success;
  a.next_action_at = never;
  a.refund_id = "rid-1";
  a.result = aplus_result{"SUCCESS", 'S', ""};
  refund b = a;
  b.refund_request_id = "ret-2";
  b.alipay_refund_request_id = "rf_two";
  b.amount = store::test::usd(300);
  b.status = refund_status::processing;
  b.next_action_at = at(700'000);
  b.attempt = 6;
  b.refund_id.clear();
  b.result.reset();
  b.created_at = at(-3'600'000);
  REQUIRE(s->commit_one(store::transition{.refunds = {store::refund_write{a, 0}, store::refund_write{b, 0}}}).status ==
          store::commit_status::committed);
}

/// Commits merchant event `type` (the payment's next sequence) on pr-success, as a refund's
/// commit does: the payment's event_seq moves with it, no status change.
void add_refund_event(const sample_db& db, const std::string& type) {
  auto s = db.writer();
  const payment p = *s->find("pr-success");
  payment after = p;
  after.event_seq = p.event_seq + 1;
  store::transition t;
  t.before = p;
  t.after = after;
  t.expected_version = p.version;
  t.outbox.push_back(merchant_event(p.id, after.event_seq, type, store::outbox_state::delivered, 1, at(2000), at(2000)));
  REQUIRE(s->commit_one(t).status == store::commit_status::committed);
}

}  // namespace

TEST_CASE("check: a refund event is no status event, and there is one per settled refund, of its outcome") {
  sample_db db;
  add_refunds(db);
  add_refund_event(db, "refund.succeeded");  // ret-1 SUCCESS
  {
    auto s = store::open_sqlite_store(db.path, {.read_only = true});
    const auto v = check_store(*s, test_now(), std::chrono::seconds(60)).violations;
    for (const auto& x : v) INFO(x.payment_request_id << ": " << x.message);
    CHECK(v.empty());
  }
  auto r = run({"--db", db.path, "check"});
  INFO(r.out);
  CHECK(r.status == exit_status::ok);
  // An event for a refund that did not end so (ret-2 is still PROCESSING) is reported.
  add_refund_event(db, "refund.failed");
  auto s = store::open_sqlite_store(db.path, {.read_only = true});
  const auto v = check_store(*s, test_now(), std::chrono::seconds(60)).violations;
  REQUIRE(v.size() == 1);
  CHECK(v[0].rule == invariant::merchant_events);
  CHECK(v[0].message == "0 refunds FAIL but 1 refund.failed events");
}

TEST_CASE("refunds: the payment's refunds as a table with the refunded sum, and as JSON") {
  sample_db db;
  add_refunds(db);
  auto r = run({"--db", db.path, "refunds", "pr-success"});
  CHECK(r.status == exit_status::ok);
  CHECK(has(r.out, "REFUND REQUEST ID"));
  CHECK(has(r.out, "ret-1"));
  CHECK(has(r.out, "PROCESSING"));
  CHECK(has(r.out, "rid-1"));
  CHECK(has(r.out, "2 refunds, refunded 400 USD of 1234 USD"));

  r = run({"--db", db.path, "--json", "refunds", "pr-success"});
  CHECK(r.status == exit_status::ok);
  const auto doc = boost::json::parse(r.out).as_object();
  CHECK(doc.at("refundedAmount").at("value").as_string() == "400");
  CHECK(doc.at("refunds").as_array().size() == 2);
  CHECK(doc.at("refunds").as_array()[1].at("status").as_string() == "PROCESSING");

  CHECK(run({"--db", db.path, "refunds", "nope"}).status == exit_status::failed);
}

TEST_CASE("show has the refunds, stuck lists a refund processing for more than an hour") {
  sample_db db;
  add_refunds(db);
  auto r = run({"--db", db.path, "--json", "show", "pr-success"});
  const auto doc = boost::json::parse(r.out).as_object();
  CHECK(doc.at("payment").at("refundedAmount").at("value").as_string() == "400");
  r = run({"--db", db.path, "show", "pr-success"});
  CHECK(has(r.out, "ret-1  SUCCESS SUCCESS"));

  r = run({"--db", db.path, "stuck"});
  CHECK(has(r.out, "Refunds processing for more than an hour"));
  CHECK(has(r.out, "ret-2"));
  CHECK_FALSE(has(r.out, "ret-1"));
  r = run({"--db", db.path, "--json", "stuck"});
  const auto stuck = boost::json::parse(r.out).as_object();
  REQUIRE(stuck.at("openRefunds").as_array().size() == 1);
  CHECK(stuck.at("openRefunds").as_array()[0].at("refund").at("refundRequestId").as_string() == "ret-2");
}

}  // namespace cashier::ctl::test
