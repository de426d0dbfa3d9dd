// The merchant API (PRODUCT.md "Merchant API"): every request under /v1/, authenticated by a
// Bearer token per merchant, answered with JSON. Create validates the body, builds the payment
// and its byte-exact pay request, submits it to the driver (answering only after the commit)
// and waits up to createWaitMs for the pay answer; GET, cancel, consult and the events feed
// serve the merchant's own data only: paymentRequestIds are looked up per merchant, so another
// merchant's id is simply unknown (404, the same answer), and a create with it is a new payment.
// Consult answers are cached per (merchant, record, currency, amount band, region, terminal,
// settlement currency) for payment.consultCacheSeconds. It runs on the reactor thread; its reads
// are jobs on the store thread (store_thread.hpp), awaited, so the reactor goes on serving while
// the store answers. It never changes a payment except through driver::submit.
//
// Routes come from the daemon's one route table (routes.hpp), which percent-decodes the path id.
// Answers: 200/201/202 with JSON; errors are {"error":{"code","message","field"?}} with
// 400 INVALID_REQUEST (field-level, `details` lists every error when there are several; also a
// path id that is bad percent-encoding or holds '/' or a control character once decoded),
// 400 MERCHANT_MISMATCH (order.merchant or consult's merchant is not a configured record of the
// merchant),
// 401 UNAUTHORIZED, 404 NOT_FOUND / PAYMENT_NOT_FOUND, 405 METHOD_NOT_ALLOWED (with Allow),
// 409 REPEAT_REQ_INCONSISTENT / PAYMENT_FINAL, 413 PAYLOAD_TOO_LARGE, 415 UNSUPPORTED_MEDIA_TYPE
// (a non-empty POST body whose Content-Type is not application/json), 500 INTERNAL,
// 502 ALIPAYPLUS_UNAVAILABLE / ALIPAYPLUS_REJECTED (consult), 503 STORE_UNAVAILABLE.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <unordered_map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "orchestrator/engine/clock.hpp"
#include "orchestrator/daemon/config.hpp"
#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/inbox_relay.hpp"
#include "orchestrator/daemon/routes.hpp"
#include "orchestrator/daemon/store_thread.hpp"
#include "orchestrator/engine/engine.hpp"
#include "orchestrator/net/http_types.hpp"

namespace cashier::daemon {

/// The most consult answers kept (consult_cache_key); the soonest to expire goes first.
inline constexpr std::size_t max_consult_cache_entries = 1024;

/// The amount band of a consult: the bit width of the value in minor units (0 for 0), so
/// amounts within a factor of two share an answer.
int consult_amount_band(std::int64_t minor_units);

/// What a consultPayment call produced: the verified answer body, or why there is none.
struct consult_outcome {
  std::optional<std::string> verified_body;  ///< the answer, its signature verified
  std::string error;                         ///< without an answer: e.g. "timeout", "bad_signature"
};

/// Sends a consultPayment request body (signed by the gateway) and returns its outcome.
using consult_function = std::function<boost::asio::awaitable<consult_outcome>(std::string body)>;

/// What the merchant API works with; everything outlives it.
struct merchant_api_deps {
  const config& cfg;           ///< merchants, notifyUrl, defaultExpiryMinutes, createWaitMs
  driver& drv;                 ///< the only way to change a payment
  store_thread& db;            ///< every read: a job on the store thread, awaited
  const payment_clock& clock;  ///< payment clock for createdAt and expiry checks
  consult_function consult;    ///< the gateway's consultPayment
  /// Cluster mode: a new payment's Alipay+ paymentRequestId, drawn into a shard this instance
  /// acts for (cluster_member), or nothing when it acts for none (503). Empty: any fresh id.
  std::function<std::optional<std::string>()> new_alipay_id = {};
};

/// Serves /v1/ for the merchants of the configuration.
class merchant_api {
 public:
  /// An API over `deps`; the merchants' token digests are computed here.
  explicit merchant_api(merchant_api_deps deps);

  /// Answers one request under /v1/ whose route the request router matched (`match`, from
  /// match_route; `req` and `match` must outlive the returned awaitable). The token is checked
  /// before the match is looked at. Store failures become 503; nothing is acknowledged before
  /// its commit.
  boost::asio::awaitable<net::response> handle(const net::request& req, const match_result& match);
  /// Cluster mode: inputs for a payment whose shard is not acted for go through `relay` (the
  /// inbox) instead of the driver. Outside cluster mode there is none.
  void use_inbox(inbox_relay* relay) { inbox_ = relay; }

 private:
  struct merchant_key {
    const merchant_config* merchant;
    std::array<unsigned char, 32> digest;
  };

  const merchant_config* authenticate(const net::request& req) const;
  boost::asio::awaitable<net::response> route(const net::request& req, const merchant_config& m,
                                              const match_result& match);
  boost::asio::awaitable<net::response> create(const net::request& req, const merchant_config& m);
  boost::asio::awaitable<payment> await_pay_answer(payment p);
  /// Tells the machine the create was answered 202 (payment.pending owed), committed before
  /// the answer leaves.
  boost::asio::awaitable<void> note_early_answer(const payment& p);
  boost::asio::awaitable<net::response> get(const merchant_config& m, const std::string& id,
                                            const net::request& req);
  boost::asio::awaitable<net::response> cancel(const net::request& req, const merchant_config& m,
                                               const std::string& id);
  boost::asio::awaitable<net::response> consult(const net::request& req, const merchant_config& m);
  const net::response* cached_consult(const std::string& key);
  void keep_consult(const std::string& key, const net::response& answer);
  boost::asio::awaitable<net::response> events(const merchant_config& m, const net::request& req);
  boost::asio::awaitable<std::optional<payment>> own_payment(const merchant_config& m, const std::string& id);
  // Refunds (merchant_refunds.cpp).
  boost::asio::awaitable<net::response> create_refund(const net::request& req, const merchant_config& m,
                                                      const std::string& id);
  boost::asio::awaitable<net::response> get_refund(const merchant_config& m, const std::string& id,
                                                   const std::string& refund_id);

  /// A consult answer kept for reuse (issue 14, item 11).
  struct consult_entry {
    net::response answer;   ///< the 200 answer sent
    time_point expires_at;  ///< payment clock
  };

  merchant_api_deps deps_;
  /// Payments a create waits on (await_pay_answer) -> commits of each observed so far: a commit
  /// that lands while the create's reread is out on the store thread is seen, and read again.
  /// Shared with the driver's commit observer, which holds it weakly (this API may go first).
  std::shared_ptr<std::unordered_map<std::int64_t, std::uint64_t>> commits_of_awaited_ =
      std::make_shared<std::unordered_map<std::int64_t, std::uint64_t>>();
  inbox_relay* inbox_ = nullptr;  // cluster mode only
  std::vector<merchant_key> keys_;
  std::unordered_map<std::string, consult_entry> consult_cache_;  ///< by consult_cache_key
};

}  // namespace cashier::daemon
