// The driver (see driver.hpp). Everything here runs on the reactor thread.
#include "orchestrator/daemon/driver.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "orchestrator/daemon/crash_point.hpp"
#include "orchestrator/engine/deadline_heap.hpp"
#include "orchestrator/daemon/log.hpp"
#include "orchestrator/engine/payment_view.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;

namespace {
/// Inputs committed together at most; more wait for the next turn.
constexpr std::size_t max_batch = 512;
/// Due deadlines handled per timer tick; the rest on the next tick.
constexpr std::size_t max_due_per_tick = 2048;
/// Alipay+ calls under way at most before due deadlines wait in the heap: enough to keep the
/// gateway's connections (16) busy, few enough that when Alipay+ answers slower than the budget
/// allows, the backlog waits in the heap instead of in the HTTP client's queue (and times out).
constexpr std::size_t max_calls_in_flight = 64;
/// Of this many deadlines fired in a row while both lanes have due ones, the last is a poll:
/// the urgent lane goes first, but a flood of pays and cancels cannot starve polling.
constexpr int polling_share = 8;
/// After a failed commit, when (wall clock) the store is tried again.
constexpr auto retry_after_store_failure = std::chrono::seconds(1);

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

enum class call_kind { pay, inquiry, cancel };

/// The gateway call of `kind`. It lives outside the coroutine on purpose: GCC 12 mishandles the
/// awaitable temporaries of a conditional expression under co_await (every call segfaulted in
/// ~awaitable when the calling coroutine finished).
asio::awaitable<call_result> start(gateway& gw, call_kind kind, const payment& p) {
  return kind == call_kind::pay ? gw.pay(p) : kind == call_kind::inquiry ? gw.inquiry(p) : gw.cancel(p);
}
/// The call an effect asks for, if it is one.
std::optional<call_kind> call_of(const effect& e) {
  if (std::holds_alternative<send_pay>(e)) return call_kind::pay;
  if (std::holds_alternative<send_inquiry>(e)) return call_kind::inquiry;
  if (std::holds_alternative<send_cancel>(e)) return call_kind::cancel;
  return std::nullopt;
}
/// A notify's inquiry is a hint: without a token it is skipped (polling covers it), never borrowed for.
bool is_hint(const event& ev) {
  return std::holds_alternative<notify_verified>(ev) || std::holds_alternative<notify_unverified>(ev);
}
/// The machine event for a call of `kind` that ended without an answer (it threw).
event no_answer_of(call_kind kind) {
  switch (kind) {
    case call_kind::pay: return pay_no_answer{no_answer_reason::transport_error};
    case call_kind::inquiry: return inquiry_no_answer{no_answer_reason::transport_error};
    case call_kind::cancel: return cancel_no_answer{no_answer_reason::transport_error};
  }
  return pay_no_answer{no_answer_reason::transport_error};
}
}  // namespace

struct driver_core : std::enable_shared_from_this<driver_core> {
  driver_core(asio::io_context& io_, engine::engine& e, const payment_clock& c, gateway& g)
      : io(io_), eng(e), clock(c), gw(g), timer(io_), store_retry(io_) {}

  asio::io_context& io;
  engine::engine& eng;
  const payment_clock& clock;
  gateway& gw;
  deadline_heap heap;
  asio::steady_timer timer;
  time_point timer_at = never;
  struct queued {
    engine::input in;
    std::shared_ptr<waiter> w;
    bool prepaid = false;  // a deadline that took a budget token when it left the heap
  };
  std::vector<queued> queue;
  bool flush_scheduled = false;
  std::size_t prepaid_queued = 0;  // popped deadlines not yet committed (calls to come)
  int urgent_run = 0;              // urgent deadlines fired since the last poll
  std::unordered_map<std::int64_t, int> in_flight;  // calls under way per payment
  std::unordered_map<std::int64_t, int> pays_in_flight;  // of which pay calls
  std::unordered_map<std::int64_t, std::vector<std::shared_ptr<signal_timer>>> watchers;
  std::vector<commit_observer> observers;
  std::function<void(double)> commit_timer;
  std::function<void(call_lane, double)> lateness_observer;
  rate_budget budget;
  bool draining = false;
  std::shared_ptr<signal_timer> idle_signal;
  driver_stats st;
  // After a failed commit (disk full, read-only, I/O error): the payments whose inputs were
  // lost, re-armed once a probe write on a wall-clock timer commits (a scaled payment clock
  // must not spin).
  std::unordered_set<std::int64_t> held;
  asio::steady_timer store_retry;
  bool store_retry_armed = false;

