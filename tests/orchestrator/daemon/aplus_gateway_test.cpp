// Tests of the Alipay+ adapter against a fake Alipay+ on a real loopback HTTPS server (dev CA
// and keys from tools/dev-keys). The fake checks every request's signature with our public key
// and answers signed with the Alipay+ key, or unsigned, or with the wrong key, or with 500, or
// garbled. Covered: pay S, F, U/PAYMENT_IN_PROCESS, U other; each no-answer reason (timeout
// against a silent server, connection refused); byte-identical pay bodies; inquiry; cancel;
// consult; the call record; metrics; signing on a worker pool; set-up errors; answers outside the
// Response-Time window or naming another payment (no answer); lenient informational fields.
#include "tests/orchestrator/net/net_test_support.hpp"
#include "orchestrator/daemon/aplus_gateway.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <thread>

#include "orchestrator/alipayplus/signature_header.hpp"
#include "orchestrator/alipayplus/signer.hpp"
#include "orchestrator/alipayplus/wire_time.hpp"
#include "orchestrator/net/http_server.hpp"

using namespace cashier;
using namespace cashier::daemon;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::awaitable;

namespace {

using net::test::keys_dir;

const std::string our_client_id = "2022000000000001";
// Far from the wall clock, so a Request-Time taken from the payment clock would show.
const time_point payment_now = from_epoch_ms(1'900'000'000'000);

class fixed_clock final : public payment_clock {
 public:
  time_point now() const override { return payment_now; }
  std::chrono::steady_clock::duration wall_wait_until(time_point) const override { return {}; }
};

// How the fake Alipay+ answers one request.
struct reply {
  enum class signing { aplus, wrong_key, none };
  std::string body;
  int status = 200;
  signing sign = signing::aplus;
  std::string client_id = our_client_id;  // the answer's Client-Id ("" = header left out)
  std::chrono::seconds response_time_offset{0};  // Response-Time = wall now + this (signed)
};

// What the fake Alipay+ saw and how it answers.
struct fake_state {
  std::vector<net::request> seen;
  std::vector<aplus::verify_outcome> our_signature;  // per request, checked with our public key
  std::function<reply(const net::request&)> answer;
};

aplus::verify_outcome check_our_signature(const net::request& req) {
  static const aplus::verifier_keys ours = [] {
    aplus::verifier_keys k;
    k.add("1", aplus::load_public_key_file(keys_dir() + "/acqp_public.pem").value()).value();
    return k;
  }();
  const auto header = [&](std::string_view n) {
    return std::string(net::find_header(req.headers, n).value_or(""));
  };
  if (header("Content-Type") != "application/json; charset=UTF-8" ||
      header("Client-Id") != our_client_id || !aplus::parse_wire_time(header("Request-Time")))
    return aplus::verify_outcome::bad_header;
  return aplus::verify_with(ours, header("Signature"),
                            aplus::request_content(req.method, req.target, header("Client-Id"),
                                                   header("Request-Time"), req.body));
}

net::response sign_reply(const net::request& req, const reply& r) {
  net::response res;
  res.status = r.status;
  res.body = r.body;
  res.headers = {{"Content-Type", "application/json; charset=UTF-8"}};
  const auto response_time = aplus::format_wire_time(wall_now() + r.response_time_offset, 480);
  res.headers.push_back({"Response-Time", response_time});
  if (!r.client_id.empty()) res.headers.push_back({"Client-Id", r.client_id});
  if (r.sign == reply::signing::none) return res;
  const auto signer = r.sign == reply::signing::aplus ? "aplus" : "acqp";
  const auto key = aplus::load_private_key_file(keys_dir() + "/" + signer + "_private.pem").value();
  const auto content =
      aplus::response_content("POST", req.target, r.client_id, response_time, r.body);
  res.headers.push_back(
      {"Signature", aplus::format_signature_header("1", aplus::sign(key, content))});
  return res;
}

net::http_server listen_fake(asio::io_context& ioc, std::shared_ptr<fake_state> fake,
                             bool tls = true) {
  net::server_options options;
  if (tls)
    options.tls =
        net::make_server_context(keys_dir() + "/server.pem", keys_dir() + "/server.key").value();
  auto handler = [fake](net::request req, const net::peer_info&) -> awaitable<net::response> {
    fake->our_signature.push_back(check_our_signature(req));
    fake->seen.push_back(req);
    co_return sign_reply(req, fake->answer(req));
  };
  return net::http_server::listen(ioc.get_executor(), "127.0.0.1:0", handler, std::move(options))
      .value();
}

config::alipayplus_config gateway_config(const std::string& gateway_url) {
  config::alipayplus_config cfg;
  cfg.gateway = gateway_url;
  cfg.client_id = our_client_id;
  cfg.private_key = keys_dir() + "/acqp_private.pem";
  cfg.public_keys = {{keys_dir() + "/aplus_public.pem", "1"}};
  cfg.key_version = "1";
  cfg.ca_file = keys_dir() + "/ca.pem";
  cfg.request_timeout_ms = 5000;
  return cfg;
}

// Runs `task` to completion on `ioc` (at most 30 s of wall time), rethrowing its exception.
void run(asio::io_context& ioc, awaitable<void> task) {
  bool done = false;
  std::exception_ptr failure;
  asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e) {
    done = true;
    failure = e;
    ioc.stop();
  });
  ioc.restart();
  ioc.run_for(30s);
  if (failure) std::rethrow_exception(failure);
  REQUIRE_MESSAGE(done, "the test coroutine did not finish within 30 s");
}

