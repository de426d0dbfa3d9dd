// Merchant webhook delivery from the store's outbox (PRODUCT.md, guarantee 5: at-least-once with
// a stable webhook-id): the Asio executor of engine::webhook_policy (orchestrator/engine/
// webhook_policy.hpp), which decides which row goes out when (slots in total and per merchant,
// per-payment order, retry schedule, give-up, redeliver). This file does the I/O the policy
// asks for: it reads the due rows and what the policy needs about them from the store, signs
// and POSTs each row it starts, commits deferrals and settled attempts (group-committed per
// reactor turn), and arms one timer at the policy's earliest wake-up, or at least every
// `recheck` (wall) to find rows written elsewhere; poke() wakes it at once after a commit that
// added rows. Runs on the reactor thread; its store calls are jobs on the store thread
// (store_thread.hpp, proto-docs/threads-and-owners.md): one poll's read and one settlement's
// commit out at a time, the reactor delivering and answering meanwhile.
//
// Cluster mode (fence_with): the sender reads only the due rows of the shards its instance holds
// (a payment's webhooks are sent by its shard's owner alone, so their order holds) and commits
// deferrals and settled attempts through the store's fence; an attempt whose shard was lost
// meanwhile is not recorded and its row is left, pending, to the new owner (at-least-once).
//
// Each due row is POSTed, Standard-Webhooks-signed with its merchant's secrets, through one
// keep-alive client per (origin, CA file); 2xx means delivered, anything else is a failed
// attempt the policy schedules again or gives up on.
//
// Destinations: a merchant chooses its URLs, so unless its config says
// allowPrivateNotifyAddresses, every address the host resolves to is checked when connecting
// (net/address_class.hpp: loopback, private, link-local, multicast... are refused, the checked
// address is the one connected to) and the attempt fails when none is left. Redirects are never
// followed: a 3xx is a failed attempt like any other non-2xx.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "orchestrator/daemon/config.hpp"
#include "orchestrator/daemon/store_thread.hpp"
#include "orchestrator/engine/clock.hpp"
#include "orchestrator/engine/webhook_policy.hpp"
#include "state/store/cluster_store.hpp"
#include "state/store/store.hpp"

namespace cashier::daemon {

/// Knobs of the webhook sender; the policy's defaults are engine::webhook_limits' (written once).
struct webhook_options {
  /// Per attempt (wall): connect, TLS, write, read; also how far a merchant-share deferral moves a row.
  std::chrono::milliseconds timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(engine::webhook_limits{}.attempt_timeout);
  std::size_t max_in_flight = engine::webhook_limits{}.max_in_flight;  ///< deliveries under way at most
  /// Deliveries under way for one merchant at most: its slow or tarpit URLs cannot take every
  /// slot (their due rows beyond it are deferred by `timeout`, so other merchants' rows are read).
  std::size_t max_in_flight_per_merchant = engine::webhook_limits{}.max_in_flight_per_merchant;
  std::chrono::milliseconds recheck{1000};   ///< wall period of the poll for rows added elsewhere
  std::size_t batch = 256;                   ///< due rows read per poll
};

using engine::delivery_report;
using engine::delivery_result;

/// Called on the reactor thread after each attempt is committed.
using delivery_observer = std::function<void(const delivery_report&)>;

/// What an operator's redeliver did.
enum class redeliver_result {
  queued,     ///< the row is pending again with attempts reset to 0, due now
  not_found,  ///< no merchant event has this id
};

struct webhook_sender_core;

/// Delivers merchant webhooks on one reactor thread.
class webhook_sender {
 public:
  /// A sender on `executor` (the reactor) whose store calls are jobs on `db`, with the payment
  /// `clock`, both outliving it; `merchants` gives each payment's secrets and CA file.
  webhook_sender(boost::asio::any_io_executor executor, store_thread& db, const payment_clock& clock,
                 std::vector<merchant_config> merchants, webhook_options options = {});
  /// Stops the timer; attempts still under way are dropped without touching the store (their
  /// rows stay pending and are sent again later: at-least-once).
  ~webhook_sender();
  webhook_sender(const webhook_sender&) = delete;
  webhook_sender& operator=(const webhook_sender&) = delete;

  /// Cluster mode: from now on read only the due rows of the shards `held` lists and commit
  /// through `cluster`.commit_fenced with those epochs (`held` is asked on the reactor at each
  /// poll and each commit: the lease manager's view; the jobs get the epochs by value);
  /// `cluster` is the cluster half of the store_thread's store, used in jobs only. An empty
  /// `held` function unfences (every row, plain commits: a single instance).
  void fence_with(store::cluster_store& cluster, std::function<std::vector<store::shard_epoch>()> held);
  /// Starts polling (the first poll runs on the next reactor turn).
  void start();
  /// Polls again on the next reactor turn (after commits that added outbox rows).
  void poke();
  /// Makes the event pending again, due now, attempts reset to 0 (a fresh retry schedule; the
  /// attempt log keeps the history). Works on dead, pending and delivered rows alike: a merchant
  /// who lost an event may ask for it again, and it keeps its webhook-id. An attempt under way
  /// for it cannot undo this. Throws store::store_error. Not fenced: an operator's request, which
  /// in cluster mode belongs on the shard owner's sender (through the inbox). The read and the
  /// commit are one job on the store thread.
  boost::asio::awaitable<redeliver_result> redeliver(std::string event_id);
  /// Adds an observer of committed attempts.
  void observe(delivery_observer observer);
  /// Stops polling; resumes when the attempts under way are committed, or after `timeout`.
  boost::asio::awaitable<void> drain(std::chrono::milliseconds timeout);
  /// Deliveries under way.
  std::size_t in_flight() const;

 private:
  std::shared_ptr<webhook_sender_core> core_;
};

}  // namespace cashier::daemon
