// Tests for codec.hpp: the sample messages of alipayplus-accept-a-payment.txt decode and
// re-encode to the same JSON value, unknown fields survive, absent optionals are omitted, and
// every decode error path gives its field-level message.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>

#include "orchestrator/alipayplus/codec.hpp"

using namespace cashier::aplus;
namespace json = boost::json;

namespace {

// --- the samples of alipayplus-accept-a-payment.txt, verbatim ---

constexpr std::string_view pay_request_sample = R"json({
"userRegion": "PH",
"paymentExpiryTime": "2019-06-01T12:01:01+08:30",
"paymentNotifyUrl": "http://xmock.inc.alipay.net/api/Ipay/globalSite/automtion/paymentNotify.htm",
"paymentRequestId": "pay_1089760038715669_102775745075669",
"paymentFactor": {
"isInStorePayment": "false",
"isCashierPayment": "true",
"presentmentMode": "UNIFIED"
},
"order": {
"referenceOrderId": "102775745075669",
"orderDescription": "Mi Band 3 Wrist Strap Metal Screwless Stainless Steel For Xiaomi Mi Band 3 ",
"orderAmount": {
"currency": "JPY",
"value": "100"
},
"merchant": {
"referenceMerchantId": "M0000000001",
"merchantName": "cup Hu",
"merchantMCC": "1234",
"merchantAddress": {
"region": "JP",
"city": "xxx"
}
},
"env":{
"terminalType":"APP",
"OsType":"IOS"
}
},
"settlementStrategy": {
"settlementCurrency": "USD"
},
"paymentAmount": {
"currency": "JPY",
"value": "100"
},
"paymentMethod": {
"paymentMethodType": "CONNECT_WALLET"
}
})json";

constexpr std::string_view pay_response_sample = R"json({
"acquirerId": "202122810000****",
"result": {
"resultCode": "PAYMENT_IN_PROCESS",
"resultStatus": "U",
"resultMessage": "The payment in process."
},
"paymentId": "2019060811401080010018882020035****",
"paymentAmount": {
"value": "100",
"currency": "JPY"
},
"normalUrl": "http://iopengw-sea.com/api/open/v1/ac/cashier/self/codevalue/checkout.htm?codeValue=https%3A%2F%2Fqr.alipayplus.com%2F281666040092tUox5AICEzTlESzUJe26IPnn",
"paymentData": "{\"displayPaymentAmount\":\"100.00\",\"displayPaymentCurrency\":\"USD\",\"wallets\":[{\"enabled\":true,\"promoNames\":[\"{\\\"en_US\\\":\\\"30% off\\\",\\\"th_TH\\\":\\\"คูปองส่วนลด 30 บาท\\\"}\"],\"searchKeywords\":[\"dana wallet\"],\"walletName\":\"DANA\"}]}"
})json";

constexpr std::string_view inquiry_request_sample = R"json({
"paymentRequestId":"pay_1089760038715669_10277574507566920200101234567897890"
})json";

constexpr std::string_view inquiry_response_sample = R"json({
"acquirerId": "1111088000000000002",
"pspId": "1022172000000000001",
"result": {
"resultCode": "SUCCESS",
"resultStatus": "S",
"resultMessage": "success"
},
"paymentResult": {
"resultCode": "SUCCESS",
"resultStatus": "S",
"resultMessage": "success"
},
"paymentRequestId":"pay_1089760038715669_102775745075669",
"paymentId": "20200101234567890134567",
"paymentTime": "2020-01-01T12:01:01+08:30",
"paymentAmount": {
"value": "100",
"currency": "JPY"
},
"customerId": "1235678",
"walletBrandName":"KAKAOPAY",
"transactions":[
{
"transactionResult":{
"resultCode":"SUCCESS",
"resultStatus":"S",
"resultMessage":"success"
},
"transactionId":"1111111111111111111",
"transactionType":"REFUND",
"transactionStatus":"SUCCESS",
"transactionRequestId":"pay_1089760038715669_102775745075670",
"transactionAmount":{
"value":"500",
"currency":"USD"
},
"transactionTime":"2019-06-01T12:01:01+08:30"
}
],
"settlementAmount": {
"value": "9000",
"currency": "USD"
},
"settlementQuote": {
"quoteCurrencyPair": "JPY/USD",
"quoteExpiryTime": "2021-06-02T13:15:48+08:00",
"quoteId": "046793306919858814",
"quotePrice": "0.9",
"quoteStartTime": "2021-05-30T13:15:48+08:00"
}
})json";