payment test_payment() {
  payment p;
  p.id = 7;
  p.payment_request_id = "pay_1089760038715669";
  // Odd spacing, key order and an escaped and a raw non-ASCII character: the bytes must survive.
  p.pay_request =
      "{\"paymentRequestId\": \"pay_1089760038715669\",\n  \"order\":{\"orderDescription\":"
      "\"Caf\xc3\xa9 \\u00e9\"},  \"paymentAmount\":{\"value\":\"100\",\"currency\":\"JPY\"}}";
  return p;
}

// One fake Alipay+ over HTTPS and an adapter pointed at it.
struct harness {
  asio::io_context ioc;
  fixed_clock clock;
  std::shared_ptr<fake_state> fake = std::make_shared<fake_state>();
  net::http_server server;
  std::unique_ptr<aplus_gateway> gw;

  explicit harness(gateway_options options = {}, std::string path_prefix = "")
      : server(listen_fake(ioc, fake)),
        gw(aplus_gateway::create(
               ioc.get_executor(),
               gateway_config("https://127.0.0.1:" + std::to_string(server.port()) + path_prefix),
               clock, options)
               .value()) {}

  // Answers every request with `r`.
  void answer(reply r) {
    fake->answer = [r](const net::request&) { return r; };
  }
  call_result pay(const payment& p) {
    return once([&] { return gw->pay(p); });
  }
  call_result inquiry(const payment& p) {
    return once([&] { return gw->inquiry(p); });
  }
  call_result cancel(const payment& p) {
    return once([&] { return gw->cancel(p); });
  }

  template <class F>
  call_result once(F start) {
    call_result out{pay_no_answer{no_answer_reason::garbled}, {}};
    run(ioc, [&]() -> awaitable<void> { out = co_await start(); }());
    return out;
  }
};

const std::string pay_success =
    R"({"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},)"
    R"("paymentId":"20200101234567890134567","paymentTime":"2020-01-01T12:01:01+08:30"})";

template <class E>
const E& event_as(const call_result& r) {
  REQUIRE_MESSAGE(std::holds_alternative<E>(r.ev), "unexpected event index " << r.ev.index());
  return std::get<E>(r.ev);
}

}  // namespace

