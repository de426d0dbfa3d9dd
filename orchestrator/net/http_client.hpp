// An HTTP/1.1 client for one origin (http://host:port or https://host:port) with a small pool
// of keep-alive connections, one deadline per request and errors as values. It runs on one
// executor (the daemon's reactor thread) and must only be used from it. No Beast, socket or SSL
// header is included here; the implementation lives in http_client.cpp.
#pragma once

#include "orchestrator/net/http_types.hpp"
#include "orchestrator/net/tls.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cashier::net {

/// Why a request got no usable answer.
enum class error_kind {
  timeout,         ///< the request deadline passed (connect, TLS handshake, write or read)
  connect_failed,  ///< name resolution failed or the TCP connection was refused/unreachable
  tls_failed,      ///< the TLS handshake failed, e.g. certificate or host-name verification
  reset,           ///< the peer closed or reset the connection before the answer was complete
  protocol,        ///< the answer was not valid HTTP/1.1 (or the request could not be framed)
  too_large,       ///< the answer exceeded the header or body limit
};

/// The stable lower-case name of `kind`, e.g. "connect_failed" (for logs and metrics).
std::string_view to_string(error_kind kind);

/// A failed request: what went wrong and a human-readable detail.
struct net_error {
  error_kind kind;      ///< the category callers branch on
  std::string message;  ///< detail for logs, e.g. "connect 127.0.0.1:8443: Connection refused"
};

/// Lets boost::system::result<T, net_error>::value() throw; callers should test the result.
[[noreturn]] void throw_exception_from_error(const net_error& e, const boost::source_location& loc);

/// Judges one resolved address before the client connects to it: nothing to allow it, or why it
/// is refused (e.g. "loopback").
using address_filter = std::function<std::optional<std::string>(const boost::asio::ip::address&)>;

/// Knobs of one client.
struct client_options {
  std::chrono::milliseconds timeout{15000};       ///< per request: pool wait, connect, TLS, write, read
  std::chrono::milliseconds idle_timeout{30000};  ///< an idle pooled connection older than this is dropped
  std::size_t max_connections = 16;               ///< open connections at most; extra requests queue
  std::size_t body_limit = 1024 * 1024;           ///< response body bytes at most (too_large beyond)
  tls_context tls;                                ///< required for https:// origins
  /// When set, every address the host resolves to is judged first and only allowed ones are
  /// connected to (the checked address itself: no second lookup, so DNS rebinding cannot slip a
  /// refused address in); when all are refused the request fails with connect_failed.
  address_filter allow_address;
};

struct client_core;

/// A client for one origin. Cheap to move; in-flight requests keep the pool alive.
class http_client {
 public:
  /// A client for `origin` ("http://host:port" or "https://host:port", no path) on `executor`;
  /// or an error text when the origin is malformed or https lacks a TLS context.
  static boost::system::result<http_client, setup_error> create(boost::asio::any_io_executor executor,
                                                                std::string_view origin,
                                                                client_options options = {});

  /// Sends `req` (Host and Content-Length are filled in) and reads the answer, reusing an idle
  /// connection when one is pooled. A reused connection that turns out to be closed by the
  /// peer before any answer byte arrives is retried once on a fresh connection; see the
  /// comment in http_client.cpp for why that is safe.
  boost::asio::awaitable<boost::system::result<response, net_error>> send(request req);

  /// Connections currently open (idle or busy).
  std::size_t open_connections() const;

 private:
  explicit http_client(std::shared_ptr<client_core> core);
  std::shared_ptr<client_core> core_;
};

}  // namespace cashier::net
