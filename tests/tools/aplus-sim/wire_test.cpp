// Tests of aplus-sim's signatures: requests are checked like Alipay+ checks them, answers and
// notifies verify with the Alipay+ public key, each faulted answer is faulty in exactly its own
// way, and only a signed S ack counts as an ack.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/signer.hpp"
#include "orchestrator/engine/clock.hpp"
#include "tests/tools/aplus-sim/sim_test_support.hpp"
#include "tools/aplus-sim/truth.hpp"

namespace cashier::sim {
namespace {

constexpr std::string_view pay_path = "/aps/api/v1/payments/pay";

bool is_json(const std::string& body) {
  boost::system::error_code ec;
  boost::json::parse(body, ec);
  return !ec;
}

}  // namespace

TEST_CASE("wire: a request signed by the ACQP passes, tampered, unsigned or foreign ones do not") {
  const auto keys = test::sim_keys();
  auto req = test::acqp_request(std::string(pay_path), test::pay_body("p1"));
  CHECK_FALSE(check_request(keys, req));

  auto tampered = req;
  tampered.body += " ";
  REQUIRE(check_request(keys, tampered));
  CHECK(check_request(keys, tampered)->http_status == 401);
  CHECK(check_request(keys, tampered)->result.code == "INVALID_SIGNATURE");

  auto moved = req;
  moved.target = "/aps/api/v1/payments/cancelPayment";
  CHECK(check_request(keys, moved)->result.code == "INVALID_SIGNATURE");

  auto unsigned_req = req;
  std::erase_if(unsigned_req.headers, [](const net::header& h) { return h.name == "Signature"; });
  CHECK(check_request(keys, unsigned_req)->result.message.find("missing_header") != std::string::npos);

  const auto foreign = test::acqp_request(std::string(pay_path), test::pay_body("p1"), "OTHER_CLIENT");
  CHECK(check_request(keys, foreign)->result.code == "INVALID_CLIENT");
}

TEST_CASE("wire: answers are signed over the request's path with Response-Time") {
  const auto keys = test::sim_keys();
  const auto res = signed_answer(keys, pay_path, 200, R"({"result":{}})", wall_now());
  CHECK(test::signed_by_aplus(res, pay_path));
  CHECK_FALSE(test::signed_by_aplus(res, "/aps/api/v1/payments/inquiryPayment"));
  CHECK(net::find_header(res.headers, "Client-Id") == test::client_id);
}

TEST_CASE("wire: each answer fault is faulty in its own way") {
  const auto keys = test::sim_keys();
  const std::string body = R"({"result":{"resultCode":"PAYMENT_IN_PROCESS","resultStatus":"U"}})";
  const auto now = wall_now();
  const auto answer = [&](std::optional<answer_fault> f) { return faulted_answer(keys, pay_path, body, f, now); };

  for (auto f : {std::optional<answer_fault>{}, std::optional(answer_fault::timeout), std::optional(answer_fault::drop),
                 std::optional(answer_fault::delay)}) {
    const auto r = answer(f);
    CHECK(r.body == body);
    CHECK(test::signed_by_aplus(r, pay_path));
  }
  const auto u = answer(answer_fault::unknown);
  CHECK(test::signed_by_aplus(u, pay_path));
  CHECK(aplus::decode_notify_payment_ack(u.body)->result.code == "UNKNOWN_EXCEPTION");

  const auto five = answer(answer_fault::server_error);
  CHECK(five.status == 502);
  CHECK_FALSE(net::find_header(five.headers, "Signature"));

  const auto garbled = answer(answer_fault::garbled);
  CHECK_FALSE(is_json(garbled.body));
  CHECK(test::signed_by_aplus(garbled, pay_path));

  const auto bare = answer(answer_fault::unsigned_body);
  CHECK(bare.body == body);
  CHECK_FALSE(net::find_header(bare.headers, "Signature"));
  CHECK(net::find_header(bare.headers, "Response-Time"));

  const auto bad = answer(answer_fault::bad_signature);
  CHECK(bad.body == body);
  CHECK(net::find_header(bad.headers, "Signature"));
  CHECK_FALSE(test::signed_by_aplus(bad, pay_path));

  const auto five_hundred = answer(answer_fault::http_500);
  CHECK(five_hundred.status == 500);
  CHECK(is_json(five_hundred.body));
  CHECK_FALSE(net::find_header(five_hundred.headers, "Signature"));

  // reset: the head of the real signed answer (its full Content-Length) and half its body.
  const auto reset = answer(answer_fault::reset);
  CHECK(reset.status == net::reset_status);
  CHECK(reset.body.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(reset.body.find("Signature: ") != std::string::npos);
  CHECK(reset.body.find("Content-Length: " + std::to_string(body.size()) + "\r\n\r\n") != std::string::npos);
  CHECK(reset.body.ends_with("\r\n\r\n" + body.substr(0, body.size() / 2)));
}

TEST_CASE("wire: notifies verify with the Alipay+ key unless badly signed on purpose") {
  const auto keys = test::sim_keys();
  for (const bool bad : {false, true}) {
    notify_signing how;
    how.bad_signature = bad;
    const auto req = signed_notify(keys, "/alipayplus/notify?x=1", R"({"a":"b"})", how, wall_now());
    const auto content = aplus::request_content("POST", req.target, *net::find_header(req.headers, "Client-Id"),
                                                *net::find_header(req.headers, "Request-Time"), req.body);
    const auto outcome = aplus::verify_with(test::acqp().aplus_keys, *net::find_header(req.headers, "Signature"), content);
    CHECK((outcome == aplus::verify_outcome::ok) == !bad);
  }
}

TEST_CASE("wire: a crafted notify carries and signs the Client-Id and Request-Time it is given") {
  const auto keys = test::sim_keys();
  const notify_signing how{false, "OTHER", "2020-01-01T00:00:00.000+08:00"};
  const auto req = signed_notify(keys, "/alipayplus/notify", R"({"a":"b"})", how, wall_now());
  CHECK(net::find_header(req.headers, "Client-Id") == "OTHER");
  CHECK(net::find_header(req.headers, "Request-Time") == how.request_time);
  const auto content = aplus::request_content("POST", req.target, "OTHER", how.request_time, req.body);
  CHECK(aplus::verify_with(test::acqp().aplus_keys, *net::find_header(req.headers, "Signature"), content) ==
        aplus::verify_outcome::ok);
}

TEST_CASE("wire: only HTTP 200 with a signed result S is an ack") {
  const auto keys = test::sim_keys();
  const std::string path = "/alipayplus/notify";
  CHECK_FALSE(ack_problem(keys, path, test::acqp_ack(path, 'S')));
  CHECK(ack_problem(keys, path, test::acqp_ack(path, 'S', 500)) == "HTTP 500");
  CHECK(ack_problem(keys, path, test::acqp_ack(path, 'F'))->find("ack result F") == 0);
  CHECK(ack_problem(keys, "/other", test::acqp_ack(path, 'S'))->find("ack signature") == 0);
  auto stripped = test::acqp_ack(path, 'S');
  std::erase_if(stripped.headers, [](const net::header& h) { return h.name == "Signature"; });
  CHECK(ack_problem(keys, path, stripped) == "ack signature: missing_header");
}

}  // namespace cashier::sim
