// Loopback runs of the in-process simulator over real sockets: the whole happy path over TLS
// (pay → checkout → notify to a receiver that first answers a non-S ack, then a signed S, with
// the payment clock scaled so the 2 min retry takes 0.2 s), the answer faults and refusals as
// a client sees them, and duplicate, badly signed notifies with the automatic payer. Waits end
// on events (the receiver's last notify), never on fixed sleeps.
#include <doctest/doctest.h>

#include <functional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/signer.hpp"
#include "orchestrator/alipayplus/wire_time.hpp"
#include "orchestrator/net/http_client.hpp"
#include "orchestrator/net/http_server.hpp"
#include "tests/orchestrator/net/net_test_support.hpp"
#include "tests/tools/aplus-sim/sim_test_support.hpp"
#include "tools/aplus-sim/simulator.hpp"

namespace cashier::sim {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
constexpr std::string_view pay_path = "/aps/api/v1/payments/pay";
constexpr std::string_view notify_path = "/alipayplus/notify";

net::tls_context server_tls() {
  const auto& dir = net::test::keys_dir();
  return net::make_server_context(dir + "/server.pem", dir + "/server.key").value();
}

net::tls_context client_tls() { return net::make_client_context(net::test::keys_dir() + "/ca.pem").value(); }

// A stand-in for cashierd's notify endpoint: checks each notify's signature, answers with
// `answer(n, signature_ok)` for the n-th notify (from 0), and wakes the test at the `expected`-th.
struct notify_receiver {
  std::vector<net::request> received;
  std::vector<bool> signature_ok;
  std::function<net::response(std::size_t, bool)> answer;
  std::size_t expected = 0;
  asio::steady_timer done;
  std::optional<net::http_server> server;

  notify_receiver(asio::io_context& ioc, net::tls_context tls, std::size_t expect,
                  std::function<net::response(std::size_t, bool)> answer_fn)
      : answer(std::move(answer_fn)), expected(expect), done(ioc, 20s) {
    net::server_options options;
    options.tls = std::move(tls);
    auto handler = [this](net::request req, const net::peer_info&) -> asio::awaitable<net::response> {
      co_return on_notify(std::move(req));
    };
    server.emplace(net::http_server::listen(ioc.get_executor(), "127.0.0.1:0", handler, options).value());
  }

  net::response on_notify(net::request req) {
    const auto content = aplus::request_content("POST", req.target, *net::find_header(req.headers, "Client-Id"),
                                                *net::find_header(req.headers, "Request-Time"), req.body);
    const bool ok = aplus::verify_with(test::acqp().aplus_keys, *net::find_header(req.headers, "Signature"),
                                       content) == aplus::verify_outcome::ok;
    received.push_back(std::move(req));
    signature_ok.push_back(ok);
    if (received.size() == expected) done.cancel();
    return answer(received.size() - 1, ok);
  }

