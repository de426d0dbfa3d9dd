// Tests of the truth rules: the cancel window, the notify plan (normal, late, none), the
// display amounts and the checkout page.
#include <doctest/doctest.h>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/wire_time.hpp"
#include "tests/tools/aplus-sim/sim_test_support.hpp"
#include "tools/aplus-sim/checkout_page.hpp"
#include "tools/aplus-sim/truth.hpp"

namespace cashier::sim {
namespace {

using namespace std::chrono_literals;

time_point at(std::string_view wire) { return aplus::parse_wire_time(wire).value(); }

money usd(std::int64_t minor, std::string_view code = "USD") { return {minor, currency_code::parse(code).value()}; }

truth sample_truth() {
  truth t;
  t.payment_request_id = "p1";
  t.payment_id = "SIM-1";
  t.request = aplus::decode_pay_request(test::pay_body("p1", "Tea & <cake>")).value();
  return t;
}

}  // namespace

TEST_CASE("truth: the cancel window ends at 00:15 UTC+8 of the next day") {
  CHECK(cancel_window_end(at("2024-01-01T10:00:00+08:00")) == at("2024-01-02T00:15:00+08:00"));
  CHECK(cancel_window_end(at("2024-01-01T23:59:59+08:00")) == at("2024-01-02T00:15:00+08:00"));
  CHECK(cancel_window_end(at("2024-01-01T00:10:00+08:00")) == at("2024-01-02T00:15:00+08:00"));
  CHECK(cancel_window_end(at("2024-01-01T20:00:00Z")) == at("2024-01-03T00:15:00+08:00"));
}

TEST_CASE("truth: notify plan follows Alipay+'s retries, late skips to the 1 h retry, after shifts, none is empty") {
  scenario s;
  const std::vector<duration> normal{0min, 2min, 12min, 22min, 82min, 202min, 562min, 1462min};
  CHECK(notify_plan(s) == normal);
  s.notify_late = true;
  CHECK(notify_plan(s) == std::vector<duration>{82min, 202min, 562min, 1462min});
  s.notify_after = 24h;
  CHECK(notify_plan(s) == std::vector<duration>{1522min, 1642min, 2002min, 2902min});
  s.notify_none = true;
  CHECK(notify_plan(s).empty());
}

TEST_CASE("truth: payment results by order status") {
  truth t;
  CHECK(payment_result_of(t).code == "PAYMENT_IN_PROCESS");
  CHECK(payment_result_of(t).status == 'U');
  t.status = order_status::paid;
  CHECK(payment_result_of(t).status == 'S');
  t.status = order_status::failed;
  CHECK(payment_result_of(t).code == "USER_BALANCE_NOT_ENOUGH");
  t.status = order_status::cancelled;
  CHECK(payment_result_of(t).code == "ORDER_IS_CLOSED");
}

TEST_CASE("truth: display amounts use the currency's decimals") {
  CHECK(format_display_amount(usd(450)) == "4.50");
  CHECK(format_display_amount(usd(5)) == "0.05");
  CHECK(format_display_amount(usd(0)) == "0.00");
  CHECK(format_display_amount(usd(100, "JPY")) == "100");
  CHECK(format_display_amount(usd(1500, "BHD")) == "1.500");
}

TEST_CASE("truth: the checkout page shows the amount, escapes text and offers buttons while open") {
  truth t = sample_truth();
  const std::string page = checkout_page(t);
  CHECK(page.find("USD 4.50") != std::string::npos);
  CHECK(page.find("Tea &amp; &lt;cake&gt;") != std::string::npos);
  CHECK(page.find("<cake>") == std::string::npos);
  for (const char* action : {"pay", "fail", "abandon"})
    CHECK(page.find("action=\"/checkout/SIM-1/" + std::string(action) + "\"") != std::string::npos);
  t.status = order_status::paid;
  CHECK(checkout_page(t).find("<form") == std::string::npos);
  t.status = order_status::in_process;
  t.abandoned = true;
  CHECK(checkout_page(t).find("<form") == std::string::npos);
  CHECK(checkout_result_page(t, "Done").find("https://shop.example/thanks") != std::string::npos);
  // The wallet sends the payer back by itself, unless the redirect is lost (redirect-lost).
  CHECK(checkout_result_page(t, "Done").find("http-equiv=\"refresh\" content=\"1;url=https://shop.example/thanks") != std::string::npos);
  const std::string lost = checkout_result_page(t, "Done", false);
  CHECK(lost.find("https://shop.example/thanks") == std::string::npos);
  CHECK(lost.find("refresh") == std::string::npos);
}

TEST_CASE("truth: JSON reports status, pay bodies and notifies") {
  truth t = sample_truth();
  t.status = order_status::cancelled;
  t.paid = true;
  t.refunded = true;
  t.pay_bodies = 2;
  t.deliveries.push_back({0, at("2024-01-01T00:00:00Z"), 500, false, false, "HTTP 500"});
  t.deliveries.push_back({1, at("2024-01-01T00:02:00Z"), 200, true, false, "acked"});
  t.notify = notify_state::acked;
  const auto j = to_json(t);
  CHECK(j.at("status").as_string() == "cancelled");
  CHECK(j.at("cancelled").as_bool());
  CHECK(j.at("paid").as_bool());
  CHECK(j.at("payBodies").at("count").as_int64() == 2);
  CHECK(j.at("payBodies").at("identical").as_bool());
  CHECK(j.at("notify").at("attempts").as_int64() == 2);
  CHECK(j.at("notify").at("acks").as_int64() == 1);
  CHECK(j.at("notify").at("state").as_string() == "acked");
  CHECK(j.at("notify").at("nextAt").is_null());
}

}  // namespace cashier::sim