TEST_CASE("pay S: signed request with the stored bytes, verified answer, full call record") {
  harness h;
  h.answer({pay_success});
  const auto p = test_payment();
  const auto r = h.pay(p);
  const auto& ev = event_as<pay_answer>(r);
  CHECK(ev.result == aplus_result{"SUCCESS", 'S', "success"});
  CHECK(ev.facts.payment_id == "20200101234567890134567");
  CHECK(ev.facts.payment_time == "2020-01-01T12:01:01+08:30");

  REQUIRE(h.fake->seen.size() == 1);
  CHECK(h.fake->our_signature[0] == aplus::verify_outcome::ok);
  CHECK(h.fake->seen[0].method == "POST");
  CHECK(h.fake->seen[0].target == "/aps/api/v1/payments/pay");
  CHECK(h.fake->seen[0].body == p.pay_request);
  // Request-Time is transport time: the wall clock, not the payment clock.
  const auto request_time =
      aplus::parse_wire_time(net::find_header(h.fake->seen[0].headers, "Request-Time").value())
          .value();
  CHECK(std::chrono::abs(request_time - wall_now()) < 60s);

  const auto& c = r.call;
  CHECK(c.payment_id == 7);
  CHECK(c.api == "pay");
  CHECK(c.request_body == p.pay_request);
  CHECK(c.request_headers.starts_with(
      "Content-Type: application/json; charset=UTF-8\nClient-Id: " + our_client_id + "\n"));
  CHECK(c.request_headers.find("\nRequest-Time: ") != std::string::npos);
  CHECK(c.request_headers.find("\nSignature: algorithm=RSA256,keyVersion=1,signature=") !=
        std::string::npos);
  CHECK(c.http_status == 200);
  CHECK(c.response_body == pay_success);
  CHECK(c.response_headers.find("Response-Time: ") != std::string::npos);
  CHECK(c.outcome == "S/SUCCESS");
  CHECK(c.started_at == payment_now);
  CHECK(c.latency_us > 0);
}

TEST_CASE("pay F keeps the code") {
  harness h;
  h.answer(
      {R"({"result":{"resultCode":"REPEAT_REQ_INCONSISTENT","resultStatus":"F","resultMessage":"no"}})"});
  const auto r = h.pay(test_payment());
  CHECK(event_as<pay_answer>(r).result == aplus_result{"REPEAT_REQ_INCONSISTENT", 'F', "no"});
  CHECK(r.call.outcome == "F/REPEAT_REQ_INCONSISTENT");
}

