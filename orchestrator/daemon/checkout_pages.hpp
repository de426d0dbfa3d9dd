// The hosted payment page (PRODUCT.md "Client side", proto-docs/checkout.md): everything under
// /pay/ on the public listener, without a merchant token.
//
//   GET /pay/<checkoutId>            the payment method page (HTML; the script picks the view)
//   GET /pay/<checkoutId>/result     the result page (the same HTML)
//   GET /pay/<checkoutId>/status     the page's status: JSON, nothing but what the page shows;
//                                    `?wait=<state>` long-polls until the state differs
//   GET /pay/<checkoutId>/options    the Alipay+ option from consultPayment (cached)
//   GET /pay/assets/<name>           the page's script, style sheet, logo and the embed script
//
// The files live in orchestrator/hosted/ and are compiled into the binary (hosted_assets.cmake).
// A checkoutId is 128 random bits (32 lowercase hex digits) made at create and kept in the
// payments row; anything else is 404 before any lookup. The status is served from a bounded
// in-memory map that the commit observer keeps current (on_commit); a miss reads one row by the
// unique index, once, as a job on the store thread (store_thread.hpp). Every answer carries a strict Content-Security-Policy; JSON answers allow
// any origin (no credentials) so that the embed script works on the merchant's own page.
// Runs on the reactor thread, like the merchant API.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>

#include "orchestrator/engine/clock.hpp"
#include "orchestrator/daemon/config.hpp"
#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/merchant_api.hpp"
#include "orchestrator/net/http_types.hpp"
#include "orchestrator/daemon/store_thread.hpp"
#include "state/store/store.hpp"

namespace cashier::daemon {

/// A new checkoutId: 128 bits from the OS's CSPRNG as 32 lowercase hex digits.
std::string new_checkout_id();

/// One route of the hosted page, as `cashierd --print-routes` lists it.
struct checkout_route {
  std::string_view method;   ///< "GET" (also answers HEAD)
  std::string_view pattern;  ///< e.g. "/pay/{checkoutId}/status"
};

/// Every route under /pay/.
std::span<const checkout_route> checkout_routes();

/// True when `text` has the form of a checkoutId (32 lowercase hex digits).
bool is_checkout_id(std::string_view text);

/// What the hosted pages work with; everything outlives them.
struct checkout_deps {
  driver& drv;                  ///< change notifications (long polling)
  store_thread& db;             ///< one-row reads on a cache miss (jobs, awaited)
  const payment_clock& clock;   ///< expiry
  consult_function consult;     ///< the daemon's consultPayment path (budgeted, logged)
};

/// Serves /pay/.
class checkout_pages {
 public:
  /// The most payments whose page status is kept in memory.
  static constexpr std::size_t max_cached = 20000;

  explicit checkout_pages(checkout_deps deps);

  /// Answers one request under /pay/ (`req` must outlive the awaitable).
  boost::asio::awaitable<net::response> handle(const net::request& req);

  /// Keeps the status map current; the commit observer calls it for every committed payment.
  void on_commit(const payment& p);

  /// Ends every long poll within a second, answering the status as it is (drain).
  void stop() { stopping_ = true; }

  /// Payments whose status is in memory now.
  std::size_t cached() const { return views_.size(); }

 private:
  /// What the page needs of one payment, kept in memory.
  struct view {
    std::int64_t id = 0;               ///< store id (wait_for_change), never shown
    payment_status status = payment_status::init;
    money amount;
    std::string normal_url;            ///< the Alipay+ checkout, once pay answered
    std::string data_promotions;       ///< paymentData's promoNames as a JSON array (the fallback)
    time_point expiry_at{};
    std::string cancel_reason;
    std::string merchant_name;         ///< from the pay request
    std::string order_description;     ///< from the pay request
    std::string terminal_type;         ///< WEB, WAP, APP
    std::string consult_request;       ///< the consultPayment body for this payment's option
  };
  /// One cached consult answer.
  struct option_entry {
    std::string body;  ///< the JSON answered to the page
    std::chrono::steady_clock::time_point until;
  };

  /// The view of `checkout_id`, read on a miss; valid until the caller next suspends (the map
  /// may change while any coroutine waits).
  boost::asio::awaitable<const view*> find(const std::string& checkout_id);
  std::string state_of(const view& v) const;
  std::string status_json(const view& v) const;
  boost::asio::awaitable<net::response> status(const std::string& checkout_id, const net::request& req);
  boost::asio::awaitable<net::response> options(const std::string& checkout_id);

  /// A checkoutId whose row is being read on the store thread (a miss): how many requests read
  /// it, and how many commits of its payment on_commit saw meanwhile (then it is read again:
  /// the read may predate them).
  struct reading {
    int readers = 0;
    std::uint64_t commits = 0;
  };

  checkout_deps deps_;
  std::unordered_map<std::string, view> views_;
  std::unordered_map<std::string, reading> reading_;  ///< by checkoutId
  std::unordered_map<std::string, option_entry> options_;  ///< by consult request body
  bool stopping_ = false;
};

}  // namespace cashier::daemon
