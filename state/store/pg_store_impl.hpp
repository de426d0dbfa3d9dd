// The PostgreSQL payment store class, shared by its two source files: pg_store.cpp (open and the
// write path: one transaction per batch, compare-and-set, per-transition rollback) and
// pg_reads.cpp (the queries, refunds, record decoding). Internal to state/store; users call
// open_postgres_store.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "state/store/cluster_store.hpp"
#include "state/store/pg_db.hpp"
#include "state/store/pg_store.hpp"
#include "state/store/store.hpp"

namespace cashier::store {

/// payment_store and its cluster half (pg_cluster.cpp) on one PostgreSQL connection.
class pg_store final : public clustered_store {
 public:
  /// Connects and (read-write) migrates.
  pg_store(const std::string& conninfo, const postgres_options& options);

  // payment_store, documented in store.hpp.
  std::vector<commit_outcome> commit(std::span<const transition> batch) override;
  std::optional<payment> find(std::string_view alipay_payment_request_id) override;
  std::optional<std::int64_t> id_of(std::string_view alipay_payment_request_id) override;
  std::optional<payment> find(std::string_view merchant_id,
                              std::string_view payment_request_id) override;
  std::optional<std::int64_t> id_of(std::string_view merchant_id,
                                    std::string_view payment_request_id) override;
  std::vector<payment> find_any_merchant(std::string_view payment_request_id,
                                         std::size_t limit) override;
  std::optional<payment> find_by_checkout(std::string_view checkout_id) override;
  std::optional<payment> load(std::int64_t id) override;
  std::vector<deadline> open_deadlines() override;
  std::vector<payment> list(const list_query& q) override;
  std::vector<payment> overdue(time_point now, std::size_t limit) override;
  std::vector<event_record> events_of(std::int64_t payment_id) override;
  std::vector<call_record> calls_of(std::int64_t payment_id) override;
  std::vector<notify_record> notifies_of(std::int64_t payment_id) override;
  std::vector<outbox_record> outbox_of(std::int64_t payment_id) override;
  std::vector<webhook_attempt_record> webhook_attempts_of(std::int64_t payment_id) override;
  std::vector<anomaly_record> anomalies(const anomaly_query& q) override;
  std::vector<outbox_record> events_feed(std::string_view merchant_id, std::int64_t after,
                                         std::size_t limit) override;
  std::optional<feed_page> events_after(std::string_view cursor, std::size_t limit) override;
  std::vector<outbox_record> due_outbox(time_point now, std::size_t limit) override;
  std::vector<outbox_record> dead_outbox(std::size_t limit) override;
  std::optional<outbox_record> outbox_by_event_id(std::string_view event_id) override;
  store_stats stats(time_point now) override;
  std::optional<std::string> meta(std::string_view key) override;
  void set_meta(std::string_view key, std::string_view value) override;
  std::string meta_or_set(std::string_view key, std::string_view value) override;
  prune_report prune(time_point before, bool apply) override;
  std::pair<std::int64_t, std::int64_t> rejected_notifies() override;
  std::optional<refund> load_refund(std::int64_t id) override;
  std::optional<refund> find_refund(std::int64_t payment_id,
                                    std::string_view refund_request_id) override;
  std::optional<refund> find_refund_by_alipay_id(std::string_view alipay_refund_request_id) override;
  std::vector<refund> refunds_of(std::int64_t payment_id) override;
  std::vector<refund_deadline> open_refund_deadlines() override;
  std::int64_t refunded_or_pending(std::int64_t payment_id) override;
  std::vector<call_record> calls_of_refund(std::int64_t refund_id) override;

  // cluster_store, documented in cluster_store.hpp (pg_cluster.cpp).
  shard_id shard_count() override { return shard_count_; }
  lease_answer shards() override;
  lease_answer claim(std::string_view owner, int want, duration lease, bool force,
                     std::span<const shard_id> only) override;
  lease_answer renew(std::string_view owner, std::span<const shard_epoch> held, duration lease) override;
  lease_answer release(std::string_view owner, std::span<const shard_epoch> held) override;
  std::vector<commit_outcome> commit_fenced(std::span<const transition> batch, std::span<const shard_epoch> fence,
                                            std::span<const inbox_applied> applied) override;
  std::vector<deadline> open_deadlines_of(std::span<const shard_id> shards) override;
  std::vector<refund_deadline> open_refund_deadlines_of(std::span<const shard_id> shards) override;
  std::vector<outbox_record> due_outbox_of(std::span<const shard_id> shards, time_point now,
                                           std::size_t limit) override;
  std::int64_t post_inbox(shard_id shard, std::int64_t payment_id, std::string_view kind,
                          std::string_view body) override;
  std::vector<inbox_entry> inbox_of(std::span<const shard_id> shards, std::int64_t after,
                                    std::size_t limit) override;

