// The guard of the daemon's read-write store connection (proto-docs/threads-and-owners.md):
// only the store thread (store_thread.hpp) may call the store once the reactor runs. Neither
// SQLite (opened SQLITE_OPEN_NOMUTEX) nor libpq allows two threads on one connection at the
// same time: overlapping calls corrupt statements and, on SQLite, the database. This decorator
// holds a mutex for the whole of each call (each is one transaction or one read; none spans
// calls), so a call from the wrong thread is at worst slow, never a corruption; and once armed
// (only_from) it reports such a call: logged once per method, and fatal in a debug build, so
// the tests (CI runs the debug ASan build) catch a store call that slipped back onto the
// reactor. The uncontended mutex and the check cost well under a microsecond per call.
#pragma once

#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <stdexcept>
#include <utility>

#include "orchestrator/daemon/log.hpp"
#include "state/store/cluster_store.hpp"
#include "state/store/store.hpp"

namespace cashier::daemon {

/// A clustered store whose every call holds one mutex (see above).
class serialized_store final : public store::clustered_store {
  /// `call` (one call of the inner store) with the mutex held, its thread checked first (enter).
  /// Defined before the overrides that use it: its return type is deduced.
  template <class Call>
  decltype(auto) locked(const char* method, Call call) {
    const auto lock = enter(method);
    return call();
  }

 public:
  /// Wraps `inner` (a clustered store: SQLite's and PostgreSQL's both are).
  explicit serialized_store(std::unique_ptr<store::payment_store> inner)
      : inner_(std::move(inner)), cluster_(dynamic_cast<store::cluster_store*>(inner_.get())) {
    if (cluster_ == nullptr) throw std::logic_error("serialized_store: the store has no cluster half");
  }

  /// From now on a call is allowed only where `on_owner()` is true (the store thread); any other
  /// is served all the same, logged once per method ("store called off the store thread") and,
  /// in a debug build, aborts the process. Empty: any thread again (after the reactor stopped).
  void only_from(std::function<bool()> on_owner) {
    const std::lock_guard lock(mutex_);  // a job may be running
    on_owner_ = std::move(on_owner);
  }