TEST_CASE("pay U/PAYMENT_IN_PROCESS carries normalUrl, paymentData and paymentId") {
  harness h;
  h.answer(
      {R"({"result":{"resultCode":"PAYMENT_IN_PROCESS","resultStatus":"U","resultMessage":"in process"},)"
       R"("paymentId":"2020010123456789","normalUrl":"https://checkout.example/p?id=1&x=%2F",)"
       R"("paymentData":"{\"displayAmount\":\"100\",\"wallets\":[]}"})"});
  const auto r = h.pay(test_payment());
  const auto& ev = event_as<pay_answer>(r);
  CHECK(ev.result.status == 'U');
  CHECK(ev.result.code == "PAYMENT_IN_PROCESS");
  CHECK(ev.normal_url == "https://checkout.example/p?id=1&x=%2F");
  CHECK(ev.payment_data == R"({"displayAmount":"100","wallets":[]})");
  CHECK(ev.facts.payment_id == "2020010123456789");
  CHECK(r.call.outcome == "U/PAYMENT_IN_PROCESS");
}

TEST_CASE("pay U with another code is an answer the machine retries") {
  harness h;
  h.answer(
      {R"({"result":{"resultCode":"UNKNOWN_EXCEPTION","resultStatus":"U","resultMessage":"try later"}})"});
  const auto r = h.pay(test_payment());
  CHECK(event_as<pay_answer>(r).result == aplus_result{"UNKNOWN_EXCEPTION", 'U', "try later"});
  CHECK(event_as<pay_answer>(r).normal_url.empty());
  CHECK(r.call.outcome == "U/UNKNOWN_EXCEPTION");
}

TEST_CASE("an unsigned answer is no answer, and its bytes are kept") {
  harness h;
  h.answer({pay_success, 200, reply::signing::none});
  const auto r = h.pay(test_payment());
  CHECK(event_as<pay_no_answer>(r).reason == no_answer_reason::unsigned_answer);
  CHECK(r.call.outcome == "unsigned_answer");
  CHECK(r.call.http_status == 200);
  CHECK(r.call.response_body == pay_success);
}

TEST_CASE("an answer signed with another key is bad_signature") {
  harness h;
  h.answer({pay_success, 200, reply::signing::wrong_key});
  const auto r = h.pay(test_payment());
  CHECK(event_as<pay_no_answer>(r).reason == no_answer_reason::bad_signature);
  CHECK(r.call.outcome == "bad_signature");
}

TEST_CASE(
    "an answer for another Client-Id is bad_signature but one without Client-Id verifies with "
    "ours") {
  harness h;
  h.answer({pay_success, 200, reply::signing::aplus, "2022000000000999"});
  CHECK(event_as<pay_no_answer>(h.pay(test_payment())).reason == no_answer_reason::bad_signature);
  // A plain-HTTP loopback fake that signs over our Client-Id but leaves the header out.
  auto headerless =
      net::http_server::listen(
          h.ioc.get_executor(), "127.0.0.1:0",
          [](net::request req, const net::peer_info&) -> awaitable<net::response> {
            auto res = sign_reply(req, reply{pay_success});
            std::erase_if(res.headers, [](const net::header& x) { return x.name == "Client-Id"; });
            co_return res;
          })
          .value();
  auto gw = aplus_gateway::create(
                h.ioc.get_executor(),
                gateway_config("http://127.0.0.1:" + std::to_string(headerless.port())), h.clock)
                .value();
  call_result r{pay_no_answer{no_answer_reason::garbled}, {}};
  run(h.ioc, [&]() -> awaitable<void> { r = co_await gw->pay(test_payment()); }());
  CHECK(event_as<pay_answer>(r).result.status == 'S');
  CHECK(r.call.response_headers.find("Client-Id") == std::string::npos);
}

TEST_CASE("HTTP 500 is server_error, even when signed") {
  harness h;
  h.answer({R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"}})", 500});
  const auto r = h.pay(test_payment());
  CHECK(event_as<pay_no_answer>(r).reason == no_answer_reason::server_error);
  CHECK(r.call.http_status == 500);
  CHECK(r.call.outcome == "server_error");
}

TEST_CASE("a validly signed answer that is not a pay response is garbled") {
  harness h;
  for (const auto* body : {R"({"result":{"resultCode":"SUCCESS","resultStatus":"S")",
                           R"({"result":{"resultCode":"SUCCESS","resultStatus":"maybe"}})",
                           R"({"result":"S"})", "<html>oops</html>"}) {
    CAPTURE(body);
    h.answer({body});
    const auto r = h.pay(test_payment());
    CHECK(event_as<pay_no_answer>(r).reason == no_answer_reason::garbled);
    CHECK(r.call.outcome == "garbled");
  }
}

TEST_CASE("a silent server times out after requestTimeoutMs") {
  asio::io_context ioc;
  fixed_clock clock;
  // Listening but never accepting: the kernel completes the handshake, nobody ever answers.
  asio::ip::tcp::acceptor silent(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  auto cfg = gateway_config("http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()));
  cfg.request_timeout_ms = 300;
  auto gw = aplus_gateway::create(ioc.get_executor(), cfg, clock).value();
  call_result r{pay_no_answer{no_answer_reason::garbled}, {}};
  run(ioc, [&]() -> awaitable<void> { r = co_await gw->pay(test_payment()); }());
  CHECK(event_as<pay_no_answer>(r).reason == no_answer_reason::timeout);
  CHECK(r.call.http_status == 0);
  CHECK(r.call.outcome == "timeout");
  CHECK(r.call.latency_us >= 250'000);
  CHECK(r.call.request_body == test_payment().pay_request);
}

TEST_CASE("a refused connection is transport_error") {
  asio::io_context ioc;
  fixed_clock clock;
  std::uint16_t port = 0;
  {
    asio::ip::tcp::acceptor closed(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    port = closed.local_endpoint().port();
  }
  auto gw = aplus_gateway::create(ioc.get_executor(),
                                  gateway_config("http://127.0.0.1:" + std::to_string(port)), clock)
                .value();
  call_result r{pay_no_answer{no_answer_reason::garbled}, {}};
  run(ioc, [&]() -> awaitable<void> { r = co_await gw->cancel(test_payment()); }());
  CHECK(event_as<cancel_no_answer>(r).reason == no_answer_reason::transport_error);
  CHECK(r.call.outcome == "transport_error");
  CHECK(r.call.api == "cancelPayment");
}

TEST_CASE("the pay body on the wire is byte-identical to the stored request on every retry") {
  harness h;
  h.answer({R"({"result":{"resultCode":"UNKNOWN_EXCEPTION","resultStatus":"U"}})"});
  const auto p = test_payment();
  h.pay(p);
  h.pay(p);
  REQUIRE(h.fake->seen.size() == 2);
  CHECK(h.fake->seen[0].body == p.pay_request);
  CHECK(h.fake->seen[1].body == p.pay_request);
  CHECK(h.fake->our_signature[0] == aplus::verify_outcome::ok);
  CHECK(h.fake->our_signature[1] == aplus::verify_outcome::ok);
}

TEST_CASE("inquiry S/S yields the payment's facts") {
  harness h;
  h.answer(
      {R"({"acquirerId":"1111088000000000002","pspId":"1022172000000000001",)"
       R"("result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},)"
       R"("paymentResult":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},)"
       R"("paymentRequestId":"pay_1089760038715669","paymentId":"20200101234567890134567",)"
       R"("paymentTime":"2020-01-01T12:01:01+08:30","paymentAmount":{"value":"100","currency":"JPY"},)"
       R"("customerId":"1235678","walletBrandName":"KAKAOPAY",)"
       R"("settlementAmount":{"value":"9000","currency":"USD"}})"});
  const auto r = h.inquiry(test_payment());
  const auto& ev = event_as<inquiry_answer>(r);
  CHECK(ev.result.status == 'S');
  REQUIRE(ev.payment_result.has_value());
  CHECK(*ev.payment_result == aplus_result{"SUCCESS", 'S', "success"});
  CHECK(ev.facts.payment_id == "20200101234567890134567");
  CHECK(ev.facts.payment_time == "2020-01-01T12:01:01+08:30");
  CHECK(ev.facts.customer_id == "1235678");
  CHECK(ev.facts.wallet_brand_name == "KAKAOPAY");
  REQUIRE(ev.facts.settlement_amount.has_value());
  CHECK(ev.facts.settlement_amount->minor_units == 9000);
  CHECK(ev.facts.settlement_amount->currency.view() == "USD");
  REQUIRE(ev.amount.has_value());
  CHECK(ev.amount->minor_units == 100);
  CHECK(ev.amount->currency.view() == "JPY");
  CHECK(h.fake->seen.at(0).target == "/aps/api/v1/payments/inquiryPayment");
  CHECK(h.fake->seen.at(0).body == R"({"paymentRequestId":"pay_1089760038715669"})");
  CHECK(h.fake->our_signature.at(0) == aplus::verify_outcome::ok);
  CHECK(r.call.api == "inquiryPayment");
  CHECK(r.call.outcome == "S/SUCCESS paymentResult=S/SUCCESS");
}

TEST_CASE("an inquiry answer about another paymentRequestId is garbled") {
  harness h;
  h.answer(
      {R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},"paymentRequestId":"someone_else",)"
       R"("paymentResult":{"resultCode":"SUCCESS","resultStatus":"S"}})"});
  CHECK(event_as<inquiry_no_answer>(h.inquiry(test_payment())).reason == no_answer_reason::garbled);
}

TEST_CASE("a verified answer whose Response-Time is outside the skew window is no answer") {
  const std::string inquiry_ss =
      R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},"paymentRequestId":"pay_1089760038715669",)"
      R"("paymentResult":{"resultCode":"SUCCESS","resultStatus":"S"}})";
  for (const auto offset : {-601s, 601s, -86400s}) {
    CAPTURE(offset.count());
    harness h;  // maxClockSkewSeconds: the default 600
    h.answer({pay_success, 200, reply::signing::aplus, our_client_id, offset});
    const auto pay = h.pay(test_payment());
    CHECK(event_as<pay_no_answer>(pay).reason == no_answer_reason::bad_signature);
    CHECK(pay.call.outcome == "stale_answer");
    h.answer({inquiry_ss, 200, reply::signing::aplus, our_client_id, offset});
    CHECK(h.inquiry(test_payment()).call.outcome == "stale_answer");
    h.answer({R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"}})", 200, reply::signing::aplus,
              our_client_id, offset});
    const auto cancel = h.cancel(test_payment());
    CHECK(event_as<cancel_no_answer>(cancel).reason == no_answer_reason::bad_signature);
  }
  harness h;
  h.answer({pay_success, 200, reply::signing::aplus, our_client_id, -590s});  // within: an answer
  CHECK(event_as<pay_answer>(h.pay(test_payment())).result.status == 'S');
}

