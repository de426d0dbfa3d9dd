// The daemon's side of the cluster inbox (proto-docs/cluster.md "The inbox"), on the reactor
// thread. route() is the one decision the entry points (notify endpoint, merchant cancel, admin
// cancel and inquiry) ask: in cluster mode, an input for a payment whose shard this instance does
// not act for is encoded (engine/inbox_codec.hpp) and posted as an inbox row instead of being
// submitted, and the caller answers from what route() returns once the row is durable. poll()
// is the owner's half: it reads the inbox rows of the shards held and submits each row's input
// to the driver with inbox_id set, so the row is deleted in the fenced commit that applies it; a
// conflict, not_owner or store failure releases the row for the next poll. A refund order made on
// a non-owner travels the same way (post_refund, kind `refund`): the owner creates it with
// driver::create_refund and then deletes the row in a fenced commit of its own; so does the
// operator's redeliver of a merchant event (post_redeliver, kind `redeliver`: the owner's webhook
// sender re-queues it, then the row is deleted). Outside cluster mode
// (no relay) nothing changes. Who holds which shard is not decided here: the lease executor
// (cluster_member) gives acts_for() and calls poll() on its claim ticks and at takeovers.
// Both store statements (the post, the inbox read) are jobs on the store thread: route() is a
// coroutine that resumes once the row is durable; a poll's rows come back later, one poll read
// out at a time (a poll asked for meanwhile runs after it), and the rows of a shard no longer
// acted for by then are left to its next owner.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/metrics.hpp"
#include "orchestrator/daemon/store_thread.hpp"
#include "orchestrator/daemon/webhook_sender.hpp"
#include "orchestrator/engine/clock.hpp"
#include "orchestrator/engine/engine.hpp"
#include "orchestrator/engine/inbox_codec.hpp"
#include "orchestrator/engine/refunds.hpp"
#include "state/store/cluster_store.hpp"

namespace cashier::daemon {

/// What the relay works with; everything outlives it.
struct inbox_relay_deps {
  boost::asio::io_context& io;  ///< the reactor (the applying coroutines run on it)
  store::cluster_store& store;  ///< the cluster half of the daemon's store (used by `db`'s jobs only)
  store_thread& db;             ///< the thread that runs post_inbox and inbox_of
  engine::engine& eng;          ///< the machine's parameters, for answering a posted request
  driver& drv;                  ///< where applied rows' inputs are submitted
  const payment_clock& clock;   ///< the payment clock (the instant a request is judged at)
  store::shard_id shard_count;  ///< shards in the database
  /// True while this instance acts for the shard (the lease manager's trust).
  std::function<bool(store::shard_id)> acts_for;
  metrics* stats = nullptr;  ///< where the counters are published (cashierd_inbox_*), if anywhere
};

/// The relay's counters (metrics, tests).
struct inbox_relay_stats {
  std::uint64_t posted = 0;       ///< rows posted by route()
  std::uint64_t submitted = 0;    ///< rows submitted for applying (a retry counts again)
  std::uint64_t applied = 0;      ///< rows whose input committed (the row deleted with it; a
                                  ///< refund row: created or refused for good, then deleted)
  std::uint64_t retried = 0;      ///< rows released after a conflict, not_owner or store failure
  std::uint64_t undecodable = 0;  ///< rows kept because they do not decode (logged; malformed ones as an anomaly)
  std::uint64_t poll_failures = 0;  ///< polls the store failed (the next one retries)
  std::uint64_t reads = 0;          ///< inbox reads handed to the store thread (polls asked for
                                    ///< while one is out share the next)
};

/// Routes inputs to the inbox and applies the inbox rows of the shards held. Reactor thread only.
class inbox_relay {
 public:
  /// Rows read per inbox_of() call; a poll pages through all of a shard set's rows.
  static constexpr std::size_t page_rows = 256;
  /// Rows one poll reads at most (a backlog is taken over several polls).
  static constexpr std::size_t max_rows_per_poll = 16 * page_rows;

  explicit inbox_relay(inbox_relay_deps deps);
  /// A store answer arriving after this does nothing.
  ~inbox_relay();
  inbox_relay(const inbox_relay&) = delete;
  inbox_relay& operator=(const inbox_relay&) = delete;

  /// The decision: when the payment Alipay+ knows as `alipay_request_id` (its shard) is not acted
  /// for, posts `in` (its payment_id set) to the inbox and returns the output to answer with:
  /// `unchanged`, `after` = `stored` (the payment as this instance read it; empty for a notify
  /// that did not load it). A cancel or inquiry the machine refuses for `stored` (a final
  /// payment: stable whoever owns it) is not posted and comes back refused, as the owner would
  /// answer. Nothing = act for it here: submit `in` as usual. An input the inbox cannot carry is
  /// submitted as usual too (the fence answers not_owner). Throws store::store_error when the
  /// post fails (nothing written), like a failed commit. The post is a store-thread job: the
  /// caller resumes once the row is durable; `in`, `alipay_request_id` and `stored` must live
  /// until then (the awaiting coroutine's frame).
  boost::asio::awaitable<std::optional<engine::output>> route(const engine::input& in,
                                                              std::string_view alipay_request_id,
                                                              const payment* stored = nullptr);
  /// route() for a payment in hand.
  boost::asio::awaitable<std::optional<engine::output>> route(const engine::input& in, const payment& stored) {
    const std::string id(store::alipay_request_id(stored));
    co_return co_await route(in, id, &stored);
  }

