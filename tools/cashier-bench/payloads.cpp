// Bench message bodies (see payloads.hpp).
#include "tools/cashier-bench/payloads.hpp"

#include "orchestrator/alipayplus/codec.hpp"

namespace cashier::bench {

std::string payment_request_id(std::string_view prefix, std::int64_t index) {
  return std::string(prefix) + std::to_string(index);
}

std::string create_body(std::string_view id) {
  const std::string amount = R"({"currency":"USD","value":")" + std::to_string(bench_amount_minor) + R"("})";
  std::string body = R"({"paymentRequestId":")";
  body += id;
  body += R"(","order":{"referenceOrderId":"order-)";
  body += id;
  body += R"(","orderDescription":"Bench coffee, large, oat milk","orderAmount":)" + amount +
          R"(,"merchant":{"referenceMerchantId":"M0001","merchantName":"Bench Shop",)"
          R"("merchantMCC":"5812","merchantAddress":{"region":"US","city":"Springfield"}},)"
          R"("env":{"terminalType":"WEB"}},"paymentAmount":)" + amount +
          R"(,"paymentRedirectUrl":"https://shop.example.com/thanks",)"
          R"("settlementStrategy":{"settlementCurrency":"USD"},"userRegion":"US"})";
  return body;
}

std::string seeded_payment_id(std::string_view id) { return "SEED-" + std::string(id); }

std::string notify_body(std::string_view id) {
  aplus::notify_payment_request n;
  n.payment_result.code = "SUCCESS";
  n.payment_result.status = 'S';
  n.payment_result.message = "success";
  n.payment_request_id = std::string(id);
  n.payment_id = seeded_payment_id(id);
  n.payment_amount.minor_units = bench_amount_minor;
  n.payment_amount.currency = *currency_code::parse("USD");
  n.payment_time = "2026-11-25T10:00:00+08:00";
  n.customer_id = "2088000000000001";
  n.wallet_brand_name = "GCash";
  n.acquirer_id = "2022091000000000";
  n.psp_id = "1022172000000000";
  return aplus::encode(n);
}

}  // namespace cashier::bench