TEST_CASE("answers that echo another payment's ids are no answer") {
  auto known = test_payment();
  known.payment_id = "20200101234567890134567";
  SUBCASE("pay: another paymentId than the one we know, or another paymentRequestId") {
    harness h;
    h.answer({R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},"paymentId":"someone_elses"})"});
    const auto r = h.pay(known);
    CHECK(event_as<pay_no_answer>(r).reason == no_answer_reason::garbled);
    CHECK(r.call.outcome == "mismatched_answer");
    h.answer({R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},"paymentRequestId":"other"})"});
    CHECK(h.pay(test_payment()).call.outcome == "mismatched_answer");
    h.answer({pay_success});  // paymentId not known yet: taken as the answer says
    CHECK(event_as<pay_answer>(h.pay(test_payment())).result.status == 'S');
  }
  SUBCASE("inquiry: another paymentId, or an S answer that names no payment at all") {
    harness h;
    h.answer({R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},"paymentRequestId":"pay_1089760038715669",)"
              R"("paymentId":"someone_elses","paymentResult":{"resultCode":"SUCCESS","resultStatus":"S"}})"});
    CHECK(h.inquiry(known).call.outcome == "mismatched_answer");
    h.answer({R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},)"
              R"("paymentResult":{"resultCode":"SUCCESS","resultStatus":"S"}})"});
    const auto r = h.inquiry(known);
    CHECK(event_as<inquiry_no_answer>(r).reason == no_answer_reason::garbled);
    CHECK(r.call.outcome == "mismatched_answer");
    // F answers (ORDER_NOT_EXIST) name no payment: still answers.
    h.answer({R"({"result":{"resultCode":"ORDER_NOT_EXIST","resultStatus":"F"}})"});
    CHECK(event_as<inquiry_answer>(h.inquiry(known)).result.status == 'F');
    // Only the paymentId, ours: an answer.
    h.answer({R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},"paymentId":"20200101234567890134567",)"
              R"("paymentResult":{"resultCode":"SUCCESS","resultStatus":"S"}})"});
    CHECK(event_as<inquiry_answer>(h.inquiry(known)).payment_result->status == 'S');
  }
  SUBCASE("cancel: another paymentRequestId") {
    harness h;
    h.answer({R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},"paymentRequestId":"other"})"});
    const auto r = h.cancel(known);
    CHECK(event_as<cancel_no_answer>(r).reason == no_answer_reason::garbled);
    CHECK(r.call.outcome == "mismatched_answer");
  }
}

