// `cashier-bench lifecycle` and `cashier-bench create`: whole payments through a running
// cashierd and aplus-sim (started with --auto-pay-after, so the payer pays at once), seen from
// the merchant's side. A built-in merchant webhook sink (its own thread, a minimal HTTP server
// on the port cashierd's merchant notifyUrl names) verifies every webhook's Standard Webhooks
// signature and notes when each payment's webhook arrived.
//
// lifecycle: C clients (with --also-url, spread round robin over several cashierd instances of
// one cluster, one sink for all), each in a loop: POST /v1/payments (cashierd calls pay, signed, and
// answers once aplus-sim answered), then wait for the payment's webhook (the payer paid, aplus-
// sim notified, cashierd committed and delivered). Payments per second and the latencies of the
// create and of the whole payment, for each C of a list, as one result line per C.
//
// create: an open-loop schedule of creates at a fixed rate (request i due at start + i / rate,
// its latency counted from then), then a wait until every payment's webhook arrived.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cashier::bench {

/// What lifecycle and create run with.
struct lifecycle_options {
  std::string url;                      ///< cashierd's base URL (http://127.0.0.1:port)
  std::vector<std::string> urls{};      ///< lifecycle: more instances' base URLs (--also-url)
  std::string token;                    ///< the merchant's Bearer token
  std::string secret;                   ///< the merchant's notifySecret (whsec_...)
  std::uint16_t sink_port = 0;          ///< where the webhook sink listens
  std::string prefix = "lc-";           ///< payments are <prefix>...; unique per run
  std::vector<std::size_t> clients{1};  ///< lifecycle: one point per concurrency
  double seconds = 5;                   ///< per point (lifecycle) or of the schedule (create)
  double rate = 200;                    ///< create: creates per second
  std::size_t connections = 64;         ///< create: keep-alive connections
  double drain_seconds = 60;            ///< how long to wait for the last webhooks
};

/// Runs the lifecycle points; prints one {"mode":"lifecycle",...} line per point. Returns 0 when
/// every payment was created and its webhook arrived, correctly signed, 1 otherwise.
int run_lifecycle(const lifecycle_options& o);

/// Runs the create schedule; prints {"mode":"create",...}. Returns 0 when every create was
/// answered 201/202 and every webhook arrived, correctly signed, 1 otherwise.
int run_create(const lifecycle_options& o);

}  // namespace cashier::bench
