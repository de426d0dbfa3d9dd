// One server connection's request loop: wait for a request, read it under the limits, answer
// protocol errors with JSON, call the handler, write the answer, keep alive or close gracefully.
// The loop is compiled once, in server_session.cpp, over session_stream (a byte_stream that can
// also time out, shut down and reset); serve() adapts any stream to it: TCP, TLS over TCP, or
// Beast's test::stream in tests and the fuzzer. Internal to orchestrator/net; includes Beast, so
// only transport, test and fuzz files use it.
#pragma once

#include "orchestrator/net/byte_stream.hpp"
#include "orchestrator/net/http_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <array>
#include <chrono>
#include <optional>
#include <type_traits>

namespace cashier::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;

/// What a session needs from its server; the server outlives every session.
struct session_context {
  const server_limits& limits;  ///< bounds for this connection
  const request_handler& handler;  ///< the application
  const log_function& log;      ///< where to report handler failures
  const bool& stopping;         ///< the server drains: answer the current request, then close
  peer_info peer;               ///< the remote end
  bool idle = false;            ///< waiting for a request's first byte (stop() may close now)
  /// Until the first request head is complete: when it must be (set at accept or by
  /// serve_connection); cleared once the head is in.
  std::optional<std::chrono::steady_clock::time_point> first_head_deadline{};
};

/// A server connection's bytes, plus what the loop does to the connection itself.
class session_stream : public byte_stream {
 public:
  /// Arms the timer for the next operations (streams without one ignore it).
  virtual void set_timeout(std::chrono::milliseconds t) = 0;
  /// Arms the timer to fire at `at` (streams without one ignore it).
  virtual void set_deadline(std::chrono::steady_clock::time_point at) = 0;
  /// After a closing answer: closes gracefully (see stream_session).
  virtual asio::awaitable<void> shut_down(const server_limits& limits) = 0;
  /// Ends the connection with a TCP reset (test streams just close).
  virtual void reset() = 0;
};

/// Serves requests on `stream` until the client leaves, a limit trips or the server stops.
asio::awaitable<void> serve_connection(session_stream& stream, session_context& ctx);

/// A session_stream over a stream object it does not own.
template <class Stream>
class stream_session final : public session_stream {
  static constexpr bool is_tcp = std::is_same_v<Stream, beast::tcp_stream>;
  static constexpr bool is_tls = std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>;

 public:
  explicit stream_session(Stream& s) : bytes_(s) {}
  asio::awaitable<io_result> read_some(asio::mutable_buffer into) override { return bytes_.read_some(into); }
  asio::awaitable<io_result> write_all(asio::const_buffer bytes) override { return bytes_.write_all(bytes); }

  void set_timeout(std::chrono::milliseconds t) override {
    if constexpr (is_tcp || is_tls) beast::get_lowest_layer(bytes_.stream()).expires_after(t);
  }
  void set_deadline(std::chrono::steady_clock::time_point at) override {
    if constexpr (is_tcp || is_tls) beast::get_lowest_layer(bytes_.stream()).expires_at(at);
  }

  /// TCP: half-close, then read and discard until the client closes, the linger timeout or the
  /// byte budget. Closing with unread input would make the kernel send a RST that can destroy
  /// our answer (e.g. a 413) before the client has read it. TLS: the same on the TCP layer, no
  /// close_notify exchange: our answers are delimited by Content-Length, so a client cannot
  /// mistake a truncation for a complete answer, and waiting for the client's close_notify would
  /// let it hold the connection. Test streams just close.
  asio::awaitable<void> shut_down(const server_limits& limits) override {
    if constexpr (is_tcp || is_tls) {
      auto& s = beast::get_lowest_layer(bytes_.stream());
      boost::system::error_code ec;
      s.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
      s.expires_after(limits.linger_timeout);
      std::array<char, 4096> scratch;
      for (std::size_t budget = limits.body_limit + limits.header_limit + scratch.size(); !ec;) {
        auto [rec, n] = co_await s.async_read_some(asio::buffer(scratch), use_tuple);
        ec = rec;
        if (n >= budget) break;
        budget -= n;
      }
      s.close();
    } else {
      bytes_.stream().close();
    }
  }

  /// SO_LINGER 0, then close: the kernel sends RST (under TLS, without a close_notify).
  void reset() override {
    if constexpr (is_tcp || is_tls) {
      auto& s = beast::get_lowest_layer(bytes_.stream());
      boost::system::error_code ec;
      s.socket().set_option(asio::socket_base::linger(true, 0), ec);
      s.close();
    } else {
      bytes_.stream().close();
    }
  }

 private:
  stream_bytes<Stream> bytes_;
};

/// Serves requests on `stream` (any stream stream_session adapts) until the connection ends.
template <class Stream>
asio::awaitable<void> serve(Stream& stream, session_context& ctx) {
  stream_session<Stream> session(stream);
  co_await serve_connection(session, ctx);
}

}  // namespace cashier::net::detail
