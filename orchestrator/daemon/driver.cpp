// The driver (see driver.hpp): carries out the scheduler's actions on the reactor thread. No
// scheduling rule lives here; each is in orchestrator/engine/scheduler.cpp.
#include "orchestrator/daemon/driver.hpp"

#include <algorithm>

#include <unordered_map>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "orchestrator/daemon/crash_point.hpp"
#include "orchestrator/daemon/log.hpp"
#include "orchestrator/engine/payment_view.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;
using engine::call_kind;

namespace {
/// Calls held for an ack start by themselves after this long (wall), released or not: an ack
/// takes one write on the network thread, far less; this only bounds a lost release.
constexpr auto hold_limit = std::chrono::seconds(5);

/// A one-shot signal: a timer that never expires by itself and is cancelled to wake.
struct signal_timer {
  explicit signal_timer(asio::any_io_executor ex) : timer(ex) { timer.expires_at(asio::steady_timer::time_point::max()); }
  asio::awaitable<void> wait() {
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  void fire() { timer.cancel(); }
  asio::steady_timer timer;
};

struct waiter {
  explicit waiter(asio::any_io_executor ex) : signal(ex) {}
  signal_timer signal;
  std::optional<engine::output> out;
  std::exception_ptr error;
};

/// The gateway call of `kind`. It lives outside the coroutine on purpose: GCC 12 mishandles the
/// awaitable temporaries of a conditional expression under co_await (proto-docs/coding-rules.md).
asio::awaitable<call_result> start(gateway& gw, call_kind kind, const payment& p) {
  return kind == call_kind::pay ? gw.pay(p) : kind == call_kind::inquiry ? gw.inquiry(p) : gw.cancel(p);
}
}  // namespace

struct driver_core : std::enable_shared_from_this<driver_core> {
  driver_core(asio::io_context& io_, engine::engine& e, const payment_clock& c, gateway& g)
      : io(io_), eng(e), clock(c), gw(g), timer(io_), store_retry(io_) {}

  asio::io_context& io;
  engine::engine& eng;
  const payment_clock& clock;
  gateway& gw;
  engine::scheduler sched;
  asio::steady_timer timer;
  asio::steady_timer store_retry;
  std::unordered_map<engine::ticket, std::shared_ptr<waiter>> waiters;
  // The limit timers of calls held for an ack (submit_and_hold), by ticket.
  std::unordered_map<engine::ticket, std::shared_ptr<asio::steady_timer>> hold_limits;
  engine::ticket next_ticket = 1;
  std::unordered_map<std::int64_t, std::vector<std::shared_ptr<signal_timer>>> watchers;
  std::vector<commit_observer> observers;
  std::function<void(double)> commit_timer;
  std::function<void(call_lane, double)> lateness_observer;
  std::shared_ptr<signal_timer> idle_signal;
  double last_commit_ms = 0;
  // fence_with(): the cluster half of the store and the epochs claimed at start, if fenced.
  store::cluster_store* fence_store = nullptr;
  std::vector<store::shard_epoch> fence_epochs;
  bool fenced_out = false;  // a commit came back not_owner (logged once)

  /// Both clocks, read here and nowhere else.
  engine::instants now() const { return {clock.now(), std::chrono::steady_clock::now()}; }

  /// Carries out every action the scheduler has emitted (and those that emits in turn).
  void run() {
    std::vector<engine::action> acts;
    for (sched.take_actions(acts); !acts.empty(); sched.take_actions(acts))
      for (auto& a : acts) std::visit([this](auto& x) { execute(x); }, a);
    if (sched.draining() && idle_signal && sched.idle()) idle_signal->fire();
  }

