// The store thread (orchestrator/daemon/store_thread.hpp): jobs run on a thread of their own,
// one at a time and in order, against a real SQLite store; results and exceptions come back to
// the awaiting coroutine on the reactor, and the reactor counts a job out as work.
#include <doctest/doctest.h>

#include <atomic>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "orchestrator/daemon/store_thread.hpp"
#include "state/store/sqlite_store.hpp"
#include "tests/state/store/store_fixture.hpp"

namespace cashier::daemon {
namespace {

namespace asio = boost::asio;

TEST_CASE("store thread: a job runs off the reactor and its result comes back on the reactor") {
  store::test::temp_dir dir;
  auto store = store::open_sqlite_store(dir.file("cashier.db"));
  asio::io_context io{1};
  store_thread st{*store};
  const auto reactor = std::this_thread::get_id();
  std::optional<std::thread::id> job_thread;
  std::optional<std::thread::id> resumed_on;
  std::optional<std::string> value;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto write = [&](store::payment_store& s) {
      job_thread = std::this_thread::get_id();
      CHECK(st.on_this_thread());
      s.set_meta("k", "v");
    };
    co_await st.call(std::move(write));
    auto read = [](store::payment_store& s) { return s.meta_or_set("k", "other"); };
    value = co_await st.call(std::move(read));
    resumed_on = std::this_thread::get_id();
  }, asio::detached);
  io.run();  // returns only after both jobs came back: a job out counts as the reactor's work
  REQUIRE(job_thread);
  CHECK(*job_thread != reactor);
  CHECK(resumed_on == reactor);
  CHECK(value == "v");
  CHECK_FALSE(st.on_this_thread());
}

TEST_CASE("store thread: what a job throws is rethrown in the awaiting coroutine") {
  store::test::temp_dir dir;
  auto store = store::open_sqlite_store(dir.file("cashier.db"));
  asio::io_context io{1};
  store_thread st{*store};
  std::string caught;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    try {
      auto fail = [](store::payment_store&) -> int { throw store::store_error(store::store_failure::io, "disk on fire"); };
      co_await st.call(std::move(fail));
    } catch (const store::store_error& e) {
      caught = e.what();
    }
  }, asio::detached);
  io.run();
  CHECK(caught.find("disk on fire") != std::string::npos);
}

TEST_CASE("store thread: jobs run one at a time, in the order they were handed over") {
  store::test::temp_dir dir;
  auto store = store::open_sqlite_store(dir.file("cashier.db"));
  asio::io_context io{1};
  std::vector<int> order;
  std::vector<int> completed;
  std::atomic<int> running{0};
  bool overlapped = false;
  {
    store_thread st{*store};
    for (int i = 0; i < 50; ++i)
      st.run(io.get_executor(),
             [&, i](store::payment_store& s) {
               if (running.fetch_add(1) != 0) overlapped = true;
               s.set_meta("n", std::to_string(i));
               order.push_back(i);
               running.fetch_sub(1);
               return i;
             },
             [&](std::exception_ptr e, std::optional<int> r) {
               CHECK_FALSE(e);
               completed.push_back(*r);
             });
    io.run();
  }
  CHECK_FALSE(overlapped);
  REQUIRE(order.size() == 50);
  for (int i = 0; i < 50; ++i) CHECK(order[static_cast<std::size_t>(i)] == i);
  CHECK(completed == order);
  CHECK(store->meta_or_set("n", "") == "49");
}

}  // namespace
}  // namespace cashier::daemon