TEST_CASE("informational fields are decoded leniently: a verified inquiry S/S stays an answer") {
  harness h;
  h.answer(
      {R"({"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},)"
       R"("paymentResult":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":")" + std::string(2000, 'm') + R"("},)"
       R"("paymentRequestId":"pay_1089760038715669","paymentId":"20200101234567890134567",)"
       R"("paymentTime":"2020-01-01 12:01:01","paymentAmount":{"value":"100","currency":"JPY"},)"
       R"("customerId":")" + std::string(100, 'c') + R"(","walletBrandName":7,)"
       R"("settlementAmount":{"value":"90.00","currency":"USD"},"acquirerId":)" + "[1]" + "}"});
  const auto r = h.inquiry(test_payment());
  const auto& ev = event_as<inquiry_answer>(r);
  REQUIRE(ev.payment_result.has_value());
  CHECK(ev.payment_result->status == 'S');
  CHECK(ev.facts.payment_id == "20200101234567890134567");
  CHECK(ev.amount->minor_units == 100);
  // The malformed informational fields are left out of the facts (their raw bytes are in the
  // call record); the fields the machine needs are there.
  CHECK(ev.facts.customer_id.empty());
  CHECK(ev.facts.payment_time.empty());
  CHECK(ev.facts.wallet_brand_name.empty());
  CHECK_FALSE(ev.facts.settlement_amount.has_value());
  CHECK(r.call.outcome == "S/SUCCESS paymentResult=S/SUCCESS");
}

