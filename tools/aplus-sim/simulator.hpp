// The running aplus-sim: an HTTP(S) server on one executor that plays Alipay+ (pay,
// inquiryPayment, cancelPayment, consultPayment, the checkout pages, notifyPayment with the
// retry schedule) and the control endpoints, with faults from each payment's scenario. Used by
// main.cpp and, in-process, by the tests. Everything runs on the one executor given to start().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include "orchestrator/net/http_types.hpp"
#include "orchestrator/net/tls.hpp"
#include "state/machine/time.hpp"
#include "tools/aplus-sim/wire.hpp"

namespace cashier::sim {

/// How the simulator runs (the CLI flags, minus the key files).
struct sim_options {
  std::string listen = "127.0.0.1:9443";  ///< host:port to listen on (port 0: any free port)
  net::tls_context tls;                   ///< HTTPS when set, plain HTTP when null
  std::string public_url;                 ///< base of normalUrl; "" derives it from the bound address
  net::tls_context notify_tls;            ///< trust for https notify URLs (required for them)
  std::optional<duration> auto_pay_after;  ///< payment clock; nothing: wait for a click
  duration refund_window = std::chrono::hours{24 * 365};  ///< refunds accepted this long after the payer paid
  double time_scale = 1.0;                ///< the payment clock runs this many times faster (≥ 1)
  std::chrono::milliseconds timeout_hold{20000};    ///< wall time a *-timeout answer is held
  std::chrono::milliseconds notify_timeout{10000};  ///< wall-time limit of one notify request
};

/// The payer delay for payer-fail and payer-abandon when --auto-pay-after is off.
inline constexpr duration default_payer_delay = std::chrono::seconds{2};

struct sim_core;

/// A running simulator. Destroying it aborts the server and every timer; stop() first to drain.
class simulator {
 public:
  /// Listens as `options` says and starts serving on `executor`; or why it cannot.
  static boost::system::result<simulator, net::setup_error> start(boost::asio::any_io_executor executor,
                                                                   sim_options options, signing_setup keys);

  /// The bound TCP port.
  std::uint16_t port() const;
  /// Where normalUrl points: scheme://host:port (or --public-url).
  const std::string& base_url() const;
  /// Stops serving (draining in-flight requests) and cancels the payer and notify timers.
  boost::asio::awaitable<void> stop();

  /// Moves the simulator.
  simulator(simulator&&) noexcept;
  /// Moves the simulator, aborting the one held.
  simulator& operator=(simulator&&) noexcept;
  /// Aborts the server and the timers.
  ~simulator();

 private:
  explicit simulator(std::shared_ptr<sim_core> core);
  std::shared_ptr<sim_core> core_;
};

}  // namespace cashier::sim
