// Tests of the public payment object's two writers: payment_json (text, for the hot paths) must
// give exactly the bytes of serializing payment_to_json (the tree, for everything else), and the
// webhook payload must be the Standard Webhooks body built from it.
#include <doctest/doctest.h>

#include <set>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/engine/engine.hpp"
#include "orchestrator/engine/payment_view.hpp"

using namespace cashier;
namespace json = boost::json;

namespace {

payment bare() {
  payment p;
  p.id = 7;
  p.payment_request_id = "pr-1";
  p.amount = {1000, *currency_code::parse("USD")};
  return p;
}

payment full() {
  payment p = bare();
  p.status = payment_status::success;
  p.pending = pending_action::none;
  p.merchant_request = R"({"paymentRequestId":"pr-1","order":{"referenceOrderId":"o-1",)"
                       R"("orderAmount":{"currency":"USD","value":"1000"},"n":1.5e3,"list":[1,true,null]}})";
  p.payment_id = "SIM-1";
  p.normal_url = "https://sim.example/checkout/SIM-1?a=1&b=2";
  p.payment_data = R"({"wallets":["GCash"]})";
  p.wallet_brand_name = "GCash";
  p.customer_id = "c-1";
  p.payment_time = "2026-11-25T10:00:00+08:00";
  p.settlement_amount = money{1234, *currency_code::parse("JPY")};
  p.result = aplus_result{"SUCCESS", 'S', "success"};
  p.expiry_at = from_epoch_ms(1'795'000'000'000);
  p.poll_deadline_at = from_epoch_ms(1'795'000'600'000);
  p.next_action_at = never;
  p.created_at = from_epoch_ms(1'794'999'000'123);
  p.updated_at = from_epoch_ms(1'794'999'001'456);
  p.cancel_reason = "merchant: changed \"mind\"";
  return p;
}

}  // namespace

TEST_CASE("payment_json writes the bytes of the JSON tree, field for field") {
  for (const payment& p : {bare(), full()}) CHECK(engine::payment_json(p) == json::serialize(engine::payment_to_json(p)));
}

TEST_CASE("payment_json escapes strings as Boost.JSON does") {
  payment p = full();
  p.customer_id = std::string("q\"b\\s/\b\t\n\f\r\x01\x1f\x7f", 14) + "é\xff";  // controls, DEL, UTF-8, invalid
  p.wallet_brand_name = std::string("\0nul", 4);
  p.merchant_request = "not json";  // no order: null
  CHECK(engine::payment_json(p) == json::serialize(engine::payment_to_json(p)));
  CHECK(engine::payment_json(p).find(R"(\"b\\s/\b\t\n\f\r\u0001\u001f)") != std::string::npos);
}

TEST_CASE("the webhook payload carries the payment object, its sequence and event id") {
  const payment p = full();
  const auto now = from_epoch_ms(1'795'000'000'007);
  const auto text = engine::webhook_payload(p, merchant_event_type::succeeded, 2, "evt_abc", now);
  json::object data{{"payment", engine::payment_to_json(p)}, {"sequence", 2}, {"eventId", "evt_abc"}};
  json::object body{{"type", "payment.succeeded"}, {"timestamp", engine::iso8601(now)}, {"data", std::move(data)}};
  CHECK(text == json::serialize(body));
  CHECK(json::parse(text).at("data").at("payment").at("status") == "SUCCESS");
}

TEST_CASE("payment.cancel_failed carries the Alipay+ code that refused the cancel") {
  const payment p = full();
  const auto now = from_epoch_ms(1'795'000'000'007);
  const auto text =
      engine::webhook_payload(p, merchant_event_type::cancel_failed, 3, "evt_cf", now, "CANCEL_WINDOW_EXCEED");
  const auto v = json::parse(text);
  CHECK(v.at("type") == "payment.cancel_failed");
  CHECK(v.at("data").at("cancelResult").at("resultCode") == "CANCEL_WINDOW_EXCEED");
  CHECK(v.at("data").at("cancelResult").at("resultStatus") == "F");
  CHECK(v.at("data").at("sequence") == 3);
  const auto pending = json::parse(engine::webhook_payload(p, merchant_event_type::pending, 1, "evt_pe", now));
  CHECK(pending.at("type") == "payment.pending");
  CHECK_FALSE(pending.at("data").as_object().contains("cancelResult"));
  CHECK(pending.at("data").at("payment").at("normalUrl") == json::value(p.normal_url));
}

// Issue 14 (item 11): event ids reveal no row counts: random, never derived from the row id.
TEST_CASE("random event ids: evt_ + 26 base32 characters, never repeated") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto id = engine::random_event_id();
    REQUIRE(id.size() == 30);
    CHECK(id.rfind("evt_", 0) == 0);
    CHECK(id.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567", 4) == std::string::npos);
    CHECK(seen.insert(id).second);
  }
}
