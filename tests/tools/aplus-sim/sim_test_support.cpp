// Implementation of the aplus-sim test helpers (see sim_test_support.hpp).
#include "tests/tools/aplus-sim/sim_test_support.hpp"

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/signature_header.hpp"
#include "orchestrator/alipayplus/signer.hpp"
#include "orchestrator/alipayplus/wire_time.hpp"
#include "orchestrator/engine/clock.hpp"
#include "tests/orchestrator/net/net_test_support.hpp"
#include "tools/aplus-sim/truth.hpp"

namespace cashier::sim::test {

std::string pay_body(std::string_view id, std::string_view description, std::string_view value,
                     std::string_view notify_url) {
  return R"({"paymentRequestId":")" + std::string(id) +
         R"(","order":{"referenceOrderId":"order-1","orderDescription":")" + std::string(description) +
         R"(","orderAmount":{"currency":"USD","value":")" + std::string(value) +
         R"("},"merchant":{"referenceMerchantId":"M1","merchantName":"Demo <Shop>","merchantMCC":"5812"},)"
         R"("env":{"terminalType":"WEB"}},"paymentAmount":{"currency":"USD","value":")" + std::string(value) +
         R"("},"paymentMethod":{"paymentMethodType":"CONNECT_WALLET"},)"
         R"("paymentFactor":{"isInStorePayment":"false","isCashierPayment":"true","presentmentMode":"UNIFIED"},)"
         R"("paymentExpiryTime":"2030-01-01T00:00:00+08:00","paymentNotifyUrl":")" + std::string(notify_url) +
         R"(","paymentRedirectUrl":"https://shop.example/thanks","settlementStrategy":{"settlementCurrency":"USD"}})";
}

signing_setup sim_keys() {
  const std::string dir = net::test::keys_dir();
  signing_setup keys{aplus::load_private_key_file(dir + "/aplus_private.pem").value(), {}, std::string(client_id), "1"};
  keys.acqp_keys.add("1", aplus::load_public_key_file(dir + "/acqp_public.pem").value()).value();
  return keys;
}

const acqp_side& acqp() {
  static const acqp_side side = [] {
    const std::string dir = net::test::keys_dir();
    acqp_side s{aplus::load_private_key_file(dir + "/acqp_private.pem").value(), {}};
    s.aplus_keys.add("1", aplus::load_public_key_file(dir + "/aplus_public.pem").value()).value();
    return s;
  }();
  return side;
}

net::request acqp_request(std::string target, std::string body, std::string_view as_client) {
  const std::string time = aplus::format_wire_time(wall_now());
  const auto content = aplus::request_content("POST", target, as_client, time, body);
  net::request r;
  r.method = "POST";
  r.headers = {{"Content-Type", "application/json; charset=UTF-8"},
               {"Client-Id", std::string(as_client)},
               {"Request-Time", time},
               {"Signature", aplus::format_signature_header("1", aplus::sign(acqp().private_key, content))}};
  r.target = std::move(target);
  r.body = std::move(body);
  return r;
}

bool signed_by_aplus(const net::response& res, std::string_view target) {
  const auto time = net::find_header(res.headers, "Response-Time");
  const auto signature = net::find_header(res.headers, "Signature");
  if (!time || !signature) return false;
  const auto content = aplus::response_content("POST", target, client_id, *time, res.body);
  return aplus::verify_with(acqp().aplus_keys, *signature, content) == aplus::verify_outcome::ok;
}

net::response acqp_ack(std::string_view target, char result_status, int status) {
  const std::string body = result_status == 'S' ? aplus::encode(aplus::success_ack())
                                                : result_body(make_result(result_status, "PROCESS_FAIL", "try later"));
  const std::string time = aplus::format_wire_time(wall_now());
  const auto content = aplus::response_content("POST", target, client_id, time, body);
  net::response r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json"},
               {"Client-Id", std::string(client_id)},
               {"Response-Time", time},
               {"Signature", aplus::format_signature_header("1", aplus::sign(acqp().private_key, content))}};
  r.body = body;
  return r;
}

}  // namespace cashier::sim::test
