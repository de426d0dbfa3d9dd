// Tests of the refund engine over a real SQLite store: orders checked against the payment
// (idempotent repeat, inconsistent repeat, amount, refundability), refunds stored with their
// first send armed before anything is sent (a crash between commit and send resends the same
// bytes after recovery), answers committed with the payment's shared event counter and the
// merchant outbox row, and FAIL giving the amount back.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

#include "orchestrator/engine/refunds.hpp"
#include "tests/state/store/store_fixture.hpp"

using namespace cashier;
using namespace cashier::engine;
using namespace cashier::store::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const time_point t0 = from_epoch_ms(1'700'000'000'000);

struct fixture {
  temp_dir dir;
  std::unique_ptr<store::payment_store> s = store::open_sqlite_store(dir.file("e.db"));
  int ids = 0;
  refund_engine eng{*s, refund_engine_config{
                            .params = {},
                            .build_request =
                                [](const payment& p, const refund& r) {
                                  return R"({"paymentId":")" + p.payment_id + R"(","refundRequestId":")" +
                                         r.alipay_refund_request_id + R"(","value":")" +
                                         std::to_string(r.amount.minor_units) + R"("})";
                                },
                            .new_request_id = [this] { return "rf-" + std::to_string(++ids); },
                            .webhook_url = [](const payment&) { return std::string("https://m/hook"); },
                        }};

  payment paid(std::int64_t amount) {
    payment p = sample_payment("order-1");
    p.amount = usd(amount);
    return insert_paid(*s, p, "pid-1");
  }

  refund_order order(const payment& p, const std::string& key, std::int64_t amount) {
    return {p.id, key, usd(amount), "returned", refund_origin::merchant,
            R"({"refundRequestId":")" + key + R"(","value":")" + std::to_string(amount) + R"("})"};
  }
};

}  // namespace

TEST_CASE("refund orders: created, repeated, inconsistent, past the amount, not refundable") {
  fixture f;
  const payment p = f.paid(1000);
  const auto a = f.eng.create(f.order(p, "r1", 300), t0);
  REQUIRE(a.status == refund_order_status::created);
  CHECK(a.r.id > 0);
  CHECK(a.r.alipay_refund_request_id == "rf-1");
  CHECK(a.r.request == R"({"paymentId":"pid-1","refundRequestId":"rf-1","value":"300"})");
  REQUIRE(a.effects.size() == 1);
  CHECK(std::holds_alternative<send_refund>(a.effects[0]));
  // Stored before the send, with the answer guard armed.
  const auto stored = f.s->load_refund(a.r.id);
  REQUIRE(stored);
  CHECK(stored->attempt == 1);
  CHECK(stored->next_action_at == t0 + refund_params{}.answer_guard);

  const auto again = f.eng.create(f.order(p, "r1", 300), t0 + 1s);
  CHECK(again.status == refund_order_status::repeat);
  CHECK(again.r.id == a.r.id);
  CHECK(again.effects.empty());
  CHECK(f.eng.create(f.order(p, "r1", 301), t0).status == refund_order_status::inconsistent);

  CHECK(f.eng.create(f.order(p, "r2", 300), t0).status == refund_order_status::created);
  CHECK(f.eng.create(f.order(p, "r3", 401), t0).status == refund_order_status::amount_exceed);
  CHECK(f.eng.create(f.order(p, "r3", 400), t0).status == refund_order_status::created);
  CHECK(f.eng.create(f.order(p, "r4", 1), t0).status == refund_order_status::amount_exceed);
  CHECK(f.s->refunds_of(p.id).size() == 3);

  const payment open = insert(*f.s, sample_payment("order-open"));
  CHECK(f.eng.create(f.order(open, "r1", 1), t0).status == refund_order_status::not_refundable);
  CHECK(f.eng.create(f.order(p, "r5", 0), t0).status == refund_order_status::amount_exceed);
  refund_order other = f.order(p, "r6", 1);
  other.payment_id = 999;
  CHECK(f.eng.create(other, t0).status == refund_order_status::not_found);
}

