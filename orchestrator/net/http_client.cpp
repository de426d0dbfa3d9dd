// The HTTP/1.1 client: origin parsing, the keep-alive pool, connect + TLS (SNI, host-name
// verification), one request/response exchange, and the mapping of transport errors onto
// error_kind. Everything runs on the client's executor; no state is shared across threads.
//
// Retry rule. A pooled keep-alive connection may have been closed by the peer while idle; we
// only learn that when the write fails or the first read sees EOF/reset. In that case, and only
// when not a single answer byte arrived on a *reused* connection, the request is sent once more
// on a fresh connection. A server that closes an idle connection has not processed a request
// sent on it, so this is the standard HTTP/1.1 idle-close race (RFC 9112 section 9.3.1). Even in
// the unlikely case that it had, the Alipay+ calls made through this client are idempotent by
// paymentRequestId, so a duplicate cannot charge twice. Timeouts and errors after the first
// answer byte are never retried here; the caller's state machine decides.
#include "orchestrator/net/http_client.hpp"

#include "orchestrator/net/byte_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/throw_exception.hpp>
#include <boost/url/parse.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <stdexcept>
#include <vector>

namespace cashier::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using boost::system::error_code;
template <class T>
using net_result = boost::system::result<T, net_error>;

namespace {

using detail::use_tuple;

// Where a client connects, parsed once from its origin URL.
struct origin {
  bool tls = false;
  std::string host;         // name or IP literal without brackets
  std::string port;         // decimal
  std::string host_header;  // Host field value: host[:port] as written in the origin
};

boost::system::result<origin, std::string> parse_origin(std::string_view text) {
  auto url = boost::urls::parse_uri(text);
  if (!url) return "malformed origin '" + std::string(text) + "'";
  const auto scheme = url->scheme_id();
  if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https)
    return "origin '" + std::string(text) + "' must be http:// or https://";
  const bool bare = !url->has_userinfo() && !url->has_query() && !url->has_fragment() &&
                    (url->path().empty() || url->path() == "/");
  if (!bare || url->host_address().empty())
    return "origin '" + std::string(text) + "' must be scheme://host[:port] without a path";
  if (url->has_port() && url->port_number() == 0)
    return "origin '" + std::string(text) + "' has an invalid port";
  origin o;
  o.tls = scheme == boost::urls::scheme::https;
  o.host = url->host_address();
  o.port = url->has_port() ? std::string(url->port()) : (o.tls ? "443" : "80");
  o.host_header = url->encoded_host_and_port();
  return o;
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// The peer is gone: EOF, reset or truncated TLS. These are the errors the retry rule covers.
bool is_closed(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted ||
         ec == ssl::error::stream_truncated;
}

error_kind classify_read(const error_code& ec) {
  if (ec == beast::error::timeout) return error_kind::timeout;
  if (ec == http::error::body_limit || ec == http::error::header_limit || ec == http::error::buffer_overflow)
    return error_kind::too_large;
  if (ec == http::error::partial_message || is_closed(ec)) return error_kind::reset;
  if (ec.category() == make_error_code(http::error::bad_version).category()) return error_kind::protocol;
  return error_kind::reset;
}

// An open connection: exactly one of plain/secure is set.
struct connection {
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  steady::time_point idle_since{};

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
};
using connection_ptr = std::unique_ptr<connection>;

// The outcome of one exchange on one connection.
struct attempt {
  net_result<response> outcome;
  bool retry_fresh = false;  // failed on a reused connection before any answer byte
  bool reusable = false;     // the connection may go back to the pool
};

net_error failure(error_kind kind, std::string message) { return net_error{kind, std::move(message)}; }

response to_response(http::response<http::string_body>& res) {
  response out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res) out.headers.push_back({std::string(f.name_string()), std::string(f.value())});
  out.body = std::move(res.body());
  return out;
}

