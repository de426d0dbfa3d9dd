// Tests of the refund messages' codec: a request encodes and decodes back the same, a response
// is strict for result, refundId and refundAmount (a broken one is an error) and lenient for the
// informational fields (set aside, the answer kept).
#include <doctest/doctest.h>

#include <algorithm>

#include "orchestrator/alipayplus/refund_codec.hpp"

using namespace cashier;
using namespace cashier::aplus;

namespace {

amount usd(std::int64_t v) {
  amount a;
  a.minor_units = v;
  a.currency = *currency_code::parse("USD");
  return a;
}

}  // namespace

TEST_CASE("a refund request encodes once and decodes to the same fields") {
  refund_request r;
  r.payment_request_id = "ap-1";
  r.payment_id = "pid-1";
  r.refund_request_id = "rf-abc";
  r.refund_amount = usd(400);
  r.refund_reason = "returned";
  const std::string body = encode_refund_request(r);
  CHECK(body ==
        R"({"paymentRequestId":"ap-1","paymentId":"pid-1","refundRequestId":"rf-abc",)"
        R"("refundAmount":{"currency":"USD","value":"400"},"refundReason":"returned"})");
  const auto back = decode_refund_request(body);
  REQUIRE(back);
  CHECK(*back == r);
  CHECK(encode_refund_request(*back) == body);
}

TEST_CASE("a refund request without a payment, an id, or a positive amount is refused") {
  CHECK_FALSE(decode_refund_request(R"({"refundRequestId":"x","refundAmount":{"currency":"USD","value":"1"}})"));
  CHECK_FALSE(decode_refund_request(R"({"paymentId":"p","refundAmount":{"currency":"USD","value":"1"}})"));
  CHECK_FALSE(decode_refund_request(
      R"({"paymentId":"p","refundRequestId":"x","refundAmount":{"currency":"USD","value":"0"}})"));
  CHECK_FALSE(decode_refund_request(
      R"({"paymentId":"p","refundRequestId":")" + std::string(65, 'a') +
      R"(","refundAmount":{"currency":"USD","value":"1"}})"));
}

TEST_CASE("a refund response is strict for result, refundId and refundAmount") {
  const auto ok = decode_refund_response(
      R"({"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"ok"},)"
      R"("refundId":"rid-1","refundTime":"2026-01-01T00:00:00+08:00",)"
      R"("refundAmount":{"currency":"USD","value":"400"}})");
  REQUIRE(ok);
  CHECK(ok->result.status == 'S');
  CHECK(ok->refund_id == "rid-1");
  CHECK(ok->refund_amount->minor_units == 400);
  CHECK(informational_set_aside(*ok).empty());

  CHECK_FALSE(decode_refund_response(R"({"result":{"resultCode":"SUCCESS","resultStatus":"X"}})"));
  CHECK_FALSE(decode_refund_response(R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},"refundId":7})"));
  CHECK_FALSE(decode_refund_response(
      R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},"refundAmount":{"currency":"USD","value":"-4"}})"));
  CHECK_FALSE(decode_refund_response(R"({"refundId":"rid-1"})"));
}

TEST_CASE("a refund response's informational fields are lenient") {
  const auto r = decode_refund_response(
      R"({"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":7},"refundId":"rid-1",)"
      R"("refundTime":12,"pspId":{"x":1},"settlementAmount":{"currency":"usd","value":"1"},)"
      R"("refundAmount":{"currency":"USD","value":"400"}})");
  REQUIRE(r);
  CHECK_FALSE(r->refund_time);
  CHECK_FALSE(r->psp_id);
  CHECK_FALSE(r->settlement_amount);
  auto aside = informational_set_aside(*r);
  std::sort(aside.begin(), aside.end());
  CHECK(aside == std::vector<std::string>{"pspId", "refundTime", "result.resultMessage", "settlementAmount"});
}
