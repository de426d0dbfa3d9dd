// The driver (see driver.hpp): carries out the scheduler's actions on the reactor thread. No
// scheduling rule lives here; each is in orchestrator/engine/scheduler.cpp. The Alipay+ calls
// are in driver_calls.cpp, refunds in driver_refunds.cpp, the cluster mode's entry points in
// driver_cluster.cpp.
#include "orchestrator/daemon/driver.hpp"

#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>

#include "orchestrator/daemon/crash_point.hpp"
#include "orchestrator/daemon/driver_core.hpp"
#include "orchestrator/daemon/driver_log.hpp"
#include "orchestrator/daemon/log.hpp"
#include "orchestrator/engine/payment_view.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

namespace {
/// Arms `t` (replacing what it had) to tell the scheduler through `report` after `wait`.
template <class Report>
void after(driver_core& d, asio::steady_timer& t, steady::duration wait, Report report) {
  t.expires_after(wait);
  t.async_wait([self = d.shared_from_this(), report](boost::system::error_code ec) {
    if (ec) return;  // re-armed or cancelled meanwhile
    report(*self);
    self->run();
  });
}

template <class Duration>
steady::duration wall(Duration d) {
  return std::chrono::duration_cast<steady::duration>(d);
}

/// One action of the scheduler, carried out.
struct executor {
  driver_core& d;

  void operator()(engine::flush_soon) const {
    asio::post(d.io, [self = d.shared_from_this()] { self->flush(); });
  }
  void operator()(engine::start_call& c) const { d.start_call(c.kind, std::move(c.p)); }
  void operator()(engine::start_refund_call& c) const { d.start_refund_call(c.kind, c.refund_id); }
  void operator()(engine::cancel_timer) const { d.timer.cancel(); }
  void operator()(engine::arm_timer& a) const {
    after(d, d.timer, a.due ? wall(a.budget_wait) : d.clock.wall_wait_until(a.at),
          [at = a.at](driver_core& c) { c.sched.timer_fired(at, c.now()); });
  }
  void operator()(engine::arm_store_retry& a) const {
    after(d, d.store_retry, wall(a.wait), [](driver_core& c) { c.sched.store_retry_due(); });
  }
  void operator()(engine::arm_hold_limit& a) const {
    after(d, d.hold_timer, wall(a.wait), [](driver_core& c) { c.sched.hold_limit_due(c.now()); });
  }
  void operator()(engine::probe_store) const {
    d.db.run(
        d.io.get_executor(),
        [at = engine::iso8601(d.clock.now())](store::payment_store& s) { s.set_meta("store_probe_at", at); },
        [self = d.shared_from_this()](std::exception_ptr e, std::optional<std::monostate>) {
          if (e) log_line(log_level::error, "store probe failed", {{"error", what_of(e)}});
          self->sched.probe_result(!e, self->now());
          self->run();
        });
  }
  void operator()(engine::wake_watchers w) const { d.waiters.wake(w.id); }
  // A refund's watchers wait under its heap key (negative: never a payment id).
  void operator()(engine::wake_refund_watchers w) const { d.waiters.wake(engine::refund_key(w.refund_id)); }
  void operator()(engine::deadline_fired f) const {
    if (d.lateness_observer) d.lateness_observer(f.lane, std::chrono::duration<double>(f.late).count());
  }
  void operator()(engine::notice n) const { log_notice(n); }
};
}  // namespace

void rethrow_unless_store_error(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const store::store_error&) {
  }
}

/// Carries out every action the scheduler has emitted (and those that emits in turn).
void driver_core::run() {
  std::vector<engine::action> acts;
  for (sched.take_actions(acts); !acts.empty(); sched.take_actions(acts))
    for (auto& a : acts) std::visit(executor{*this}, a);
  if (sched.draining() && idle_signal && idle()) idle_signal->fire();
}

/// A posted flush: the due deadlines join the queue, then every batch and refund input the
/// scheduler hands out is committed on the store thread, one at a time (commit_next). A flush
/// posted while one is under way runs when it ends: the scheduler, which still counts its flush
/// as posted, would otherwise never post another.
void driver_core::flush() {
  if (flushing) {
    flush_again = true;
    return;
  }
  flushing = true;
  sched.begin_flush(now());
  run();
  commit_next();
}

/// Hands the store thread the next batch (or refund input) of the flush, or ends the flush.
/// Inputs submitted while a commit is out join the queue and go in a later batch of this flush.
void driver_core::commit_next() {
  if (auto b = sched.next_batch()) return commit(std::move(*b));
  if (auto r = sched.next_refund()) return commit_refund(std::move(*r));
  flushing = false;
  sched.end_flush(now());
  run();
  if (std::exchange(flush_again, false)) flush();
}

/// One group commit: engine.apply on the store thread (the fence's epochs taken here, where the
/// lease manager lives), its outcome handled back on the reactor; then the next batch.
void driver_core::commit(engine::batch batch) {
  const auto started = now();
  auto b = std::make_shared<const engine::batch>(std::move(batch));  // read by the job, then here
  std::optional<std::vector<store::shard_epoch>> epochs;
  if (fence) epochs = fence->epochs();
  auto job = [&e = eng, cluster = fence ? fence->store : nullptr, b, epochs = std::move(epochs),
              at = started.payment](store::payment_store&) {
    if (cluster == nullptr) return e.apply(b->inputs, at);
    const engine::fence f{*cluster, *epochs};
    return e.apply(b->inputs, at, &f);
  };
  db.run(io.get_executor(), std::move(job),
         [self = shared_from_this(), b, started](std::exception_ptr e, std::optional<std::vector<engine::output>> outs) {
           self->committed(*b, started, e, outs ? std::move(*outs) : std::vector<engine::output>{});
           self->commit_next();
         });
}

/// The outcome of batch `b` (handed over at `started`) back on the reactor: what was committed
/// reaches the observers, the scheduler and the waiters; a store failure fails them all.
void driver_core::committed(const engine::batch& b, engine::instants started, std::exception_ptr error,
                            std::vector<engine::output> outs) {
  if (error) {
    rethrow_unless_store_error(error);
    sched.commit_failed(b);
    run();
    log_line(log_level::error, "commit failed", {{"error", what_of(error)}, {"inputs", b.inputs.size()}});
    for (const auto t : b.tickets) waiters.resolve(t, nullptr, error);
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

/// Queues `in` for `t` and carries out what that starts.
void driver_core::submit(engine::input in, engine::ticket t, bool hold) {
  sched.submit(std::move(in), t, hold);
  run();
}

driver::driver(asio::io_context& io, engine::engine& engine, const payment_clock& clock, gateway& gw,
               store_thread& db)
    : core_(std::make_shared<driver_core>(io, engine, clock, gw, db)) {}

driver::~driver() {
  core_->timer.cancel();
  core_->store_retry.cancel();  // a commit still out ends on the store thread; its answer finds core_ alive
  core_->hold_timer.cancel();
  core_->sched.drain();
}

std::size_t driver::recover() {
  const auto open = core_->eng.recover();
  core_->sched.recover(open, core_->now());
  core_->run();
  return open.size();
}

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
  co_return held_output{std::move(out), core_->sched.holding(t) ? t : 0};
}

void driver::release(std::uint64_t hold) {
  if (hold == 0) return;
  core_->sched.ack_written(hold, core_->now());
  core_->run();
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
  if (core_->idle()) co_return;
  co_await core_->idle_signal->wait();
}

const payment_clock& driver::clock() const { return core_->clock; }

engine::scheduler_stats driver::stats() const { return core_->sched.stats(); }

}  // namespace cashier::daemon