net_result<http::request<http::string_body>> build_message(const request& req, const origin& where) {
  http::request<http::string_body> msg;
  if (!is_valid_header(req.method, "") || req.target.empty() || req.target.front() != '/' ||
      req.target.find_first_of(std::string_view{" \r\n\t\0", 5}) != std::string::npos)
    return failure(error_kind::protocol, "invalid request line '" + req.method + " " + req.target + "'");
  const auto verb = http::string_to_verb(req.method);
  if (verb == http::verb::trace && !req.body.empty())  // Beast refuses to frame it
    return failure(error_kind::protocol, "a TRACE request cannot carry a body");
  if (verb == http::verb::unknown)
    msg.method_string(req.method);
  else
    msg.method(verb);
  msg.target(req.target);
  msg.version(11);
  for (const auto& h : req.headers) {
    if (!is_valid_header(h.name, h.value)) return failure(error_kind::protocol, "invalid request header '" + h.name + "'");
    msg.insert(h.name, h.value);
  }
  // Framing is ours to decide: a caller's Content-Length or Transfer-Encoding could desync it.
  msg.erase(http::field::content_length);
  msg.erase(http::field::transfer_encoding);
  msg.erase(http::field::connection);
  if (msg.find(http::field::host) == msg.end()) msg.set(http::field::host, where.host_header);
  msg.body() = req.body;
  msg.keep_alive(true);
  msg.prepare_payload();
  return msg;
}

}  // namespace

std::string_view to_string(error_kind kind) {
  switch (kind) {
    case error_kind::timeout: return "timeout";
    case error_kind::connect_failed: return "connect_failed";
    case error_kind::tls_failed: return "tls_failed";
    case error_kind::reset: return "reset";
    case error_kind::protocol: return "protocol";
    case error_kind::too_large: return "too_large";
  }
  return "unknown";
}

void throw_exception_from_error(const net_error& e, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(std::string(to_string(e.kind)) + ": " + e.message), loc);
}

// The pool and everything a request needs. Shared by the client handle and in-flight requests.
struct client_core {
  asio::any_io_executor executor;
  origin where;
  client_options options;
  std::vector<connection_ptr> idle;  // most recently used at the back
  std::size_t open = 0;              // idle + busy + connecting
  std::deque<asio::steady_timer*> waiters;

  // A connection taken from the pool; gives it back (or closes it) when destroyed.
  struct lease {
    client_core* core = nullptr;
    connection_ptr conn;
    bool reused = false;
    bool reusable = false;
    lease(client_core* c, connection_ptr p, bool r) : core(c), conn(std::move(p)), reused(r) {}
    lease(lease&& o) noexcept = default;
    lease& operator=(lease&&) = delete;
    ~lease() {
      if (conn) core->release(std::move(conn), reusable);
    }
  };

  void release(connection_ptr c, bool reusable) {
    if (reusable) {
      c->lowest().expires_never();
      c->idle_since = steady::now();
      idle.push_back(std::move(c));
    } else {
      --open;  // destroying c closes the socket
    }
    wake_one();
  }

  // Wakes one request waiting for a connection slot. A waiter whose timer already fired cannot
  // be cancelled, so move on to the next one rather than lose the wake-up.
  void wake_one() {
    while (!waiters.empty()) {
      auto* t = waiters.front();
      waiters.pop_front();
      if (t->cancel() > 0) return;
    }
  }

  void drop_stale_idle() {
    const auto cutoff = steady::now() - options.idle_timeout;
    auto fresh = std::find_if(idle.begin(), idle.end(), [&](const auto& c) { return c->idle_since >= cutoff; });
    open -= static_cast<std::size_t>(fresh - idle.begin());
    idle.erase(idle.begin(), fresh);
  }

  std::string authority() const { return where.host + ":" + where.port; }

  asio::awaitable<net_result<tcp::resolver::results_type>> resolve(steady::time_point deadline) {
    // The resolver has no per-operation timeout; a watchdog cancels it at the deadline. The
    // watchdog owns the resolver so a late firing never touches a destroyed object.
    auto resolver = std::make_shared<tcp::resolver>(executor);
    asio::steady_timer watchdog(executor, deadline);
    watchdog.async_wait([resolver](error_code ec) {
      if (!ec) resolver->cancel();
    });
    auto [ec, results] = co_await resolver->async_resolve(where.host, where.port, use_tuple);
    watchdog.cancel();
    if (ec == asio::error::operation_aborted) co_return failure(error_kind::timeout, "resolve " + where.host + ": timed out");
    if (ec) co_return failure(error_kind::connect_failed, "resolve " + where.host + ": " + ec.message());
    co_return results;
  }

