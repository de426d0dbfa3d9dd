// Tests of the simulated Alipay+'s business logic: pay and its idempotency, the payer's
// actions, inquiry and cancel from the truth, the cancel window, consult, and notify bodies.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/wire_time.hpp"
#include "tests/tools/aplus-sim/sim_test_support.hpp"
#include "tools/aplus-sim/ledger.hpp"

namespace cashier::sim {
namespace {

using namespace std::chrono_literals;
using test::pay_body;

const time_point t0 = aplus::parse_wire_time("2024-05-01T10:00:00+08:00").value();

ledger make_books() { return ledger("https://sim.test:9443", "SIM-"); }

std::string lookup(std::string_view id) { return R"({"paymentRequestId":")" + std::string(id) + R"("})"; }

}  // namespace

TEST_CASE("ledger: a new pay answers U PAYMENT_IN_PROCESS with the checkout URL") {
  auto books = make_books();
  const auto out = books.pay(pay_body("p1"), t0);
  CHECK(out.effect == pay_effect::created);
  CHECK(out.payment_request_id == "p1");
  CHECK(out.answer.result.status == 'U');
  CHECK(out.answer.result.code == "PAYMENT_IN_PROCESS");
  REQUIRE(out.answer.payment_id);
  CHECK(*out.answer.normal_url == "https://sim.test:9443/checkout/" + *out.answer.payment_id);
  CHECK(out.answer.payment_amount->minor_units == 450);
  const auto data = boost::json::parse(*out.answer.payment_data);
  CHECK(data.at("displayPaymentAmount").as_string() == "4.50");
  CHECK(data.at("wallets").as_array().size() == 2);
  // The answer survives our own codec, as cashierd will decode it.
  CHECK(aplus::decode_pay_response(aplus::encode(out.answer)));
  const truth* t = books.find("p1");
  REQUIRE(t);
  CHECK(t->status == order_status::in_process);
  CHECK(books.find_by_payment_id(*out.answer.payment_id) == t);
}

TEST_CASE("ledger: repeats are idempotent, a different amount is REPEAT_REQ_INCONSISTENT") {
  auto books = make_books();
  const auto first = books.pay(pay_body("p1"), t0);
  const auto again = books.pay(pay_body("p1"), t0 + 1s);
  CHECK(again.effect == pay_effect::none);
  CHECK(again.answer == first.answer);
  CHECK(books.find("p1")->pay_bodies == 2);
  CHECK(books.find("p1")->pay_bodies_identical);

  const auto other = books.pay(pay_body("p1", "Coffee", "451"), t0 + 2s);
  CHECK(other.answer.result.status == 'F');
  CHECK(other.answer.result.code == "REPEAT_REQ_INCONSISTENT");
  CHECK_FALSE(other.answer.payment_id);
  CHECK(books.find("p1")->request.payment_amount.minor_units == 450);
  CHECK(books.find("p1")->inconsistent_pays == 1);
  CHECK_FALSE(books.find("p1")->pay_bodies_identical);
  CHECK(books.find("p1")->other_bodies == std::vector<std::string>{pay_body("p1", "Coffee", "451")});

  // The same JSON value written differently is consistent, but not byte-identical.
  auto spaced = books.pay(" " + pay_body("p2"), t0);
  auto spaced_again = books.pay(pay_body("p2"), t0);
  CHECK(spaced_again.answer == spaced.answer);
  CHECK_FALSE(books.find("p2")->pay_bodies_identical);
}

TEST_CASE("ledger: once the payer paid, pay answers S and inquiry S/S with the payment's details") {
  auto books = make_books();
  books.pay(pay_body("p1"), t0);
  CHECK(books.payer_acts("p1", payer_action::pay, t0 + 30s));
  CHECK(books.find("p1")->notify == notify_state::scheduled);
  const auto again = books.pay(pay_body("p1"), t0 + 40s);
  CHECK(again.answer.result.status == 'S');
  CHECK(again.answer.payment_time == aplus::format_wire_time(t0 + 30s, 480));
  CHECK_FALSE(again.answer.normal_url);

  const auto inquiry = books.inquire(lookup("p1")).answer;
  CHECK(inquiry.result.status == 'S');
  CHECK(inquiry.payment_result->status == 'S');
  CHECK(inquiry.payment_id == books.find("p1")->payment_id);
  CHECK(inquiry.customer_id);
  CHECK(inquiry.wallet_brand_name);
  CHECK(aplus::decode_inquiry_payment_response(aplus::encode(inquiry)));
  // The payer cannot act twice.
  CHECK_FALSE(books.payer_acts("p1", payer_action::fail, t0 + 50s));
}

TEST_CASE("ledger: inquiry by paymentId, unknown ids, and failed payments") {
  auto books = make_books();
  CHECK(books.inquire(lookup("nope")).answer.result.code == "ORDER_NOT_EXIST");
  CHECK(books.inquire(lookup("nope")).answer.result.status == 'F');
  CHECK(books.inquire("{}").answer.result.code == "PARAM_ILLEGAL");
  const auto pid = *books.pay(pay_body("p1"), t0).answer.payment_id;
  const auto by_id = books.inquire(R"({"paymentId":")" + pid + R"("})");
  CHECK(by_id.payment_request_id == "p1");
  CHECK(by_id.answer.payment_result->status == 'U');
  CHECK(books.payer_acts("p1", payer_action::fail, t0 + 5s));
  const auto failed = books.inquire(lookup("p1")).answer;
  CHECK(failed.payment_result->status == 'F');
  CHECK_FALSE(failed.customer_id);
  CHECK(books.find("p1")->inquiries == 2);
  CHECK(books.notify_request(*books.find("p1")).payment_result.status == 'F');
}

TEST_CASE("ledger: cancel closes the order, refunds a paid one and stops its notifies") {
  auto books = make_books();
  CHECK(books.cancel(lookup("nope"), t0).answer.result.code == "ORDER_NOT_EXIST");
  books.pay(pay_body("p1"), t0);
  books.payer_acts("p1", payer_action::pay, t0 + 1s);
  const auto out = books.cancel(lookup("p1"), t0 + 2s);
  CHECK(out.answer.result.status == 'S');
  const truth& t = *books.find("p1");
  CHECK(t.status == order_status::cancelled);
  CHECK(t.refunded);
  CHECK(t.notify == notify_state::stopped);
  CHECK(books.cancel(lookup("p1"), t0 + 3s).answer.result.status == 'S');  // idempotent
  // Paid, then reversed: still paid, with the cancel listed as proof of the refund.
  const auto q = books.inquire(lookup("p1")).answer;
  CHECK(q.payment_result->status == 'S');
  REQUIRE(q.transactions);
  REQUIRE(q.transactions->size() == 1);
  CHECK(q.transactions->front().transaction_type == "CANCEL");
  CHECK(q.transactions->front().transaction_status == "SUCCESS");
  CHECK(books.pay(pay_body("p1"), t0 + 4s).answer.result.code == "ORDER_IS_CLOSED");

  books.pay(pay_body("p2"), t0);
  books.cancel(lookup("p2"), t0 + 1s);
  CHECK_FALSE(books.payer_acts("p2", payer_action::pay, t0 + 2s));
  CHECK_FALSE(books.find("p2")->refunded);
}

TEST_CASE("ledger: the cancel window, real or forced") {
  auto books = make_books();
  books.pay(pay_body("p1"), t0);
  const auto late = books.cancel(lookup("p1"), cancel_window_end(t0) + 1ms);
  CHECK(late.answer.result.code == "CANCEL_WINDOW_EXCEED");
  CHECK(books.find("p1")->status == order_status::in_process);
  CHECK(books.cancel(lookup("p1"), cancel_window_end(t0)).answer.result.status == 'S');

  books.pay(pay_body("p2", "x [sim:cancel-window-exceeded]"), t0);
  CHECK(books.cancel(lookup("p2"), t0 + 1s).answer.result.code == "CANCEL_WINDOW_EXCEED");
}

TEST_CASE("ledger: scenario tags, pay-success-immediately, abandon and bad requests") {
  auto books = make_books();
  const auto now_paid = books.pay(pay_body("p1", "[sim:pay-success-immediately]"), t0);
  CHECK(now_paid.effect == pay_effect::settled);
  CHECK(now_paid.answer.result.status == 'S');
  CHECK(books.find("p1")->notify == notify_state::scheduled);

  const auto unknown = books.pay(pay_body("p2", "[sim:pay-sloow]"), t0);
  CHECK(unknown.answer.result.code == "PARAM_ILLEGAL");
  CHECK(unknown.answer.result.message == "unknown fault 'pay-sloow'");
  CHECK_FALSE(books.find("p2"));

  CHECK(books.pay("{", t0).answer.result.code == "PARAM_ILLEGAL");
  CHECK(books.pay(pay_body("p3", "x", "0"), t0).answer.result.code == "PARAM_ILLEGAL");

  books.pay(pay_body("p4", "[sim:notify-none]"), t0);
  CHECK(books.payer_acts("p4", payer_action::pay, t0 + 1s));
  CHECK(books.find("p4")->notify == notify_state::none);

  books.pay(pay_body("p5"), t0);
  CHECK(books.payer_acts("p5", payer_action::abandon, t0 + 1s));
  CHECK(books.find("p5")->abandoned);
  CHECK_FALSE(books.payer_acts("p5", payer_action::pay, t0 + 2s));
  CHECK(books.inquire(lookup("p5")).answer.payment_result->status == 'U');
}

TEST_CASE("ledger: a control scenario set before pay is merged with the tags") {
  auto books = make_books();
  merge(books.scenario_for("p1"), parse_faults(std::vector<std::string>{"pay-u"}).value());
  books.pay(pay_body("p1", "[sim:notify-late]"), t0);
  auto& s = books.scenario_for("p1");
  CHECK(s.notify_late);
  CHECK(take_answer_fault(s, sim_api::pay)->fault == answer_fault::unknown);
  const auto d = books.describe("p1");
  REQUIRE(d);
  CHECK(d->at("scenario").at("faults").as_array().size() == 2);
  CHECK_FALSE(books.describe("p9"));
}

TEST_CASE("ledger: consult offers CONNECT_WALLET with a logo and two wallets") {
  auto books = make_books();
  const auto r = books.consult(R"({"paymentAmount":{"currency":"USD","value":"0"}})");
  CHECK(r.result.status == 'S');
  REQUIRE(r.payment_options);
  const auto& o = r.payment_options->at(0);
  CHECK(o.payment_method_type == "CONNECT_WALLET");
  CHECK(o.enabled == true);
  CHECK(o.logo->logo_url);
  CHECK(o.payment_option_detail->connect_wallet->support_wallets->size() == 2);
  CHECK(aplus::decode_consult_payment_response(aplus::encode(r)));
  CHECK(books.consult("[]").result.code == "PARAM_ILLEGAL");
  // The promotion is a promoName map per locale.
  CHECK(o.promo_names->at(0).find(R"("zh_CN":)") != std::string::npos);
  // POST /sim/consult {"enabled": false}: Alipay+ not available.
  books.consult_enabled = false;
  const auto off = books.consult(R"({"paymentAmount":{"currency":"USD","value":"0"}})");
  CHECK(off.result.status == 'S');
  CHECK(off.payment_options->at(0).enabled == false);
  CHECK(off.payment_options->at(0).disable_reason == "PAYMENT_METHOD_NOT_AVAILABLE");
}

TEST_CASE("ledger: the notify request reports the paid payment") {
  auto books = make_books();
  books.pay(pay_body("p1"), t0);
  books.payer_acts("p1", payer_action::pay, t0 + 3s);
  const auto n = books.notify_request(*books.find("p1"));
  CHECK(n.payment_result.status == 'S');
  CHECK(n.payment_request_id == "p1");
  CHECK(n.payment_amount.minor_units == 450);
  CHECK(n.payment_time == aplus::format_wire_time(t0 + 3s, 480));
  const auto round = aplus::decode_notify_payment_request(aplus::encode(n));
  REQUIRE(round);
  CHECK(*round == n);
}

}  // namespace cashier::sim