constexpr std::string_view notify_request_sample = R"json({
"acquirerId": "1111088000000000002",
"pspId":"1022172000000000001",
"paymentResult": {
"resultCode":"SUCCESS",
"resultStatus":"S",
"resultMessage":"success"
},
"paymentRequestId":"pay_1089760038715669_102775745075669",
"paymentId":"20200101234567890134567",
"paymentTime": "2020-01-01T12:01:01+08:30",
"paymentAmount":{
"value":"100",
"currency":"JPY"
},
"customerId":"1235678",
"walletBrandName":"KAKAOPAY"
})json";

constexpr std::string_view notify_ack_sample = R"json({
"result": {
"resultCode":"SUCCESS",
"resultStatus":"S",
"resultMessage":"success"
}
})json";

// --- messages the source document has no sample for (shapes from ALIPAYPLUS.md) ---

constexpr std::string_view cancel_response_sample = R"json({
"result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
"acquirerId": "1111088000000000002",
"pspId": "1022172000000000001",
"paymentId": "20200101234567890134567",
"cancelTime": "2020-01-01T12:05:01+08:30"
})json";

constexpr std::string_view consult_request_sample = R"json({
"paymentAmount": {"currency": "USD", "value": "0"},
"paymentFactor": {"isInStorePayment": "false", "isCashierPayment": "true", "presentmentMode": "UNIFIED"},
"settlementStrategy": {"settlementCurrency": "USD"},
"userRegion": "SG",
"env": {"terminalType": "WEB"},
"merchant": {"referenceMerchantId": "M0000000001", "merchantName": "cup Hu", "merchantMCC": "5411"}
})json";

constexpr std::string_view consult_response_sample = R"json({
"result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
"paymentOptions": [
  {
    "paymentMethodType": "CONNECT_WALLET",
    "paymentMethodCategory": "WALLET",
    "enabled": "true",
    "preferred": "false",
    "logo": {"logoName": "ALIPAY_PLUS", "logoUrl": "https://cdn.example/aplus.svg", "logoPattern": "DEFAULT"},
    "promoNames": ["{\"en_US\":\"30% off\",\"th_TH\":\"คูปองส่วนลด 30 บาท\"}"],
    "paymentOptionDetail": {
      "connectWallet": {
        "supportWallets": [
          {"walletName": "DANA", "walletBrandName": "DANA", "walletRegion": "ID",
           "walletLogo": {"logoName": "DANA", "logoUrl": "https://cdn.example/dana.svg"}},
          {"walletName": "GCash", "futureField": ["a", {"b": 1}]}
        ]
      }
    }
  },
  {"paymentMethodType": "CONNECT_WALLET", "enabled": "false", "disableReason": "CURRENCY_NOT_SUPPORT"}
]
})json";

/// The messages of the errors, as "path: message".
template <class T>
std::vector<std::string> errors_of(const decode_result<T>& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors()) out.push_back(to_string(e));
  return out;
}

/// `sample` with `change` applied to its top-level object, serialized again.
std::string edited(std::string_view sample, const std::function<void(json::object&)>& change) {
  json::value v = json::parse(sample);
  change(v.as_object());
  return json::serialize(v);
}

/// The only error decoding `body` with `decode` gives.
template <class T>
std::string only_error(decode_result<T> (*decode)(std::string_view, const json_limits&), std::string_view body) {
  const auto r = decode(body, {});
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.errors().size() == 1);
  return to_string(r.errors().front());
}

std::string pay_request_error(const std::function<void(json::object&)>& change) {
  return only_error(decode_pay_request, edited(pay_request_sample, change));
}

json::object& at(json::object& o, std::string_view key) { return o.at(key).as_object(); }

}  // namespace

TEST_CASE("the pay request sample decodes and re-encodes to the same value") {
  const auto r = decode_pay_request(pay_request_sample);
  REQUIRE_MESSAGE(r.has_value(), to_string(r.errors()));
  CHECK(r->payment_request_id == "pay_1089760038715669_102775745075669");
  CHECK(r->payment_amount.minor_units == 100);
  CHECK(r->payment_amount.currency.view() == "JPY");
  CHECK(r->order.order_amount.minor_units == 100);
  CHECK(r->order.merchant.merchant_address->region == "JP");
  CHECK(r->order.env.terminal_type == "APP");
  CHECK(r->payment_factor->is_in_store_payment == false);
  CHECK(r->payment_factor->is_cashier_payment == true);
  CHECK(r->settlement_strategy->settlement_currency.view() == "USD");
  CHECK(r->payment_expiry_time == "2019-06-01T12:01:01+08:30");
  CHECK_FALSE(r->payment_redirect_url.has_value());
  CHECK(to_json(*r) == json::parse(pay_request_sample));
}