TEST_CASE("cancel S") {
  harness h;
  h.answer({R"({"acquirerId":"1111088000000000002","pspId":"1022172000000000001",)"
            R"("result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}})"});
  const auto r = h.cancel(test_payment());
  CHECK(event_as<cancel_answer>(r).result == aplus_result{"SUCCESS", 'S', "success"});
  CHECK(h.fake->seen.at(0).target == "/aps/api/v1/payments/cancelPayment");
  CHECK(h.fake->seen.at(0).body == R"({"paymentRequestId":"pay_1089760038715669"})");
  CHECK(r.call.outcome == "S/SUCCESS");
}

TEST_CASE("consult sends the body as given and decodes the verified answer") {
  harness h;
  h.answer({R"({"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},)"
            R"("paymentOptions":[{"paymentMethodType":"CONNECT_WALLET","enabled":"true"}]})"});
  const std::string body = R"({"paymentAmount":{"currency":"JPY","value":"0"}})";
  consult_result r{no_answer_reason::garbled, {}};
  run(h.ioc, [&]() -> awaitable<void> { r = co_await h.gw->consult(body); }());
  REQUIRE(std::holds_alternative<aplus::consult_payment_response>(r.answer));
  const auto& answer = std::get<aplus::consult_payment_response>(r.answer);
  REQUIRE(answer.payment_options.has_value());
  CHECK(answer.payment_options->at(0).enabled == true);
  CHECK(h.fake->seen.at(0).body == body);
  CHECK(h.fake->seen.at(0).target == "/aps/api/v1/payments/consultPayment");
  CHECK(r.call.api == "consultPayment");
  CHECK(r.call.payment_id == 0);
  CHECK(r.call.outcome == "S/SUCCESS");
}

TEST_CASE("a gateway URL with a path prefixes every API path, and the signature covers it") {
  harness h({}, "/sandbox/");
  h.answer({pay_success});
  CHECK(event_as<pay_answer>(h.pay(test_payment())).result.status == 'S');
  CHECK(h.fake->seen.at(0).target == "/sandbox/aps/api/v1/payments/pay");
  CHECK(h.fake->our_signature.at(0) == aplus::verify_outcome::ok);
}

TEST_CASE("with a signing pool the call still resumes on the caller's thread") {
  gateway_options options;
  options.sign_threads = 1;
  harness h(options);
  h.answer({pay_success});
  std::thread::id resumed_on;
  call_result r{pay_no_answer{no_answer_reason::garbled}, {}};
  run(h.ioc, [&]() -> awaitable<void> {
    r = co_await h.gw->pay(test_payment());
    resumed_on = std::this_thread::get_id();
  }());
  CHECK(resumed_on == std::this_thread::get_id());
  CHECK(event_as<pay_answer>(r).result.status == 'S');
  CHECK(h.fake->our_signature.at(0) == aplus::verify_outcome::ok);
}

TEST_CASE("APIs are named as Alipay+ names them") {
  CHECK(to_string(aplus_api::cancel) == "cancelPayment");
}

