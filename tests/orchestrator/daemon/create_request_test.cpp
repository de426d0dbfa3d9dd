// Tests of the merchant API body rules and of the Alipay+ requests and payment record built
// from them (create_request.hpp). Pure: no io_context, no store.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>

#include "orchestrator/daemon/create_request.hpp"

namespace cashier::daemon {
namespace {

namespace json = boost::json;

/// 2023-11-14T22:13:20.123Z on the payment clock.
const time_point t0 = from_epoch_ms(1'700'000'000'123);

json::object create_body() {
  return json::parse(R"({
    "paymentRequestId": "pr-1",
    "order": {"referenceOrderId": "order-1", "orderDescription": "Mi Band 3 strap",
              "orderAmount": {"currency": "JPY", "value": "100"},
              "merchant": {"referenceMerchantId": "M0001", "merchantName": "Shop", "merchantMCC": "5732",
                           "merchantAddress": {"region": "JP", "city": "Tokyo"}},
              "env": {"terminalType": "APP", "osType": "IOS"}},
    "paymentAmount": {"currency": "JPY", "value": "100"},
    "paymentRedirectUrl": "myshop://paid?order=1#done",
    "userRegion": "PH",
    "settlementStrategy": {"settlementCurrency": "USD"},
    "merchantNotifyUrl": "https://shop.example/hooks"})")
      .as_object();
}

create_context context() {
  return {"m1", "https://acqp.example/aplus/notify", std::chrono::minutes(15), t0};
}

/// The paths of the errors of a create body.
std::vector<std::string> error_paths(const json::object& body) {
  std::vector<std::string> paths;
  const auto result = parse_create_request(body, t0);
  for (const auto& e : result.errors()) paths.push_back(e.path);
  return paths;
}

TEST_CASE("wire_seconds writes whole seconds with a UTC offset") {
  CHECK(wire_seconds(t0) == "2023-11-14T22:13:20+00:00");
  CHECK(wire_seconds(from_epoch_ms(0)) == "1970-01-01T00:00:00+00:00");
}

TEST_CASE("build_payment makes an INIT record with the encoded pay request") {
  const auto parsed = parse_create_request(create_body(), t0);
  REQUIRE(parsed);
  const payment p = build_payment(*parsed, "the raw bytes", context());
  CHECK(p.id == 0);
  CHECK(p.payment_request_id == "pr-1");
  CHECK(p.merchant_id == "m1");
  CHECK(p.status == payment_status::init);
  CHECK(p.pending == pending_action::pay);
  CHECK(p.amount == money{100, *currency_code::parse("JPY")});
  // now + 15 min, rounded down to whole seconds so the instant equals the text sent.
  CHECK(p.expiry_at == from_epoch_ms(1'700'000'000'000 + 900'000));
  CHECK(p.created_at == t0);
  CHECK(p.updated_at == t0);
  CHECK(p.merchant_request == "the raw bytes");
  CHECK(p.merchant_notify_url == "https://shop.example/hooks");

  const auto pay = aplus::decode_pay_request(p.pay_request);
  REQUIRE(pay);
  CHECK(pay->payment_request_id == "pr-1");
  CHECK(pay->payment_notify_url == "https://acqp.example/aplus/notify");
  CHECK(pay->payment_method.payment_method_type == "CONNECT_WALLET");
  CHECK(pay->payment_factor == cashier_payment_factor());
  CHECK(pay->payment_expiry_time == "2023-11-14T22:28:20+00:00");
  CHECK(pay->payment_redirect_url == "myshop://paid?order=1#done");
  CHECK(pay->user_region == "PH");
  CHECK(pay->settlement_strategy->settlement_currency.str() == "USD");
  CHECK(pay->order.env.os_type == "IOS");
  CHECK(pay->order.merchant.merchant_address->city == "Tokyo");
  CHECK(json::parse(p.pay_request).at("order") == create_body().at("order"));
  CHECK(json::parse(p.pay_request).as_object().size() == 10);  // merchantNotifyUrl stays with us
}

TEST_CASE("a merchant's paymentExpiryTime is checked and forwarded verbatim") {
  auto body = create_body();
  body["paymentExpiryTime"] = "2023-11-15T08:00:00.5+08:00";
  const auto parsed = parse_create_request(body, t0);
  REQUIRE(parsed);
  CHECK(parsed->expiry_at == from_epoch_ms(1'700'006'400'500));
  const payment p = build_payment(*parsed, "", context());
  CHECK(p.expiry_at == from_epoch_ms(1'700'006'400'500));
  CHECK(aplus::decode_pay_request(p.pay_request)->payment_expiry_time ==
        "2023-11-15T08:00:00.5+08:00");
  CHECK(p.merchant_notify_url == "https://shop.example/hooks");

  body["paymentExpiryTime"] = "2023-12-14T22:13:20.123Z";  // exactly 30 days ahead
  CHECK(parse_create_request(body, t0));
  body["paymentExpiryTime"] = "2023-12-14T22:13:20.124Z";
  CHECK(error_paths(body) == std::vector<std::string>{"paymentExpiryTime"});
  body["paymentExpiryTime"] = "2023-11-14T22:13:20.123Z";  // now is not in the future
  CHECK(error_paths(body) == std::vector<std::string>{"paymentExpiryTime"});
}

TEST_CASE("paymentRequestId allows only URL-safe characters") {
  struct id_case {
    std::string id;
    bool ok;
  };
  const std::vector<id_case> cases{
      {"abc-DEF_1.2:3", true},
      {std::string(64, 'x'), true},
      {"a..b", true},
      {"", false},
      {std::string(65, 'x'), false},
      {"a/b", false},
      {"a b", false},
      {"a%2Fb", false},
      {"a?b", false},
      {"a#b", false},
      {"a\nb", false},
      {"caf\xc3\xa9", false},
      {".", false},
      {"..", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.id);
    auto body = create_body();
    body["paymentRequestId"] = c.id;
    CHECK(parse_create_request(body, t0).has_value() == c.ok);
  }
}

TEST_CASE("unknown fields are refused at every level, with every path reported") {
  auto body = create_body();
  body["order"].as_object()["goods"] = json::array{};
  body["order"].as_object()["merchant"].as_object()["merchantAddress"].as_object()["zip"] = "100";
  body["order"].as_object()["env"].as_object()["OsType"] = "IOS";
  body["settlementStrategy"].as_object()["x"] = "1";
  body["paymentFactor"] = json::object{};
  body["amount"] = "1";
  const auto result = parse_create_request(body, t0);
  REQUIRE_FALSE(result);
  std::vector<std::string> messages;
  for (const auto& e : result.errors()) messages.push_back(aplus::to_string(e));
  CHECK(messages == std::vector<std::string>{
                        "paymentFactor: set by cashierd; leave it out",
                        "amount: unknown field",
                        "order.goods: unknown field",
                        "order.merchant.merchantAddress.zip: unknown field",
                        "order.env.OsType: unknown field",
                        "settlementStrategy.x: unknown field",
                    });
}

TEST_CASE("cross-field rules: amount above zero and osType for APP and WAP") {
  auto body = create_body();
  body["paymentAmount"].as_object()["value"] = "0";
  CHECK(error_paths(body) == std::vector<std::string>{"paymentAmount.value"});
  body = create_body();
  body["order"].as_object()["env"] = json::object{{"terminalType", "WAP"}};
  CHECK(error_paths(body) == std::vector<std::string>{"order.env.osType"});
  body["order"].as_object()["env"] = json::object{{"terminalType", "WEB"}};
  CHECK(parse_create_request(body, t0));
  CHECK(parse_create_request(json::value("text"), t0).errors().front().message == "not an object");
}

TEST_CASE("consult request: paymentFactor filled by cashierd, amount 0 allowed") {
  const auto body =
      json::parse(R"({"paymentAmount":{"currency":"USD","value":"0"},"userRegion":"PH",
      "env":{"terminalType":"WEB"},"settlementStrategy":{"settlementCurrency":"USD"},
      "merchant":{"referenceMerchantId":"M1","merchantName":"Shop","merchantMCC":"5732"}})");
  const auto consult = parse_consult_request(body);
  REQUIRE(consult);
  CHECK(consult->payment_factor == cashier_payment_factor());
  CHECK(consult->payment_amount.minor_units == 0);
  CHECK(
      json::parse(aplus::encode(*consult)).at("paymentFactor") ==
      json::parse(
          R"({"isInStorePayment":"false","isCashierPayment":"true","presentmentMode":"UNIFIED"})"));

  auto with_factor = body;
  with_factor.as_object()["paymentFactor"] = json::object{};
  REQUIRE_FALSE(parse_consult_request(with_factor));
  CHECK(parse_consult_request(with_factor).errors().front().path == "paymentFactor");
  auto with_unknown = body;
  with_unknown.as_object()["merchant"].as_object()["merchantAddress"] =
      json::object{{"region", "JP"}, {"x", "1"}};
  CHECK(parse_consult_request(with_unknown).errors().front().path == "merchant.merchantAddress.x");
  CHECK(parse_consult_request(json::parse(R"({"env":{"terminalType":"WEB"}})"))
            .errors()
            .front()
            .path == "paymentAmount");
}

TEST_CASE("cancel body: empty, {} or a reason of at most 256 characters") {
  CHECK(*parse_cancel_reason("") == "");
  CHECK(*parse_cancel_reason("{}") == "");
  CHECK(*parse_cancel_reason(R"({"reason":"customer changed their mind"})") ==
        "customer changed their mind");
  CHECK(parse_cancel_reason(R"({"reason":")" + std::string(256, 'r') + R"("})"));
  CHECK(parse_cancel_reason(R"({"reason":")" + std::string(257, 'r') + R"("})")
            .errors()
            .front()
            .path == "reason");
  CHECK(parse_cancel_reason(R"({"reason":7})").errors().front().path == "reason");
  CHECK(parse_cancel_reason(R"({"why":"x"})").errors().front().path == "why");
  CHECK(parse_cancel_reason("[]").errors().front().message == "not an object");
  CHECK_FALSE(parse_cancel_reason(R"({"reason":"a","reason":"b"})"));
}

// Issue 14, item 5: the Alipay+ paymentRequestId is cashierd's own.
TEST_CASE("build_payment sends cashierd's own Alipay+ paymentRequestId") {
  const auto parsed = parse_create_request(create_body(), t0);
  REQUIRE(parsed);
  auto ctx = context();
  ctx.alipay_payment_request_id = new_alipay_payment_request_id();
  const payment p = build_payment(*parsed, "", ctx);
  CHECK(p.payment_request_id == "pr-1");
  CHECK(p.alipay_payment_request_id == ctx.alipay_payment_request_id);
  CHECK(aplus::decode_pay_request(p.pay_request)->payment_request_id == ctx.alipay_payment_request_id);
}

TEST_CASE("new Alipay+ ids: prefix + 26 base32 characters, URL-safe, never repeated") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto id = new_alipay_payment_request_id();
    REQUIRE(id.size() == 29);
    CHECK(id.rfind("cp1", 0) == 0);
    CHECK(id.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567", 3) == std::string::npos);
    CHECK(seen.insert(id).second);
  }
}

TEST_CASE("check_merchant names the first field that differs from a configured record") {
  merchant_config m;
  m.identity = {"M0001", "Shop", "5732", "JP", "Tokyo"};
  m.sub_merchants = {{"M0001-A", "Stall A", "5812", "JP", "Osaka"}};
  CHECK_FALSE(check_merchant(to_aplus(m.identity), m, "order.merchant"));
  CHECK_FALSE(check_merchant(to_aplus(m.sub_merchants[0]), m, "order.merchant"));
  auto sent = to_aplus(m.identity);
  sent.reference_merchant_id = "M0002";
  CHECK(check_merchant(sent, m, "order.merchant")->field == "order.merchant.referenceMerchantId");
  sent = to_aplus(m.identity);
  sent.merchant_name = "Apple Store";
  CHECK(check_merchant(sent, m, "merchant")->field == "merchant.merchantName");
  sent = to_aplus(m.identity);
  sent.merchant_address.reset();
  CHECK(check_merchant(sent, m, "merchant")->field == "merchant.merchantAddress");
  sent = to_aplus(m.sub_merchants[0]);
  sent.merchant_address->city = "Tokyo";
  CHECK(check_merchant(sent, m, "merchant")->field == "merchant.merchantAddress.city");
  // fill_merchant: only where it is missing, at order.merchant or (consult) merchant.
  auto body = create_body();
  body["order"].as_object().erase("merchant");
  const auto filled = fill_merchant(body, m, false);
  CHECK(filled.at("order").at("merchant").at("referenceMerchantId") == "M0001");
  CHECK(fill_merchant(create_body(), m, false) == json::value(create_body()));
  CHECK(fill_merchant(json::object{}, m, true).at("merchant").at("merchantAddress").at("city") == "Tokyo");
}

}  // namespace
}  // namespace cashier::daemon
