// Tests of the HTTP server over real loopback sockets, mostly driven by raw clients so the bytes
// on the wire are exact: body and header limits, request-smuggling guards, timeouts, the
// connection cap, handler failures, 100-continue, chunked bodies, TLS, and graceful stop.
#include "orchestrator/net/http_client.hpp"
#include "orchestrator/net/http_server.hpp"
#include "tests/orchestrator/net/net_test_support.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <doctest/doctest.h>

#include <stdexcept>
#include <vector>

using namespace cashier::net;
using namespace cashier::net::test;
namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// Answers 200 with "<body size>:<body>" and the signed-ack style headers of a notify answer.
awaitable<response> ack(request req, const peer_info& peer) {
  if (req.target == "/throw") throw std::runtime_error("handler bug");
  response res;
  res.headers = {{"Content-Type", "application/json; charset=UTF-8"},
                 {"Client-Id", "SANDBOX_1"},
                 {"Response-Time", "2024-01-01T00:00:00.000+08:00"},
                 {"Signature", "algorithm=RSA256,keyVersion=1,signature=abc%3D"},
                 {"X-Peer", peer.address + (peer.is_loopback ? " loopback" : "")}};
  res.body = std::to_string(req.body.size()) + ":" + req.body;
  co_return res;
}

http_server listen(asio::io_context& ioc, server_options options = {}, request_handler handler = ack) {
  auto server = http_server::listen(ioc.get_executor(), "127.0.0.1:0", std::move(handler), std::move(options));
  REQUIRE_MESSAGE(server.has_value(), (server.has_error() ? server.error().message : ""));
  return std::move(*server);
}

std::string post(std::size_t body_size, const std::string& extra_headers = "") {
  return "POST /notify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body_size) + "\r\n\r\n" + std::string(body_size, 'b');
}

// Sends raw bytes to a fresh server with `options` and returns the raw answer.
std::string exchange(std::string bytes, server_options options = {}) {
  asio::io_context ioc;
  auto server = listen(ioc, std::move(options));
  std::string answer;
  auto body = [&]() -> awaitable<void> { answer = co_await raw_exchange(server.port(), bytes); };
  run(ioc, body());
  return answer;
}

bool has_json_error(const std::string& raw, const std::string& code) {
  return raw.find("Content-Type: application/json") != std::string::npos &&
         raw.find(R"({"error":{"code":")" + code + R"(","message":")") != std::string::npos;
}

}  // namespace

TEST_CASE("listen rejects malformed addresses and reports bind failures") {
  asio::io_context ioc;
  const auto ex = ioc.get_executor();
  CHECK(http_server::listen(ex, "127.0.0.1", ack).error().message == "cannot listen on 127.0.0.1: expected host:port");
  CHECK(http_server::listen(ex, "127.0.0.1:99999", ack).has_error());
  CHECK(http_server::listen(ex, "::1:80", ack).has_error());
  CHECK(http_server::listen(ex, "127.0.0.1:0", nullptr).has_error());
  auto first = listen(ioc);
  auto clash = http_server::listen(ex, "127.0.0.1:" + std::to_string(first.port()), ack);
  REQUIRE(clash.has_error());
  CHECK(clash.error().message.starts_with("cannot listen on 127.0.0.1:" + std::to_string(first.port()) + ": "));
}

TEST_CASE("the handler sees the exact body and the peer, and arbitrary answer headers reach the client") {
  const auto raw = exchange("POST /notify HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\na\"\r\nb");
  CHECK(status_of(raw) == 200);
  CHECK(raw.find("\r\n\r\n5:a\"\r\nb") != std::string::npos);
  CHECK(raw.find("Client-Id: SANDBOX_1\r\n") != std::string::npos);
  CHECK(raw.find("Response-Time: 2024-01-01T00:00:00.000+08:00\r\n") != std::string::npos);
  CHECK(raw.find("Signature: algorithm=RSA256,keyVersion=1,signature=abc%3D\r\n") != std::string::npos);
  CHECK(raw.find("X-Peer: 127.0.0.1 loopback\r\n") != std::string::npos);
}