  /// Posts refund order `order` (its payment_id set) as a `refund` row for the owner of the shard
  /// of the payment Alipay+ knows as `alipay_request_id`, whoever that is, and returns the row id
  /// once it is durable (a store-thread job; `order` must live until then). Nothing when the
  /// order cannot travel (engine::encode_refund_inbox refused it; nothing written). Throws
  /// store::store_error when the post fails (nothing written).
  boost::asio::awaitable<std::optional<std::int64_t>> post_refund(const engine::refund_order& order,
                                                                  std::string_view alipay_request_id);
  /// Posts the operator's redeliver of merchant event `event_id` (of payment `payment_id`, which
  /// Alipay+ knows as `alipay_request_id`) as a `redeliver` row for the owner of its shard, and
  /// returns the row id once it is durable. Nothing when the id cannot travel (nothing written).
  /// Throws store::store_error when the post fails (nothing written).
  boost::asio::awaitable<std::optional<std::int64_t>> post_redeliver(std::string event_id, std::int64_t payment_id,
                                                                     std::string_view alipay_request_id);
  /// The owner's half of a redeliver row: `webhooks` re-queues the event (webhook_sender::
  /// redeliver), then the row is deleted in a fenced commit. Without it, such rows are kept for an
  /// instance that has a sender (as rows of an unknown format).
  void use_webhooks(webhook_sender& webhooks);

  /// The shard of the payment Alipay+ knows as `alipay_request_id`.
  store::shard_id shard_of(std::string_view alipay_request_id) const;

  /// True when this instance acts for the shard of the payment Alipay+ knows as
  /// `alipay_request_id` (what a fenced commit of it needs).
  bool acts_for(std::string_view alipay_request_id) const;

  /// Applies the inbox rows of `held` (the shards acted for): every row not already taken is
  /// decoded and submitted with inbox_id set, once the read (a store-thread job) is back; a row
  /// of a shard acts_for() no longer holds then is not. Store failures are logged and counted;
  /// the next poll retries. Rows of shards not in `held` are forgotten (a later takeover reads
  /// them again). While a read is out, the last poll asked for waits and runs after it.
  void poll(std::span<const store::shard_id> held);
  /// poll() of every shard acts_for() says is held (a NOTIFY wake-up).
  void poll_held();
  /// True while a poll's read is out (tests).
  bool polling() const;

  /// The counters.
  const inbox_relay_stats& stats() const;

 private:
  struct state;
  /// What a poll read: the rows, and whether they are all the rows of its shards.
  struct read_rows;
  /// Hands the read of `held`'s rows to the store thread (or queues it behind the one out).
  static void start_poll(const std::shared_ptr<state>& st, std::vector<store::shard_id> held);
  /// The read came back: submits the rows not taken whose shard is still acted for.
  static void take_rows(const std::shared_ptr<state>& st, std::vector<store::shard_id> held, read_rows rows);
  /// Submits a row's input and settles its taken entry from the outcome.
  static boost::asio::awaitable<void> apply_row(std::shared_ptr<state> st, engine::input in, std::uint64_t token);
  /// A row that does not decode (or cannot be applied here): kept and taken, logged once (a
  /// malformed one as an anomaly too).
  static void keep_undecodable(state& st, const store::inbox_entry& row, std::uint64_t token,
                               const engine::inbox_decode_error& error);
  /// Settles row `id`'s taken entry after its apply (released, or kept taken until it is gone).
  static void settle(state& st, std::int64_t id, std::uint64_t token, bool release);
  /// Creates a `refund` row's order, deletes the row once the outcome is final, and settles its
  /// taken entry.
  static boost::asio::awaitable<void> apply_refund_row(std::shared_ptr<state> st, engine::refund_order order,
                                                       std::int64_t id, store::shard_id shard, std::uint64_t token);
  /// Re-queues a `redeliver` row's event, deletes the row, and settles its taken entry.
  static boost::asio::awaitable<void> apply_redeliver_row(std::shared_ptr<state> st, std::string event_id,
                                                          std::int64_t id, store::shard_id shard, std::uint64_t token);
  /// Posts `msg` for payment `payment_id` in `shard`: the row id once durable (a store-thread job).
  static boost::asio::awaitable<std::int64_t> post(std::shared_ptr<state> st, store::shard_id shard,
                                                   std::int64_t payment_id, engine::inbox_message msg);
  std::shared_ptr<state> st_;
};

}  // namespace cashier::daemon
