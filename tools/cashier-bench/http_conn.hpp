// cashier-bench's Beast plumbing, internal to tools/cashier-bench: one keep-alive client
// connection that writes prepared request bytes and parses the answer, and a minimal
// one-request-at-a-time server loop (the http-ceiling server and the merchant webhook sink).
// Included only by the transport files (http_load.cpp, lifecycle.cpp).
#pragma once

#include <chrono>
#include <functional>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "tools/cashier-bench/http_load.hpp"

namespace cashier::bench::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
/// No single exchange of a bench may take longer (a daemon that hangs fails the run).
inline constexpr auto exchange_timeout = std::chrono::seconds(60);

/// The http_answer view of a parsed message.
inline http_answer answer_of(const http::response<http::string_body>& res) {
  return http_answer{static_cast<int>(res.result_int()), res.body(), &res};
}

/// One keep-alive client connection.
class http_conn {
 public:
  /// An unconnected connection on `ex`.
  explicit http_conn(asio::any_io_executor ex) : stream_(std::move(ex)) {}

  /// Connects to `to` (no Nagle delay).
  asio::awaitable<error_code> connect(tcp::endpoint to) {
    stream_.expires_after(exchange_timeout);
    auto [ec] = co_await stream_.async_connect(to, use_tuple);
    if (!ec) stream_.socket().set_option(tcp::no_delay(true), ec);
    open_ = !ec;
    co_return ec;
  }

  /// Writes the request `bytes` and reads its answer into `res`.
  asio::awaitable<error_code> exchange(std::string_view bytes, http::response<http::string_body>& res) {
    stream_.expires_after(exchange_timeout);
    auto [wec, written] = co_await asio::async_write(stream_, asio::buffer(bytes.data(), bytes.size()), use_tuple);
    if (wec) co_return fail(wec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(8 * 1024 * 1024);
    auto [rec, read] = co_await http::async_read(stream_, buffer_, parser, use_tuple);
    if (rec) co_return fail(rec);
    res = parser.release();
    if (!res.keep_alive()) close();
    co_return error_code{};
  }

  /// True while connected.
  bool open() const { return open_; }
  /// Closes the socket (the next use must connect again).
  void close() {
    stream_.close();
    buffer_.clear();
    open_ = false;
  }

 private:
  error_code fail(error_code ec) {
    close();
    return ec;
  }
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  bool open_ = false;
};

/// Answers one request of a mini server.
using mini_handler = std::function<void(const http::request<http::string_body>&, http::response<http::string_body>&)>;

/// Serves one connection until the client leaves.
inline asio::awaitable<void> mini_session(tcp::socket socket, const mini_handler& handler) {
  beast::tcp_stream stream(std::move(socket));
  error_code ec;
  stream.socket().set_option(tcp::no_delay(true), ec);
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    auto [rec, read] = co_await http::async_read(stream, buffer, req, use_tuple);
    if (rec) co_return;
    http::response<http::string_body> res{http::status::ok, 11};
    handler(req, res);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    auto [wec, written] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !req.keep_alive()) co_return;
  }
}

/// Accepts connections on `acceptor` for ever, one mini_session each.
inline asio::awaitable<void> mini_accept(tcp::acceptor& acceptor, const mini_handler& handler) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec) co_return;
    asio::co_spawn(acceptor.get_executor(), mini_session(std::move(socket), handler), asio::detached);
  }
}

/// An acceptor on 127.0.0.1 and an ephemeral port.
inline tcp::acceptor loopback_acceptor(asio::any_io_executor ex) {
  tcp::acceptor a(ex, tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
  a.listen(asio::socket_base::max_listen_connections);
  return a;
}

}  // namespace cashier::bench::detail
