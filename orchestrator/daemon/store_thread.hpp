// The store thread (proto-docs/threads-and-owners.md, proto-docs/cluster.md "Commit latency"):
// the one thread that touches the daemon's read-write store connection. The reactor never
// calls the store itself; it hands a job (a function of the store) to this thread and goes on
// deciding, and the job's result comes back to the reactor as a posted completion. A commit
// through libpq is a round trip to another process plus the server's fsync (milliseconds; a
// failing-over server holds it for seconds), an SQLite commit an fsync: neither may hold the
// thread that acks notifies, answers merchants and fires timers.
//
// Jobs run one at a time in the order they were handed over, so a job sees every earlier job's
// writes. A job must touch nothing the reactor owns: it gets the store and what it captured by
// value (or by reference to something only jobs use, like the engines). The result or the
// exception the job threw reaches the completion on the caller's executor.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "state/store/store.hpp"

namespace cashier::daemon {

/// The store's own thread: runs jobs on the store, one at a time, and posts their results back.
class store_thread {
 public:
  /// Starts the thread (named `cashierd-store`) for `store`, which must outlive this object.
  explicit store_thread(store::payment_store& store);
  /// Runs the jobs already handed over, then joins the thread. Their completions are posted to
  /// their executors (which must still exist; the daemon stops the reactor after this).
  ~store_thread();
  store_thread(const store_thread&) = delete;
  store_thread& operator=(const store_thread&) = delete;

  /// What job `F` returns.
  template <class F>
  using result_of = std::invoke_result_t<F&, store::payment_store&>;

  /// Runs `job(store)` on the store thread, then posts `done(error, result)` to `back`: `error`
  /// is the exception the job threw (then `result` is empty), `result` an optional of what it
  /// returned (std::optional<std::monostate> for a void job). The reactor counts the job as
  /// work until `done` has run, so it does not stop while a job is out.
  template <class F, class Done>
  void run(boost::asio::any_io_executor back, F job, Done done) {
    auto tracked = boost::asio::prefer(back, boost::asio::execution::outstanding_work.tracked);
    boost::asio::post(pool_, [this, job = std::move(job), done = std::move(done), tracked]() mutable {
      std::exception_ptr error;
      std::optional<stored_t<F>> result;
      try {
        if constexpr (std::is_void_v<result_of<F>>) {
          job(store_);
          result.emplace();
        } else {
          result.emplace(job(store_));
        }
      } catch (...) {
        error = std::current_exception();
      }
      boost::asio::post(tracked, [done = std::move(done), error, result = std::move(result)]() mutable {
        done(error, std::move(result));
      });
    });
  }

  /// Runs `job(store)` on the store thread and resumes the awaiting coroutine on its own
  /// executor with the job's result; rethrows what the job threw (e.g. store::store_error).
  template <class F>
  boost::asio::awaitable<result_of<F>> call(F job) {
    auto back = co_await boost::asio::this_coro::executor;
    // Named before the co_await (proto-docs/coding-rules.md: GCC 12 and lambdas under co_await).
    auto initiate = [this, back](auto handler, F j) {
      run(back, std::move(j), [handler = std::move(handler)](std::exception_ptr e, std::optional<stored_t<F>> r) mutable {
        std::move(handler)(e, std::move(r));
      });
    };
    auto op = boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                          void(std::exception_ptr, std::optional<stored_t<F>>)>(
        std::move(initiate), boost::asio::use_awaitable, std::move(job));
    auto result = co_await std::move(op);
    if constexpr (!std::is_void_v<result_of<F>>) co_return std::move(*result);
  }

  /// True on the store thread (for assertions).
  bool on_this_thread() const { return pool_.get_executor().running_in_this_thread(); }

 private:
  template <class F>
  using stored_t = std::conditional_t<std::is_void_v<result_of<F>>, std::monostate, result_of<F>>;

  store::payment_store& store_;
  mutable boost::asio::thread_pool pool_{1};
};

}  // namespace cashier::daemon