  asio::awaitable<std::optional<net_error>> handshake(beast::ssl_stream<beast::tcp_stream>& s) {
    // SNI carries host names only (RFC 6066); IP literals are verified against IP SANs.
    if (!is_ip_literal(where.host) && SSL_set_tlsext_host_name(s.native_handle(), where.host.c_str()) != 1)
      co_return failure(error_kind::tls_failed, "cannot set SNI host name " + where.host);
    s.set_verify_callback(ssl::host_name_verification(where.host));
    auto [ec] = co_await s.async_handshake(ssl::stream_base::client, use_tuple);
    if (!ec) co_return std::nullopt;
    if (ec == beast::error::timeout) co_return failure(error_kind::timeout, "TLS handshake with " + authority() + ": timed out");
    std::string detail = "TLS handshake with " + authority() + ": " + ec.message();
    if (const long v = SSL_get_verify_result(s.native_handle()); v != X509_V_OK)
      detail += std::string(" (") + X509_verify_cert_error_string(v) + ")";
    co_return failure(error_kind::tls_failed, std::move(detail));
  }

  // The resolved endpoints the address filter allows, or why none is left.
  net_result<std::vector<tcp::endpoint>> allowed(const tcp::resolver::results_type& found) const {
    std::vector<tcp::endpoint> out;
    std::string refused;
    for (const auto& entry : found) {
      const auto address = entry.endpoint().address();
      if (options.allow_address) {
        if (auto why = options.allow_address(address)) {
          if (refused.empty()) refused = address.to_string() + " (" + *why + ")";
          continue;
        }
      }
      out.push_back(entry.endpoint());
    }
    if (out.empty())
      return failure(error_kind::connect_failed, "connect " + authority() + ": address " +
                                                     (refused.empty() ? std::string("none") : refused) + " refused");
    return out;
  }

  asio::awaitable<net_result<connection_ptr>> connect(steady::time_point deadline) {
    auto found = co_await resolve(deadline);
    if (!found) co_return found.error();
    auto endpoints = allowed(*found);
    if (!endpoints) co_return endpoints.error();
    beast::tcp_stream stream(executor);
    stream.expires_at(deadline);
    auto [ec, endpoint] = co_await stream.async_connect(*endpoints, use_tuple);
    if (ec == beast::error::timeout) co_return failure(error_kind::timeout, "connect " + authority() + ": timed out");
    if (ec) co_return failure(error_kind::connect_failed, "connect " + authority() + ": " + ec.message());
    stream.socket().set_option(tcp::no_delay(true), ec);
    auto c = std::make_unique<connection>();
    if (!where.tls) {
      c->plain.emplace(std::move(stream));
      co_return c;
    }
    c->secure.emplace(std::move(stream), *options.tls);
    auto err = co_await handshake(*c->secure);  // not in the if (proto-docs/coding-rules.md)
    if (err) co_return std::move(*err);
    co_return c;
  }

  // A pooled idle connection (unless fresh_only), a new one when under the cap, or a wait for
  // either until the deadline.
  asio::awaitable<net_result<lease>> acquire(steady::time_point deadline, bool fresh_only) {
    for (;;) {
      drop_stale_idle();
      if (!fresh_only && !idle.empty()) {
        lease l{this, std::move(idle.back()), true};
        idle.pop_back();
        co_return l;
      }
      if (fresh_only && open >= options.max_connections && !idle.empty()) {
        idle.erase(idle.begin());  // make room for the fresh connection
        --open;
      }
      if (open < options.max_connections) co_return co_await open_new(deadline);
      if (steady::now() >= deadline)
        co_return failure(error_kind::timeout, "no free connection to " + authority() + " before the deadline");
      co_await wait_for_slot(deadline);
    }
  }

