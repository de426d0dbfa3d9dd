// The driver (see driver.hpp): carries out the scheduler's actions on the reactor thread. No
// scheduling rule lives here; each is in orchestrator/engine/scheduler.cpp.
#include "orchestrator/daemon/driver.hpp"

#include <algorithm>
#include <exception>
#include <utility>
#include <unordered_map>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "orchestrator/daemon/commit_waiters.hpp"
#include "orchestrator/daemon/crash_point.hpp"
#include "orchestrator/daemon/driver_log.hpp"
#include "orchestrator/daemon/log.hpp"
#include "orchestrator/engine/payment_view.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;
using engine::call_kind;
using steady = std::chrono::steady_clock;

namespace {
/// Calls held for an ack start by themselves after this long (wall), released or not: an ack
/// takes one write on the network thread, far less; this only bounds a lost release.
constexpr auto hold_limit = std::chrono::seconds(5);

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
  commit_waiters waiters;
  std::unordered_map<engine::ticket, std::shared_ptr<asio::steady_timer>> hold_limits;  // submit_and_hold
  engine::ticket next_ticket = 1;
  std::vector<commit_observer> observers;
  std::function<void(double)> commit_timer;
  std::function<void(call_lane, double)> lateness_observer;
  std::shared_ptr<signal_timer> idle_signal;
  // Refunds (serve_refunds): their engine and port, and whoever waits for one to settle.
  engine::refund_engine* refunds = nullptr;
  refund_gateway* rgw = nullptr;
  std::function<void()> refund_observer;
  // fence_with(): where commits take their fence, if fenced (fence_source).
  std::optional<fence_source> fence;