TEST_CASE("an unknown key (env.OsType, capital O) is kept, not taken for osType") {
  const auto r = decode_pay_request(pay_request_sample);
  REQUIRE(r.has_value());
  CHECK_FALSE(r->order.env.os_type.has_value());
  CHECK(r->order.env.extra_fields == json::object{{"OsType", "IOS"}});
  CHECK(encode(r->order.env) == R"({"terminalType":"APP","OsType":"IOS"})");
}

TEST_CASE("the pay response sample decodes and re-encodes to the same value") {
  const auto r = decode_pay_response(pay_response_sample);
  REQUIRE_MESSAGE(r.has_value(), to_string(r.errors()));
  CHECK(r->result.code == "PAYMENT_IN_PROCESS");
  CHECK(r->result.status == 'U');
  CHECK(r->result.message == "The payment in process.");
  CHECK(r->payment_id == "2019060811401080010018882020035****");
  CHECK(r->payment_data->find("คูปองส่วนลด") != std::string::npos);
  CHECK(json::parse(*r->payment_data).at("displayPaymentCurrency") == "USD");
  CHECK_FALSE(r->psp_id.has_value());
  CHECK(to_json(*r) == json::parse(pay_response_sample));
}

TEST_CASE("the inquiry request sample decodes and re-encodes to the same value") {
  const auto r = decode_inquiry_payment_request(inquiry_request_sample);
  REQUIRE_MESSAGE(r.has_value(), to_string(r.errors()));
  CHECK(r->payment_request_id == "pay_1089760038715669_10277574507566920200101234567897890");
  CHECK_FALSE(r->payment_id.has_value());
  CHECK(to_json(*r) == json::parse(inquiry_request_sample));
}

TEST_CASE("the inquiry response sample decodes and re-encodes to the same value") {
  const auto r = decode_inquiry_payment_response(inquiry_response_sample);
  REQUIRE_MESSAGE(r.has_value(), to_string(r.errors()));
  CHECK(r->result.status == 'S');
  CHECK(r->payment_result->status == 'S');
  CHECK(r->payment_result->code == "SUCCESS");
  REQUIRE(r->transactions->size() == 1);
  const transaction& t = r->transactions->front();
  CHECK(t.transaction_type == "REFUND");
  CHECK(t.transaction_amount->minor_units == 500);
  CHECK(t.transaction_result->status == 'S');
  CHECK(r->settlement_amount->minor_units == 9000);
  CHECK(r->settlement_quote->quote_price == "0.9");
  CHECK(r->wallet_brand_name == "KAKAOPAY");
  CHECK(to_json(*r) == json::parse(inquiry_response_sample));
}

TEST_CASE("the notify request sample decodes and re-encodes to the same value") {
  const auto r = decode_notify_payment_request(notify_request_sample);
  REQUIRE_MESSAGE(r.has_value(), to_string(r.errors()));
  CHECK(r->payment_result.status == 'S');
  CHECK(r->payment_request_id == "pay_1089760038715669_102775745075669");
  CHECK(r->payment_amount.minor_units == 100);
  CHECK(r->payment_amount.currency.view() == "JPY");
  CHECK(r->customer_id == "1235678");
  CHECK(to_json(*r) == json::parse(notify_request_sample));
}

TEST_CASE("the notify ack sample decodes, re-encodes, and is what success_ack() writes") {
  const auto r = decode_notify_payment_ack(notify_ack_sample);
  REQUIRE_MESSAGE(r.has_value(), to_string(r.errors()));
  CHECK(*r == success_ack());
  CHECK(to_json(*r) == json::parse(notify_ack_sample));
  CHECK(encode(success_ack()) == R"({"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}})");
}