TEST_CASE("a refund answered S emits refund.succeeded with the payment's next seq, in one commit") {
  fixture f;
  const payment p = f.paid(1000);
  const auto a = f.eng.create(f.order(p, "r1", 400), t0);
  REQUIRE(a.status == refund_order_status::created);
  store::call_record call{.api = "refund", .request_body = a.r.request, .outcome = "S/SUCCESS"};
  const auto o = f.eng.apply(a.r.id,
                             refund_answer{{"SUCCESS", 'S', ""}, "rid-1", "2026-01-01T00:00:00+08:00", usd(400)},
                             {call}, t0 + 1s);
  REQUIRE(o.result == outcome::applied);
  CHECK(o.after.status == refund_status::success);
  CHECK(f.s->load(p.id)->event_seq == 2);
  const auto outbox = f.s->outbox_of(p.id);
  REQUIRE(outbox.size() == 1);
  CHECK(outbox[0].seq == 2);
  CHECK(outbox[0].type == "refund.succeeded");
  const auto body = json::parse(outbox[0].payload).as_object();
  CHECK(body.at("type").as_string() == "refund.succeeded");
  const auto& data = body.at("data").as_object();
  CHECK(data.at("sequence").as_int64() == 2);
  CHECK(data.at("refund").at("refundRequestId").as_string() == "r1");
  CHECK(data.at("refund").at("status").as_string() == "SUCCESS");
  CHECK(data.at("refund").at("refundId").as_string() == "rid-1");
  CHECK(data.at("payment").at("refundedAmount").at("value").as_string() == "400");
  CHECK(data.at("payment").at("refunds").as_array().size() == 1);
  const auto calls = f.s->calls_of_refund(a.r.id);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].payment_id == p.id);

  // A duplicate answer changes nothing and emits nothing.
  const auto dup = f.eng.apply(a.r.id, refund_answer{{"SUCCESS", 'S', ""}, "rid-1", "", usd(400)}, {}, t0 + 2s);
  CHECK(dup.result == outcome::unchanged);
  CHECK(f.s->outbox_of(p.id).size() == 1);
}

TEST_CASE("a refund answered F gives its amount back and emits refund.failed with the code") {
  fixture f;
  const payment p = f.paid(1000);
  const auto a = f.eng.create(f.order(p, "r1", 1000), t0);
  REQUIRE(a.status == refund_order_status::created);
  CHECK(f.eng.create(f.order(p, "r2", 1), t0).status == refund_order_status::amount_exceed);
  const auto o = f.eng.apply(a.r.id, refund_answer{{"REFUND_WINDOW_EXCEED", 'F', "late"}, "", "", std::nullopt},
                             {}, t0 + 1s);
  REQUIRE(o.result == outcome::applied);
  CHECK(o.after.status == refund_status::fail);
  const auto outbox = f.s->outbox_of(p.id);
  REQUIRE(outbox.size() == 1);
  CHECK(outbox[0].type == "refund.failed");
  const auto body = json::parse(outbox[0].payload).as_object();
  CHECK(body.at("data").at("refund").at("result").at("resultCode").as_string() == "REFUND_WINDOW_EXCEED");
  CHECK(f.eng.create(f.order(p, "r2", 1000), t0 + 2s).status == refund_order_status::created);
}

TEST_CASE("a crash between commit and send: recovery re-arms the refund and the timer resends the same bytes") {
  fixture f;
  const payment p = f.paid(1000);
  const auto a = f.eng.create(f.order(p, "r1", 250), t0);
  REQUIRE(a.status == refund_order_status::created);
  // The process dies before sending: nothing but the store survives.
  refund_engine restarted(*f.s, refund_engine_config{.params = {}, .build_request = [](const payment&, const refund&) {
    FAIL("a stored refund is never rebuilt");
    return std::string();
  }});
  const auto open = restarted.recover();
  REQUIRE(open.size() == 1);
  CHECK(open[0].refund_id == a.r.id);
  CHECK(open[0].payment_id == p.id);
  const auto due = restarted.apply(a.r.id, deadline_reached{}, {}, open[0].next_action_at);
  REQUIRE(due.result == outcome::applied);
  REQUIRE(due.made.effects.size() == 1);
  CHECK(std::holds_alternative<send_refund>(due.made.effects[0]));
  CHECK(due.after.request == a.r.request);
  CHECK(due.after.attempt == 2);
  // Unanswered sends end in a confirming inquiry; the inquiry's proof settles it.
  refund r = due.after;
  time_point now = open[0].next_action_at;
  while (r.track == refund_track::send) {
    r = restarted.apply(r.id, refund_no_answer{no_answer_reason::timeout}, {}, now).after;
    now = r.next_action_at;
    r = restarted.apply(r.id, deadline_reached{}, {}, now).after;
  }
  CHECK(r.track == refund_track::confirm);
  inquiry_answer proof{{"SUCCESS", 'S', ""}, aplus_result{"SUCCESS", 'S', ""}, {}, usd(1000),
                       {{"REFUND", "rf-1", "SUCCESS", aplus_result{"SUCCESS", 'S', ""}}}};
  const auto settled = restarted.apply(r.id, proof, {}, now + 1s);
  CHECK(settled.after.status == refund_status::success);
  CHECK(f.s->outbox_of(p.id).size() == 1);
  CHECK(restarted.recover().empty());
}
