// The inbox wake-up on PostgreSQL (proto-docs/cluster.md "The inbox"): a connection of its own
// that LISTENs on cashierd_inbox (the store NOTIFYs it after every inbox insert) and calls
// `wake` on the reactor when notifications arrive, several coalesced into one call. It never
// blocks the reactor: libpq runs non-blocking (PQconnectStart/PQconnectPoll, PQsendQuery) and
// the socket is waited on with Asio (a posix::stream_descriptor over PQsocket), then
// PQconsumeInput/PQnotifies. A NOTIFY is only a wake-up: one lost while the connection is down
// costs at most one claim tick, because the owner polls on every tick anyway; after every
// (re)connection `wake` is called once, for rows posted meanwhile. A lost connection is retried
// with a capped backoff. SQLite has no NOTIFY: there the claim tick's poll is the only one.
// libpq resolves a host NAME with a blocking getaddrinfo inside PQconnectPoll: give the
// conninfo a unix socket directory, a `hostaddr` or an IP literal so that nothing blocks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "orchestrator/daemon/metrics.hpp"

namespace cashier::daemon {

/// The channel the store NOTIFYs after an inbox insert (state/store/pg_cluster.cpp).
inline constexpr const char* inbox_channel = "cashierd_inbox";

/// What the listener has done (metrics, tests).
struct inbox_listener_stats {
  std::uint64_t connects = 0;       ///< LISTENs that succeeded
  std::uint64_t failures = 0;       ///< connections lost or refused
  std::uint64_t notifications = 0;  ///< notifications received
  std::uint64_t wakes = 0;          ///< calls of `wake`
};

/// LISTENs for inbox posts; reactor thread only.
class inbox_listener {
 public:
  /// Longest wait between two connection attempts.
  static constexpr auto max_backoff = std::chrono::seconds(30);
  /// How long a connection attempt (connect, authenticate, LISTEN) may take.
  static constexpr auto connect_timeout = std::chrono::seconds(10);

  /// A listener on `conninfo` (secrets stay in it: never logged), calling `wake` on `io`;
  /// its counters go to `stats` (cashierd_inbox_listening and the like) when given.
  inbox_listener(boost::asio::io_context& io, std::string conninfo, std::function<void()> wake,
                 metrics* stats = nullptr);
  /// Stops (as stop()).
  ~inbox_listener();
  inbox_listener(const inbox_listener&) = delete;
  inbox_listener& operator=(const inbox_listener&) = delete;

  /// Connects and listens, reconnecting after failures, until stop().
  void start();
  /// Closes the connection; `wake` is not called any more.
  void stop();
  /// True while LISTEN is in force on a live connection.
  bool listening() const;
  /// The counters.
  const inbox_listener_stats& stats() const;

  struct state;

 private:
  std::shared_ptr<state> st_;
};

}  // namespace cashier::daemon
