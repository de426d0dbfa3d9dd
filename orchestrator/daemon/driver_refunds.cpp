// Refunds in the driver (driver.hpp, serve_refunds and after): the scheduler keeps their
// deadlines in its heap and pays their calls from its budget; here each refund input is
// committed through the refund engine, and the merchant's create is started and waited for.
#include <utility>

#include "orchestrator/daemon/crash_point.hpp"
#include "orchestrator/daemon/driver_core.hpp"
#include "orchestrator/daemon/log.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;

/// One refund input's commit on the store thread (the flush's turn, as a batch's), its outcome
/// handled back on the reactor; then the flush goes on.
void driver_core::commit_refund(engine::refund_input in) {
  auto shared = std::make_shared<const engine::refund_input>(std::move(in));  // read by the job, then here
  auto job = [r = refunds, shared, epochs = epochs(), at = clock.now()](store::payment_store&) {
    return r->apply(shared->refund_id, shared->ev, shared->calls, at, epochs ? &*epochs : nullptr);
  };
  db.run(io.get_executor(), std::move(job),
         [self = shared_from_this(), shared](std::exception_ptr e, std::optional<engine::refund_output> out) {
           self->refund_committed(*shared, e, std::move(out));
           self->commit_next();
         });
}

void driver_core::refund_committed(const engine::refund_input& in, std::exception_ptr error,
                                   std::optional<engine::refund_output> out) {
  if (error) {
    rethrow_unless_store_error(error);
    sched.refund_commit_failed(in);
    run();
    log_line(log_level::error, "refund commit failed", {{"refund", in.refund_id}, {"error", what_of(error)}});
    return;
  }
  reach(crash_point::after_commit);
  if (refund_observer) refund_observer();
  sched.refund_committed(in, *out, now());
  run();
}

std::optional<std::vector<store::shard_epoch>> driver_core::epochs() const {
  if (!fence) return std::nullopt;
  return fence->epochs();
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
  // Named before the co_await (proto-docs/coding-rules.md: GCC 12 and lambdas under co_await).
  auto create = [r = core->refunds, &order, epochs = core->epochs(), at = core->clock.now()](store::payment_store&) {
    return r->create(order, at, epochs ? &*epochs : nullptr);
  };
  auto res = co_await core->db.call(std::move(create));
  if (res.status != engine::refund_order_status::created) co_return res;
  core->sched.refund_created(res.r, res.effects, core->now());
  core->run();
  // The settling commit comes after the call's answer, never within run(): waiting from here
  // misses nothing.
  if (wait.count() > 0) co_await core->waiters.wait_for_change(engine::refund_key(res.r.id), wait);
  auto reload = [id = res.r.id](store::payment_store& s) { return s.load_refund(id); };
  auto again = co_await core->db.call(std::move(reload));
  if (again) res.r = std::move(*again);
  res.effects.clear();
  co_return res;
}

void driver::on_refund_commit(std::function<void()> observer) { core_->refund_observer = std::move(observer); }

}  // namespace cashier::daemon