TEST_CASE("cancel and consult messages decode and re-encode to the same value") {
  const auto cancel = decode_cancel_payment_response(cancel_response_sample);
  REQUIRE_MESSAGE(cancel.has_value(), to_string(cancel.errors()));
  CHECK(cancel->result.status == 'S');
  CHECK(cancel->extra_fields.contains("cancelTime"));
  CHECK(to_json(*cancel) == json::parse(cancel_response_sample));

  const auto consult_request = decode_consult_payment_request(consult_request_sample);
  REQUIRE_MESSAGE(consult_request.has_value(), to_string(consult_request.errors()));
  CHECK(consult_request->payment_amount.minor_units == 0);
  CHECK(to_json(*consult_request) == json::parse(consult_request_sample));

  const auto consult = decode_consult_payment_response(consult_response_sample);
  REQUIRE_MESSAGE(consult.has_value(), to_string(consult.errors()));
  REQUIRE(consult->payment_options->size() == 2);
  const payment_option& first = consult->payment_options->front();
  CHECK(first.enabled == true);
  CHECK(first.logo->extra_fields.contains("logoPattern"));
  const auto& wallets = *first.payment_option_detail->connect_wallet->support_wallets;
  REQUIRE(wallets.size() == 2);
  CHECK(wallets[0].wallet_logo->logo_url == "https://cdn.example/dana.svg");
  CHECK(wallets[1].extra_fields.contains("futureField"));
  CHECK(consult->payment_options->back().disable_reason == "CURRENCY_NOT_SUPPORT");
  CHECK(to_json(*consult) == json::parse(consult_response_sample));
}

TEST_CASE("a cancel request is looked up by paymentRequestId or paymentId") {
  const auto by_id = decode_cancel_payment_request(R"({"paymentId":"2020"})");
  REQUIRE(by_id.has_value());
  CHECK(by_id->payment_id == "2020");
  CHECK(only_error(decode_cancel_payment_request, "{}") == "paymentRequestId: missing (and no paymentId)");
  CHECK(only_error(decode_inquiry_payment_request, R"({"other":"x"})") ==
        "paymentRequestId: missing (and no paymentId)");
}

TEST_CASE("unknown fields survive at every level, whatever their JSON type") {
  const std::string body = edited(pay_request_sample, [](json::object& o) {
    o["zTop"] = json::array{1, 2.5, nullptr, true, "x"};
    at(o, "paymentAmount")["note"] = json::object{{"k", "v"}};
    at(at(o, "order"), "merchant")["store"] = 7;
    at(at(at(o, "order"), "merchant"), "merchantAddress")["zipCode"] = "100-0001";
  });
  const auto r = decode_pay_request(body);
  REQUIRE_MESSAGE(r.has_value(), to_string(r.errors()));
  CHECK(r->payment_amount.extra_fields.contains("note"));
  CHECK(r->order.merchant.extra_fields.at("store") == 7);
  CHECK(to_json(*r) == json::parse(body));
  const auto again = decode_pay_request(encode(*r));
  REQUIRE(again.has_value());
  CHECK(*again == *r);
}

TEST_CASE("encoding omits absent optionals and writes known fields before extra ones") {
  pay_response response;
  response.result.code = "PROCESS_FAIL";
  response.result.status = 'F';
  CHECK(encode(response) == R"({"result":{"resultCode":"PROCESS_FAIL","resultStatus":"F"}})");

  payment_lookup lookup;
  lookup.payment_request_id = "p1";
  lookup.extra_fields["paymentRequestId"] = "shadow";  // a known key always wins
  lookup.extra_fields["z"] = "1";
  CHECK(encode(lookup) == R"({"paymentRequestId":"p1","z":"1"})");

  env e;
  e.terminal_type = "WEB";
  CHECK(encode(e) == R"({"terminalType":"WEB"})");
  payment_factor factor;
  factor.is_cashier_payment = true;
  CHECK(encode(factor) == R"({"isCashierPayment":"true"})");
  amount a;
  a.minor_units = 12345;
  a.currency = *cashier::currency_code::parse("USD");
  CHECK(encode(a) == R"({"currency":"USD","value":"12345"})");
}

TEST_CASE("an empty optional string is kept as given") {
  const auto r = decode_pay_response(R"({"result":{"resultCode":"X","resultStatus":"U"},"pspId":""})");
  REQUIRE(r.has_value());
  CHECK(r->psp_id == "");
  CHECK(r->result.message.empty());
  CHECK(encode(*r) == R"({"result":{"resultCode":"X","resultStatus":"U"},"pspId":""})");
}

