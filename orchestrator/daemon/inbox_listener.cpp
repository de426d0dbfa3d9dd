// The inbox listener (see inbox_listener.hpp). One coroutine per listener runs the connection's
// life: connect without blocking, LISTEN, wait for the socket, drain notifications, and on any
// failure close and wait before the next attempt. The socket is handed to Asio only for waiting
// (released, never closed, by Asio: libpq owns it and closes it in PQfinish).
#include "orchestrator/daemon/inbox_listener.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <optional>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "orchestrator/daemon/log.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;
using wait_type = asio::posix::stream_descriptor::wait_type;

struct inbox_listener::state {
  state(asio::io_context& io, std::string conninfo, std::function<void()> wake, metrics* out)
      : io(io), conninfo(std::move(conninfo)), wake(std::move(wake)), out(out), backoff_timer(io), deadline(io) {}
  // The reactor may stop (a drain ends with io.stop()) before the coroutine resumes to close the
  // connection; whoever drops the last reference closes it then.
  ~state() {
    if (socket) socket->release();  // libpq's descriptor: PQfinish closes it
    if (conn != nullptr) PQfinish(conn);
  }
  state(const state&) = delete;
  state& operator=(const state&) = delete;
  asio::io_context& io;
  std::string conninfo;
  std::function<void()> wake;
  metrics* out;  // the counters' /metrics, if any
  inbox_listener_stats stats;
  bool running = false;
  bool stopped = false;
  bool listening = false;
  PGconn* conn = nullptr;
  std::optional<asio::posix::stream_descriptor> socket;  // while waiting on conn's socket
  asio::steady_timer backoff_timer;
  asio::steady_timer deadline;  // bounds a connection attempt

  /// Waits until the connection's socket is ready for `what`; false when cancelled or failed.
  asio::awaitable<bool> wait(wait_type what) {
    const int fd = PQsocket(conn);
    if (fd < 0) co_return false;
    socket.emplace(io, fd);
    boost::system::error_code ec;
    co_await socket->async_wait(what, asio::redirect_error(asio::use_awaitable, ec));
    if (socket) {
      socket->release();  // libpq's descriptor: never closed by Asio
      socket.reset();
    }
    co_return !ec && !stopped;
  }

  void close() {
    if (socket) {
      socket->cancel();
      socket->release();
      socket.reset();
    }
    if (conn != nullptr) PQfinish(conn);
    conn = nullptr;
    listening = false;
  }

  /// Connects and LISTENs without blocking; false (logged) when it failed.
  asio::awaitable<bool> connect() {
    conn = PQconnectStart(conninfo.c_str());
    if (conn == nullptr || PQstatus(conn) == CONNECTION_BAD) co_return false;
    deadline.expires_after(connect_timeout);
    deadline.async_wait([this](boost::system::error_code ec) {
      if (!ec && socket) socket->cancel();  // too slow: the attempt fails
    });
    // PQconnectPoll's protocol: wait for what it asks (writable first), then call it again.
    for (auto status = PGRES_POLLING_WRITING; status != PGRES_POLLING_OK;) {
      if (status == PGRES_POLLING_FAILED) co_return false;
      const auto what = status == PGRES_POLLING_READING ? wait_type::wait_read : wait_type::wait_write;
      const bool ready = co_await wait(what);
      if (!ready) co_return false;
      status = PQconnectPoll(conn);
    }
    if (PQsetnonblocking(conn, 1) != 0) co_return false;
    const std::string listen = std::string("LISTEN ") + inbox_channel;
    if (PQsendQuery(conn, listen.c_str()) != 1) co_return false;
    for (int flushed = PQflush(conn); flushed != 0; flushed = PQflush(conn)) {
      if (flushed < 0) co_return false;
      const bool ready = co_await wait(wait_type::wait_write);
      if (!ready) co_return false;
    }
    bool ok = true;
    for (;;) {
      if (PQconsumeInput(conn) != 1) co_return false;
      if (PQisBusy(conn) != 0) {
        const bool ready = co_await wait(wait_type::wait_read);
        if (!ready) co_return false;
        continue;
      }
      PGresult* r = PQgetResult(conn);
      if (r == nullptr) break;
      ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
    }
    deadline.cancel();
    co_return ok;
  }

  /// Drains the notifications received; true when there was at least one.
  bool drain() {
    bool any = false;
    while (PGnotify* n = PQnotifies(conn)) {
      ++stats.notifications;
      any = true;
      PQfreemem(n);
    }
    return any;
  }

  void call_wake() {
    ++stats.wakes;
    publish();
    wake();
  }

  void publish() {
    if (out == nullptr) return;
    out->set_gauge(metric::inbox_listening, {}, listening ? 1 : 0);
    out->set_counter(metric::inbox_listen_failures, {}, static_cast<double>(stats.failures));
    out->set_counter(metric::inbox_notifications, {}, static_cast<double>(stats.notifications));
  }
};

namespace {

asio::awaitable<void> run(std::shared_ptr<inbox_listener::state> st) {
  auto backoff = std::chrono::milliseconds(100);
  while (!st->stopped) {
    const bool connected = co_await st->connect();
    if (connected) {
      st->listening = true;
      ++st->stats.connects;
      backoff = std::chrono::milliseconds(100);
      log_line(log_level::info, "inbox: listening for posts (NOTIFY cashierd_inbox)");
      st->call_wake();  // rows posted while nobody listened
      while (!st->stopped) {
        const bool ready = co_await st->wait(wait_type::wait_read);
        if (!ready) break;
        if (PQconsumeInput(st->conn) != 1) break;
        if (st->drain()) st->call_wake();
      }
    }
    st->deadline.cancel();
    if (st->stopped) break;
    // The message may name the server but never carries the password (libpq's own text).
    const std::string why = st->conn != nullptr ? PQerrorMessage(st->conn) : "out of memory";
    st->close();
    ++st->stats.failures;
    st->publish();
    log_line(log_level::warn, "inbox: the LISTEN connection failed; polling on claim ticks meanwhile",
             {{"error", why.substr(0, 256)}, {"retryInMs", backoff.count()}});
    st->backoff_timer.expires_after(backoff);
    boost::system::error_code ec;
    co_await st->backoff_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, inbox_listener::max_backoff);
  }
  st->close();
  st->publish();
  st->running = false;
}

}  // namespace

inbox_listener::inbox_listener(asio::io_context& io, std::string conninfo, std::function<void()> wake,
                               metrics* stats)
    : st_(std::make_shared<state>(io, std::move(conninfo), std::move(wake), stats)) {}

inbox_listener::~inbox_listener() { stop(); }

void inbox_listener::start() {
  if (st_->running || st_->stopped) return;
  st_->running = true;
  asio::co_spawn(st_->io, run(st_), asio::detached);
}

void inbox_listener::stop() {
  st_->stopped = true;
  st_->backoff_timer.cancel();
  st_->deadline.cancel();
  if (st_->socket) st_->socket->cancel();  // the coroutine resumes, sees stopped and closes
  if (!st_->running) st_->close();
}

bool inbox_listener::listening() const { return st_->listening; }

const inbox_listener_stats& inbox_listener::stats() const { return st_->stats; }

}  // namespace cashier::daemon
