// Tests of the HTTP client over real loopback sockets: round trips over HTTP and HTTPS (with the
// dev CA, without it, and with a wrong host name), keep-alive reuse and the pool cap, and every
// error kind against scripted raw servers that stay silent, refuse, reset, garble or overflow.
#include "orchestrator/net/http_client.hpp"
#include "orchestrator/net/http_server.hpp"
#include "tests/orchestrator/net/net_test_support.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <doctest/doctest.h>

using namespace cashier::net;
using namespace cashier::net::test;
namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// Answers "<method> <target>|<body>" and reports the peer and a request header back.
awaitable<response> echo(request req, const peer_info& peer) {
  response res;
  res.headers = {{"Content-Type", "text/plain"}, {"X-Loopback", peer.is_loopback ? "yes" : "no"},
                 {"X-Seen-Client-Id", std::string(find_header(req.headers, "client-id").value_or(""))}};
  res.body = req.method + " " + req.target + "|" + req.body;
  co_return res;
}

http_server listen_echo(asio::io_context& ioc, const std::string& where = "127.0.0.1:0", tls_context tls = nullptr) {
  server_options options;
  options.tls = std::move(tls);
  auto server = http_server::listen(ioc.get_executor(), where, echo, std::move(options));
  REQUIRE_MESSAGE(server.has_value(), (server.has_error() ? server.error().message : ""));
  return std::move(*server);
}

http_client make_client(asio::io_context& ioc, const std::string& origin, client_options options = {}) {
  auto client = http_client::create(ioc.get_executor(), origin, std::move(options));
  REQUIRE_MESSAGE(client.has_value(), (client.has_error() ? client.error().message : ""));
  return std::move(*client);
}

tls_context server_tls() { return make_server_context(keys_dir() + "/server.pem", keys_dir() + "/server.key").value(); }

client_options trusting_dev_ca() {
  client_options options;
  options.tls = make_client_context(keys_dir() + "/ca.pem").value();
  return options;
}

tcp::acceptor raw_acceptor(asio::io_context& ioc) {
  return tcp::acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
}

std::string origin_of(const tcp::acceptor& a) { return "http://127.0.0.1:" + std::to_string(a.local_endpoint().port()); }

}  // namespace

TEST_CASE("origins are validated when the client is created") {
  asio::io_context ioc;
  const auto ex = ioc.get_executor();
  CHECK(http_client::create(ex, "http://127.0.0.1:8080").has_value());
  CHECK(http_client::create(ex, "http://[::1]:8080/").has_value());
  CHECK(http_client::create(ex, "ftp://127.0.0.1:21").error().message.find("http:// or https://") != std::string::npos);
  CHECK(http_client::create(ex, "http://127.0.0.1:8080/aps/api").has_error());
  CHECK(http_client::create(ex, "http://127.0.0.1:8080?q=1").has_error());
  CHECK(http_client::create(ex, "not a url").has_error());
  CHECK(http_client::create(ex, "https://127.0.0.1:8443").error().message.find("no TLS context") != std::string::npos);
}

TEST_CASE("plain HTTP round trip carries method, target, headers and the exact body") {
  asio::io_context ioc;
  auto server = listen_echo(ioc);
  auto client = make_client(ioc, "http://127.0.0.1:" + std::to_string(server.port()));
  auto body = [&]() -> awaitable<void> {
    auto req = make_request("POST", "/aps/api/v1/payments/pay?x=1", "{\"a\": \"\xe2\x82\xac\"}\r\n");
    req.headers = {{"Client-Id", "SANDBOX_1"}, {"Content-Type", "application/json; charset=UTF-8"}};
    auto res = co_await client.send(req);
    REQUIRE_MESSAGE(res.has_value(), (res.has_error() ? res.error().message : ""));
    CHECK(res->status == 200);
    CHECK(res->body == "POST /aps/api/v1/payments/pay?x=1|{\"a\": \"\xe2\x82\xac\"}\r\n");
    CHECK(find_header(res->headers, "x-loopback") == "yes");
    CHECK(find_header(res->headers, "X-Seen-Client-Id") == "SANDBOX_1");
    CHECK(res->latency >= 0ms);
  };
  run(ioc, body());
}