  asio::awaitable<net_result<lease>> open_new(steady::time_point deadline) {
    ++open;
    auto c = co_await connect(deadline);
    if (!c) {
      --open;
      wake_one();
      co_return c.error();
    }
    co_return lease{this, std::move(*c), false};
  }

  asio::awaitable<void> wait_for_slot(steady::time_point deadline) {
    asio::steady_timer timer(executor, deadline);
    waiters.push_back(&timer);
    struct unlist {
      std::deque<asio::steady_timer*>& waiters;
      asio::steady_timer* timer;
      ~unlist() { std::erase(waiters, timer); }
    } guard{waiters, &timer};
    co_await timer.async_wait(use_tuple);
  }

  // One request and its answer on `stream`. Compiled once for TCP and TLS (byte_stream.hpp).
  asio::awaitable<attempt> exchange(detail::byte_stream& stream, beast::flat_buffer& buffer,
                                    const std::string& wire, bool head, bool reused) {
    auto [wec, written] = co_await stream.write_all(asio::buffer(wire));
    if (wec) {
      const auto kind = wec == beast::error::timeout ? error_kind::timeout : error_kind::reset;
      co_return attempt{failure(kind, "write to " + authority() + ": " + wec.message()), reused && is_closed(wec)};
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.body_limit);
    parser.skip(head);
    const auto rec = co_await detail::read_http(stream, buffer, parser, false);
    if (rec) {
      const bool nothing_arrived = !parser.got_some() && buffer.size() == 0;
      co_return attempt{failure(classify_read(rec), "read from " + authority() + ": " + rec.message()),
                        reused && nothing_arrived && is_closed(rec)};
    }
    const bool keep = parser.keep_alive();
    co_return attempt{to_response(parser.get()), false, keep};
  }

  asio::awaitable<attempt> attempt_once(const std::string& wire, bool head, steady::time_point deadline,
                                        bool fresh_only) {
    auto got = co_await acquire(deadline, fresh_only);
    if (!got) co_return attempt{got.error()};
    lease& l = *got;
    l.conn->lowest().expires_at(deadline);
    auto& c = *l.conn;
    std::optional<detail::stream_bytes<beast::tcp_stream>> plain;
    std::optional<detail::stream_bytes<beast::ssl_stream<beast::tcp_stream>>> secure;
    detail::byte_stream* bytes = nullptr;
    if (c.secure)
      bytes = &secure.emplace(*c.secure);
    else
      bytes = &plain.emplace(*c.plain);
    auto a = co_await exchange(*bytes, c.buffer, wire, head, l.reused);
    l.reusable = a.reusable;
    co_return a;
  }

  static asio::awaitable<net_result<response>> send(std::shared_ptr<client_core> self, request req) {
    const auto start = steady::now();
    const auto deadline = start + self->options.timeout;
    auto msg = build_message(req, self->where);
    if (!msg) co_return msg.error();
    const auto wire = detail::to_wire(*msg);
    const bool head = msg->method() == http::verb::head;
    auto a = co_await self->attempt_once(wire, head, deadline, false);
    if (a.retry_fresh) a = co_await self->attempt_once(wire, head, deadline, true);
    if (a.outcome) a.outcome->latency = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
    co_return std::move(a.outcome);
  }
};

http_client::http_client(std::shared_ptr<client_core> core) : core_(std::move(core)) {}

boost::system::result<http_client, setup_error> http_client::create(asio::any_io_executor executor,
                                                                    std::string_view origin_url,
                                                                    client_options options) {
  auto where = parse_origin(origin_url);
  if (!where) return setup_error{where.error()};
  if (where->tls && !options.tls) return setup_error{"origin '" + std::string(origin_url) + "' is https but no TLS context was given"};
  if (options.max_connections == 0) return setup_error{"max_connections must be at least 1"};
  auto core = std::make_shared<client_core>();
  core->executor = std::move(executor);
  core->where = std::move(*where);
  core->options = std::move(options);
  return http_client{std::move(core)};
}

asio::awaitable<net_result<response>> http_client::send(request req) {
  return client_core::send(core_, std::move(req));
}

std::size_t http_client::open_connections() const { return core_->open; }

}  // namespace cashier::net