  void enqueue(engine::input in, std::shared_ptr<waiter> w, bool prepaid = false) {
    queue.push_back({std::move(in), std::move(w), prepaid});
    if (!flush_scheduled) {
      flush_scheduled = true;
      asio::post(io, [self = shared_from_this()] { self->flush(); });
    }
  }

  void flush() {
    // Deadlines due by now join this batch rather than wait behind its commit for their timer
    // (flush_scheduled is still set: they need no flush of their own).
    fire_due();
    flush_scheduled = false;
    while (!queue.empty()) {
      const auto n = std::min(queue.size(), max_batch);
      std::vector<queued> batch(std::make_move_iterator(queue.begin()),
                                std::make_move_iterator(queue.begin() + static_cast<std::ptrdiff_t>(n)));
      queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
      commit(batch);
    }
    arm_timer();
    check_idle();
  }

  void commit(std::vector<queued>& batch) {
    std::vector<engine::input> inputs;
    inputs.reserve(batch.size());
    for (auto& q : batch) inputs.push_back(std::move(q.in));
    std::vector<engine::output> outs;
    const auto started = std::chrono::steady_clock::now();
    try {
      outs = eng.apply(inputs, clock.now());
    } catch (const store::store_error& e) {
      on_store_failure(batch, inputs, e);
      return;
    }
    reach(crash_point::after_commit);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    st.last_commit_ms = took.count() * 1000;
    if (commit_timer) commit_timer(took.count());
    ++st.commits;
    st.inputs += batch.size();
    for (std::size_t i = 0; i < batch.size(); ++i) after_commit(inputs[i], batch[i], outs[i]);
  }