TEST_CASE("HTTPS round trip verifies the server against the dev CA, by IP and by name") {
  asio::io_context ioc;
  auto server = listen_echo(ioc, "127.0.0.1:0", server_tls());
  const auto port = std::to_string(server.port());
  auto by_ip = make_client(ioc, "https://127.0.0.1:" + port, trusting_dev_ca());
  auto by_name = make_client(ioc, "https://localhost:" + port, trusting_dev_ca());
  auto body = [&]() -> awaitable<void> {
    auto a = co_await by_ip.send(make_request("GET", "/healthz"));
    REQUIRE_MESSAGE(a.has_value(), (a.has_error() ? a.error().message : ""));
    CHECK(a->body == "GET /healthz|");
    auto b = co_await by_name.send(make_request("POST", "/n", "x"));
    REQUIRE_MESSAGE(b.has_value(), (b.has_error() ? b.error().message : ""));
    CHECK(b->body == "POST /n|x");
  };
  run(ioc, body());
}

TEST_CASE("HTTPS without the dev CA fails with tls_failed") {
  asio::io_context ioc;
  auto server = listen_echo(ioc, "127.0.0.1:0", server_tls());
  client_options system_trust;
  system_trust.tls = make_client_context(std::nullopt).value();
  auto client = make_client(ioc, "https://127.0.0.1:" + std::to_string(server.port()), system_trust);
  auto body = [&]() -> awaitable<void> {
    auto res = co_await client.send(make_request("GET", "/"));
    REQUIRE(res.has_error());
    CHECK(res.error().kind == error_kind::tls_failed);
    CHECK(res.error().message.find("certificate") != std::string::npos);
  };
  run(ioc, body());
}

TEST_CASE("HTTPS to a host the certificate does not name fails with tls_failed") {
  asio::io_context ioc;
  // The dev certificate names localhost and 127.0.0.1; 127.0.0.2 is loopback too but not named.
  auto server = listen_echo(ioc, "127.0.0.2:0", server_tls());
  auto client = make_client(ioc, "https://127.0.0.2:" + std::to_string(server.port()), trusting_dev_ca());
  auto body = [&]() -> awaitable<void> {
    auto res = co_await client.send(make_request("GET", "/"));
    REQUIRE(res.has_error());
    CHECK(res.error().kind == error_kind::tls_failed);
  };
  run(ioc, body());
}

TEST_CASE("keep-alive: sequential requests reuse one connection, over HTTP and HTTPS") {
  for (const bool tls : {false, true}) {
    CAPTURE(tls);
    asio::io_context ioc;
    auto server = listen_echo(ioc, "127.0.0.1:0", tls ? server_tls() : nullptr);
    auto client = make_client(ioc, (tls ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(server.port()),
                              trusting_dev_ca());
    auto body = [&]() -> awaitable<void> {
      for (int i = 0; i < 3; ++i) {
        auto res = co_await client.send(make_request("GET", "/" + std::to_string(i)));
        REQUIRE(res.has_value());
        CHECK(res->body == "GET /" + std::to_string(i) + "|");
      }
    };
    run(ioc, body());
    CHECK(server.stats().accepted == 1);
    CHECK(client.open_connections() == 1);
  }
}

TEST_CASE("concurrent requests share a capped pool") {
  asio::io_context ioc;
  // The handler holds each request until two are in flight at once, so the test proves both
  // pooled connections are used concurrently and that no third connection is opened.
  int in_flight = 0, most_in_flight = 0;
  bool gate_open = false;
  asio::steady_timer gate(ioc, asio::steady_timer::time_point::max());
  auto handler = [&](request req, const peer_info&) -> awaitable<response> {
    most_in_flight = std::max(most_in_flight, ++in_flight);
    if (in_flight == 2) {
      gate_open = true;
      gate.cancel();
    }
    if (!gate_open) co_await gate.async_wait(asio::as_tuple(use_awaitable));
    --in_flight;
    co_return response{200, {}, req.target, {}};
  };
  auto server = http_server::listen(ioc.get_executor(), "127.0.0.1:0", handler).value();
  client_options options;
  options.max_connections = 2;
  auto client = make_client(ioc, "http://127.0.0.1:" + std::to_string(server.port()), options);
  int answered = 0;
  auto one = [&](std::string target) -> awaitable<void> {
    auto res = co_await client.send(make_request("GET", target));
    REQUIRE(res.has_value());
    CHECK(res->body == target);
    ++answered;
  };
  auto body = [&]() -> awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    co_await (one("/a") && one("/b") && one("/c") && one("/d") && one("/e"));
  };
  run(ioc, body());
  CHECK(answered == 5);
  CHECK(most_in_flight == 2);
  CHECK(server.stats().accepted == 2);
}