TEST_CASE("a missing required field is named") {
  CHECK(pay_request_error([](json::object& o) { o.erase("paymentAmount"); }) == "paymentAmount: missing");
  CHECK(pay_request_error([](json::object& o) { o.erase("paymentRequestId"); }) == "paymentRequestId: missing");
  CHECK(pay_request_error([](json::object& o) { at(at(o, "order"), "merchant").erase("referenceMerchantId"); }) ==
        "order.merchant.referenceMerchantId: missing");
  CHECK(pay_request_error([](json::object& o) { at(at(o, "order"), "orderAmount").erase("currency"); }) ==
        "order.orderAmount.currency: missing");
  CHECK(pay_request_error([](json::object& o) { at(o, "paymentMethod").erase("paymentMethodType"); }) ==
        "paymentMethod.paymentMethodType: missing");
  CHECK(only_error(decode_pay_response, "{}") == "result: missing");
  CHECK(only_error(decode_pay_response, R"({"result":{"resultStatus":"U"}})") == "result.resultCode: missing");
  CHECK(only_error(decode_notify_payment_request, edited(notify_request_sample, [](json::object& o) {
          o.erase("paymentId");
        })) == "paymentId: missing");
  CHECK(only_error(decode_notify_payment_request, edited(notify_request_sample, [](json::object& o) {
          at(o, "paymentResult").erase("resultStatus");
        })) == "paymentResult.resultStatus: missing");
}

TEST_CASE("a required string may not be empty") {
  CHECK(pay_request_error([](json::object& o) { o["paymentRequestId"] = ""; }) == "paymentRequestId: empty");
  CHECK(pay_request_error([](json::object& o) { at(at(o, "order"), "merchant")["merchantName"] = ""; }) ==
        "order.merchant.merchantName: empty");
}

TEST_CASE("a value of the wrong JSON type is refused") {
  CHECK(pay_request_error([](json::object& o) { o["paymentRequestId"] = 12; }) == "paymentRequestId: not a string");
  CHECK(pay_request_error([](json::object& o) { at(at(o, "order"), "orderAmount")["value"] = 100; }) ==
        "order.orderAmount.value: not a string");
  CHECK(pay_request_error([](json::object& o) { o["userRegion"] = nullptr; }) == "userRegion: not a string");
  CHECK(pay_request_error([](json::object& o) { at(o, "paymentFactor")["isCashierPayment"] = true; }) ==
        "paymentFactor.isCashierPayment: not a string");
  CHECK(pay_request_error([](json::object& o) { o["order"] = "x"; }) == "order: not an object");
  CHECK(pay_request_error([](json::object& o) { o["paymentFactor"] = json::array{}; }) ==
        "paymentFactor: not an object");
  CHECK(only_error(decode_inquiry_payment_response, R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},
        "transactions":{}})") == "transactions: not an array");
  CHECK(only_error(decode_inquiry_payment_response, R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},
        "transactions":[{},"x"]})") == "transactions[1]: not an object");
  CHECK(only_error(decode_consult_payment_response, R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},
        "paymentOptions":[{"promoNames":["a",1]}]})") == "paymentOptions[0].promoNames[1]: not a string");
}

TEST_CASE("a flag must be the string true or false") {
  CHECK(pay_request_error([](json::object& o) { at(o, "paymentFactor")["isInStorePayment"] = "TRUE"; }) ==
        "paymentFactor.isInStorePayment: not \"true\" or \"false\"");
  CHECK(pay_request_error([](json::object& o) { at(o, "paymentFactor")["isInStorePayment"] = "1"; }) ==
        "paymentFactor.isInStorePayment: not \"true\" or \"false\"");
}

