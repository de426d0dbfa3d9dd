// Who waits for what on the reactor thread, for the driver: a caller for the group commit of the
// input it submitted (by the scheduler's ticket; the output, or the store_error, is handed to
// it), and merchants for a payment to change (the create wait, the hosted page's long poll).
// Asio timers serve as one-shot signals: armed to never, cancelled to wake. No scheduling rule
// lives here (orchestrator/engine/scheduler.hpp decides who is woken when).
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "orchestrator/engine/engine.hpp"
#include "orchestrator/engine/scheduler.hpp"

namespace cashier::daemon {

/// A one-shot signal: a timer that never expires by itself (unless given a timeout) and is
/// cancelled to wake whoever waits on it.
class signal_timer {
 public:
  explicit signal_timer(boost::asio::any_io_executor ex);
  /// Wakes the waiter after `timeout` if nothing fires before.
  void expires_after(std::chrono::milliseconds timeout) { timer_.expires_after(timeout); }
  /// Resumes when fired or expired.
  boost::asio::awaitable<void> wait();
  /// Wakes the waiter; a fire() before wait() starts is lost (test the condition first).
  void fire() { timer_.cancel(); }

 private:
  boost::asio::steady_timer timer_;
};

/// The waiters of the driver; reactor thread only.
class commit_waiters {
 public:
  /// One caller waiting for its input's commit.
  struct waiter {
    explicit waiter(boost::asio::any_io_executor ex) : signal(ex) {}
    signal_timer signal;                ///< fired by resolve()
    std::optional<engine::output> out;  ///< the committed output
    std::exception_ptr error;           ///< or the store_error
  };

  /// Registers the caller of ticket `t` (before the input can commit); await it with wait().
  std::shared_ptr<waiter> add(engine::ticket t, boost::asio::any_io_executor ex);
  /// Resumes when `w` is resolved: its output, or its store_error rethrown.
  static boost::asio::awaitable<engine::output> wait(std::shared_ptr<waiter> w);
  /// Ticket `t` committed with `out`, or failed with `error`; nothing when nobody waits for it.
  void resolve(engine::ticket t, engine::output* out, std::exception_ptr error);

  /// Waits until payment `id` is committed with a change (wake(id)), or `timeout` passes.
  boost::asio::awaitable<void> wait_for_change(std::int64_t id, std::chrono::milliseconds timeout);
  /// Payment `id` was committed with a change.
  void wake(std::int64_t id);

 private:
  std::unordered_map<engine::ticket, std::shared_ptr<waiter>> by_ticket_;
  std::unordered_map<std::int64_t, std::vector<std::shared_ptr<signal_timer>>> watchers_;
};

}  // namespace cashier::daemon
