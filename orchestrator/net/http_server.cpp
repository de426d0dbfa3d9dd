// The server's listener and lifecycle: address parsing and binding, the accept loop with the
// connection cap, one coroutine per connection (TLS handshake, then the request loop from
// server_session.hpp), the session registry that stop() uses to close idle connections, and
// the graceful drain. Request parsing and answering live in server_session.hpp.
#include "orchestrator/net/http_server.hpp"

#include "orchestrator/net/server_session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <charconv>
#include <iostream>
#include <list>
#include <unordered_map>

namespace cashier::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using boost::system::error_code;
using detail::use_tuple;

namespace {

struct listen_address {
  listen_address(std::string h, std::uint16_t p) : host(std::move(h)), port(p) {}
  std::string host;
  std::uint16_t port;
};

boost::system::result<listen_address, std::string> parse_host_port(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::string("expected host:port");
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return std::string("unbalanced brackets around the host");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::string("an IPv6 host must be written in brackets, e.g. [::1]:8443");
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535)
    return "invalid port '" + std::string(port) + "'";
  return listen_address{std::string(host), static_cast<std::uint16_t>(value)};
}

bool is_loopback(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
  return a.is_loopback();
}

peer_info peer_of(const tcp::socket& s) {
  error_code ec;
  const auto ep = s.remote_endpoint(ec);
  if (ec) return {};
  return {ep.address().to_string(), ep.port(), is_loopback(ep.address())};
}

std::string describe(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}

void log_to_stderr(std::string_view line) { std::cerr << "cashier::net: " << line << '\n'; }

}  // namespace

struct server_core : std::enable_shared_from_this<server_core> {
  // A live session: stop() closes its socket when it is idle, abort() always.
  struct session_entry {
    detail::session_context* ctx;
    beast::tcp_stream* lowest;
  };

  // Keeps a session listed while its coroutine runs.
  struct registration {
    std::list<session_entry>& list;
    std::list<session_entry>::iterator it;
    registration(server_core& core, detail::session_context& ctx, beast::tcp_stream& lowest)
        : list(core.sessions), it(list.insert(list.end(), session_entry{&ctx, &lowest})) {}
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;
    ~registration() { list.erase(it); }
  };

  asio::any_io_executor executor;
  tcp::acceptor acceptor;
  asio::steady_timer drained;  // cancelled when the last session ends during stop()
  request_handler handler;
  server_options options;
  std::uint16_t port = 0;
  bool stopping = false;
  server_stats counters;
  std::list<session_entry> sessions;
  std::unordered_map<std::string, std::size_t> per_address;  // peer IP -> open connections

  explicit server_core(asio::any_io_executor ex) : executor(ex), acceptor(ex), drained(ex) {}

  void close_sessions(bool idle_only) {
    for (auto& s : sessions)
      if (!idle_only || s.ctx->idle) s.lowest->close();
  }

  void abort() {
    stopping = true;
    error_code ec;
    acceptor.close(ec);
    close_sessions(false);
  }

