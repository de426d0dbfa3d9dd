// The inbox codec: every input that may travel comes back as it went (round trips, awkward bytes
// included); inputs that must not travel are refused at encoding; a hostile or damaged body is
// refused at decoding with the right class of failure (a newer format is kept for a newer
// instance, a malformed one is never applied), and nothing of it throws.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/engine/inbox_codec.hpp"

namespace cashier::engine {
namespace {

const time_point t0 = from_epoch_ms(1'700'000'000'123);

money usd(std::int64_t minor) { return money{minor, *currency_code::parse("USD")}; }

input notify_input() {
  input in;
  in.payment_id = 42;
  notify_verified n;
  n.payment_result = aplus_result{"SUCCESS", 'S', "success"};
  n.amount = usd(1999);
  n.facts.payment_id = "2026120500000001";
  n.facts.payment_time = "2026-12-05T23:00:00+08:00";
  n.facts.customer_id = "cust-\xe6\x97\xa5";  // UTF-8 survives
  n.facts.wallet_brand_name = "GCash";
  n.facts.settlement_amount = money{123456, *currency_code::parse("PHP")};
  in.ev = n;
  store::notify_record rec;
  rec.payment_request_id = "ap-1";
  rec.body = std::string("{\"a\":1}\x00\xff", 9);  // any bytes
  rec.headers = "Signature: algorithm=RSA256, signature=abc\nClient-Id: \x80\x81";
  rec.verification = "ok";
  rec.received_at = t0;
  rec.digest = std::string(32, '\x01') + std::string(1, '\0');
  in.notifies.push_back(rec);
  in.anomalies.push_back({0, 0, "clock_skew", "authentic notify acked with Request-Time 900 s from now", t0});
  in.inbox_id = 7;  // not part of the body
  return in;
}

input round_trip(const input& in) {
  const auto msg = encode_inbox(in);
  REQUIRE(std::holds_alternative<inbox_message>(msg));
  const auto& m = std::get<inbox_message>(msg);
  const auto back = decode_inbox(m.kind, m.body);
  if (const auto* e = std::get_if<inbox_decode_error>(&back)) FAIL("decode failed: " << e->detail);
  return std::get<input>(back);
}

std::string body_of(const input& in) { return std::get<inbox_message>(encode_inbox(in)).body; }

/// The body of `in` with `edit` applied to its JSON.
template <class F>
std::string edited(const input& in, F edit) {
  auto v = boost::json::parse(body_of(in));
  edit(v.as_object());
  return boost::json::serialize(v);
}

inbox_failure failure_of(std::string_view kind, std::string_view body) {
  const auto r = decode_inbox(kind, body);
  REQUIRE(std::holds_alternative<inbox_decode_error>(r));
  return std::get<inbox_decode_error>(r).failure;
}

TEST_CASE("a verified notify round-trips with its notify record and anomalies") {
  const auto in = notify_input();
  const auto m = std::get<inbox_message>(encode_inbox(in));
  CHECK(m.kind == "notify");
  const auto out = round_trip(in);
  CHECK(out.payment_id == 0);  // the row carries it
  CHECK(out.inbox_id == 0);    // the applying instance sets it
  const auto& a = std::get<notify_verified>(in.ev);
  const auto& b = std::get<notify_verified>(out.ev);
  CHECK(b.payment_result == a.payment_result);
  CHECK(b.amount == a.amount);
  CHECK(b.facts.payment_id == a.facts.payment_id);
  CHECK(b.facts.payment_time == a.facts.payment_time);
  CHECK(b.facts.customer_id == a.facts.customer_id);
  CHECK(b.facts.wallet_brand_name == a.facts.wallet_brand_name);
  CHECK(b.facts.settlement_amount == a.facts.settlement_amount);
  CHECK(out.notifies == in.notifies);
  CHECK(out.anomalies == in.anomalies);
  CHECK(out.calls.empty());
  CHECK_FALSE(out.create);
}

TEST_CASE("a notify without a settlement amount and an F result round-trips") {
  auto in = notify_input();
  auto& n = std::get<notify_verified>(in.ev);
  n.payment_result = aplus_result{"USER_PAYMENT_FAILED", 'F', ""};
  n.facts = payment_facts{};
  in.anomalies.clear();
  const auto out = round_trip(in);
  const auto& b = std::get<notify_verified>(out.ev);
  CHECK(b.payment_result == n.payment_result);
  CHECK_FALSE(b.facts.settlement_amount);
  CHECK(out.anomalies.empty());
}

TEST_CASE("cancels of every requester, an inquiry and an early answer round-trip") {
  for (const auto who : {requester::merchant, requester::operator_, requester::system}) {
    input in;
    in.payment_id = 5;
    in.ev = cancel_requested{who, "customer asked \"twice\" \xc3\xa9"};
    CHECK(std::get<inbox_message>(encode_inbox(in)).kind == "cancel");
    const auto out = round_trip(in);
    const auto& c = std::get<cancel_requested>(out.ev);
    CHECK(c.who == who);
    CHECK(c.reason == std::get<cancel_requested>(in.ev).reason);
  }
  input inq;
  inq.payment_id = 5;
  inq.ev = inquiry_requested{};
  CHECK(std::get<inbox_message>(encode_inbox(inq)).kind == "inquiry");
  CHECK(std::holds_alternative<inquiry_requested>(round_trip(inq).ev));
  input early;
  early.payment_id = 5;
  early.ev = create_answered_early{};
  CHECK(std::get<inbox_message>(encode_inbox(early)).kind == "early_answer");
  CHECK(std::holds_alternative<create_answered_early>(round_trip(early).ev));
}

TEST_CASE("inputs that must not travel are refused at encoding") {
  const auto refused = [](const input& in) {
    const auto r = encode_inbox(in);
    return std::holds_alternative<inbox_refusal>(r) ? std::get<inbox_refusal>(r) : inbox_refusal{};
  };
  input create;
  create.create = payment{};
  create.ev = created{};
  CHECK(std::holds_alternative<inbox_refusal>(encode_inbox(create)));
  input log_only;  // no payment: written where it arrived
  log_only.anomalies.push_back({0, 0, "orphan_notify", "x", t0});
  CHECK(refused(log_only) == inbox_refusal::not_an_inbox_input);
  for (const event& ev : std::vector<event>{deadline_reached{}, pay_answer{}, pay_no_answer{}, inquiry_answer{},
                                            inquiry_no_answer{}, cancel_answer{}, cancel_no_answer{},
                                            notify_unverified{}, created{}}) {
    input in;
    in.payment_id = 3;
    in.ev = ev;
    CHECK(refused(in) == inbox_refusal::not_an_inbox_input);
  }
  auto with_call = notify_input();
  with_call.calls.push_back(store::call_record{});
  CHECK(refused(with_call) == inbox_refusal::not_an_inbox_input);
  auto rejected_record = notify_input();  // a rejected notify is log-only, never posted
  rejected_record.notifies[0].verification = "bad_signature";
  CHECK(refused(rejected_record) == inbox_refusal::not_an_inbox_input);
  input cancel_with_record;
  cancel_with_record.payment_id = 3;
  cancel_with_record.ev = cancel_requested{requester::merchant, ""};
  cancel_with_record.notifies = notify_input().notifies;
  CHECK(refused(cancel_with_record) == inbox_refusal::not_an_inbox_input);
  auto huge = notify_input();
  huge.notifies[0].body.assign(64 * 1024 + 1, 'x');
  CHECK(refused(huge) == inbox_refusal::too_large);
}

TEST_CASE("the largest notify a request can carry still fits and round-trips") {
  auto in = notify_input();
  in.notifies[0].body.assign(64 * 1024, '\xfe');
  in.notifies[0].headers.assign(8 * 1024, 'h');
  CHECK(round_trip(in).notifies == in.notifies);
}

TEST_CASE("a newer kind or body version is an unknown format: the row waits for a newer instance") {
  const auto in = notify_input();
  CHECK(failure_of("refund_later", body_of(in)) == inbox_failure::unknown_format);
  CHECK(failure_of("", body_of(in)) == inbox_failure::unknown_format);
  CHECK(failure_of("notify", edited(in, [](auto& o) { o["v"] = 2; })) == inbox_failure::unknown_format);
  // A newer version may have any other shape: only `v` is read.
  CHECK(failure_of("notify", R"({"v":3,"whatever":[1,2,3]})") == inbox_failure::unknown_format);
}

TEST_CASE("a damaged or hostile body of a known kind and version is malformed, never an input") {
  const auto in = notify_input();
  const std::vector<std::string> bodies{
      "",
      "not json",
      "[1]",
      R"({"v":"1"})",
      R"({"event":{}})",
      std::string(300 * 1024, ' '),
      std::string("{\"v\":1,\"event\":\"\xff\"}"),  // invalid UTF-8
      std::string(100, '[') + std::string(100, ']'),  // deep
      body_of(in) + "x",
      edited(in, [](auto& o) { o["extra"] = 1; }),
      edited(in, [](auto& o) { o.erase("notifies"); }),
      edited(in, [](auto& o) { o["notifies"] = boost::json::array{1, 2, 3, 4, 5}; }),
      edited(in, [](auto& o) { o["event"].as_object()["result"].as_object()["status"] = "U"; }),
      edited(in, [](auto& o) { o["event"].as_object()["result"].as_object()["status"] = "SS"; }),
      edited(in, [](auto& o) { o["event"].as_object()["amount"].as_object()["minor"] = -1; }),
      edited(in, [](auto& o) { o["event"].as_object()["amount"].as_object()["minor"] = 1.5; }),
      edited(in, [](auto& o) { o["event"].as_object()["amount"].as_object()["minor"] = "100"; }),
      edited(in, [](auto& o) { o["event"].as_object()["amount"].as_object()["currency"] = "usd"; }),
      edited(in, [](auto& o) { o["event"].as_object()["facts"].as_object()["x"] = ""; }),
      edited(in, [](auto& o) { o["event"].as_object()["facts"].as_object()["paymentId"] = std::string(1025, 'p'); }),
      edited(in, [](auto& o) { o["event"].as_object().erase("amount"); }),
      edited(in, [](auto& o) { o["notifies"].as_array()[0].as_object()["body"] = "ABCD"; }),   // uppercase hex
      edited(in, [](auto& o) { o["notifies"].as_array()[0].as_object()["body"] = "abc"; }),    // odd length
      edited(in, [](auto& o) { o["notifies"].as_array()[0].as_object()["verification"] = "bad_signature"; }),
      edited(in, [](auto& o) { o["notifies"].as_array()[0].as_object()["receivedAt"] = 1e300; }),
      edited(in, [](auto& o) { o["anomalies"].as_array()[0].as_object()["kind"] = ""; }),
      edited(in, [](auto& o) { o["anomalies"].as_array()[0].as_object()["detail"] = std::string(5000, 'd'); }),
  };
  for (const auto& b : bodies) {
    CAPTURE(b.substr(0, 120));
    CHECK(failure_of("notify", b) == inbox_failure::malformed);
  }
  // The same body under another known kind breaks that kind's rules.
  CHECK(failure_of("cancel", body_of(in)) == inbox_failure::malformed);
  CHECK(failure_of("inquiry", body_of(in)) == inbox_failure::malformed);
  input cancel;
  cancel.payment_id = 1;
  cancel.ev = cancel_requested{requester::merchant, "r"};
  CHECK(failure_of("cancel", edited(cancel, [](auto& o) { o["event"].as_object()["who"] = "alipay"; })) ==
        inbox_failure::malformed);
  CHECK(failure_of("notify", body_of(cancel)) == inbox_failure::malformed);
}

TEST_CASE("an error names the field but never echoes the hostile bytes") {
  const auto in = notify_input();
  const auto body = edited(in, [](auto& o) { o["secret\x01key"] = 1; });
  const auto r = decode_inbox("notify", body);
  const auto& e = std::get<inbox_decode_error>(r);
  CHECK(e.detail.find("secret") == std::string::npos);
  const auto k = decode_inbox(std::string("evil\x1b[31m"), body_of(in));
  CHECK(std::get<inbox_decode_error>(k).detail.find("evil") == std::string::npos);
}

// ---- refund orders (kind `refund`, made on a non-owner, created by the owner) ----

refund_order sample_order() {
  refund_order o;
  o.payment_id = 42;
  o.refund_request_id = "rr-\xe6\x97\xa5-1";
  o.amount = usd(250);
  o.reason = std::string("cut at 256 bytes \xe6\x97", 19);  // an operator's reason may end mid-UTF-8
  o.origin = refund_origin::operator_;
  o.merchant_request = R"({"refundRequestId":"rr-1","refundAmount":{"currency":"USD","value":"250"},"reason":""})";
  return o;
}

std::string refund_body(const refund_order& o) { return std::get<inbox_message>(encode_refund_inbox(o)).body; }

template <class F>
std::string edited_refund(F edit) {
  auto v = boost::json::parse(refund_body(sample_order()));
  edit(v.as_object()["order"].as_object());
  return boost::json::serialize(v);
}

inbox_failure refund_failure_of(std::string_view body) {
  const auto r = decode_refund_inbox(body);
  REQUIRE(std::holds_alternative<inbox_decode_error>(r));
  return std::get<inbox_decode_error>(r).failure;
}

TEST_CASE("a refund order round-trips as kind refund, every origin, without its payment id") {
  for (const auto origin : {refund_origin::merchant, refund_origin::operator_, refund_origin::cancel}) {
    auto o = sample_order();
    o.origin = origin;
    const auto msg = encode_refund_inbox(o);
    REQUIRE(std::holds_alternative<inbox_message>(msg));
    const auto& m = std::get<inbox_message>(msg);
    CHECK(m.kind == "refund");
    CHECK(m.body.find("\"v\":1") != std::string::npos);
    const auto back = decode_refund_inbox(m.body);
    if (const auto* e = std::get_if<inbox_decode_error>(&back)) FAIL("decode failed: " << e->detail);
    const auto& got = std::get<refund_order>(back);
    CHECK(got.payment_id == 0);  // the row's payment_id column is the one that counts
    CHECK(got.refund_request_id == o.refund_request_id);
    CHECK(got.amount == o.amount);
    CHECK(got.reason == o.reason);
    CHECK(got.origin == origin);
    CHECK(got.merchant_request == o.merchant_request);  // byte for byte: the repeat check compares it
  }
  // An empty reason and the longest key still travel.
  auto o = sample_order();
  o.reason.clear();
  o.refund_request_id.assign(64, 'k');
  const auto back = decode_refund_inbox(refund_body(o));
  REQUIRE(std::holds_alternative<refund_order>(back));
  CHECK(std::get<refund_order>(back).refund_request_id == o.refund_request_id);
  CHECK(std::get<refund_order>(back).reason.empty());
}

TEST_CASE("refund orders that cannot come from a valid request are refused at encoding") {
  auto no_payment = sample_order();
  no_payment.payment_id = 0;
  CHECK(std::get<inbox_refusal>(encode_refund_inbox(no_payment)) == inbox_refusal::not_an_inbox_input);
  auto zero = sample_order();
  zero.amount = usd(0);
  CHECK(std::get<inbox_refusal>(encode_refund_inbox(zero)) == inbox_refusal::not_an_inbox_input);
  auto long_key = sample_order();
  long_key.refund_request_id.assign(65, 'k');
  CHECK(std::get<inbox_refusal>(encode_refund_inbox(long_key)) == inbox_refusal::too_large);
  auto no_key = sample_order();
  no_key.refund_request_id.clear();
  CHECK(std::get<inbox_refusal>(encode_refund_inbox(no_key)) == inbox_refusal::too_large);
}

TEST_CASE("a refund row is not an input, and a damaged refund body is malformed") {
  // decode_inbox keeps it (as a build without refund rows would): never applied as another input.
  const auto as_input = decode_inbox("refund", refund_body(sample_order()));
  REQUIRE(std::holds_alternative<inbox_decode_error>(as_input));
  CHECK(std::get<inbox_decode_error>(as_input).failure == inbox_failure::unknown_format);
  // A newer version of the refund body waits for a newer instance.
  CHECK(refund_failure_of(R"({"v":2,"order":[]})") == inbox_failure::unknown_format);
  const std::vector<std::string> bodies{
      "",
      "[]",
      R"({"v":1})",
      refund_body(sample_order()) + " x",
      edited_refund([](auto& o) { o["extra"] = 1; }),
      edited_refund([](auto& o) { o.erase("merchantRequest"); }),
      edited_refund([](auto& o) { o["refundRequestId"] = ""; }),
      edited_refund([](auto& o) { o["refundRequestId"] = std::string(130, 'a'); }),  // 65 bytes
      edited_refund([](auto& o) { o["refundRequestId"] = "ABCD"; }),                 // uppercase hex
      edited_refund([](auto& o) { o["amount"].as_object()["minor"] = 0; }),
      edited_refund([](auto& o) { o["amount"].as_object()["minor"] = -5; }),
      edited_refund([](auto& o) { o["amount"].as_object()["currency"] = "XX"; }),
      edited_refund([](auto& o) { o["origin"] = "alipay"; }),
      edited_refund([](auto& o) { o["reason"] = std::string(2050, 'a'); }),
  };
  for (const auto& b : bodies) {
    CAPTURE(b.substr(0, 120));
    CHECK(refund_failure_of(b) == inbox_failure::malformed);
  }
  // A notify's body is not a refund order, and a refund order's is not a notify.
  CHECK(refund_failure_of(body_of(notify_input())) == inbox_failure::malformed);
  CHECK(failure_of("notify", refund_body(sample_order())) == inbox_failure::malformed);
}

}  // namespace
TEST_CASE("an operator's redeliver travels as kind redeliver, is not an input, and a damaged one is malformed") {
  const auto msg = encode_redeliver_inbox("evt_0123456789abcdefghijklmnop");
  REQUIRE(std::holds_alternative<inbox_message>(msg));
  const auto& m = std::get<inbox_message>(msg);
  CHECK(m.kind == "redeliver");
  const auto back = decode_redeliver_inbox(m.body);
  REQUIRE(std::holds_alternative<std::string>(back));
  CHECK(std::get<std::string>(back) == "evt_0123456789abcdefghijklmnop");
  // Any bytes of an event id come back as they went (hex on the wire), up to the bound.
  const std::string odd("evt\x00\xff\"x", 7);
  CHECK(std::get<std::string>(decode_redeliver_inbox(std::get<inbox_message>(encode_redeliver_inbox(odd)).body)) == odd);
  CHECK(std::get<inbox_refusal>(encode_redeliver_inbox("")) == inbox_refusal::not_an_inbox_input);
  CHECK(std::get<inbox_refusal>(encode_redeliver_inbox(std::string(max_event_id_bytes + 1, 'e'))) ==
        inbox_refusal::too_large);
  // decode_inbox keeps it, never applied as another input.
  const auto as_input = decode_inbox("redeliver", m.body);
  REQUIRE(std::holds_alternative<inbox_decode_error>(as_input));
  CHECK(std::get<inbox_decode_error>(as_input).failure == inbox_failure::unknown_format);
  const auto failure = [](std::string_view body) {
    const auto r = decode_redeliver_inbox(body);
    REQUIRE(std::holds_alternative<inbox_decode_error>(r));
    return std::get<inbox_decode_error>(r).failure;
  };
  CHECK(failure(R"({"v":2,"eventId":1})") == inbox_failure::unknown_format);
  for (const std::string b : {"", "[]", R"({"v":1})", R"({"v":1,"eventId":""})", R"({"v":1,"eventId":"ZZ"})",
                              R"({"v":1,"eventId":"6576","x":1})", R"({"v":1,"eventId":7})"}) {
    CAPTURE(b);
    CHECK(failure(b) == inbox_failure::malformed);
  }
  CHECK(failure(refund_body(sample_order())) == inbox_failure::malformed);
}

}  // namespace cashier::engine
