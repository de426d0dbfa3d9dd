// Tests of the simulated Alipay+'s refund: partial refunds within the amount, REFUND_AMOUNT_EXCEED,
// the refund window, idempotent repeats and REPEAT_REQ_INCONSISTENT, refunds of unpaid orders,
// REFUND transactions in inquiry answers, and the refund fault tags.
#include <doctest/doctest.h>

#include "orchestrator/alipayplus/refund_codec.hpp"
#include "orchestrator/alipayplus/wire_time.hpp"
#include "tests/tools/aplus-sim/sim_test_support.hpp"
#include "tools/aplus-sim/ledger.hpp"

namespace cashier::sim {
namespace {

using namespace std::chrono_literals;
using test::pay_body;

const time_point t0 = aplus::parse_wire_time("2024-05-01T10:00:00+08:00").value();

std::string refund_body(std::string_view payment, std::string_view id, std::string_view value,
                        std::string_view currency = "USD") {
  return R"({"paymentRequestId":")" + std::string(payment) + R"(","refundRequestId":")" + std::string(id) +
         R"(","refundAmount":{"currency":")" + std::string(currency) + R"(","value":")" + std::string(value) + R"("}})";
}

ledger paid_books() {
  ledger books("https://sim.test:9443", "SIM-");
  books.pay(pay_body("p1"), t0);  // 450 USD
  REQUIRE(books.payer_acts("p1", payer_action::pay, t0 + 1min));
  return books;
}

}  // namespace

TEST_CASE("sim refund: partial refunds within the amount, then REFUND_AMOUNT_EXCEED") {
  auto books = paid_books();
  const auto a = books.refund(refund_body("p1", "rf-1", "200"), t0 + 48h);
  CHECK(a.payment_request_id == "p1");
  CHECK(a.answer.result.status == 'S');
  REQUIRE(a.answer.refund_amount);
  CHECK(a.answer.refund_amount->minor_units == 200);
  CHECK(a.answer.refund_id);
  // The answer survives cashierd's codec.
  CHECK(aplus::decode_refund_response(aplus::encode(a.answer)));
  CHECK(books.refund(refund_body("p1", "rf-2", "200"), t0 + 49h).answer.result.status == 'S');
  const auto over = books.refund(refund_body("p1", "rf-3", "51"), t0 + 50h);
  CHECK(over.answer.result.status == 'F');
  CHECK(over.answer.result.code == "REFUND_AMOUNT_EXCEED");
  CHECK(books.refund(refund_body("p1", "rf-4", "50"), t0 + 50h).answer.result.status == 'S');
  CHECK(refunded_minor(*books.find("p1")) == 450);
  CHECK(books.refund(refund_body("p1", "rf-5", "1", "JPY"), t0 + 50h).answer.result.code == "REFUND_AMOUNT_EXCEED");

  // Inquiry lists every refund as a REFUND transaction, the payment still paid.
  const auto inq = books.inquire(R"({"paymentRequestId":"p1"})");
  CHECK(inq.answer.payment_result->status == 'S');
  REQUIRE(inq.answer.transactions);
  REQUIRE(inq.answer.transactions->size() == 5);
  CHECK((*inq.answer.transactions)[0].transaction_type == "REFUND");
  CHECK((*inq.answer.transactions)[0].transaction_request_id == "rf-1");
  CHECK((*inq.answer.transactions)[0].transaction_status == "SUCCESS");
  CHECK((*inq.answer.transactions)[2].transaction_status == "FAIL");
  CHECK((*inq.answer.transactions)[2].transaction_result->code == "REFUND_AMOUNT_EXCEED");
}

TEST_CASE("sim refund: a repeat answers the same, another body under the id is REPEAT_REQ_INCONSISTENT") {
  auto books = paid_books();
  const auto a = books.refund(refund_body("p1", "rf-1", "100"), t0 + 1h);
  const auto again = books.refund(refund_body("p1", "rf-1", "100"), t0 + 2h);
  CHECK(again.answer == a.answer);
  const auto other = books.refund(refund_body("p1", "rf-1", "101"), t0 + 3h);
  CHECK(other.answer.result.code == "REPEAT_REQ_INCONSISTENT");
  const truth& t = *books.find("p1");
  CHECK(t.refunds.size() == 1);
  CHECK(t.refunds[0].calls == 3);
  CHECK(t.inconsistent_refunds == 1);
  CHECK(refunded_minor(t) == 100);
}

TEST_CASE("sim refund: unknown, unpaid, past the window, malformed") {
  auto books = paid_books();
  CHECK(books.refund(refund_body("nope", "rf-1", "1"), t0).answer.result.code == "ORDER_NOT_EXIST");
  books.pay(pay_body("p2"), t0);
  CHECK(books.refund(refund_body("p2", "rf-1", "1"), t0).answer.result.code == "ORDER_STATUS_INVALID");
  books.set_refund_window(24h);
  CHECK(books.refund(refund_body("p1", "rf-2", "1"), t0 + 25h).answer.result.code == "REFUND_WINDOW_EXCEED");
  CHECK(books.refund(R"({"refundRequestId":"x"})", t0).answer.result.code == "PARAM_ILLEGAL");
  books.scenario_for("p1").refund_window_exceeded = true;
  CHECK(books.refund(refund_body("p1", "rf-3", "1"), t0 + 2h).answer.result.code == "REFUND_WINDOW_EXCEED");
}

TEST_CASE("sim refund: refund-window-exceeded survives the merge of a description tag or /sim/scenario") {
  // Both ways a fault reaches a payment merge the parsed tags into its scenario.
  auto tags = parse_faults(std::vector<std::string>{"refund-window-exceeded"});
  REQUIRE(tags.has_value());
  scenario s;
  merge(s, *tags);
  CHECK(s.refund_window_exceeded);
}

TEST_CASE("sim refund: refund fault tags queue like the other APIs'") {
  auto s = parse_faults(std::vector<std::string>{"refund-u:2", "refund-timeout", "refund-window-exceeded"});
  REQUIRE(s.has_value());
  CHECK(s->refund_window_exceeded);
  CHECK(take_answer_fault(*s, sim_api::refund)->fault == answer_fault::unknown);
  CHECK(take_answer_fault(*s, sim_api::refund)->fault == answer_fault::unknown);
  CHECK(take_answer_fault(*s, sim_api::refund)->fault == answer_fault::timeout);
  CHECK_FALSE(take_answer_fault(*s, sim_api::refund));
  CHECK_FALSE(take_answer_fault(*s, sim_api::cancel));
}

}  // namespace cashier::sim