TEST_CASE("length limits count characters, not bytes") {
  CHECK(decode_pay_request(edited(pay_request_sample, [](json::object& o) {
          o["paymentRequestId"] = std::string(64, 'a');
        })).has_value());
  CHECK(pay_request_error([](json::object& o) { o["paymentRequestId"] = std::string(65, 'a'); }) ==
        "paymentRequestId: longer than 64 characters");
  std::string e_acute_64;
  for (int i = 0; i < 64; ++i) e_acute_64 += "é";  // 128 bytes, 64 characters
  CHECK(decode_pay_request(edited(pay_request_sample, [&](json::object& o) {
          o["paymentRequestId"] = e_acute_64;
        })).has_value());
  CHECK(pay_request_error([&](json::object& o) { o["paymentRequestId"] = e_acute_64 + "é"; }) ==
        "paymentRequestId: longer than 64 characters");
  CHECK(pay_request_error([](json::object& o) { at(o, "order")["referenceOrderId"] = std::string(65, '1'); }) ==
        "order.referenceOrderId: longer than 64 characters");
  CHECK(pay_request_error([](json::object& o) {
          at(at(o, "order"), "merchant")["referenceMerchantId"] = std::string(65, 'M');
        }) == "order.merchant.referenceMerchantId: longer than 64 characters");
  CHECK(pay_request_error([](json::object& o) { at(o, "order")["orderDescription"] = std::string(257, 'd'); }) ==
        "order.orderDescription: longer than 256 characters");
  CHECK(decode_pay_request(edited(pay_request_sample, [](json::object& o) {
          at(o, "order")["orderDescription"] = std::string(256, 'd');
        })).has_value());
  CHECK(only_error(decode_pay_response, R"({"result":{"resultCode":")" + std::string(65, 'C') +
                                            R"(","resultStatus":"F"}})") ==
        "result.resultCode: longer than 64 characters");
  CHECK(only_error(decode_notify_payment_request, edited(notify_request_sample, [](json::object& o) {
          o["paymentId"] = std::string(65, '9');
        })) == "paymentId: longer than 64 characters");
  CHECK(count_chars("aé€💳") == 4);
}

TEST_CASE("an amount value is digits only, without overflow") {
  const auto value_error = [](std::string value) {
    return pay_request_error([&](json::object& o) { at(o, "paymentAmount")["value"] = value; });
  };
  for (const char* bad : {"-1", "+1", "1.00", "1e3", "", " 1", "1 ", "0x10", "١٠٠", "1,000"}) {
    CAPTURE(bad);
    CHECK(value_error(bad) == "paymentAmount.value: not a non-negative integer");
  }
  CHECK(value_error("9223372036854775808") == "paymentAmount.value: out of range");
  CHECK(value_error("99999999999999999999999999") == "paymentAmount.value: out of range");
  const auto max = decode_pay_request(edited(pay_request_sample, [](json::object& o) {
    at(o, "paymentAmount")["value"] = "9223372036854775807";
  }));
  REQUIRE(max.has_value());
  CHECK(max->payment_amount.minor_units == INT64_MAX);
  const auto zero = decode_consult_payment_request(consult_request_sample);
  REQUIRE(zero.has_value());
  CHECK(zero->payment_amount.minor_units == 0);
}

TEST_CASE("a currency is three uppercase letters") {
  for (const char* bad : {"usd", "US", "USDT", "", "U$D", "JP1"}) {
    CAPTURE(bad);
    CHECK(pay_request_error([&](json::object& o) { at(at(o, "order"), "orderAmount")["currency"] = bad; }) ==
          "order.orderAmount.currency: not a 3-letter uppercase ISO 4217 code");
  }
  CHECK(pay_request_error([](json::object& o) { at(o, "settlementStrategy")["settlementCurrency"] = "usd"; }) ==
        "settlementStrategy.settlementCurrency: not a 3-letter uppercase ISO 4217 code");
}

TEST_CASE("a result status is S, F or U, and a notify's S or F") {
  for (const char* bad : {"X", "s", "", "SU", "SUCCESS"}) {
    CAPTURE(bad);
    CHECK(only_error(decode_pay_response, edited(pay_response_sample, [&](json::object& o) {
            at(o, "result")["resultStatus"] = bad;
          })) == "result.resultStatus: not one of S, F, U");
  }
  CHECK(only_error(decode_notify_payment_request, edited(notify_request_sample, [](json::object& o) {
          at(o, "paymentResult")["resultStatus"] = "U";
        })) == "paymentResult.resultStatus: not one of S, F");
  CHECK(only_error(decode_notify_payment_request, edited(notify_request_sample, [](json::object& o) {
          at(o, "paymentResult")["resultStatus"] = "X";
        })) == "paymentResult.resultStatus: not one of S, F, U");
  const auto failed = decode_notify_payment_request(edited(notify_request_sample, [](json::object& o) {
    at(o, "paymentResult")["resultStatus"] = "F";
  }));
  REQUIRE(failed.has_value());
  CHECK(failed->payment_result.status == 'F');
}

