// The engine: the I/O-free heart of the driver, shared by the daemon and the deterministic
// simulation. For a batch of inputs it loads each payment from the store, asks the machine for
// a decision, turns the decision into store records (event-log row, merchant outbox row with
// its webhook payload, anomalies, the call or notify that caused it) and commits the whole
// batch in ONE store transaction (group commit). It returns what the caller must do next:
// sends to execute, deadlines to arm, acks to write. It never sends, sleeps or reads a clock;
// the caller executes effects only after apply() returned, i.e. after the commit.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "state/machine/machine.hpp"
#include "state/machine/refund.hpp"
#include "state/store/cluster_store.hpp"
#include "state/store/store.hpp"

namespace cashier::engine {

/// One input: an event for an existing payment, a new payment, or (neither) a log-only write.
struct input {
  std::int64_t payment_id = 0;               ///< existing payment; 0 with `create` or log-only
  std::optional<payment> create;             ///< a new payment (INIT, pending PAY, pay_request set)
  event ev = deadline_reached{};             ///< the machine event (`created` with `create`)
  std::vector<store::call_record> calls;     ///< Alipay+ calls to log with this input
  std::vector<store::notify_record> notifies;///< inbound notifies to log with this input
  std::vector<store::anomaly_record> anomalies;  ///< extra anomalies found by the caller
  std::int64_t inbox_id = 0;  ///< cluster mode: the inbox row this input came from, deleted with it
};

/// Cluster mode: commit through the fence (cluster_store.hpp) with the epochs held.
struct fence {
  store::cluster_store& store;                  ///< the cluster half of the engine's store
  std::span<const store::shard_epoch> epochs;  ///< the shards held, at the epochs claimed
};

/// What became of one input.
enum class outcome {
  applied,     ///< the decision changed the payment and is durable
  unchanged,   ///< the machine changed nothing (logs, if any, are durable)
  duplicate,   ///< create: the payment_request_id exists (`after` is the existing payment)
  not_found,   ///< no payment with this id (logs, if any, are durable)
  conflict,    ///< another writer changed the payment first; nothing written, retry
  rejected,    ///< the store refused it (an invariant); nothing written
  not_owner,   ///< a fenced commit: the payment's shard is no longer held (cluster mode); nothing written
};

/// The result of one input, in batch order.
struct output {
  outcome result = outcome::unchanged;  ///< what happened
  payment after;                         ///< the payment as stored now (empty for log-only / not_found)
  decision made;                         ///< the machine's decision (effects to execute)
  std::string detail;                    ///< rejected: why
  /// The refund this commit created (start_refund: a cancel of a SUCCESS after the window),
  /// with its first deadline, for the scheduler to arm; nothing when none was created.
  std::optional<store::refund_deadline> started_refund{};
};

/// Settings of the engine.
struct engine_config {
  machine_params params;  ///< the machine's schedules
  /// Where the merchant events of a payment go ("" = feed only, no delivery).
  std::function<std::string(const payment&)> webhook_url;
  /// The id of a new merchant event `seq` of payment `p`, made once and stored with the event;
  /// empty = random_event_id() (tests and the simulation may want reproducible ids).
  std::function<std::string(const payment& p, std::int32_t seq)> new_event_id = {};
  /// The refund request bytes for a full refund the machine asks for (start_refund: a cancel of
  /// a SUCCESS payment after the cancel window); empty = such refunds are not created (an anomaly
  /// `refund_not_started` says so). Issue 16.
  std::function<std::string(const payment& p, const refund& r)> build_refund_request = {};
  /// cashierd's own Alipay+ refundRequestId for such a refund; empty = random_id("rf_").
  std::function<std::string()> new_refund_request_id = {};
};

/// Drives payments through the machine with group-committed store writes.
class engine {
 public:
  /// An engine over `store` (which must outlive it).
  engine(store::payment_store& store, engine_config config);
  /// Applies the batch at payment-clock instant `now`: one durable commit for all of it, fenced
  /// when `f` is given (cluster mode: a transition of a shard not held comes back not_owner).
  /// Throws store::store_error on infrastructure failure (then nothing of the batch is written).
  std::vector<output> apply(std::span<const input> batch, time_point now, const fence* f = nullptr);
  /// Applies one input (a batch of one).
  output apply_one(const input& in, time_point now);
  /// Every open payment and its deadline, to re-arm the timers after a start.
  std::vector<store::deadline> recover() { return store_.open_deadlines(); }
  /// The machine's parameters.
  const machine_params& params() const { return config_.params; }
  /// The store.
  store::payment_store& store() { return store_; }

 private:
  store::payment_store& store_;
  engine_config config_;
};

/// A new merchant event id (webhook-id): "evt_" + 26 base32 characters of 128 random bits. It
/// is stored with the event and stable from then on; unlike the former `evt_<row id>_<seq>` it
/// reveals nothing of how many payments exist.
std::string random_event_id();

/// The merchant webhook body (Standard Webhooks shape) for event `seq` of type `type`, whose
/// id is `event_id`; `cancel_code` is the Alipay+ code a payment.cancel_failed carries
/// (data.cancelResult).
std::string webhook_payload(const payment& p, merchant_event_type type, std::int32_t seq,
                            std::string_view event_id, time_point now,
                            std::string_view cancel_code = {});

}  // namespace cashier::engine