  void execute(engine::flush_soon) { asio::post(io, [self = shared_from_this()] { self->flush(); }); }
  void execute(engine::start_call& c) { start_call(c.kind, std::move(c.p)); }
  void execute(engine::cancel_timer) { timer.cancel(); }
  void execute(engine::arm_timer& a) {
    timer.expires_after(a.due ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(a.budget_wait)
                              : clock.wall_wait_until(a.at));
    timer.async_wait([self = shared_from_this(), at = a.at](boost::system::error_code ec) {
      if (ec) return;  // re-armed or cancelled meanwhile
      self->sched.timer_fired(at, self->now());
      self->run();
    });
  }
  void execute(engine::arm_store_retry& a) {
    store_retry.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(a.wait));
    store_retry.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      self->sched.store_retry_due();
      self->run();
    });
  }
  void execute(engine::probe_store) {
    bool ok = true;
    try {
      eng.store().set_meta("store_probe_at", engine::iso8601(clock.now()));
    } catch (const store::store_error& e) {
      log_line(log_level::error, "store probe failed", {{"error", e.what()}});
      ok = false;
    }
    sched.probe_result(ok, now());
  }
  void execute(engine::wake_watchers w) {
    const auto it = watchers.find(w.id);
    if (it == watchers.end()) return;
    for (auto& s : it->second) s->fire();
    watchers.erase(it);
  }
  void execute(engine::deadline_fired f) {
    if (lateness_observer) lateness_observer(f.lane, std::chrono::duration<double>(f.late).count());
  }
  void execute(engine::notice n) {
    switch (n.kind) {
      case engine::notice_kind::call_deferred:
        return log_line(log_level::warn, "Alipay+ call deferred: over maxRequestsPerSecond", {{"paymentId", n.payment_id}});
      case engine::notice_kind::cancel_deferred:
        return log_line(log_level::info, "cancel deferred until the pay answer", {{"paymentId", n.payment_id}});
      case engine::notice_kind::rate_lowered:
        return log_line(log_level::warn, "Alipay+ answered REQUEST_TRAFFIC_EXCEED_LIMIT: outbound rate lowered",
                        {{"ratePerSecond", n.value}});
      case engine::notice_kind::store_failed:
        return log_line(log_level::error, "store cannot commit: creates get 503 until it can");
      case engine::notice_kind::store_recovered:
        return log_line(log_level::info, "store commits again", {{"failures", static_cast<std::uint64_t>(n.value)}});
    }
  }

  /// A posted flush: every batch the scheduler hands out, one engine.apply each.
  void flush() {
    sched.begin_flush(now());
    run();
    while (auto b = sched.next_batch()) commit(*b);
    sched.end_flush(now());
    run();
  }

  void commit(engine::batch& b) {
    std::vector<engine::output> outs;
    const auto started = now();
    try {
      if (fence_store != nullptr) {
        const engine::fence f{*fence_store, fence_epochs};
        outs = eng.apply(b.inputs, started.payment, &f);
      } else {
        outs = eng.apply(b.inputs, started.payment);
      }
    } catch (const store::store_error& e) {
      sched.commit_failed(b);
      run();
      log_line(log_level::error, "commit failed", {{"error", e.what()}, {"inputs", b.inputs.size()}});
      for (const auto t : b.tickets) resolve(t, nullptr, std::current_exception());
      return;
    }
    reach(crash_point::after_commit);
    if (!fenced_out && std::any_of(outs.begin(), outs.end(),
                                   [](const engine::output& o) { return o.result == engine::outcome::not_owner; })) {
      fenced_out = true;
      log_line(log_level::error,
               "another cashierd process took this database over: this one's writes are refused; stop it",
               {{"inputs", b.inputs.size()}});
    }
    const auto ended = now();
    const std::chrono::duration<double> took = ended.wall - started.wall;
    last_commit_ms = took.count() * 1000;
    if (commit_timer) commit_timer(took.count());
    for (std::size_t i = 0; i < outs.size(); ++i)
      for (const auto& o : observers) o(b.inputs[i], outs[i]);
    sched.committed(b, outs, ended);
    run();
    for (std::size_t i = 0; i < outs.size(); ++i) resolve(b.tickets[i], &outs[i], nullptr);
  }

  void resolve(engine::ticket t, engine::output* out, std::exception_ptr error) {
    const auto it = t == 0 ? waiters.end() : waiters.find(t);
    if (it == waiters.end()) return;
    if (out) it->second->out = std::move(*out);
    it->second->error = error;
    it->second->signal.fire();
    waiters.erase(it);
  }

  /// Bounds a hold: the calls held under `t` start after hold_limit if release() never comes.
  void limit_hold(engine::ticket t) {
    auto limit = std::make_shared<asio::steady_timer>(io, hold_limit);
    limit->async_wait([self = shared_from_this(), t](boost::system::error_code ec) {
      if (ec) return;
      log_line(log_level::warn, "calls held for an ack started without its release", {{"hold", t}});
      self->release(t);
    });
    hold_limits.emplace(t, std::move(limit));
  }

  void release(engine::ticket t) {
    if (const auto it = hold_limits.find(t); it != hold_limits.end()) {
      it->second->cancel();
      hold_limits.erase(it);
    }
    sched.ack_written(t, now());
    run();
  }

  void start_call(call_kind kind, payment p) {
    const auto id = p.id;
    asio::co_spawn(
        io,
        [self = shared_from_this(), kind, p = std::move(p)]() -> asio::awaitable<void> {
          call_result r = co_await start(self->gw, kind, p);
          reach(crash_point::call_answered);
          engine::input in;
          in.payment_id = p.id;
          in.ev = std::move(r.ev);
          in.calls.push_back(std::move(r.call));
          self->sched.call_ended(kind, std::move(in), self->now());
          self->run();
        },
        [self = shared_from_this(), id, kind](std::exception_ptr e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            log_line(log_level::error, "Alipay+ call failed", {{"paymentId", id}, {"error", ex.what()}});
          } catch (...) {
            log_line(log_level::error, "Alipay+ call failed", {{"paymentId", id}});
          }
          // The machine treats it as no answer, which also re-arms the payment's deadline.
          engine::input in;
          in.payment_id = id;
          in.ev = engine::no_answer_of(kind, no_answer_reason::transport_error);
          self->sched.call_ended(kind, std::move(in), self->now());
          self->run();
        });
  }
};