  std::vector<store::commit_outcome> commit(std::span<const store::transition> batch) override {
    return locked(__func__, [&] { return inner_->commit(batch); });
  }
  std::optional<payment> find(std::string_view alipay_payment_request_id) override {
    return locked(__func__, [&] { return inner_->find(alipay_payment_request_id); });
  }
  std::optional<std::int64_t> id_of(std::string_view alipay_payment_request_id) override {
    return locked(__func__, [&] { return inner_->id_of(alipay_payment_request_id); });
  }
  std::optional<payment> find(std::string_view merchant_id, std::string_view payment_request_id) override {
    return locked(__func__, [&] { return inner_->find(merchant_id, payment_request_id); });
  }
  std::optional<std::int64_t> id_of(std::string_view merchant_id, std::string_view payment_request_id) override {
    return locked(__func__, [&] { return inner_->id_of(merchant_id, payment_request_id); });
  }
  std::vector<payment> find_any_merchant(std::string_view payment_request_id, std::size_t limit) override {
    return locked(__func__, [&] { return inner_->find_any_merchant(payment_request_id, limit); });
  }
  std::optional<payment> load(std::int64_t id) override {
    return locked(__func__, [&] { return inner_->load(id); });
  }
  std::optional<payment> find_by_checkout(std::string_view checkout_id) override {
    return locked(__func__, [&] { return inner_->find_by_checkout(checkout_id); });
  }
  std::vector<store::deadline> open_deadlines() override {
    return locked(__func__, [&] { return inner_->open_deadlines(); });
  }
  std::vector<payment> list(const store::list_query& q) override {
    return locked(__func__, [&] { return inner_->list(q); });
  }
  std::vector<payment> overdue(time_point now, std::size_t limit) override {
    return locked(__func__, [&] { return inner_->overdue(now, limit); });
  }
  std::vector<store::event_record> events_of(std::int64_t payment_id) override {
    return locked(__func__, [&] { return inner_->events_of(payment_id); });
  }
  std::vector<store::call_record> calls_of(std::int64_t payment_id) override {
    return locked(__func__, [&] { return inner_->calls_of(payment_id); });
  }
  std::vector<store::notify_record> notifies_of(std::int64_t payment_id) override {
    return locked(__func__, [&] { return inner_->notifies_of(payment_id); });
  }
  std::vector<store::outbox_record> outbox_of(std::int64_t payment_id) override {
    return locked(__func__, [&] { return inner_->outbox_of(payment_id); });
  }
  std::vector<store::webhook_attempt_record> webhook_attempts_of(std::int64_t payment_id) override {
    return locked(__func__, [&] { return inner_->webhook_attempts_of(payment_id); });
  }
  std::vector<store::anomaly_record> anomalies(const store::anomaly_query& q) override {
    return locked(__func__, [&] { return inner_->anomalies(q); });
  }
  std::optional<refund> load_refund(std::int64_t id) override {
    return locked(__func__, [&] { return inner_->load_refund(id); });
  }
  std::optional<refund> find_refund(std::int64_t payment_id, std::string_view refund_request_id) override {
    return locked(__func__, [&] { return inner_->find_refund(payment_id, refund_request_id); });
  }
  std::optional<refund> find_refund_by_alipay_id(std::string_view alipay_refund_request_id) override {
    return locked(__func__, [&] { return inner_->find_refund_by_alipay_id(alipay_refund_request_id); });
  }
  std::vector<refund> refunds_of(std::int64_t payment_id) override {
    return locked(__func__, [&] { return inner_->refunds_of(payment_id); });
  }
  std::vector<store::refund_deadline> open_refund_deadlines() override {
    return locked(__func__, [&] { return inner_->open_refund_deadlines(); });
  }
  std::int64_t refunded_or_pending(std::int64_t payment_id) override {
    return locked(__func__, [&] { return inner_->refunded_or_pending(payment_id); });
  }
  std::vector<store::call_record> calls_of_refund(std::int64_t refund_id) override {
    return locked(__func__, [&] { return inner_->calls_of_refund(refund_id); });
  }
  std::vector<store::outbox_record> events_feed(std::string_view merchant_id, std::int64_t after, std::size_t limit) override {
    return locked(__func__, [&] { return inner_->events_feed(merchant_id, after, limit); });
  }
  std::optional<store::feed_page> events_after(std::string_view cursor, std::size_t limit) override {
    return locked(__func__, [&] { return inner_->events_after(cursor, limit); });
  }
  std::vector<store::outbox_record> due_outbox(time_point now, std::size_t limit) override {
    return locked(__func__, [&] { return inner_->due_outbox(now, limit); });
  }
  std::vector<store::outbox_record> dead_outbox(std::size_t limit) override {
    return locked(__func__, [&] { return inner_->dead_outbox(limit); });
  }
  std::optional<store::outbox_record> outbox_by_event_id(std::string_view event_id) override {
    return locked(__func__, [&] { return inner_->outbox_by_event_id(event_id); });
  }
  store::store_stats stats(time_point now) override {
    return locked(__func__, [&] { return inner_->stats(now); });
  }
  std::optional<std::string> meta(std::string_view key) override {
    return locked(__func__, [&] { return inner_->meta(key); });
  }
  void set_meta(std::string_view key, std::string_view value) override {
    return locked(__func__, [&] { return inner_->set_meta(key, value); });
  }
  std::string meta_or_set(std::string_view key, std::string_view value) override {
    return locked(__func__, [&] { return inner_->meta_or_set(key, value); });
  }
  store::prune_report prune(time_point before, bool apply) override {
    return locked(__func__, [&] { return inner_->prune(before, apply); });
  }
  std::pair<std::int64_t, std::int64_t> rejected_notifies() override {
    return locked(__func__, [&] { return inner_->rejected_notifies(); });
  }
  store::shard_id shard_count() override {
    return locked(__func__, [&] { return cluster_->shard_count(); });
  }
  store::lease_answer shards() override {
    return locked(__func__, [&] { return cluster_->shards(); });
  }
  store::lease_answer claim(std::string_view owner, int want, duration lease, bool force = false,
                     std::span<const store::shard_id> only = {}) override {
    return locked(__func__, [&] { return cluster_->claim(owner, want, lease, force, only); });
  }
  store::lease_answer renew(std::string_view owner, std::span<const store::shard_epoch> held, duration lease) override {
    return locked(__func__, [&] { return cluster_->renew(owner, held, lease); });
  }
  store::lease_answer release(std::string_view owner, std::span<const store::shard_epoch> held) override {
    return locked(__func__, [&] { return cluster_->release(owner, held); });
  }
  std::vector<store::commit_outcome> commit_fenced(std::span<const store::transition> batch, std::span<const store::shard_epoch> fence,
                                            std::span<const store::inbox_applied> applied = {}) override {
    return locked(__func__, [&] { return cluster_->commit_fenced(batch, fence, applied); });
  }
  std::vector<store::deadline> open_deadlines_of(std::span<const store::shard_id> shards) override {
    return locked(__func__, [&] { return cluster_->open_deadlines_of(shards); });
  }
  std::vector<store::refund_deadline> open_refund_deadlines_of(std::span<const store::shard_id> shards) override {
    return locked(__func__, [&] { return cluster_->open_refund_deadlines_of(shards); });
  }
  std::vector<store::outbox_record> due_outbox_of(std::span<const store::shard_id> shards, time_point now, std::size_t limit) override {
    return locked(__func__, [&] { return cluster_->due_outbox_of(shards, now, limit); });
  }
  std::int64_t post_inbox(store::shard_id shard, std::int64_t payment_id, std::string_view kind, std::string_view body) override {
    return locked(__func__, [&] { return cluster_->post_inbox(shard, payment_id, kind, body); });
  }
  std::vector<store::inbox_entry> inbox_of(std::span<const store::shard_id> shards, std::int64_t after, std::size_t limit) override {
    return locked(__func__, [&] { return cluster_->inbox_of(shards, after, limit); });
  }

 private:
  std::unique_lock<std::mutex> enter(const char* method) {
    std::unique_lock lock(mutex_);
    if (on_owner_ && !on_owner_()) breach(method);
    return lock;
  }
  void breach(const char* method) {
    if (reported_.insert(method).second)
      log_line(log_level::error, "store called off the store thread", {{"method", method}});
#ifndef NDEBUG
    std::abort();
#endif
  }

  std::unique_ptr<store::payment_store> inner_;
  store::cluster_store* cluster_;
  std::mutex mutex_;
  std::function<bool()> on_owner_;  // only_from(); empty: any thread
  std::set<std::string> reported_;  // methods logged (under mutex_)
};

}  // namespace cashier::daemon