  /// Both clocks, read here and nowhere else.
  engine::instants now() const { return {clock.now(), steady::now()}; }

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
    after(timer, a.due ? std::chrono::duration_cast<steady::duration>(a.budget_wait) : clock.wall_wait_until(a.at),
          [at = a.at](driver_core& d) { d.sched.timer_fired(at, d.now()); });
  }
  void execute(engine::arm_store_retry& a) {
    after(store_retry, std::chrono::duration_cast<steady::duration>(a.wait),
          [](driver_core& d) { d.sched.store_retry_due(); });
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
  void execute(engine::wake_watchers w) { waiters.wake(w.id); }
  void execute(engine::start_refund_call& c) { start_refund_call(c.kind, c.refund_id); }
  // A refund's watchers wait under its heap key (negative: never a payment id).
  void execute(engine::wake_refund_watchers w) { waiters.wake(engine::refund_key(w.refund_id)); }
  void execute(engine::deadline_fired f) {
    if (lateness_observer) lateness_observer(f.lane, std::chrono::duration<double>(f.late).count());
  }
  void execute(engine::notice n) { log_notice(n); }

  /// Arms `t` (replacing what it had) to tell the scheduler through `report` after `wait`.
  template <class Report>
  void after(asio::steady_timer& t, steady::duration wait, Report report) {
    t.expires_after(wait);
    t.async_wait([self = shared_from_this(), report](boost::system::error_code ec) {
      if (ec) return;  // re-armed or cancelled meanwhile
      report(*self);
      self->run();
    });
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
      if (fence) {
        const auto epochs = fence->epochs();
        const engine::fence f{*fence->store, epochs};
        outs = eng.apply(b.inputs, started.payment, &f);
      } else {
        outs = eng.apply(b.inputs, started.payment);
      }
    } catch (const store::store_error& e) {
      sched.commit_failed(b);
      run();
      log_line(log_level::error, "commit failed", {{"error", e.what()}, {"inputs", b.inputs.size()}});
      for (const auto t : b.tickets) waiters.resolve(t, nullptr, std::current_exception());
      return;
    }
    reach(crash_point::after_commit);
    for (std::size_t i = 0; i < outs.size() && fence; ++i)
      if (outs[i].result == engine::outcome::not_owner) fence->refused(b.inputs[i], outs[i]);
    const auto ended = now();
    if (commit_timer) commit_timer(std::chrono::duration<double>(ended.wall - started.wall).count());
    for (std::size_t i = 0; i < outs.size(); ++i)
      for (const auto& o : observers) o(b.inputs[i], outs[i]);
    sched.committed(b, outs, ended);
    run();
    for (std::size_t i = 0; i < outs.size(); ++i) waiters.resolve(b.tickets[i], &outs[i], nullptr);
    fail_dropped(sched.take_dropped_tickets());
  }

  /// Cluster mode: inputs of a shard dropped before they committed fail like a store outage
  /// (the merchant or Alipay+ retries, and reaches the new owner or its inbox).
  void fail_dropped(const std::vector<engine::ticket>& tickets) {
    for (const auto t : tickets)
      if (t != 0)
        waiters.resolve(t, nullptr, std::make_exception_ptr(store::store_error(
                                        store::store_failure::busy, "the payment's shard moved to another instance")));
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

  /// Queues `in` for `t` and carries out what that starts.
  void submit(engine::input in, engine::ticket t, bool hold = false) {
    sched.submit(std::move(in), t, hold);
    run();
  }

  /// Hands a call's end to the scheduler: its answer, or no answer when it threw.
  void call_ended(call_kind kind, engine::input in) {
    sched.call_ended(kind, std::move(in), now());
    run();
  }

  void start_call(call_kind kind, payment p) {
    const auto id = p.id;
    asio::co_spawn(
        io,
        [self = shared_from_this(), kind, p = std::move(p)]() -> asio::awaitable<void> {
          if (self->fence && !self->fence->may_call(p)) {
            // Not trusted any more: nothing leaves; the new owner resends after the guard.
            engine::input in;
            in.payment_id = p.id;
            in.ev = engine::no_answer_of(kind, no_answer_reason::timeout);
            self->call_ended(kind, std::move(in));
            co_return;
          }
          call_result r = co_await start(self->gw, kind, p);
          reach(crash_point::call_answered);
          engine::input in;
          in.payment_id = p.id;
          in.ev = std::move(r.ev);
          in.calls.push_back(std::move(r.call));
          self->call_ended(kind, std::move(in));
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
          self->call_ended(kind, std::move(in));
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
  auto fenced_out = std::make_shared<bool>(false);  // a commit came back not_owner (logged once)
  fence_with(fence_source{
      .store = &store,
      .epochs = [held = std::move(held)] { return held; },
      .refused =
          [fenced_out](const engine::input&, const engine::output&) {
            if (std::exchange(*fenced_out, true)) return;
            log_line(log_level::error,
                     "another cashierd process took this database over: this one's writes are refused; stop it");
          },
      .may_call = [](const payment&) { return true; }});
}

void driver::fence_with(fence_source f) { core_->fence = std::move(f); }

void driver::enable_shards(store::shard_id shards) { core_->sched.enable_shards(shards); }

void driver::start_acting(store::shard_id shard, std::span<const store::deadline> open,
                          std::span<const store::refund_deadline> refunds) {
  core_->sched.start_acting(shard, open, core_->now());
  if (core_->refunds != nullptr && !refunds.empty()) core_->sched.start_acting_refunds(shard, refunds, core_->now());
  core_->run();
}

void driver::stop_acting(store::shard_id shard) {
  const auto dropped = core_->sched.stop_acting(shard, core_->now());
  core_->run();
  core_->fail_dropped(dropped);
}

void driver::set_budget_share(double per_second) { core_->sched.set_budget_share(per_second); }

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
  core->sched.refund_created(res.r, res.effects, core->now());
  core->run();
  // The settling commit comes after the call's answer, never within run(): waiting from here
  // misses nothing.
  if (wait.count() > 0) co_await core->waiters.wait_for_change(engine::refund_key(res.r.id), wait);
  if (auto again = core->eng.store().load_refund(res.r.id)) res.r = std::move(*again);
  res.effects.clear();
  co_return res;
}

void driver::on_refund_commit(std::function<void()> observer) { core_->refund_observer = std::move(observer); }

asio::awaitable<engine::output> driver::submit(engine::input in) {
  const auto t = core_->next_ticket++;
  auto w = core_->waiters.add(t, co_await asio::this_coro::executor);
  core_->submit(std::move(in), t);
  co_return co_await commit_waiters::wait(std::move(w));
}

asio::awaitable<held_output> driver::submit_and_hold(engine::input in) {
  const auto t = core_->next_ticket++;
  auto w = core_->waiters.add(t, co_await asio::this_coro::executor);
  core_->submit(std::move(in), t, true);
  auto out = co_await commit_waiters::wait(std::move(w));
  const bool held = core_->sched.holding(t);
  if (held) core_->limit_hold(t);
  co_return held_output{std::move(out), held ? t : 0};
}

void driver::release(std::uint64_t hold) {
  if (hold != 0) core_->release(hold);
}

void driver::post(engine::input in) { core_->submit(std::move(in), 0); }

asio::awaitable<void> driver::wait_for_change(std::int64_t id, std::chrono::milliseconds timeout) {
  co_await core_->waiters.wait_for_change(id, timeout);
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
  core_->idle_signal->expires_after(timeout);
  core_->run();
  // A fire() before the wait starts would be lost: test the condition first.
  if (core_->sched.idle()) co_return;
  co_await core_->idle_signal->wait();
}

const payment_clock& driver::clock() const { return core_->clock; }

engine::scheduler_stats driver::stats() const { return core_->sched.stats(); }

}  // namespace cashier::daemon