TEST_CASE("set-up errors name what cannot be used") {
  asio::io_context ioc;
  fixed_clock clock;
  const auto error_of = [&](const config::alipayplus_config& cfg) {
    auto gw = aplus_gateway::create(ioc.get_executor(), cfg, clock);
    return gw ? std::string() : gw.error().message;
  };
  auto cfg = gateway_config("https://127.0.0.1:9");
  CHECK(error_of(cfg).empty());
  cfg.private_key = keys_dir() + "/aplus_public.pem";
  CHECK(error_of(cfg).starts_with("alipayplus.privateKey: "));
  cfg = gateway_config("https://127.0.0.1:9");
  cfg.public_keys = {{keys_dir() + "/nope.pem", ""}};
  CHECK(error_of(cfg).starts_with("alipayplus.alipayplusPublicKey: "));
  cfg = gateway_config("https://127.0.0.1:9");
  cfg.ca_file = keys_dir() + "/nope.pem";
  CHECK(error_of(cfg).starts_with("alipayplus.caFile: "));
  CHECK(error_of(gateway_config("http://gateway.example")).starts_with("alipayplus.gateway: "));
  CHECK(error_of(gateway_config("https://127.0.0.1:9/x?y=1")).starts_with("alipayplus.gateway: "));
}

namespace {

refund test_refund() {
  refund r;
  r.id = 11;
  r.alipay_refund_request_id = "rf_abc";
  r.amount = {40, *currency_code::parse("JPY")};
  r.request = R"({"paymentRequestId":"pay_1089760038715669","refundRequestId":"rf_abc",)"
              R"("refundAmount":{"currency":"JPY","value":"40"}})";
  return r;
}

refund_call_result refund_once(harness& h, const payment& p, const refund& r) {
  refund_call_result out{refund_no_answer{no_answer_reason::garbled}, {}};
  run(h.ioc, [&]() -> awaitable<void> { out = co_await h.gw->refund(p, r); }());
  return out;
}

}  // namespace

TEST_CASE("refund S: the stored bytes on the wire, refundId and amount in the event, the call tied to the refund") {
  harness h;
  h.answer({R"({"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},)"
            R"("refundId":"rid-9","refundTime":"2020-01-01T12:01:01+08:00",)"
            R"("refundAmount":{"currency":"JPY","value":"40"},"pspId":[1]})"});
  const auto out = refund_once(h, test_payment(), test_refund());
  REQUIRE(std::holds_alternative<refund_answer>(out.ev));
  const auto& ev = std::get<refund_answer>(out.ev);
  CHECK(ev.result.status == 'S');
  CHECK(ev.refund_id == "rid-9");
  CHECK(ev.amount->minor_units == 40);
  CHECK(h.fake->seen.at(0).target == "/aps/api/v1/payments/refund");
  CHECK(h.fake->seen.at(0).body == test_refund().request);
  CHECK(h.fake->our_signature.at(0) == aplus::verify_outcome::ok);
  CHECK(out.call.api == "refund");
  CHECK(out.call.refund_id == 11);
  CHECK(out.call.payment_id == 7);
  CHECK(out.call.outcome == "S/SUCCESS");
}

TEST_CASE("refund: unsigned, garbled or about another payment is no answer, F keeps its code") {
  harness h;
  h.answer({R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"}})", 200, reply::signing::none});
  CHECK(std::get<refund_no_answer>(refund_once(h, test_payment(), test_refund()).ev).reason ==
        no_answer_reason::unsigned_answer);
  h.answer({R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},"refundAmount":{"currency":"JPY","value":"x"}})"});
  CHECK(std::get<refund_no_answer>(refund_once(h, test_payment(), test_refund()).ev).reason ==
        no_answer_reason::garbled);
  h.answer({R"({"result":{"resultCode":"SUCCESS","resultStatus":"S"},"paymentRequestId":"other"})"});
  CHECK(std::holds_alternative<refund_no_answer>(refund_once(h, test_payment(), test_refund()).ev));
  h.answer({R"({"result":{"resultCode":"REFUND_AMOUNT_EXCEED","resultStatus":"F"}})"});
  const auto f = refund_once(h, test_payment(), test_refund());
  CHECK(std::get<refund_answer>(f.ev).result.code == "REFUND_AMOUNT_EXCEED");
  CHECK(to_string(aplus_api::refund) == "refund");
  CHECK(path_of(aplus_api::refund) == "/aps/api/v1/payments/refund");
}