 private:
  /// How a batch is run: pipelined (optimistic: any failure redoes it plainly), plainly
  /// (statement by statement; a broken constraint redoes it carefully), or carefully (a
  /// savepoint per transition).
  enum class pass {
    pipelined,  ///< predictable transitions queued for pipeline mode, the rest run plainly
    plain,      ///< one statement at a time, no savepoint
    careful,    ///< one statement at a time, a savepoint per transition
  };
  /// What a fenced commit checks and deletes (commit_fenced).
  struct fence_spec {
    std::span<const shard_epoch> fence;
    std::span<const inbox_applied> applied;
  };
  void require_writable() const;
  std::vector<commit_outcome> commit_with(std::span<const transition> batch, const fence_spec* fenced);
  /// Transitions found breaking an invariant by an earlier pass, by index: rejected with this
  /// detail without running again.
  using known_rejections = std::map<std::size_t, std::string>;
  std::vector<commit_outcome> run_batch(std::span<const transition> batch, pass how, const fence_spec* fenced,
                                        const known_rejections& rejected);
  std::vector<bool> fence_passes(std::span<const shard_epoch> fence);
  bool passes_fence(const transition& t, const std::vector<bool>& passes);
  void delete_applied(const fence_spec& fenced, const std::vector<bool>& passes,
                      const std::vector<commit_outcome>& outcomes);
  time_point db_now();
  std::vector<shard_lease> read_shard_table();
  int live_instances(time_point now);
  template <class Change>
  lease_answer lease_call(std::string_view owner, duration presence, Change change);
  bool queue(const transition& t, std::vector<pg_queued>& q, commit_outcome& outcome);
  commit_outcome apply_in_savepoint(const transition& t);
  commit_outcome apply(const transition& t);
  commit_outcome insert_payment(const payment& p, const event_record* e);
  commit_outcome update_payment(const payment& p, std::int64_t expected_version,
                                const event_record* e, const payment* before);
  std::optional<commit_outcome> read_changes(const payment& p, std::int64_t expected_version,
                                             const event_record* e, std::uint64_t& changed);
  const std::string& update_sql(std::uint64_t changed);
  void insert_event(const event_record& e, std::int64_t id, std::int64_t version);
  void insert_outbox(const outbox_record& o, std::int64_t payment_id);
  void update_delivery(const outbox_progress& d);
  void insert_call(const call_record& c, std::int64_t payment_id);
  std::optional<commit_outcome> check_refunds(const transition& t);
  void write_refund(const refund_write& w, std::int64_t payment_id, commit_outcome& outcome);
  void insert_notify(const notify_record& n, std::int64_t payment_id);
  void keep_rejected_budget(std::int64_t added_bytes);
  std::pair<std::int64_t, std::int64_t> count_rejected();
  void insert_webhook_attempt(const webhook_attempt_record& w);
  void insert_anomaly(const anomaly_record& a, std::int64_t payment_id);
  std::int64_t count(const std::string& sql, std::optional<time_point> now = std::nullopt);

  pg_db db_;
  bool read_only_;
  std::int64_t budget_rows_;   // rejected-notify budget: rows
  std::int64_t budget_bytes_;  // rejected-notify budget: stored bytes
  // Rejected notifies (rows, bytes) as this connection last knew them; nothing = read it again.
  std::optional<std::pair<std::int64_t, std::int64_t>> rejected_tally_;
  bool pipeline_;              // postgres_options::pipeline
  shard_id shard_count_ = 0;   // meta shard_count, read at open
  std::function<duration()> clock_offset_;  // postgres_options::clock_offset (tests)
  std::function<time_point()> clock_;       // postgres_options::clock (the simulation)
  std::unordered_map<std::uint64_t, std::string> update_sql_;  // by changed-column mask
  std::unordered_map<std::uint64_t, std::string> cas_sql_;     // the same, as a pipelined CAS
  // The index of the transition whose statement broke an invariant in the last plain or careful
  // pass (outside a savepoint); nothing when the failure came at COMMIT or from the pipeline.
  std::optional<std::size_t> failed_at_;
};

/// "SELECT id, version, <payment columns> FROM payments " (column i is result column i + 2).
const std::string& pg_select_payment_sql();
/// The payment in row `r` of a result of a statement built on pg_select_payment_sql().
payment pg_read_payment(const pg_rows& q, int r);

}  // namespace cashier::store
