// The refund driver (see refund_driver.hpp). Everything here runs on the reactor thread.
#include "orchestrator/daemon/refund_driver.hpp"

#include <map>
#include <unordered_map>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "orchestrator/daemon/log.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;

namespace {
/// A call that threw (no gateway answer at all) is a transport error to the machine.
refund_event no_refund_answer() { return refund_no_answer{no_answer_reason::transport_error}; }
}  // namespace

struct refund_driver_core : std::enable_shared_from_this<refund_driver_core> {
  refund_driver_core(asio::io_context& io_, engine::refund_engine& e, store::payment_store& s,
                     const payment_clock& c, gateway& g, refund_gateway& rg)
      : io(io_), eng(e), store(s), clock(c), gw(g), rgw(rg), timer(io_) {}

  asio::io_context& io;
  engine::refund_engine& eng;
  store::payment_store& store;
  const payment_clock& clock;
  gateway& gw;
  refund_gateway& rgw;
  asio::steady_timer timer;
  std::multimap<time_point, std::int64_t> heap;
  std::unordered_map<std::int64_t, time_point> armed;
  std::unordered_map<std::int64_t, std::vector<std::shared_ptr<asio::steady_timer>>> watchers;
  std::function<void()> committed;
  time_point timer_at = never;

  void arm(std::int64_t id, time_point at) {
    disarm(id);
    if (at == never) return;
    armed[id] = at;
    heap.emplace(at, id);
    reschedule();
  }

  void disarm(std::int64_t id) {
    const auto it = armed.find(id);
    if (it == armed.end()) return;
    for (auto [b, e] = heap.equal_range(it->second); b != e; ++b) {
      if (b->second == id) {
        heap.erase(b);
        break;
      }
    }
    armed.erase(it);
  }

  void reschedule() {
    if (heap.empty() || heap.begin()->first == timer_at) return;
    timer_at = heap.begin()->first;
    timer.expires_after(clock.wall_wait_until(timer_at));
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      self->timer_at = never;
      self->fire_due();
    });
  }

  void fire_due() {
    const time_point now = clock.now();
    std::vector<std::int64_t> due;
    while (!heap.empty() && heap.begin()->first <= now) {
      due.push_back(heap.begin()->second);
      armed.erase(heap.begin()->second);
      heap.erase(heap.begin());
    }
    for (const std::int64_t id : due) step(id, deadline_reached{}, {});
    reschedule();
  }

  /// Feeds one event to the refund engine, re-arms, wakes waiters, starts the calls.
  void step(std::int64_t id, const refund_event& e, std::vector<store::call_record> calls) {
    engine::refund_output out;
    try {
      out = eng.apply(id, e, std::move(calls), clock.now());
    } catch (const store::store_error& err) {
      // Nothing was written: the stored deadline still holds; try again after a while.
      log_line(log_level::error, "refund commit failed", {{"refund", id}, {"error", err.what()}});
      arm(id, clock.now() + std::chrono::seconds(1));
      return;
    }
    if (out.result == engine::outcome::conflict) {
      arm(id, clock.now());  // another writer moved the payment: step again on fresh data
      return;
    }
    if (out.result == engine::outcome::not_found) return;
    after_commit(out.after, out.made.effects);
  }

  void after_commit(const refund& r, const std::vector<refund_effect>& effects) {
    if (committed) committed();
    if (is_final(r.status)) {
      disarm(r.id);
      wake(r.id);
    } else {
      arm(r.id, r.next_action_at);
    }
    for (const refund_effect& eff : effects) {
      if (std::holds_alternative<send_refund>(eff)) start(r.id, true);
      if (std::holds_alternative<send_refund_inquiry>(eff)) start(r.id, false);
    }
  }

  void start(std::int64_t id, bool refund_call) {
    asio::co_spawn(io, call(shared_from_this(), id, refund_call), asio::detached);
  }

  static asio::awaitable<void> call(std::shared_ptr<refund_driver_core> self, std::int64_t id, bool refund_call) {
    const auto r = self->store.load_refund(id);
    const auto p = r ? self->store.load(r->payment_row) : std::nullopt;
    if (!r || !p) co_return;
    if (refund_call) {
      refund_call_result res{no_refund_answer(), {}};
      try {
        res = co_await self->rgw.refund(*p, *r);
      } catch (const std::exception& e) {
        log_line(log_level::warn, "refund call failed", {{"refund", id}, {"error", e.what()}});
      }
      std::vector<store::call_record> calls;
      if (!res.call.api.empty()) calls.push_back(std::move(res.call));
      self->step(id, res.ev, std::move(calls));
      co_return;
    }
    call_result res{inquiry_no_answer{no_answer_reason::transport_error}, {}};
    try {
      res = co_await self->gw.inquiry(*p);
    } catch (const std::exception& e) {
      log_line(log_level::warn, "refund inquiry failed", {{"refund", id}, {"error", e.what()}});
    }
    refund_event ev = inquiry_no_answer{no_answer_reason::transport_error};
    if (const auto* a = std::get_if<inquiry_answer>(&res.ev)) ev = *a;
    if (const auto* n = std::get_if<inquiry_no_answer>(&res.ev)) ev = *n;
    std::vector<store::call_record> calls;
    if (!res.call.api.empty()) {
      res.call.refund_id = id;
      calls.push_back(std::move(res.call));
    }
    self->step(id, ev, std::move(calls));
  }

  void wake(std::int64_t id) {
    const auto it = watchers.find(id);
    if (it == watchers.end()) return;
    for (auto& t : it->second) t->cancel();
    watchers.erase(it);
  }
};

refund_driver::refund_driver(asio::io_context& io, engine::refund_engine& eng, store::payment_store& store,
                             const payment_clock& clock, gateway& gw, refund_gateway& rgw)
    : core_(std::make_shared<refund_driver_core>(io, eng, store, clock, gw, rgw)) {}

refund_driver::~refund_driver() { core_->timer.cancel(); }

std::size_t refund_driver::recover() {
  const auto open = core_->eng.recover();
  for (const auto& d : open) core_->arm(d.refund_id, d.next_action_at);
  return open.size();
}

asio::awaitable<engine::refund_order_result> refund_driver::create(engine::refund_order order,
                                                                   std::chrono::milliseconds wait) {
  auto core = core_;
  auto res = core->eng.create(order, core->clock.now());
  if (res.status != engine::refund_order_status::created) co_return res;
  auto watcher = std::make_shared<asio::steady_timer>(core->io);
  watcher->expires_after(wait);
  core->watchers[res.r.id].push_back(watcher);
  core->after_commit(res.r, res.effects);
  if (wait.count() > 0) {
    boost::system::error_code ec;
    co_await watcher->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (auto again = core->store.load_refund(res.r.id)) res.r = std::move(*again);
  res.effects.clear();
  co_return res;
}

void refund_driver::on_commit(std::function<void()> observer) { core_->committed = std::move(observer); }

std::size_t refund_driver::armed() const { return core_->armed.size(); }

}  // namespace cashier::daemon
