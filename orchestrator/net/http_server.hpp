// An HTTP/1.1 server (plain or TLS) that hands each request to one coroutine handler. It owns the
// listener, per-connection sessions with keep-alive, the limits that keep a hostile client from
// tying it up, and a graceful stop. Every error it produces itself is a JSON body
// {"error":{"code":"...","message":"..."}}. Runs on one executor and must be used from it. No
// Beast, socket or SSL header is included here.
#pragma once

#include "orchestrator/net/http_types.hpp"
#include "orchestrator/net/tls.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace cashier::net {

/// Who is on the other end of a connection.
struct peer_info {
  std::string address;       ///< remote IP address, e.g. "127.0.0.1" or "::1"
  std::uint16_t port = 0;    ///< remote TCP port
  bool is_loopback = false;  ///< the remote address is a loopback address (incl. v4-mapped)
};

/// Answers one request. The request body holds the bytes exactly as received; headers hold every
/// field received. Content-Length, Transfer-Encoding and Connection in the answer are ignored
/// (the server frames the message). An exception becomes a 500 JSON error and is logged. An
/// answer with status no_answer_status closes the connection without answering; one with
/// reset_status writes its body unframed and resets the connection.
using request_handler = std::function<boost::asio::awaitable<response>(request, const peer_info&)>;

/// Where the server logs problems that are not the client's fault (one line per call).
using log_function = std::function<void(std::string_view)>;

/// Bounds on what one client can make the server hold.
struct server_limits {
  std::size_t body_limit = 64 * 1024;                ///< request body bytes at most (413 beyond)
  std::size_t header_limit = 8 * 1024;               ///< request line + header bytes at most (431 beyond)
  std::chrono::milliseconds header_timeout{10000};   ///< TLS handshake, and request line + headers
  /// A new connection's TLS handshake and complete first request head, from accept: a client
  /// that opens sockets and sends nothing is cut here, not after idle_timeout.
  std::chrono::milliseconds first_request_timeout{5000};
  std::chrono::milliseconds body_timeout{10000};     ///< reading the body once the headers are in
  std::chrono::milliseconds idle_timeout{60000};     ///< keep-alive wait for the next request
  std::chrono::milliseconds write_timeout{10000};    ///< writing one response
  std::chrono::milliseconds linger_timeout{2000};    ///< after a closing answer, discarding unread input
  std::size_t max_connections = 1024;                ///< open connections at most; extra ones are closed at once
  std::size_t max_connections_per_address = 64;      ///< open connections from one peer IP at most; extra ones are closed at once
};

/// How a server is set up besides its address and handler.
struct server_options {
  server_limits limits;  ///< per-connection bounds
  tls_context tls;       ///< HTTPS when set, plain HTTP when null
  log_function log;      ///< problem log; stderr when empty
};

/// Counters for metrics and tests.
struct server_stats {
  std::uint64_t accepted = 0;  ///< connections accepted since start (including rejected ones)
  std::uint64_t rejected = 0;  ///< connections closed at once because of max_connections or max_connections_per_address
  std::size_t active = 0;      ///< connections being served now
};

struct server_core;

/// A listening server. Destroying it closes the listener and every connection at once; use
/// stop() first for a graceful drain.
class http_server {
 public:
  /// Binds "host:port" ("[::1]:0" for IPv6, port 0 for an ephemeral port), starts accepting on
  /// `executor` and serves each request with `handler`; or "cannot listen on <where>: <reason>".
  static boost::system::result<http_server, setup_error> listen(boost::asio::any_io_executor executor,
                                                                 std::string_view host_port,
                                                                 request_handler handler,
                                                                 server_options options = {});

  /// The bound TCP port (useful after listening on port 0).
  std::uint16_t port() const;

  /// Connection counters.
  server_stats stats() const;

  /// Stops accepting, closes idle keep-alive connections, lets in-flight requests finish (their
  /// answers carry Connection: close) and returns true once all sessions ended; after
  /// `drain_timeout` closes what is left and returns false.
  boost::asio::awaitable<bool> stop(std::chrono::milliseconds drain_timeout = std::chrono::seconds(10));

  /// Moves the server; the moved-from object owns nothing.
  http_server(http_server&& other) noexcept;
  /// Moves the server, aborting the one this object held.
  http_server& operator=(http_server&& other) noexcept;
  /// Aborts: closes the listener and every connection.
  ~http_server();

 private:
  explicit http_server(std::shared_ptr<server_core> core);
  std::shared_ptr<server_core> core_;
};

}  // namespace cashier::net