  void on_store_failure(std::vector<queued>& batch, const std::vector<engine::input>& inputs,
                        const store::store_error& e) {
    ++st.store_failures;
    if (st.store_writable) log_line(log_level::error, "store cannot commit: creates get 503 until it can");
    st.store_writable = false;
    log_line(log_level::error, "commit failed", {{"error", e.what()}, {"inputs", batch.size()}});
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto& q = batch[i];
      // Timers and answers of existing payments come back through the deadline heap.
      if (inputs[i].payment_id != 0) held.insert(inputs[i].payment_id);
      if (q.prepaid) {
        --prepaid_queued;
        budget.refund();
      }
      if (q.w) {
        q.w->error = std::current_exception();
        q.w->signal.fire();
      }
    }
    arm_store_retry();
  }

  /// One second (wall) after a failure: a small probe write. Once one commits, readiness
  /// returns and the held payments are re-armed, due now, without any traffic needed.
  void arm_store_retry() {
    if (store_retry_armed) return;
    store_retry_armed = true;
    store_retry.expires_after(retry_after_store_failure);
    store_retry.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      self->store_retry_armed = false;
      if (!ec && !self->draining) self->probe_store();
    });
  }

  void probe_store() {
    try {
      eng.store().set_meta("store_probe_at", engine::iso8601(clock.now()));
    } catch (const store::store_error& e) {
      log_line(log_level::error, "store probe failed", {{"error", e.what()}});
      return arm_store_retry();
    }
    if (!st.store_writable) log_line(log_level::info, "store commits again", {{"failures", st.store_failures}});
    st.store_writable = true;
    for (const auto id : std::exchange(held, {})) heap.arm(id, clock.now());
    arm_timer();
  }

  void after_commit(const engine::input& in, queued& q, engine::output& out) {
    const auto id = out.after.id;
    if (id != 0 && (out.result == engine::outcome::applied || out.result == engine::outcome::unchanged))
      heap.arm(id, out.after.next_action_at, lane_of(out.after));
    if (out.result == engine::outcome::conflict && in.payment_id != 0)
      heap.arm(in.payment_id, clock.now());  // reread and try again
    for (const auto& o : observers) o(in, out);
    if (q.prepaid) --prepaid_queued;
    if (out.result == engine::outcome::applied) {
      start_calls(in, q.prepaid, out);
      wake_watchers(id);
    } else if (q.prepaid) {
      budget.refund();
    }
    if (q.w) {
      q.w->out = std::move(out);
      q.w->signal.fire();
    }
  }

  void wake_watchers(std::int64_t id) {
    const auto it = watchers.find(id);
    if (it == watchers.end()) return;
    for (auto& w : it->second) w->fire();
    watchers.erase(it);
  }

  /// Starts the calls of a committed decision, each paid from the budget: a deadline's token
  /// taken when it left the heap, else a token now (hints only if one is there). A call left
  /// unmade is safe: the machine armed its answer guard, which resends it through the heap.
  void start_calls(const engine::input& in, bool prepaid, const engine::output& out) {
    for (const auto& e : out.made.effects) {
      const auto kind = call_of(e);
      if (!kind || !may_start(*kind, out.after)) continue;
      if (!prepaid && !admit(*kind, in.ev, out.after.id)) continue;
      prepaid = false;
      start_call(*kind, out.after);
    }
    if (prepaid) budget.refund();
  }

  bool admit(call_kind kind, const event& ev, std::int64_t id) {
    const auto now = std::chrono::steady_clock::now();
    if (kind == call_kind::inquiry && is_hint(ev)) {
      if (budget.take_queued(now)) return true;
      ++st.hints_skipped;
      return false;
    }
    if (budget.take_now(now)) return true;
    ++st.budget_deferred;
    log_line(log_level::warn, "Alipay+ call deferred: over maxRequestsPerSecond", {{"paymentId", id}});
    return false;
  }

  bool may_start(call_kind kind, const payment& p) {
    if (draining) return false;  // the armed answer guard resends after the restart
    if (kind == call_kind::cancel && pays_in_flight.contains(p.id)) {
      // A cancel answered ORDER_NOT_EXIST could overtake the pay that then creates the order.
      // The cancel's answer guard is armed; it resends once the pay answer is committed.
      log_line(log_level::info, "cancel deferred until the pay answer", {{"paymentId", p.id}});
      return false;
    }
    return true;
  }

  void start_call(call_kind kind, const payment& p) {
    if (kind == call_kind::pay) ++pays_in_flight[p.id];
    ++in_flight[p.id];
    ++st.calls_in_flight;
    auto self = shared_from_this();
    asio::co_spawn(
        io,
        [self, kind, p]() -> asio::awaitable<void> {
          call_result r = co_await start(self->gw, kind, p);
          reach(crash_point::call_answered);
          self->call_ended(p.id, kind);
          if (is_traffic_limit(r.ev)) self->on_traffic_limit();
          engine::input in;
          in.payment_id = p.id;
          in.ev = std::move(r.ev);
          in.calls.push_back(std::move(r.call));
          self->enqueue(std::move(in), nullptr);
        },
        [self, id = p.id, kind](std::exception_ptr e) {
          if (!e) return;
          self->call_ended(id, kind);
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
          in.ev = no_answer_of(kind);
          self->enqueue(std::move(in), nullptr);
          self->check_idle();
        });
  }

  void call_ended(std::int64_t id, call_kind kind) {
    if (--in_flight[id] <= 0) in_flight.erase(id);
    if (kind == call_kind::pay && --pays_in_flight[id] <= 0) pays_in_flight.erase(id);
    --st.calls_in_flight;
  }

  void on_traffic_limit() {
    const auto before = budget.rate();
    budget.throttled(std::chrono::steady_clock::now());
    if (budget.rate() != before)
      log_line(log_level::warn, "Alipay+ answered REQUEST_TRAFFIC_EXCEED_LIMIT: outbound rate lowered",
               {{"ratePerSecond", budget.rate()}});
  }

  void arm_timer() {
    if (draining) return;
    const auto earliest = heap.earliest();
    if (!earliest) {
      timer_at = never;
      timer.cancel();
      return;
    }
    if (*earliest == timer_at) return;
    timer_at = *earliest;
    auto wait = clock.wall_wait_until(*earliest);
    if (wait <= decltype(wait)::zero()) {
      // Due already. With the calls in flight at their cap, the next answer's commit re-arms.
      if (saturated()) {
        timer_at = never;
        timer.cancel();
        return;
      }
      // Wake when the budget has tokens again (at once when it has).
      wait = budget.wait(std::chrono::steady_clock::now());
    }
    timer.expires_after(wait);
    timer.async_wait([self = shared_from_this(), at = *earliest](boost::system::error_code ec) {
      if (ec || self->timer_at != at) return;  // re-armed or cancelled meanwhile
      self->timer_at = never;
      self->on_timer();
    });
  }

  void on_timer() {
    fire_due();
    // Deadlines skipped for calls in flight enqueue nothing: re-arm for the next one now.
    arm_timer();
  }

  /// Pops the due deadlines the budget and the cap on calls in flight allow, as inputs.
  void fire_due() {
    if (draining) return;
    const auto now = clock.now();
    std::size_t n = 0;
    while (n < max_due_per_tick) {
      const auto first = urgent_run + 1 >= polling_share ? call_lane::polling : call_lane::urgent;
      const auto due = heap.peek_due(now, first);
      if (!due) break;
      ++n;
      // A call in flight re-arms the payment when its answer is committed.
      if (in_flight.contains(due->id)) {
        heap.pop(*due);
        continue;
      }
      // Out of budget (or of calls in flight): the deadline stays in the heap, in order.
      if (saturated() || !budget.take_queued(std::chrono::steady_clock::now())) break;
      heap.pop(*due);
      urgent_run = due->lane == call_lane::urgent ? urgent_run + 1 : 0;
      fired(*due, now);
      engine::input in;
      in.payment_id = due->id;
      in.ev = deadline_reached{};
      ++prepaid_queued;
      enqueue(std::move(in), nullptr, true);
    }
  }

  bool saturated() const { return st.calls_in_flight + prepaid_queued >= max_calls_in_flight; }

  void fired(const due_deadline& due, time_point now) {
    const double late = std::chrono::duration<double>(now - due.at).count();
    auto& worst = due.lane == call_lane::urgent ? st.worst_urgent_lateness_s : st.worst_polling_lateness_s;
    worst = std::max(worst, late);
    if (lateness_observer) lateness_observer(due.lane, late);
  }

  void check_idle() {
    if (draining && idle_signal && in_flight.empty() && queue.empty()) idle_signal->fire();
  }
};