  // Returns once the expected number of notifies has arrived (or after the 20 s safety limit).
  asio::awaitable<void> wait() {
    if (received.size() >= expected) co_return;
    boost::system::error_code ec;
    co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  std::string url(bool https) const {
    return std::string(https ? "https" : "http") + "://127.0.0.1:" + std::to_string(server->port()) +
           std::string(notify_path);
  }
};

// Sends `req` to the simulator on a fresh connection (so a dropped answer is not retried on
// another one by the client's pool).
asio::awaitable<boost::system::result<net::response, net::net_error>> send(const simulator& sim, net::request req,
                                                                           net::tls_context tls = {},
                                                                           std::chrono::milliseconds timeout = 5s) {
  net::client_options options;
  options.tls = std::move(tls);
  options.timeout = timeout;
  auto client = net::http_client::create(co_await asio::this_coro::executor, sim.base_url(), options).value();
  co_return co_await client.send(std::move(req));
}

asio::awaitable<json::value> truth_of(const simulator& sim, std::string_view id, net::tls_context tls = {}) {
  auto res = co_await send(sim, net::test::make_request("GET", "/sim/payments/" + std::string(id)), std::move(tls));
  REQUIRE(res.has_value());
  REQUIRE(res->status == 200);
  co_return json::parse(res->body);
}

// Waits (by round trips, not sleeps) until the simulator has recorded `id`'s notify state `state`.
asio::awaitable<json::value> truth_when(const simulator& sim, std::string_view id, std::string_view state,
                                        net::tls_context tls = {}) {
  json::value t;
  for (int i = 0; i < 200; ++i) {
    t = co_await truth_of(sim, id, tls);
    if (t.at("notify").at("state").as_string() == state) break;
  }
  co_return t;
}

time_point time_of(const json::value& v) { return aplus::parse_wire_time(v.as_string()).value(); }

}  // namespace

TEST_CASE("loopback: pay, checkout pay, notify retried after a non-S ack and stopped by a signed S (TLS)") {
  asio::io_context ioc;
  notify_receiver receiver(ioc, server_tls(), 2, [](std::size_t n, bool) {
    return test::acqp_ack(notify_path, n == 0 ? 'F' : 'S');
  });
  sim_options options;
  options.listen = "127.0.0.1:0";
  options.tls = server_tls();
  options.notify_tls = client_tls();
  options.time_scale = 600;  // the 2 min retry takes 0.2 s
  auto sim = simulator::start(ioc.get_executor(), options, test::sim_keys()).value();
  CHECK(sim.base_url() == "https://127.0.0.1:" + std::to_string(sim.port()));

  net::test::run(ioc, [&]() -> asio::awaitable<void> {
    const auto tls = client_tls();
    auto paid = co_await send(sim, test::acqp_request(std::string(pay_path), test::pay_body("lb-1", "Tea", "450", receiver.url(true))), tls);
    REQUIRE(paid.has_value());
    CHECK(test::signed_by_aplus(*paid, pay_path));
    const auto answer = aplus::decode_pay_response(paid->body);
    REQUIRE(answer);
    CHECK(answer->result.code == "PAYMENT_IN_PROCESS");
    const std::string checkout = answer->normal_url->substr(sim.base_url().size());
    CHECK(checkout == "/checkout/" + *answer->payment_id);

    auto page = co_await send(sim, net::test::make_request("GET", checkout), tls);
    REQUIRE(page.has_value());
    CHECK(page->status == 200);
    CHECK(page->body.find("USD 4.50") != std::string::npos);
    CHECK(page->body.find(checkout + "/pay") != std::string::npos);

    const auto clicked_at = std::chrono::steady_clock::now();
    auto click = co_await send(sim, net::test::make_request("POST", checkout + "/pay"), tls);
    REQUIRE(click.has_value());
    CHECK(click->status == 200);
    co_await receiver.wait();
    CHECK(std::chrono::steady_clock::now() - clicked_at < 2s);

    const auto t = co_await truth_when(sim, "lb-1", "acked", tls);
    CHECK(t.at("status").as_string() == "paid");
    const auto& notify = t.at("notify");
    CHECK(notify.at("state").as_string() == "acked");
    CHECK(notify.at("attempts").as_int64() == 2);
    CHECK(notify.at("acks").as_int64() == 1);
    CHECK(notify.at("nextAt").is_null());
    const auto& d = notify.at("deliveries").as_array();
    REQUIRE(d.size() == 2);
    CHECK(std::string_view(d[0].at("detail").as_string()).starts_with("ack result F"));
    CHECK(d[1].at("acked").as_bool());
    // The retry waited 2 min of payment clock after the payer finished; the first did not.
    const time_point finished = time_of(t.at("paymentTime"));
    CHECK(time_of(d[0].at("at")) - finished < 2min);
    CHECK(time_of(d[1].at("at")) - finished >= 2min);
    co_await sim.stop();
    co_await receiver.server->stop();
  }());

  REQUIRE(receiver.received.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(receiver.signature_ok[i]);
    CHECK(receiver.received[i].target == notify_path);
    const auto n = aplus::decode_notify_payment_request(receiver.received[i].body);
    REQUIRE(n);
    CHECK(n->payment_request_id == "lb-1");
    CHECK(n->payment_result.status == 'S');
    CHECK(n->payment_amount.minor_units == 450);
  }
}

TEST_CASE("loopback: answer faults, refusals and idempotency as a client sees them") {
  asio::io_context ioc;
  sim_options options;
  options.listen = "127.0.0.1:0";
  options.timeout_hold = 400ms;
  auto sim = simulator::start(ioc.get_executor(), options, test::sim_keys()).value();
  const std::string body = test::pay_body("lb-2");
  const auto pay = [&] { return test::acqp_request(std::string(pay_path), body); };

  net::test::run(ioc, [&]() -> asio::awaitable<void> {
    auto bad = co_await send(sim, net::test::make_request("POST", "/sim/scenario", R"({"paymentRequestId":"lb-2","faults":["pay-slow"]})"));
    CHECK(bad->status == 400);
    auto set = co_await send(sim, net::test::make_request("POST", "/sim/scenario",
        R"({"paymentRequestId":"lb-2","faults":["pay-timeout","pay-drop","pay-u","pay-garbled","pay-unsigned","pay-badsig","pay-5xx",)"
        R"("pay-500","pay-reset","pay-delay:300","pay-delay:300"]})"));
    CHECK(set->status == 200);

    auto timed_out = co_await send(sim, pay(), {}, 100ms);
    REQUIRE_FALSE(timed_out.has_value());
    CHECK(timed_out.error().kind == net::error_kind::timeout);
    auto dropped = co_await send(sim, pay());
    REQUIRE_FALSE(dropped.has_value());
    CHECK(dropped.error().kind == net::error_kind::reset);
    auto u = co_await send(sim, pay());
    CHECK(test::signed_by_aplus(*u, pay_path));
    CHECK(aplus::decode_pay_response(u->body)->result.code == "UNKNOWN_EXCEPTION");
    auto garbled = co_await send(sim, pay());
    CHECK(test::signed_by_aplus(*garbled, pay_path));
    CHECK_FALSE(aplus::decode_pay_response(garbled->body));
    auto bare = co_await send(sim, pay());
    CHECK_FALSE(net::find_header(bare->headers, "Signature"));
    auto badsig = co_await send(sim, pay());
    CHECK_FALSE(test::signed_by_aplus(*badsig, pay_path));
    auto five = co_await send(sim, pay());
    CHECK(five->status == 502);
    auto five_hundred = co_await send(sim, pay());
    CHECK(five_hundred->status == 500);
    auto reset = co_await send(sim, pay());
    REQUIRE_FALSE(reset.has_value());
    CHECK(reset.error().kind == net::error_kind::reset);
    auto held = co_await send(sim, pay());
    REQUIRE(held.has_value());
    CHECK(held->latency >= 300ms);
    CHECK(test::signed_by_aplus(*held, pay_path));
    auto held_too_long = co_await send(sim, pay(), {}, 100ms);
    REQUIRE_FALSE(held_too_long.has_value());
    CHECK(held_too_long.error().kind == net::error_kind::timeout);
    auto normal = co_await send(sim, pay());
    CHECK(test::signed_by_aplus(*normal, pay_path));
    CHECK(aplus::decode_pay_response(normal->body)->result.code == "PAYMENT_IN_PROCESS");
    CHECK(aplus::decode_pay_response(normal->body)->payment_id == aplus::decode_pay_response(bare->body)->payment_id);

    auto t = co_await truth_of(sim, "lb-2");
    CHECK(t.at("payBodies").at("count").as_int64() == 12);
    CHECK(t.at("payBodies").at("identical").as_bool());
    CHECK(t.at("scenario").at("pendingAnswerFaults").as_array().empty());

    auto unsigned_pay = net::test::make_request("POST", std::string(pay_path), body);
    unsigned_pay.headers.push_back({"Client-Id", std::string(test::client_id)});
    auto refused = co_await send(sim, unsigned_pay);
    CHECK(refused->status == 401);
    CHECK(test::signed_by_aplus(*refused, pay_path));
    CHECK(aplus::decode_notify_payment_ack(refused->body)->result.code == "INVALID_SIGNATURE");

    auto other = co_await send(sim, test::acqp_request(std::string(pay_path), test::pay_body("lb-2", "Coffee", "451")));
    CHECK(aplus::decode_pay_response(other->body)->result.code == "REPEAT_REQ_INCONSISTENT");

    const std::string inquiry_path = "/aps/api/v1/payments/inquiryPayment";
    auto missing = co_await send(sim, test::acqp_request(inquiry_path, R"({"paymentRequestId":"nope"})"));
    CHECK(test::signed_by_aplus(*missing, inquiry_path));
    CHECK(aplus::decode_inquiry_payment_response(missing->body)->result.code == "ORDER_NOT_EXIST");

    const std::string cancel_path = "/aps/api/v1/payments/cancelPayment";
    auto cancelled = co_await send(sim, test::acqp_request(cancel_path, R"({"paymentRequestId":"lb-2"})"));
    CHECK(aplus::decode_cancel_payment_response(cancelled->body)->result.status == 'S');
    const auto after_cancel = co_await truth_of(sim, "lb-2");
    CHECK(after_cancel.at("status").as_string() == "cancelled");

    const std::string consult_path = "/aps/api/v1/payments/consultPayment";
    auto consult = co_await send(sim, test::acqp_request(consult_path, R"({"paymentAmount":{"currency":"USD","value":"0"}})"));
    CHECK(test::signed_by_aplus(*consult, consult_path));
    CHECK(aplus::decode_consult_payment_response(consult->body)->result.status == 'S');

    auto unknown = co_await send(sim, net::test::make_request("GET", "/sim/payments/nope"));
    CHECK(unknown->status == 404);
    co_await sim.stop();
  }());
}

TEST_CASE("loopback: the automatic payer, duplicate notifies and a badly signed first attempt") {
  asio::io_context ioc;
  notify_receiver receiver(ioc, {}, 6, [](std::size_t, bool ok) {
    return ok ? test::acqp_ack(notify_path, 'S')
              : net::response{401, {{"Content-Type", "application/json"}}, R"({"result":{"resultStatus":"F"}})", {}};
  });
  sim_options options;
  options.listen = "127.0.0.1:0";
  options.auto_pay_after = 1s;
  options.time_scale = 600;
  auto sim = simulator::start(ioc.get_executor(), options, test::sim_keys()).value();

  net::test::run(ioc, [&]() -> asio::awaitable<void> {
    const auto body = test::pay_body("lb-3", "Cake [sim:notify-duplicate,notify-badsig]", "450", receiver.url(false));
    auto paid = co_await send(sim, test::acqp_request(std::string(pay_path), body));
    CHECK(aplus::decode_pay_response(paid->body)->result.code == "PAYMENT_IN_PROCESS");
    co_await receiver.wait();
    const auto t = co_await truth_when(sim, "lb-3", "acked");
    CHECK(t.at("status").as_string() == "paid");
    CHECK(t.at("notify").at("attempts").as_int64() == 2);
    CHECK(t.at("notify").at("sent").as_int64() == 6);
    CHECK(t.at("notify").at("acks").as_int64() == 3);
    co_await sim.stop();
    co_await receiver.server->stop();
  }());
  REQUIRE(receiver.received.size() == 6);
  CHECK(receiver.signature_ok == std::vector<bool>{false, false, false, true, true, true});
  CHECK(receiver.received[0].body == receiver.received[5].body);
}

TEST_CASE("loopback: crafted notifies carry the fields, Client-Id, Request-Time and copies asked for") {
  asio::io_context ioc;
  notify_receiver receiver(ioc, {}, 2, [](std::size_t, bool) { return test::acqp_ack(notify_path, 'S'); });
  sim_options options;
  options.listen = "127.0.0.1:0";
  auto sim = simulator::start(ioc.get_executor(), options, test::sim_keys()).value();
  json::value answer;

  net::test::run(ioc, [&]() -> asio::awaitable<void> {
    auto paid = co_await send(sim, test::acqp_request(std::string(pay_path), test::pay_body("lb-4", "Tea", "450", receiver.url(false))));
    CHECK(aplus::decode_pay_response(paid->body)->result.code == "PAYMENT_IN_PROCESS");
    auto unknown = co_await send(sim, net::test::make_request("POST", "/sim/notify", R"({"paymentRequestId":"nope"})"));
    CHECK(unknown->status == 404);
    auto bad = co_await send(sim, net::test::make_request("POST", "/sim/notify", R"({"paymentRequestId":"lb-4","copies":0})"));
    CHECK(bad->status == 400);
    auto sent = co_await send(sim, net::test::make_request("POST", "/sim/notify", R"({"paymentRequestId":"lb-4",)"
        R"("set":{"paymentResult":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},)"
        R"("paymentAmount":{"currency":"USD","value":"1"}},"clientId":"OTHER","requestTime":"2020-01-01T00:00:00+08:00","copies":2})"));
    REQUIRE(sent->status == 200);
    answer = json::parse(sent->body);
    const auto t = co_await truth_of(sim, "lb-4");
    CHECK(t.at("notify").at("sent").as_int64() == 0);  // crafted notifies are not the schedule's
    co_await sim.stop();
    co_await receiver.server->stop();
  }());

  REQUIRE(receiver.received.size() == 2);
  CHECK(receiver.signature_ok == std::vector<bool>{true, true});  // signed for the Client-Id sent
  CHECK(receiver.received[0].body == receiver.received[1].body);
  for (const auto* name : {"Client-Id", "Request-Time", "Signature"})  // the same signed bytes: a replay
    CHECK(net::find_header(receiver.received[0].headers, name) == net::find_header(receiver.received[1].headers, name));
  CHECK(net::find_header(receiver.received[0].headers, "Client-Id") == "OTHER");
  CHECK(net::find_header(receiver.received[0].headers, "Request-Time") == "2020-01-01T00:00:00+08:00");
  const auto n = aplus::decode_notify_payment_request(receiver.received[0].body);
  REQUIRE(n);
  CHECK(n->payment_request_id == "lb-4");
  CHECK(n->payment_result.status == 'S');
  CHECK(n->payment_amount.minor_units == 1);
  CHECK(answer.at("body").as_string() == receiver.received[0].body);
  CHECK(answer.at("deliveries").as_array().size() == 2);
  CHECK(answer.at("deliveries").at(0).at("acked").as_bool());
}

}  // namespace cashier::sim