driver::driver(asio::io_context& io, engine::engine& engine, const payment_clock& clock, gateway& gw)
    : core_(std::make_shared<driver_core>(io, engine, clock, gw)) {}

driver::~driver() {
  core_->timer.cancel();
  core_->store_retry.cancel();
  for (auto& [t, limit] : core_->hold_limits) limit->cancel();
  core_->sched.drain();
}

void driver::fence_with(store::cluster_store& store, std::vector<store::shard_epoch> held) {
  core_->fence_store = &store;
  core_->fence_epochs = std::move(held);
}

std::size_t driver::recover() {
  const auto open = core_->eng.recover();
  core_->sched.recover(open, core_->now());
  core_->run();
  return open.size();
}

asio::awaitable<engine::output> driver::submit(engine::input in) {
  auto w = std::make_shared<waiter>(co_await asio::this_coro::executor);
  const auto t = core_->next_ticket++;
  core_->waiters.emplace(t, w);
  core_->sched.submit(std::move(in), t);
  core_->run();
  co_await w->signal.wait();
  if (w->error) std::rethrow_exception(w->error);
  co_return std::move(*w->out);
}

asio::awaitable<held_output> driver::submit_and_hold(engine::input in) {
  auto w = std::make_shared<waiter>(co_await asio::this_coro::executor);
  const auto t = core_->next_ticket++;
  core_->waiters.emplace(t, w);
  core_->sched.submit(std::move(in), t, true);
  core_->run();
  co_await w->signal.wait();
  if (w->error) std::rethrow_exception(w->error);
  const bool held = core_->sched.holding(t);
  if (held) core_->limit_hold(t);
  co_return held_output{std::move(*w->out), held ? t : 0};
}

void driver::release(std::uint64_t hold) {
  if (hold != 0) core_->release(hold);
}

void driver::post(engine::input in) {
  core_->sched.submit(std::move(in), 0);
  core_->run();
}

asio::awaitable<void> driver::wait_for_change(std::int64_t id, std::chrono::milliseconds timeout) {
  auto s = std::make_shared<signal_timer>(co_await asio::this_coro::executor);
  s->timer.expires_after(timeout);
  core_->watchers[id].push_back(s);
  co_await s->wait();
  // Drop this watcher if the timeout (not a commit) woke it.
  if (auto it = core_->watchers.find(id); it != core_->watchers.end()) {
    std::erase(it->second, s);
    if (it->second.empty()) core_->watchers.erase(it);
  }
}

void driver::observe(commit_observer observer) { core_->observers.push_back(std::move(observer)); }

void driver::on_group_commit(std::function<void(double)> observer) { core_->commit_timer = std::move(observer); }

void driver::on_deadline_fired(std::function<void(call_lane, double)> observer) {
  core_->lateness_observer = std::move(observer);
}

rate_budget& driver::budget() { return core_->sched.budget(); }

asio::awaitable<void> driver::drain(std::chrono::milliseconds timeout) {
  core_->sched.drain();
  core_->idle_signal = std::make_shared<signal_timer>(co_await asio::this_coro::executor);
  core_->idle_signal->timer.expires_after(timeout);
  core_->run();
  // A fire() before the wait starts would be lost: test the condition first.
  if (core_->sched.idle()) co_return;
  co_await core_->idle_signal->wait();
}

const payment_clock& driver::clock() const { return core_->clock; }

driver_stats driver::stats() const {
  const auto s = core_->sched.stats();
  driver_stats d;
  d.commits = s.batches;
  d.inputs = s.inputs;
  d.store_failures = s.store_failures;
  d.store_writable = s.store_writable;
  d.armed_deadlines = s.armed_deadlines;
  d.calls_in_flight = s.calls_in_flight;
  d.last_commit_ms = core_->last_commit_ms;
  d.budget_deferred = s.budget_deferred;
  d.hints_skipped = s.hints_skipped;
  d.worst_urgent_lateness_s = s.worst_urgent_lateness_s;
  d.worst_polling_lateness_s = s.worst_polling_lateness_s;
  return d;
}

}  // namespace cashier::daemon