TEST_CASE("times must look like ISO 8601 with an offset") {
  for (const char* good : {"2019-06-01T12:01:01+08:30", "2019-06-01T12:01:01Z", "2019-06-01T12:01:01.123-05:00",
                           "2016-12-31T23:59:60+00:00"}) {
    CAPTURE(good);
    CHECK(decode_pay_request(edited(pay_request_sample, [&](json::object& o) { o["paymentExpiryTime"] = good; }))
              .has_value());
  }
  for (const char* bad : {"2019-06-01T12:01:01", "2019-06-01 12:01:01+08:30", "2019-13-01T12:01:01+08:30",
                          "2019-06-01T24:01:01+08:30", "2019-06-01T12:01:01+0830", "2019-06-01T12:01:01.+08:30",
                          "2019-06-01T12:01:01.1234567890Z", "1559361661000", "2019-06-01", "", "2019-06-01T12:01:01z",
                          "2019-06-01T12:01:01+08:30x"}) {
    CAPTURE(bad);
    CHECK(pay_request_error([&](json::object& o) { o["paymentExpiryTime"] = bad; }) ==
          "paymentExpiryTime: not an ISO 8601 time with offset");
  }
}

TEST_CASE("enumerated and shaped fields are checked") {
  CHECK(pay_request_error([](json::object& o) { at(at(o, "order"), "env")["terminalType"] = "PC"; }) ==
        "order.env.terminalType: not one of WEB, WAP, APP, MINI_APP");
  CHECK(pay_request_error([](json::object& o) { at(at(o, "order"), "env")["osType"] = "ios"; }) ==
        "order.env.osType: not one of IOS, ANDROID");
  CHECK(pay_request_error([](json::object& o) { o["userRegion"] = "PHL"; }) ==
        "userRegion: not a 2-letter uppercase ISO 3166 code");
  // settlementQuote is informational: a bad quotePrice sets the whole quote aside (kept raw).
  for (const char* bad : {"0.", ".9", "1.2.3", "-0.9", "1e2", ""}) {
    CAPTURE(bad);
    const auto body = edited(inquiry_response_sample, [&](json::object& o) { at(o, "settlementQuote")["quotePrice"] = bad; });
    const auto r = decode_inquiry_payment_response(body);
    REQUIRE(r.has_value());
    CHECK_FALSE(r->settlement_quote.has_value());
    CHECK(informational_set_aside(*r) == std::vector<std::string>{"settlementQuote"});
    CHECK(json::value_from(*r) == json::parse(body));  // kept raw: re-encodes to the same value
  }
  const auto good = decode_inquiry_payment_response(inquiry_response_sample);
  REQUIRE(good.has_value());
  CHECK(good->settlement_quote->quote_price == "0.9");
  CHECK(informational_set_aside(*good).empty());
}

TEST_CASE("every error is reported, each with its path, up to a cap") {
  const std::string body = edited(pay_request_sample, [](json::object& o) {
    o["paymentRequestId"] = 1;
    at(at(o, "order"), "orderAmount")["value"] = "1.00";
    at(o, "paymentAmount")["currency"] = "jpy";
    o.erase("paymentMethod");
  });
  CHECK(errors_of(decode_pay_request(body)) ==
        std::vector<std::string>{"paymentRequestId: not a string", "order.orderAmount.value: not a non-negative integer",
                                 "paymentAmount.currency: not a 3-letter uppercase ISO 4217 code",
                                 "paymentMethod: missing"});
  json::array many;
  for (int i = 0; i < 30; ++i) many.push_back(json::object{{"transactionId", i}});
  const std::string crowded = edited(inquiry_response_sample, [&](json::object& o) { o["transactions"] = many; });
  const auto r = decode_inquiry_payment_response(crowded);
  REQUIRE(r.errors().size() == error_list::max_errors);
  CHECK(to_string(r.errors().back()) == "transactions[19].transactionId: not a string");
}

