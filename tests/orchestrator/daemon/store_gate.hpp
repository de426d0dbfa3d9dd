// A gate on the store thread (orchestrator/daemon/store_thread.hpp) for tests that show the
// reactor running on while the store is busy: store_gate hands the thread a job that waits until
// the gate opens, so every job handed over after it waits too, in order. The gate opens when a
// test calls open() or when it goes out of scope (a failed REQUIRE must not leave the store
// thread waiting forever: its destructor joins it).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <variant>

#include <boost/asio/any_io_executor.hpp>

#include "orchestrator/daemon/store_thread.hpp"

namespace cashier::daemon::test {

/// Holds the store thread from construction until open().
class store_gate {
 public:
  /// Hands `db` the waiting job; its completion goes to `reactor` (counted as its work until then).
  store_gate(store_thread& db, boost::asio::any_io_executor reactor) {
    db.run(reactor, [s = state_](store::payment_store&) {
      std::unique_lock lock(s->m);
      s->entered = true;
      s->cv.notify_all();
      s->cv.wait(lock, [&] { return s->open; });
    }, [](std::exception_ptr, std::optional<std::monostate>) {});
    // Wait until the job holds the thread, so that nothing handed over later can run first.
    std::unique_lock lock(state_->m);
    state_->cv.wait(lock, [&] { return state_->entered; });
  }
  ~store_gate() { open(); }
  store_gate(const store_gate&) = delete;
  store_gate& operator=(const store_gate&) = delete;

  /// Lets the store thread go on.
  void open() {
    std::lock_guard lock(state_->m);
    state_->open = true;
    state_->cv.notify_all();
  }

 private:
  struct state {
    std::mutex m;
    std::condition_variable cv;
    bool entered = false;
    bool open = false;
  };
  std::shared_ptr<state> state_ = std::make_shared<state>();
};

}  // namespace cashier::daemon::test