TEST_CASE("a body of exactly 64 KiB is served, one byte more is 413 BODY_TOO_LARGE") {
  CHECK(status_of(exchange(post(64 * 1024))) == 200);
  const auto raw = exchange(post(64 * 1024 + 1));
  CHECK(status_of(raw) == 413);
  CHECK(has_json_error(raw, "BODY_TOO_LARGE"));
  CHECK(raw.find("Connection: close") != std::string::npos);
}

TEST_CASE("a chunked body over the limit is 413 too, within it the handler gets the decoded bytes") {
  server_options small;
  small.limits.body_limit = 10;
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
  CHECK(status_of(exchange(head + "b\r\nhello world\r\n0\r\n\r\n", small)) == 413);
  const auto raw = exchange(head + "5\r\nhello\r\n3\r\n!!!\r\n0\r\n\r\n", small);
  CHECK(status_of(raw) == 200);
  CHECK(raw.find("\r\n\r\n8:hello!!!") != std::string::npos);
}

TEST_CASE("oversized headers are 431 HEADER_TOO_LARGE, one big field or many small ones") {
  const auto raw = exchange(post(1, "X-Big: " + std::string(9000, 'h') + "\r\n"));
  CHECK(status_of(raw) == 431);
  CHECK(has_json_error(raw, "HEADER_TOO_LARGE"));
  std::string many;
  for (int i = 0; i < 300; ++i) many += "X-H" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
  const auto raw_many = exchange(post(1, many));
  CHECK(status_of(raw_many) == 431);
  CHECK(has_json_error(raw_many, "HEADER_TOO_LARGE"));
}

