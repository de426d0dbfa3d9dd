// cashier-bench's HTTP plumbing, internal to tools/cashier-bench: one keep-alive client
// connection that writes prepared request bytes and parses the answer, and a minimal
// one-request-at-a-time server loop (the http-ceiling server and the merchant webhook sink).
// Compiled once, in http_conn.cpp, with the project's byte_stream reading and writing
// (orchestrator/net/byte_stream.hpp: Beast's parser and serializer, as cashierd uses them).
#pragma once

#include <chrono>
#include <functional>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

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
  asio::awaitable<error_code> connect(tcp::endpoint to);

  /// Writes the request `bytes` and reads its answer into `res`.
  asio::awaitable<error_code> exchange(std::string_view bytes, http::response<http::string_body>& res);

  /// True while connected.
  bool open() const { return open_; }
  /// Closes the socket (the next use must connect again).
  void close();

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

/// Accepts connections on `acceptor` for ever, one session each (requests answered in order).
asio::awaitable<void> mini_accept(tcp::acceptor& acceptor, const mini_handler& handler);

/// An acceptor on 127.0.0.1 and an ephemeral port.
tcp::acceptor loopback_acceptor(asio::any_io_executor ex);

}  // namespace cashier::bench::detail