TEST_CASE("a server that never answers gives timeout within the request timeout") {
  asio::io_context ioc;
  auto acceptor = raw_acceptor(ioc);
  tcp::socket held(ioc);
  auto silent = [&]() -> awaitable<void> { held = co_await acceptor.async_accept(use_awaitable); };
  asio::co_spawn(ioc, silent(), asio::detached);
  client_options options;
  options.timeout = 200ms;
  auto client = make_client(ioc, origin_of(acceptor), options);
  auto body = [&]() -> awaitable<void> {
    const auto start = std::chrono::steady_clock::now();
    auto res = co_await client.send(make_request("GET", "/"));
    REQUIRE(res.has_error());
    CHECK(res.error().kind == error_kind::timeout);
    CHECK(std::chrono::steady_clock::now() - start >= 200ms);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  };
  run(ioc, body());
  CHECK(client.open_connections() == 0);
}

TEST_CASE("a refused connection gives connect_failed") {
  asio::io_context ioc;
  std::string origin;
  {
    auto acceptor = raw_acceptor(ioc);  // reserve a port, then free it so nobody listens there
    origin = origin_of(acceptor);
  }
  auto client = make_client(ioc, origin);
  auto body = [&]() -> awaitable<void> {
    auto res = co_await client.send(make_request("GET", "/"));
    REQUIRE(res.has_error());
    CHECK(res.error().kind == error_kind::connect_failed);
  };
  run(ioc, body());
}

namespace {

// One scripted answer per accepted connection: read the request head, write `answer`, close.
struct scripted_server {
  tcp::acceptor acceptor;
  std::string answer;
  int accepted = 0;

  awaitable<void> serve() {
    for (;;) {
      auto socket = co_await acceptor.async_accept(use_awaitable);
      ++accepted;
      co_await read_head(socket);
      co_await write_all(socket, answer);
    }
  }
};

// Sends one GET to a scripted server answering `answer` and returns the error kind.
std::optional<error_kind> kind_against(std::string answer, client_options options = {}) {
  asio::io_context ioc;
  scripted_server server{raw_acceptor(ioc), std::move(answer)};
  asio::co_spawn(ioc, server.serve(), asio::detached);
  auto client = make_client(ioc, origin_of(server.acceptor), options);
  std::optional<error_kind> kind;
  auto body = [&]() -> awaitable<void> {
    auto res = co_await client.send(make_request("GET", "/"));
    if (res.has_error()) kind = res.error().kind;
  };
  run(ioc, body());
  CHECK(server.accepted == 1);  // failures on a fresh connection are never retried
  return kind;
}

}  // namespace

TEST_CASE("a server closing mid-answer gives reset") {
  CHECK(kind_against("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part") == error_kind::reset);
  CHECK(kind_against("HTTP/1.1 200 OK\r\nContent-Le") == error_kind::reset);
  CHECK(kind_against("") == error_kind::reset);
}

TEST_CASE("garbled HTTP gives protocol") {
  CHECK(kind_against("HELLO THERE\r\n\r\n") == error_kind::protocol);
  CHECK(kind_against("HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n") == error_kind::protocol);
  CHECK(kind_against("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n") == error_kind::protocol);
}

TEST_CASE("an answer over the body limit gives too_large") {
  client_options options;
  options.body_limit = 1000;
  const std::string big(1001, 'x');
  CHECK(kind_against("HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n" + big, options) == error_kind::too_large);
  CHECK_FALSE(kind_against("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + big.substr(1), options).has_value());
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n" + big + "\r\n0\r\n\r\n";
  CHECK(kind_against(chunked, options) == error_kind::too_large);
}

TEST_CASE("a pooled connection the server closed is retried once on a fresh one") {
  asio::io_context ioc;
  // Announces keep-alive but closes after each answer, like a server whose idle timer fired.
  scripted_server server{raw_acceptor(ioc), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
  asio::co_spawn(ioc, server.serve(), asio::detached);
  auto client = make_client(ioc, origin_of(server.acceptor));
  auto body = [&]() -> awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      auto res = co_await client.send(make_request("POST", "/pay", "{}"));
      REQUIRE_MESSAGE(res.has_value(), (res.has_error() ? res.error().message : ""));
      CHECK(res->body == "ok");
    }
  };
  run(ioc, body());
  CHECK(server.accepted == 3);
}

TEST_CASE("requests that cannot be framed safely are refused before any I/O") {
  asio::io_context ioc;
  auto client = make_client(ioc, "http://127.0.0.1:1");
  auto body = [&]() -> awaitable<void> {
    auto injected = make_request("GET", "/");
    injected.headers = {{"X", "a\r\nEvil: 1"}};
    CHECK((co_await client.send(injected)).error().kind == error_kind::protocol);
    CHECK((co_await client.send(make_request("GET", "no-slash"))).error().kind == error_kind::protocol);
    CHECK((co_await client.send(make_request("GET", "/a b"))).error().kind == error_kind::protocol);
    CHECK((co_await client.send(make_request("BAD METHOD", "/"))).error().kind == error_kind::protocol);
  };
  run(ioc, body());
}