TEST_CASE("conflicting Content-Length and Transfer-Encoding are 400 BAD_REQUEST, in either order") {
  const std::string chunk = "5\r\nhello\r\n0\r\n\r\n";
  for (const std::string& fields : {std::string("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
                                    std::string("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
                                    std::string("Transfer-Encoding: gzip\r\nContent-Length: 5\r\n"),
                                    std::string("Transfer-Encoding: chunked, gzip\r\n"),
                                    std::string("Transfer-Encoding: identity, chunked\r\n"),
                                    std::string("Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n"),
                                    std::string("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
                                    std::string("Content-Length: 5\r\nContent-Length: 6\r\n")}) {
    CAPTURE(fields);
    const auto raw = exchange("POST / HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n" + chunk);
    CHECK(status_of(raw) == 400);
    CHECK(has_json_error(raw, "BAD_REQUEST"));
  }
}

TEST_CASE("obsolete line folding is 400 BAD_REQUEST, wherever it is") {
  for (const std::string& fields : {std::string("Transfer-Encoding:\r\n chunked\r\n"),
                                    std::string("X-A: b\r\n\tc\r\nTransfer-Encoding: chunked\r\n"),
                                    std::string("Transfer-Encoding: chunked\r\nAuthorization: Bearer\r\n  token\r\n")}) {
    CAPTURE(fields);
    const auto raw = exchange("POST / HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n5\r\nhello\r\n0\r\n\r\n");
    CHECK(status_of(raw) == 400);
    CHECK(has_json_error(raw, "BAD_REQUEST"));
  }
  // A bare LF is Beast's to refuse; spaces inside values and a body starting with a space are not folding.
  CHECK(status_of(exchange("GET / HTTP/1.1\nHost: x\n\n")) == 400);
  const auto raw = exchange("POST / HTTP/1.1\r\nHost: x\r\nX-A: b  c\r\nConnection: close\r\nContent-Length: 3\r\n\r\n a\n");
  CHECK(status_of(raw) == 200);
}

TEST_CASE("garbage is 400 BAD_REQUEST with a JSON body") {
  const auto raw = exchange("NOT HTTP AT ALL\r\n\r\n");
  CHECK(status_of(raw) == 400);
  CHECK(has_json_error(raw, "BAD_REQUEST"));
}

TEST_CASE("a handler exception is a 500 INTERNAL_ERROR and the server keeps serving") {
  asio::io_context ioc;
  std::vector<std::string> logged;
  server_options options;
  options.log = [&](std::string_view line) { logged.emplace_back(line); };
  auto server = listen(ioc, options);
  auto body = [&]() -> awaitable<void> {
    const auto raw = co_await raw_exchange(server.port(), "GET /throw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(status_of(raw) == 500);
    CHECK(has_json_error(raw, "INTERNAL_ERROR"));
    CHECK(status_of(co_await raw_exchange(server.port(), post(2))) == 200);
  };
  run(ioc, body());
  REQUIRE(logged.size() == 1);
  CHECK(logged[0].find("handler bug") != std::string::npos);
}

TEST_CASE("an answer the handler cannot frame becomes a 500") {
  asio::io_context ioc;
  server_options options;
  options.log = [](std::string_view) {};
  auto bad = [](request, const peer_info&) -> awaitable<response> {
    co_return response{200, {{"X", "a\r\nSet-Cookie: evil"}}, "x", {}};
  };
  auto server = listen(ioc, options, bad);
  auto body = [&]() -> awaitable<void> {
    const auto raw = co_await raw_exchange(server.port(), post(0));
    CHECK(status_of(raw) == 500);
    CHECK(raw.find("evil") == std::string::npos);
  };
  run(ioc, body());
}

TEST_CASE("Expect: 100-continue gets an interim answer before the body is sent") {
  asio::io_context ioc;
  auto server = listen(ioc);
  auto body = [&]() -> awaitable<void> {
    auto socket = co_await connect_raw(server.port());
    co_await write_all(socket, "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\n"
                               "Content-Length: 3\r\n\r\n");
    CHECK(co_await read_head(socket) == "HTTP/1.1 100 Continue\r\n\r\n");
    co_await write_all(socket, "abc");
    const auto raw = co_await read_to_end(socket);
    CHECK(status_of(raw) == 200);
    CHECK(raw.find("3:abc") != std::string::npos);
  };
  run(ioc, body());
}

TEST_CASE("a client that stalls in its headers or stays idle is disconnected by the timeouts") {
  asio::io_context ioc;
  server_options options;
  options.limits.header_timeout = 100ms;
  options.limits.idle_timeout = 150ms;
  options.limits.first_request_timeout = 150ms;
  auto server = listen(ioc, options);
  auto body = [&]() -> awaitable<void> {
    const auto start = std::chrono::steady_clock::now();
    auto stalled = co_await connect_raw(server.port());
    co_await write_all(stalled, "GET / HTTP/1.1\r\nHost: x\r\n");
    CHECK((co_await read_to_end(stalled)).empty());
    auto idle = co_await connect_raw(server.port());
    CHECK((co_await read_to_end(idle)).empty());
    CHECK(std::chrono::steady_clock::now() - start >= 250ms);
  };
  run(ioc, body());
}

TEST_CASE("connections beyond the cap are closed at once and counted") {
  asio::io_context ioc;
  server_options options;
  options.limits.max_connections = 1;
  auto server = listen(ioc, options);
  auto client = http_client::create(ioc.get_executor(), "http://127.0.0.1:" + std::to_string(server.port())).value();
  auto body = [&]() -> awaitable<void> {
    CHECK((co_await client.send(make_request("GET", "/"))).has_value());  // holds the only slot
    const auto extra = co_await raw_exchange(server.port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(extra.empty());
    CHECK((co_await client.send(make_request("GET", "/"))).has_value());  // the pooled one still works
  };
  run(ioc, body());
  CHECK(server.stats().accepted == 2);
  CHECK(server.stats().rejected == 1);
  CHECK(server.stats().active == 1);
}

TEST_CASE("a new connection must complete its first request head in time, trickling or not, later ones get the idle timeout") {
  asio::io_context ioc;
  server_options options;
  options.limits.first_request_timeout = 300ms;
  options.limits.header_timeout = 10s;
  options.limits.idle_timeout = 10s;
  auto server = listen(ioc, options);
  auto body = [&]() -> awaitable<void> {
    // One byte every 50 ms keeps resetting a per-read timer, never this deadline.
    const auto start = std::chrono::steady_clock::now();
    auto trickler = co_await connect_raw(server.port());
    const std::string head = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    bool cut = false;
    for (char c : head) {
      auto [ec, n] = co_await asio::async_write(trickler, asio::buffer(&c, 1), asio::as_tuple(use_awaitable));
      if (ec) {
        cut = true;
        break;
      }
      asio::steady_timer pause(ioc, 50ms);
      co_await pause.async_wait(use_awaitable);
    }
    const auto answer = co_await read_to_end(trickler);
    CHECK((cut || answer.empty()));
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= 250ms);
    CHECK(took < 3s);
    // A prompt client is served, and its keep-alive wait is the idle timeout, not the deadline.
    auto prompt = co_await connect_raw(server.port());
    co_await write_all(prompt, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(status_of(co_await read_head(prompt)) == 200);
    asio::steady_timer wait(ioc, 500ms);
    co_await wait.async_wait(use_awaitable);
    co_await write_all(prompt, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(status_of(co_await read_to_end(prompt)) == 200);
  };
  run(ioc, body());
}

TEST_CASE("connections beyond the per-address cap are closed at once, other addresses are still served") {
  asio::io_context ioc;
  server_options options;
  options.limits.max_connections_per_address = 3;
  auto server = listen(ioc, options);
  auto from = [&](const char* source) -> awaitable<tcp::socket> {
    tcp::socket s(ioc);
    s.open(tcp::v4());
    s.bind({asio::ip::make_address(source), 0});
    co_await s.async_connect({asio::ip::make_address("127.0.0.1"), server.port()}, use_awaitable);
    co_return s;
  };
  auto body = [&]() -> awaitable<void> {
    std::vector<tcp::socket> held;
    for (int i = 0; i < 3; ++i) held.push_back(co_await from("127.0.0.1"));
    auto fourth = co_await from("127.0.0.1");
    CHECK((co_await read_to_end(fourth)).empty());  // closed at once, no answer
    auto other = co_await from("127.0.0.2");
    co_await write_all(other, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const auto answer = co_await read_to_end(other);
    CHECK(status_of(answer) == 200);
    CHECK(answer.find("X-Peer: 127.0.0.2 loopback") != std::string::npos);
    // A slot freed by a closing client is free again.
    held.front().close();
    asio::steady_timer settle(ioc, 100ms);
    co_await settle.async_wait(use_awaitable);
    auto again = co_await from("127.0.0.1");
    co_await write_all(again, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(status_of(co_await read_to_end(again)) == 200);
  };
  run(ioc, body());
  CHECK(server.stats().rejected == 1);
}

TEST_CASE("HTTPS server serves keep-alive requests and answers 413 over TLS") {
  asio::io_context ioc;
  server_options options;
  options.tls = make_server_context(keys_dir() + "/server.pem", keys_dir() + "/server.key").value();
  auto server = listen(ioc, options);
  client_options copts;
  copts.tls = make_client_context(keys_dir() + "/ca.pem").value();
  auto client = http_client::create(ioc.get_executor(), "https://localhost:" + std::to_string(server.port()), copts).value();
  auto body = [&]() -> awaitable<void> {
    auto ok = co_await client.send(make_request("POST", "/notify", "{}"));
    REQUIRE(ok.has_value());
    CHECK(ok->body == "2:{}");
    auto big = co_await client.send(make_request("POST", "/notify", std::string(64 * 1024 + 1, 'x')));
    REQUIRE_MESSAGE(big.has_value(), (big.has_error() ? big.error().message : ""));
    CHECK(big->status == 413);
    CHECK(big->body.starts_with(R"({"error":{"code":"BODY_TOO_LARGE")"));
    const auto plain = co_await raw_exchange(server.port(), "GET / HTTP/1.1\r\n\r\n");
    CHECK(status_of(plain) == 0);  // no HTTP spoken before the TLS handshake
  };
  run(ioc, body());
  CHECK(server.stats().accepted == 2);  // the 413 closed the first connection
}

TEST_CASE("stop() closes idle connections, lets an in-flight request finish, then refuses new ones") {
  asio::io_context ioc;
  // Signals instead of sleeps: the handler announces that it has started, then waits for release.
  bool started = false;
  asio::steady_timer entered(ioc, asio::steady_timer::time_point::max());
  asio::steady_timer release(ioc, asio::steady_timer::time_point::max());
  auto slow = [&](request req, const peer_info&) -> awaitable<response> {
    if (req.target == "/slow") {
      started = true;
      entered.cancel();
      co_await release.async_wait(asio::as_tuple(use_awaitable));
    }
    co_return response{200, {}, "done " + req.target, {}};
  };
  auto server = listen(ioc, {}, slow);
  const auto port = server.port();
  tcp::socket idle(ioc), busy(ioc);
  auto clients_during_stop = [&]() -> awaitable<void> {
    CHECK((co_await read_to_end(idle)).find("done") == std::string::npos);  // closed, not answered
    release.cancel();
    const auto answer = co_await read_to_end(busy);
    CHECK(status_of(answer) == 200);
    CHECK(answer.find("Connection: close") != std::string::npos);
    CHECK(answer.find("done /slow") != std::string::npos);
    busy.close();  // as a client does after Connection: close, which ends the server's linger
  };
  auto body = [&]() -> awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    idle = co_await connect_raw(port);  // a keep-alive connection with one answered request
    co_await write_all(idle, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(status_of(co_await read_head(idle)) == 200);
    busy = co_await connect_raw(port);
    co_await write_all(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    if (!started) co_await entered.async_wait(asio::as_tuple(use_awaitable));
    CHECK(co_await (server.stop(5s) && clients_during_stop()));
    CHECK(server.stats().active == 0);
    tcp::socket late(ioc);
    auto [ec] = co_await late.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::as_tuple(use_awaitable));
    CHECK(ec);
  };
  run(ioc, body());
}

TEST_CASE("stop() gives up after the drain timeout and closes what is left") {
  asio::io_context ioc;
  bool started = false;
  asio::steady_timer entered(ioc, asio::steady_timer::time_point::max());
  asio::steady_timer never(ioc, asio::steady_timer::time_point::max());
  auto stuck = [&](request, const peer_info&) -> awaitable<response> {
    started = true;
    entered.cancel();
    co_await never.async_wait(asio::as_tuple(use_awaitable));
    co_return response{};
  };
  auto server = listen(ioc, {}, stuck);
  auto body = [&]() -> awaitable<void> {
    auto socket = co_await connect_raw(server.port());
    co_await write_all(socket, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    if (!started) co_await entered.async_wait(asio::as_tuple(use_awaitable));
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(co_await server.stop(100ms));
    CHECK(std::chrono::steady_clock::now() - start >= 100ms);
    CHECK((co_await read_to_end(socket)).empty());
    never.cancel();
  };
  run(ioc, body());
}

TEST_CASE("after_write hears that the answer is on the wire, and a dropped answer as not written") {
  asio::io_context ioc;
  std::vector<bool> heard;
  std::vector<std::string> order;
  auto handler = [&](request req, const peer_info&) -> awaitable<response> {
    response res;
    if (req.target == "/drop") res.status = no_answer_status;
    res.body = "ack";
    res.after_write = [&](bool written) {
      heard.push_back(written);
      order.emplace_back("after_write");
    };
    co_return res;
  };
  auto server = listen(ioc, {}, handler);
  auto body = [&]() -> awaitable<void> {
    const auto raw = co_await raw_exchange(server.port(), post(2));
    order.emplace_back("client read the answer");
    CHECK(status_of(raw) == 200);
    co_await raw_exchange(server.port(), "GET /drop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  };
  run(ioc, body());
  CHECK(heard == std::vector<bool>{true, false});
  // The callback ran once the bytes were written, before the connection's end reached the client.
  REQUIRE(order.size() == 3);
  CHECK(order[0] == "after_write");
}
