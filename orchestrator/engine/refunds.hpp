// The refund engine: the I/O-free core of refunds, beside the payment engine (engine.hpp) and
// over the same store. create() checks a merchant's (operator's, or a late cancel's) refund
// order against the payment, gives it cashierd's own Alipay+ refundRequestId and its request
// bytes, and stores it PROCESSING before anything is sent; apply() feeds one refund event
// (an answer, no answer, the confirming inquiry's answer, its timer) to the refund machine and
// commits the result with the payment's shared event counter, the merchant outbox row
// (`refund.succeeded` / `refund.failed`, data.payment + data.refund) and the call log in ONE
// transaction. Like the payment engine it never sends, sleeps or reads a clock: the caller
// executes the returned effects after the commit. In cluster mode (fence_with) every commit goes
// through the store's fence, so an instance that lost the payment's shard writes nothing of a
// refund of it (proto-docs/cluster.md "Fencing").
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "orchestrator/engine/engine.hpp"
#include "state/machine/refund.hpp"
#include "state/store/cluster_store.hpp"
#include "state/store/store.hpp"

namespace cashier::engine {

/// A request for a refund of one payment.
struct refund_order {
  std::int64_t payment_id = 0;    ///< the payment (store id)
  std::string refund_request_id;  ///< the merchant's key, unique per payment (≤ 64)
  money amount;                   ///< refundAmount (> 0, the payment's currency)
  std::string reason;             ///< refundReason, may be empty
  refund_origin origin = refund_origin::merchant;  ///< who asked
  /// The order as the merchant sent it, canonical: a repeat with the same key must match it.
  std::string merchant_request;
};

/// What became of a refund order.
enum class refund_order_status {
  created,         ///< stored PROCESSING; execute `effects` (the first send)
  repeat,          ///< the same key with the same body: `r` is the existing refund
  inconsistent,    ///< the same key with another body (REPEAT_REQ_INCONSISTENT)
  amount_exceed,   ///< the payment's refunds would exceed its amount (REFUND_AMOUNT_EXCEED)
  not_refundable,  ///< the payment is not SUCCESS, or a cancel is pending (PAYMENT_NOT_REFUNDABLE)
  not_found,       ///< no such payment
  conflict,        ///< another writer got there first; nothing written, try again
};

/// "created", "repeat", ...
std::string_view to_string(refund_order_status s);

/// The result of create().
struct refund_order_result {
  refund_order_status status = refund_order_status::not_found;  ///< what happened
  refund r;                             ///< the refund (created or existing), when there is one
  std::vector<refund_effect> effects;   ///< created: what to execute after the commit
};

/// What refund_engine::create() answers for `order` without writing anything, read from `s`: not_found,
/// repeat or inconsistent (an existing refund under the key, `r` set), not_refundable or
/// amount_exceed; nothing when create() would store a new refund. Read-only, so any instance may
/// ask it: in cluster mode a non-owner answers from it before it posts the order to the inbox
/// (merchant_refunds.cpp), as the owner's create() would.
std::optional<refund_order_result> answer_without_creating(store::payment_store& s, const refund_order& order);

/// The result of apply().
struct refund_output {
  outcome result = outcome::unchanged;  ///< applied, unchanged, not_found, conflict, rejected
  refund after;                         ///< the refund as stored now
  refund_decision made;                 ///< the machine's decision (effects to execute)
  std::string detail;                   ///< rejected: why
};

/// Settings of the refund engine.
struct refund_engine_config {
  refund_params params;  ///< the refund machine's schedules
  /// The exact refund request body for refund `r` of payment `p` (the Alipay+ codec), built
  /// once when the refund is created and resent byte-identical.
  std::function<std::string(const payment& p, const refund& r)> build_request;
  /// cashierd's own Alipay+ refundRequestId for a new refund; empty = random_id("rf_").
  std::function<std::string()> new_request_id = {};
  /// Where the payment's merchant events go ("" = feed only).
  std::function<std::string(const payment&)> webhook_url = {};
  /// A new merchant event id; empty = random_event_id().
  std::function<std::string(const payment& p, std::int32_t seq)> new_event_id = {};
};

/// Drives refunds through the refund machine with store writes.
class refund_engine {
 public:
  /// A refund engine over `store` (which must outlive it).
  refund_engine(store::payment_store& store, refund_engine_config config);
  /// Checks and stores a new refund (PROCESSING, its first send armed) at `now`. Throws
  /// store::store_error on infrastructure failure. `epochs`, when given, is the fence of this
  /// commit taken by the caller (cluster mode, fence_with): a caller on another thread than the
  /// lease manager's takes them there; null = `held()` now.
  refund_order_result create(const refund_order& order, time_point now,
                             const std::vector<store::shard_epoch>* epochs = nullptr);
  /// Feeds `e` to refund `refund_id` at `now`, logging `calls` (the call that produced it) with it.
  /// `epochs`: as for create().
  refund_output apply(std::int64_t refund_id, const refund_event& e,
                      std::vector<store::call_record> calls, time_point now,
                      const std::vector<store::shard_epoch>* epochs = nullptr);
  /// Every PROCESSING refund and its deadline, to re-arm the timers after a start.
  std::vector<store::refund_deadline> recover() { return store_.open_refund_deadlines(); }
  /// Cluster mode: from now on every commit is `cluster`.commit_fenced with the epochs `held`
  /// gives at that moment (the lease manager's view), `cluster` being the cluster half of the
  /// engine's store. A refund of a payment whose shard is not held writes nothing: create() comes
  /// back `conflict` (the caller answers "retry later"), apply() `not_owner` (the scheduler drops
  /// the refund's timer: the shard's owner drives it). An empty `held` function unfences.
  void fence_with(store::cluster_store& cluster, std::function<std::vector<store::shard_epoch>()> held);

 private:
  store::commit_outcome commit(const store::transition& t, const std::vector<store::shard_epoch>* epochs);

  store::payment_store& store_;
  refund_engine_config config_;
  store::cluster_store* cluster_ = nullptr;                  // fence_with(), or unfenced
  std::function<std::vector<store::shard_epoch>()> held_;  // the epochs to fence with
};

/// The public refund object: refundRequestId, status, refundAmount, reason, refundId,
/// refundTime, result (null until settled), createdAt, updatedAt.
boost::json::object refund_to_json(const refund& r);

/// The public payment object with `refundedAmount` (the sum of SUCCESS refunds) and `refunds[]`.
boost::json::object payment_with_refunds_json(const payment& p, const std::vector<refund>& refunds);

/// The merchant webhook body of a refund event (type refund.succeeded / refund.failed):
/// data.payment (with its refunds), data.refund, data.sequence, data.eventId.
std::string refund_webhook_payload(const payment& p, const std::vector<refund>& refunds,
                                   const refund& r, std::int32_t seq, std::string_view event_id,
                                   time_point now);

}  // namespace cashier::engine
