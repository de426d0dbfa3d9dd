// The driver's cluster side (driver.hpp, fence_with and after): where group commits take their
// fence, and the scheduler's shard half for the lease manager's executor (cluster_member.hpp).
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <utility>

#include "orchestrator/daemon/driver_core.hpp"
#include "orchestrator/daemon/log.hpp"

namespace cashier::daemon {

/// Cluster mode: inputs of a shard dropped before they committed fail like a store outage (the
/// merchant or Alipay+ retries, and reaches the new owner or its inbox).
void driver_core::fail_dropped(const std::vector<engine::ticket>& tickets) {
  for (const auto t : tickets)
    if (t != 0)
      waiters.resolve(t, nullptr, std::make_exception_ptr(store::store_error(
                                      store::store_failure::busy, "the payment's shard moved to another instance")));
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

boost::asio::awaitable<void> driver::delete_inbox_row(std::int64_t inbox_id, store::shard_id shard) {
  auto core = core_;
  const auto epochs = core->epochs();
  if (!core->fence || !epochs) co_return;
  // An empty batch: the commit is only the fence check and the row's delete (inbox_applied
  // without a transition), in one transaction.
  auto drop = [cluster = core->fence->store, fence = *epochs,
               applied = store::inbox_applied{inbox_id, shard, std::nullopt}](store::payment_store&) {
    cluster->commit_fenced({}, fence, std::span<const store::inbox_applied>(&applied, 1));
    return true;
  };
  co_await core->db.call(std::move(drop));
}

}  // namespace cashier::daemon
