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
#include <boost/asio/this_coro.hpp>
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
  // Refunds (serve_refunds): their engine and port, and whoever waits for one to settle.
  engine::refund_engine* refunds = nullptr;
  refund_gateway* rgw = nullptr;
  std::unordered_map<std::int64_t, std::vector<std::shared_ptr<signal_timer>>> refund_watchers;
  std::function<void()> refund_observer;

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
  void execute(engine::start_refund_call& c) { start_refund_call(c.kind, c.refund_id); }
  void execute(engine::wake_refund_watchers w) {
    const auto it = refund_watchers.find(w.refund_id);
    if (it == refund_watchers.end()) return;
    for (auto& s : it->second) s->fire();
    refund_watchers.erase(it);
  }
  void execute(engine::deadline_fired f) {
    if (lateness_observer) lateness_observer(f.lane, std::chrono::duration<double>(f.late).count());
  }
  void execute(engine::notice n) {
    switch (n.kind) {
      case engine::notice_kind::call_deferred:
        if (n.refund_id != 0)
          return log_line(log_level::warn, "Alipay+ refund call deferred: over maxRequestsPerSecond", {{"refund", n.refund_id}});
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
    while (auto r = sched.next_refund()) commit_refund(*r);
    sched.end_flush(now());
    run();
  }

  void commit(engine::batch& b) {
    std::vector<engine::output> outs;
    const auto started = now();
    try {
      outs = eng.apply(b.inputs, started.payment);
    } catch (const store::store_error& e) {
      sched.commit_failed(b);
      run();
      log_line(log_level::error, "commit failed", {{"error", e.what()}, {"inputs", b.inputs.size()}});
      for (const auto t : b.tickets) resolve(t, nullptr, std::current_exception());
      return;
    }
    reach(crash_point::after_commit);
    const auto ended = now();
    const std::chrono::duration<double> took = ended.wall - started.wall;
    last_commit_ms = took.count() * 1000;
    if (commit_timer) commit_timer(took.count());
    for (std::size_t i = 0; i < outs.size(); ++i)
      for (const auto& o : observers) o(b.inputs[i], outs[i]);
    sched.committed(b, outs, ended);
    run();
    // A cancel of a SUCCESS after the window created a refund row in its commit: arm it.
    if (refunds != nullptr && std::any_of(outs.begin(), outs.end(), [](const engine::output& o) {
          return std::any_of(o.made.effects.begin(), o.made.effects.end(),
                             [](const effect& e) { return std::holds_alternative<start_refund>(e); });
        })) {
      sched.recover_refunds(refunds->recover(), now());
      run();
    }
    for (std::size_t i = 0; i < outs.size(); ++i) resolve(b.tickets[i], &outs[i], nullptr);
  }

  void commit_refund(engine::refund_input& in) {
    engine::refund_output out;
    try {
      out = refunds->apply(in.refund_id, in.ev, std::move(in.calls), clock.now());
    } catch (const store::store_error& e) {
      sched.refund_commit_failed(in);
      run();
      log_line(log_level::error, "refund commit failed", {{"refund", in.refund_id}, {"error", e.what()}});
      return;
    }
    reach(crash_point::after_commit);
    if (refund_observer) refund_observer();
    sched.refund_committed(in, out, now());
    run();
  }

  /// The refund call (its stored bytes) or its confirming inquiry; no answer if it throws.
  void start_refund_call(engine::refund_call kind, std::int64_t id) {
    asio::co_spawn(
        io,
        [self = shared_from_this(), kind, id]() -> asio::awaitable<void> {
          engine::refund_input in{id, refund_no_answer{no_answer_reason::transport_error}, {}};
          const auto r = self->eng.store().load_refund(id);
          const auto p = r ? self->eng.store().load(r->payment_row) : std::nullopt;
          if (r && p && kind == engine::refund_call::refund) {
            auto res = co_await self->rgw->refund(*p, *r);
            in.ev = std::move(res.ev);
            if (!res.call.api.empty()) in.calls.push_back(std::move(res.call));
          } else if (r && p) {
            auto res = co_await self->gw.inquiry(*p);
            in.ev = inquiry_no_answer{no_answer_reason::transport_error};
            if (const auto* a = std::get_if<inquiry_answer>(&res.ev)) in.ev = *a;
            if (const auto* n = std::get_if<inquiry_no_answer>(&res.ev)) in.ev = *n;
            if (!res.call.api.empty()) {
              res.call.refund_id = id;
              in.calls.push_back(std::move(res.call));
            }
          }
          reach(crash_point::call_answered);
          self->sched.refund_call_ended(std::move(in), self->now());
          self->run();
        },
        [self = shared_from_this(), id, kind](std::exception_ptr e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            log_line(log_level::warn, "Alipay+ refund call failed", {{"refund", id}, {"error", ex.what()}});
          } catch (...) {
            log_line(log_level::warn, "Alipay+ refund call failed", {{"refund", id}});
          }
          engine::refund_input in{id, refund_no_answer{no_answer_reason::transport_error}, {}};
          if (kind == engine::refund_call::inquiry) in.ev = inquiry_no_answer{no_answer_reason::transport_error};
          self->sched.refund_call_ended(std::move(in), self->now());
          self->run();
        });
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

std::size_t driver::recover() {
  const auto open = core_->eng.recover();
  core_->sched.recover(open, core_->now());
  core_->run();
  return open.size();
}

void driver::serve_refunds(engine::refund_engine& refunds, refund_gateway& rgw) {
  core_->refunds = &refunds;
  core_->rgw = &rgw;
}

bool driver::serves_refunds() const { return core_->refunds != nullptr; }

std::size_t driver::recover_refunds() {
  if (core_->refunds == nullptr) return 0;
  const auto open = core_->refunds->recover();
  core_->sched.recover_refunds(open, core_->now());
  core_->run();
  return open.size();
}

asio::awaitable<engine::refund_order_result> driver::create_refund(engine::refund_order order,
                                                                   std::chrono::milliseconds wait) {
  auto core = core_;
  auto res = core->refunds->create(order, core->clock.now());
  if (res.status != engine::refund_order_status::created) co_return res;
  std::shared_ptr<signal_timer> s;
  if (wait.count() > 0) {
    s = std::make_shared<signal_timer>(co_await asio::this_coro::executor);
    s->timer.expires_after(wait);
    core->refund_watchers[res.r.id].push_back(s);
  }
  core->sched.refund_created(res.r, res.effects, core->now());
  core->run();
  if (s) {
    co_await s->wait();
    // Drop this watcher if the timeout (not the settling commit) woke it.
    if (auto it = core->refund_watchers.find(res.r.id); it != core->refund_watchers.end()) {
      std::erase(it->second, s);
      if (it->second.empty()) core->refund_watchers.erase(it);
    }
  }
  if (auto again = core->eng.store().load_refund(res.r.id)) res.r = std::move(*again);
  res.effects.clear();
  co_return res;
}

void driver::on_refund_commit(std::function<void()> observer) { core_->refund_observer = std::move(observer); }

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
