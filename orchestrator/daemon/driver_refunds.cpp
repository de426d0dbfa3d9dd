// Refunds in the driver (driver.hpp, serve_refunds and after): the scheduler keeps their
// deadlines in its heap and pays their calls from its budget; here each refund input is
// committed through the refund engine, and the merchant's create is started and waited for.
#include <utility>

#include "orchestrator/daemon/crash_point.hpp"
#include "orchestrator/daemon/driver_core.hpp"
#include "orchestrator/daemon/log.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;

void driver_core::commit_refund(engine::refund_input& in) {
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

}  // namespace cashier::daemon
