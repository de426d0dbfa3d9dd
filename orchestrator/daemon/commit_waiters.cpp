// The driver's waiters (see commit_waiters.hpp).
#include "orchestrator/daemon/commit_waiters.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cashier::daemon {
namespace asio = boost::asio;

signal_timer::signal_timer(asio::any_io_executor ex) : timer_(ex) {
  timer_.expires_at(asio::steady_timer::time_point::max());
}

asio::awaitable<void> signal_timer::wait() {
  boost::system::error_code ec;
  co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

std::shared_ptr<commit_waiters::waiter> commit_waiters::add(engine::ticket t, asio::any_io_executor ex) {
  return by_ticket_.emplace(t, std::make_shared<waiter>(ex)).first->second;
}

asio::awaitable<engine::output> commit_waiters::wait(std::shared_ptr<waiter> w) {
  co_await w->signal.wait();
  if (w->error) std::rethrow_exception(w->error);
  co_return std::move(*w->out);
}

void commit_waiters::resolve(engine::ticket t, engine::output* out, std::exception_ptr error) {
  const auto it = t == 0 ? by_ticket_.end() : by_ticket_.find(t);
  if (it == by_ticket_.end()) return;
  if (out) it->second->out = std::move(*out);
  it->second->error = error;
  it->second->signal.fire();
  by_ticket_.erase(it);
}

asio::awaitable<void> commit_waiters::wait_for_change(std::int64_t id, std::chrono::milliseconds timeout) {
  auto s = std::make_shared<signal_timer>(co_await asio::this_coro::executor);
  s->expires_after(timeout);
  watchers_[id].push_back(s);
  co_await s->wait();
  // Drop this watcher if the timeout (not a commit) woke it.
  if (auto it = watchers_.find(id); it != watchers_.end()) {
    std::erase(it->second, s);
    if (it->second.empty()) watchers_.erase(it);
  }
}

void commit_waiters::wake(std::int64_t id) {
  const auto it = watchers_.find(id);
  if (it == watchers_.end()) return;
  for (auto& s : it->second) s->fire();
  watchers_.erase(it);
}

}  // namespace cashier::daemon
