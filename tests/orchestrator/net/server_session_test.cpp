// Tests of the server's per-connection request loop over Beast's test::stream (no sockets):
// pipelined requests, HTTP/1.0 and Connection: close, draining, and a failure injected at every
// I/O step in turn with fail_count, which must end the session quietly, never with an exception.
#include "orchestrator/net/server_session.hpp"
#include "tests/orchestrator/net/net_test_support.hpp"

#include <boost/beast/_experimental/test/stream.hpp>
#include <doctest/doctest.h>

using namespace cashier::net;
namespace asio = boost::asio;
namespace beast = boost::beast;
using cashier::net::test::run;

namespace {

asio::awaitable<response> echo(request req, const peer_info&) {
  co_return response{200, {{"X-Method", req.method}}, req.target + "|" + req.body, {}};
}

// What a session writes when `input` arrives and the client then closes its end.
std::string serve_bytes(std::string_view input, const request_handler& handler = echo, const bool& stopping = false,
                        beast::test::fail_count* fc = nullptr, std::size_t read_size = 0) {
  asio::io_context ioc;
  auto server = fc ? beast::test::stream(ioc, *fc) : beast::test::stream(ioc);
  if (read_size > 0) server.read_size(read_size);
  beast::test::stream client(ioc);
  server.connect(client);
  server.append(input);
  server.close_remote();
  const server_limits limits;
  const log_function log = [](std::string_view) {};
  detail::session_context ctx{limits, handler, log, stopping, peer_info{"127.0.0.1", 1, true}};
  run(ioc, detail::serve(server, ctx));
  return std::string(client.str());
}

std::size_t count(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("pipelined keep-alive requests are answered in order") {
  const auto out = serve_bytes("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                               "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz");
  CHECK(count(out, "HTTP/1.1 200 OK") == 2);
  const auto a = out.find("/a|"), b = out.find("/b|xyz");
  CHECK(a != std::string::npos);
  CHECK(b != std::string::npos);
  CHECK(a < b);
  CHECK(out.find("Connection: close") == std::string::npos);
}

TEST_CASE("an answer to HEAD announces the length but sends no body, keeping the connection in sync") {
  const auto out = serve_bytes("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(out.find("Content-Length: 3\r\n") != std::string::npos);
  CHECK(out.find("/h|") == std::string::npos);
  CHECK(out.find("\r\n\r\nHTTP/1.1 200 OK") != std::string::npos);  // the GET answer follows at once
  CHECK(out.ends_with("/g|"));
}

TEST_CASE("HTTP/1.0 and Connection: close end the session after one answer") {
  const std::string second = "GET /second HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const std::string& first : {std::string("GET /first HTTP/1.0\r\n\r\n"),
                                   std::string("GET /first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")}) {
    const auto out = serve_bytes(first + second);
    CHECK(count(out, " 200 OK") == 1);
    CHECK(out.find("/first|") != std::string::npos);
    CHECK(out.find("/second") == std::string::npos);
  }
}

TEST_CASE("a draining server answers the request in hand with Connection: close, then stops") {
  const std::string two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  bool stopping = true;
  CHECK(serve_bytes(two, echo, stopping).empty());  // stopped before the first byte: nothing read
  stopping = false;
  const request_handler stop_during_first = [&](request req, const peer_info& peer) {
    stopping = true;
    return echo(std::move(req), peer);
  };
  const auto out = serve_bytes(two, stop_during_first, stopping);
  CHECK(count(out, " 200 OK") == 1);
  CHECK(out.find("Connection: close") != std::string::npos);
  CHECK(out.find("/b|") == std::string::npos);
}

TEST_CASE("obs-fold is found however the header arrives, clean headers read byte by byte are served") {
  const bool stopping = false;
  for (const std::size_t read_size : {1, 2, 3, 7}) {
    CAPTURE(read_size);
    const auto folded = serve_bytes("GET /a HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", echo, stopping, nullptr, read_size);
    CHECK(folded.starts_with("HTTP/1.1 400"));
    const auto clean = serve_bytes("GET /a HTTP/1.1\r\nHost: x\r\nX-A: b c\r\n\r\n", echo, stopping, nullptr, read_size);
    CHECK(clean.starts_with("HTTP/1.1 200"));
    CHECK(clean.find("/a|") != std::string::npos);
  }
}

TEST_CASE("a failure at any I/O step ends the session without an exception") {
  const std::string input = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
                            "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  const auto complete = serve_bytes(input);
  CHECK(count(complete, " 200 OK") == 2);
  bool reached_success = false;
  for (std::size_t n = 1; n < 50 && !reached_success; ++n) {
    CAPTURE(n);
    beast::test::fail_count fc(n);
    std::string out;
    CHECK_NOTHROW(out = serve_bytes(input, echo, false, &fc));
    CHECK(complete.starts_with(out));  // whatever was written is a prefix of the full answer
    reached_success = out == complete;
  }
  CHECK(reached_success);
}
