// A refund order's placement (refund_placement.hpp).
#include "orchestrator/daemon/refund_placement.hpp"

#include <array>
#include <optional>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "orchestrator/daemon/merchant_answers.hpp"
#include "state/store/cluster_store.hpp"

namespace cashier::daemon {
namespace {

namespace asio = boost::asio;

/// Retries of a refund order that lost a race with another writer of its payment.
constexpr int max_refund_conflicts = 3;
/// How often a non-owner re-reads the store for the refund its inbox row asked the owner for.
constexpr std::chrono::milliseconds refund_poll_interval{25};

placed_refund answered(engine::refund_order_result r) { return {placement_end::answered, std::move(r)}; }

/// The re-read (a store-thread job): the row first, then the refund, so a row seen gone means any
/// refund its create stored is already visible (the owner creates, then deletes the row). The
/// refund (created, or another body's under the key), the owner's refusal (its row gone without a
/// refund: the read-only checks say why, conflict when they pass again), or nothing yet.
std::optional<engine::refund_order_result> read_progress(store::payment_store& s, const engine::refund_order& order,
                                                         store::shard_id shard, std::int64_t row) {
  auto& cluster = dynamic_cast<store::cluster_store&>(s);
  const std::array<store::shard_id, 1> shards{shard};
  const auto rows = cluster.inbox_of(shards, row - 1, 1);
  const bool row_gone = rows.empty() || rows.front().id != row;
  if (auto r = s.find_refund(order.payment_id, order.refund_request_id)) {
    // Stored by the owner from this order: answered as its create answered (201/202); another
    // body under the key: 409, as a repeat would be.
    const auto status = r->merchant_request == order.merchant_request ? engine::refund_order_status::created
                                                                      : engine::refund_order_status::inconsistent;
    return engine::refund_order_result{status, std::move(*r), {}};
  }
  if (!row_gone) return std::nullopt;
  if (auto refused = engine::answer_without_creating(s, order)) return refused;
  return engine::refund_order_result{engine::refund_order_status::conflict, {}, {}};
}

/// Cluster mode, on a non-owner: through the owner's inbox.
asio::awaitable<placed_refund> through_inbox(refund_placement_deps deps, engine::refund_order order,
                                             std::string alipay_request_id) {
  // The read-only checks first (a repeat answers 200 here; a refusal answers without posting a
  // row the owner would only refuse).
  auto check = [&order](store::payment_store& s) { return engine::answer_without_creating(s, order); };
  auto known = co_await deps.db.call(std::move(check));
  if (known) co_return answered(std::move(*known));
  const auto row = co_await deps.inbox->post_refund(order, alipay_request_id);
  if (!row) co_return placed_refund{placement_end::not_posted, {}};
  const auto shard = deps.inbox->shard_of(alipay_request_id);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto give_up = std::chrono::steady_clock::now() + deps.wait;
  for (;;) {
    auto reread = [&order, shard, id = *row](store::payment_store& s) { return read_progress(s, order, shard, id); };
    auto progress = co_await deps.db.call(std::move(reread));
    if (progress) {
      // The row is gone and the checks pass again (an amount freed meanwhile): retry.
      if (progress->status == engine::refund_order_status::conflict) co_return placed_refund{};
      co_return answered(std::move(*progress));
    }
    if (std::chrono::steady_clock::now() >= give_up) co_return placed_refund{placement_end::accepted, {}};
    timer.expires_after(refund_poll_interval);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

}  // namespace

asio::awaitable<placed_refund> place_refund(refund_placement_deps deps, engine::refund_order order,
                                            std::string alipay_request_id) {
  if (deps.inbox != nullptr && !deps.inbox->acts_for(alipay_request_id)) {
    // Cluster mode: a refund is created and driven by its payment's owner (the fence refuses its
    // writes anywhere else): the order goes to it through the inbox.
    co_return co_await through_inbox(deps, std::move(order), std::move(alipay_request_id));
  }
  for (int attempt = 0; attempt < max_refund_conflicts; ++attempt) {
    auto res = co_await deps.drv.create_refund(order, deps.wait);
    if (res.status != engine::refund_order_status::conflict) co_return answered(std::move(res));
  }
  co_return placed_refund{};
}

net::response answer_to(const placed_refund& placed, std::string_view amount_field, net::response not_found) {
  using namespace answers;
  switch (placed.end) {
    case placement_end::answered: break;
    case placement_end::accepted:
      return retry_later(
          "the refund was accepted for processing by the instance that drives this payment; retry with the same "
          "refundRequestId to get it");
    case placement_end::not_posted:
      return retry_later("another cashierd instance drives this payment now; nothing was recorded, retry later");
    case placement_end::kept_changing: return retry_later("the payment kept changing; nothing was recorded, retry later");
  }
  const auto& res = placed.result;
  switch (res.status) {
    case engine::refund_order_status::created:
      return json_response(is_final(res.r.status) ? 201 : 202, engine::refund_to_json(res.r));
    case engine::refund_order_status::repeat: return json_response(200, engine::refund_to_json(res.r));
    case engine::refund_order_status::inconsistent:
      return error_response(409, "REPEAT_REQ_INCONSISTENT", "refundRequestId is already used by a different request",
                            "refundRequestId");
    case engine::refund_order_status::amount_exceed:
      return error_response(400, "REFUND_AMOUNT_EXCEED", "the payment's refunds would exceed its amount", amount_field);
    case engine::refund_order_status::not_refundable:
      return error_response(400, "PAYMENT_NOT_REFUNDABLE",
                            "only a SUCCESS payment with no cancel pending can be refunded", "paymentRequestId");
    case engine::refund_order_status::not_found: return not_found;
    case engine::refund_order_status::conflict: break;  // place_refund answers kept_changing instead
  }
  return retry_later("the payment kept changing; nothing was recorded, retry later");
}

}  // namespace cashier::daemon