driver::driver(asio::io_context& io, engine::engine& engine, const payment_clock& clock, gateway& gw)
    : core_(std::make_shared<driver_core>(io, engine, clock, gw)) {}

driver::~driver() {
  core_->timer.cancel();
  core_->store_retry.cancel();
  core_->draining = true;
}

std::size_t driver::recover() {
  const auto open = core_->eng.recover();
  core_->heap.reserve(open.size());
  constexpr std::size_t ahead = 8;
  for (std::size_t i = 0; i < open.size(); ++i) {
    if (i + ahead < open.size()) core_->heap.prefetch(open[i + ahead].payment_id);
    const auto& d = open[i];
    core_->heap.arm(d.payment_id, d.next_action_at, lane_of(d.pending, d.next_action_at, d.poll_deadline_at));
  }
  core_->arm_timer();
  return open.size();
}

asio::awaitable<engine::output> driver::submit(engine::input in) {
  auto w = std::make_shared<waiter>(co_await asio::this_coro::executor);
  core_->enqueue(std::move(in), w);
  co_await w->signal.wait();
  if (w->error) std::rethrow_exception(w->error);
  co_return std::move(*w->out);
}

void driver::post(engine::input in) { core_->enqueue(std::move(in), nullptr); }

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

rate_budget& driver::budget() { return core_->budget; }

asio::awaitable<void> driver::drain(std::chrono::milliseconds timeout) {
  core_->draining = true;
  core_->timer.cancel();
  core_->idle_signal = std::make_shared<signal_timer>(co_await asio::this_coro::executor);
  core_->idle_signal->timer.expires_after(timeout);
  // A fire() before the wait starts would be lost: test the condition first.
  if (core_->in_flight.empty() && core_->queue.empty()) co_return;
  co_await core_->idle_signal->wait();
}

const payment_clock& driver::clock() const { return core_->clock; }

driver_stats driver::stats() const {
  auto s = core_->st;
  s.armed_deadlines = core_->heap.size();
  return s;
}

}  // namespace cashier::daemon