TEST_CASE("the guard's refusals reach every decoder") {
  CHECK(only_error(decode_pay_request, "[]") == "not a JSON object");
  CHECK(only_error(decode_pay_response, "\"result\"") == "not a JSON object");
  CHECK(only_error(decode_notify_payment_request, "12") == "not a JSON object");
  CHECK(only_error(decode_notify_payment_ack, "null") == "not a JSON object");
  CHECK(only_error(decode_pay_response, R"({"result":{"resultCode":"A","resultCode":"B","resultStatus":"S"}})") ==
        "result.resultCode: duplicate key");
  CHECK(only_error(decode_pay_response, std::string(notify_ack_sample) + "x") ==
        "characters after the JSON value at byte " + std::to_string(notify_ack_sample.size()));
  CHECK(only_error(decode_pay_response, "{\"result\":\"\xc3\"}") == "not valid UTF-8 at byte 11");
  std::string deep = R"({"result":{"resultCode":"A","resultStatus":"S"},"x":)";
  deep += std::string(31, '[') + std::string(31, ']') + "}";
  CHECK(decode_pay_response(deep).has_value());  // 32 levels with the outer object
  deep.insert(deep.find('['), "[");
  deep.insert(deep.rfind(']'), "]");
  CHECK(only_error(decode_pay_response, deep) == "nested deeper than 32 levels");
  std::string big = R"({"result":{"resultCode":"A","resultStatus":"S"},"x":")";
  big += std::string(64 * 1024 - big.size() - 2, 'x') + "\"}";
  REQUIRE(big.size() == 64 * 1024);
  CHECK(decode_pay_response(big).has_value());
  CHECK(only_error(decode_pay_response, big + " ") == "body larger than 65536 bytes");
  CHECK(only_error(decode_pay_response, "").rfind("invalid JSON", 0) == 0);
}

TEST_CASE("decode, encode, decode gives the same message") {
  const auto first = decode_inquiry_payment_response(inquiry_response_sample);
  REQUIRE(first.has_value());
  const auto second = decode_inquiry_payment_response(encode(*first));
  REQUIRE(second.has_value());
  CHECK(*second == *first);
  CHECK(encode(*second) == encode(*first));
}

TEST_CASE("a malformed informational field never turns a verified S/S into no answer") {
  const auto overlong_customer = [](json::object& o) { o["customerId"] = std::string(100, 'c'); };
  const auto odd_time = [](json::object& o) { o["paymentTime"] = "2020-01-01 12:01:01"; };
  const auto bad_settlement = [](json::object& o) {
    o["settlementAmount"] = json::object{{"value", "90.00"}, {"currency", "USD"}};
  };
  const auto long_message = [](json::object& o) { at(o, "paymentResult")["resultMessage"] = std::string(2000, 'm'); };
  for (const auto& edit : {std::function<void(json::object&)>(overlong_customer), std::function<void(json::object&)>(odd_time),
                           std::function<void(json::object&)>(bad_settlement), std::function<void(json::object&)>(long_message)}) {
    const auto inquiry = decode_inquiry_payment_response(edited(inquiry_response_sample, edit));
    REQUIRE_MESSAGE(inquiry.has_value(), to_string(inquiry.errors()));
    CHECK(inquiry->payment_result->status == 'S');
    CHECK(inquiry->payment_id == "20200101234567890134567");
    CHECK(informational_set_aside(*inquiry).size() == 1);
    const auto notify = decode_notify_payment_request(edited(notify_request_sample, edit));
    REQUIRE_MESSAGE(notify.has_value(), to_string(notify.errors()));
    CHECK(notify->payment_result.status == 'S');
    CHECK(notify->payment_amount.minor_units == 100);
    CHECK(informational_set_aside(*notify).size() == 1);
  }
  const auto notify = decode_notify_payment_request(edited(notify_request_sample, overlong_customer));
  CHECK_FALSE(notify->customer_id.has_value());
  CHECK(informational_set_aside(*notify) == std::vector<std::string>{"customerId"});
  CHECK(notify->extra_fields.at("customerId").as_string() == std::string(100, 'c'));  // kept raw
  const auto message = decode_notify_payment_request(edited(notify_request_sample, long_message));
  CHECK(informational_set_aside(*message) == std::vector<std::string>{"paymentResult.resultMessage"});
  CHECK(message->payment_result.message.empty());
  // The fields the machine needs stay strict.
  CHECK(only_error(decode_notify_payment_request, edited(notify_request_sample, [](json::object& o) {
          at(o, "paymentAmount")["value"] = "1.00";
        })) == "paymentAmount.value: not a non-negative integer");
  CHECK(only_error(decode_inquiry_payment_response, edited(inquiry_response_sample, [](json::object& o) {
          at(o, "paymentResult")["resultCode"] = std::string(65, 'C');
        })) == "paymentResult.resultCode: longer than 64 characters");
}