  static asio::awaitable<void> accept_loop(std::shared_ptr<server_core> self) {
    while (!self->stopping) {
      auto [ec, socket] = co_await self->acceptor.async_accept(use_tuple);
      if (self->stopping || !self->acceptor.is_open()) co_return;
      if (!ec) {
        self->admit(std::move(socket));
        continue;
      }
      // Out of descriptors and the like: log and back off instead of spinning on accept.
      self->options.log("accept failed: " + ec.message());
      asio::steady_timer pause(self->executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(use_tuple);
    }
  }

  // Over either cap the connection is closed at once: one client holding idle sockets fills
  // its own share (max_connections_per_address), not everyone's.
  void admit(tcp::socket socket) {
    ++counters.accepted;
    const auto peer = peer_of(socket);
    auto& mine = per_address[peer.address];
    if (counters.active >= options.limits.max_connections || mine >= options.limits.max_connections_per_address) {
      if (mine == 0) per_address.erase(peer.address);
      ++counters.rejected;
      error_code ec;
      socket.close(ec);
      return;
    }
    ++mine;
    ++counters.active;
    asio::co_spawn(executor, run_connection(shared_from_this(), std::move(socket), peer),
                   [self = shared_from_this(), address = peer.address](std::exception_ptr e) {
                     self->on_session_end(e, address);
                   });
  }

  // The completion of every session coroutine: one bad connection is logged, never fatal.
  void on_session_end(const std::exception_ptr& e, const std::string& address) {
    if (auto it = per_address.find(address); it != per_address.end() && --it->second == 0) per_address.erase(it);
    --counters.active;
    if (e) options.log("session ended by exception: " + describe(e));
    if (stopping && counters.active == 0) drained.cancel();
  }

  static asio::awaitable<void> run_connection(std::shared_ptr<server_core> self, tcp::socket socket, peer_info peer) {
    error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    detail::session_context ctx{self->options.limits, self->handler, self->options.log, self->stopping,
                                std::move(peer)};
    beast::tcp_stream tcp_stream(std::move(socket));
    if (!self->options.tls) {
      registration listed(*self, ctx, tcp_stream);
      co_await detail::serve(tcp_stream, ctx);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> tls_stream(std::move(tcp_stream), *self->options.tls);
    registration listed(*self, ctx, beast::get_lowest_layer(tls_stream));
    // The first request's deadline runs from here and covers the handshake (see serve_connection).
    ctx.first_head_deadline = std::chrono::steady_clock::now() + self->options.limits.first_request_timeout;
    beast::get_lowest_layer(tls_stream).expires_at(*ctx.first_head_deadline);
    auto [hec] = co_await tls_stream.async_handshake(ssl::stream_base::server, use_tuple);
    if (hec) co_return;  // scanners and plain-HTTP clients end here; not worth a log line
    co_await detail::serve(tls_stream, ctx);
  }
};

http_server::http_server(std::shared_ptr<server_core> core) : core_(std::move(core)) {}

http_server::http_server(http_server&& other) noexcept = default;

http_server& http_server::operator=(http_server&& other) noexcept {
  if (core_ && core_ != other.core_) core_->abort();
  core_ = std::move(other.core_);
  return *this;
}

http_server::~http_server() {
  if (core_) core_->abort();
}

boost::system::result<http_server, setup_error> http_server::listen(asio::any_io_executor executor,
                                                                     std::string_view host_port,
                                                                     request_handler handler,
                                                                     server_options options) {
  const auto fail = [&](const std::string& reason) {
    return setup_error{"cannot listen on " + std::string(host_port) + ": " + reason};
  };
  auto where = parse_host_port(host_port);
  if (!where) return fail(where.error());
  if (!handler) return fail("no request handler");
  error_code ec;
  tcp::resolver resolver(executor);  // start-up only, so a blocking lookup is fine
  const auto found = resolver.resolve(where->host, std::to_string(where->port), tcp::resolver::passive, ec);
  if (ec || found.empty()) return fail(ec ? ec.message() : "no address for the host");
  const tcp::endpoint endpoint = found.begin()->endpoint();
  auto core = std::make_shared<server_core>(executor);
  core->acceptor.open(endpoint.protocol(), ec);
  if (!ec) core->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) core->acceptor.bind(endpoint, ec);
  if (!ec) core->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) core->port = core->acceptor.local_endpoint(ec).port();
  if (ec) return fail(ec.message());
  core->handler = std::move(handler);
  core->options = std::move(options);
  if (!core->options.log) core->options.log = log_to_stderr;
  asio::co_spawn(executor, server_core::accept_loop(core), [core](std::exception_ptr e) {
    if (e) core->options.log("accept loop ended by exception: " + describe(e));
  });
  return http_server{std::move(core)};
}

std::uint16_t http_server::port() const { return core_->port; }

server_stats http_server::stats() const { return core_->counters; }

asio::awaitable<bool> http_server::stop(std::chrono::milliseconds drain_timeout) {
  auto self = core_;
  if (!self) co_return true;
  if (!self->stopping) {
    self->stopping = true;
    error_code ec;
    self->acceptor.close(ec);
    self->close_sessions(true);
  }
  if (self->counters.active > 0) {
    self->drained.expires_after(drain_timeout);
    co_await self->drained.async_wait(use_tuple);
  }
  if (self->counters.active == 0) co_return true;
  self->close_sessions(false);
  co_return false;
}

}  // namespace cashier::net
