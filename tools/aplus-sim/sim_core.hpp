// The simulator's shared state and its coroutines, internal to tools/aplus-sim: the books, the
// scaled payment clock, the timers that stop() cancels, the request router (simulator.cpp)
// and the payer and notify loops (sim_notify.cpp). Lives on one executor; never touched from
// another thread.
#pragma once

#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "orchestrator/engine/clock.hpp"
#include "orchestrator/net/http_client.hpp"
#include "orchestrator/net/http_server.hpp"
#include "tools/aplus-sim/ledger.hpp"
#include "tools/aplus-sim/simulator.hpp"

namespace cashier::sim {

/// A JSON answer of the control and checkout endpoints.
net::response json_response(int status, const boost::json::value& body);
/// A JSON error answer {"error":{"code","message"}}.
net::response error_response(int status, std::string_view code, std::string_view message);

/// Writes one JSON line to stderr: {"ts": wall time, "event": event, ...fields}.
void log_event(std::string_view event, boost::json::object fields);

/// What one API call produced, before faults.
struct api_call {
  std::string body;                 ///< the real answer's JSON
  std::string payment_request_id;   ///< whose scenario applies ("" for none)
  std::optional<sim_api> api;       ///< which fault queue applies (none for consultPayment)
  aplus::api_result result;         ///< the answer's result, for the log
};

/// The state behind a simulator, shared with its coroutines.
struct sim_core : std::enable_shared_from_this<sim_core> {
  /// Core for `options`, signing with `keys`, its payment clock starting now.
  sim_core(boost::asio::any_io_executor ex, sim_options opts, signing_setup signing);

  boost::asio::any_io_executor executor;  ///< where everything runs
  sim_options options;                    ///< as started
  signing_setup keys;                     ///< signing and verification
  scaled_clock clock;             ///< the payment clock (timeScale)
  ledger books;                           ///< every payment's truth and scenario
  std::optional<net::http_server> server;  ///< set once listening
  std::string base_url;                   ///< where normalUrl points
  bool stopping = false;                  ///< stop() or abort began: timers end early
  std::list<boost::asio::steady_timer*> timers;  ///< timers being waited on, for stop()
  /// Keep-alive clients for notifies, one per notify origin (Alipay+ does not reconnect per notify).
  std::unordered_map<std::string, net::http_client> notify_clients;

  /// The payment clock's now.
  time_point now() const { return clock.now(); }
  /// Waits until the payment clock reaches `at`; false when stopped meanwhile.
  boost::asio::awaitable<bool> sleep_until(time_point at);
  /// Waits `wait` of wall time; false when stopped meanwhile.
  boost::asio::awaitable<bool> sleep_wall(std::chrono::steady_clock::duration wait);
  /// Cancels every timer and closes the server at once.
  void abort();

  /// Answers one request (the server's handler).
  boost::asio::awaitable<net::response> handle(net::request req, const net::peer_info& peer);
  /// Starts the payer's scripted action for the new order `payment_request_id`, if any.
  void start_payer(const std::string& payment_request_id);
  /// Starts notifying the now finished `payment_request_id` on Alipay+'s schedule.
  void start_notify(const std::string& payment_request_id);
  /// Applies a payer action and starts the notifies it calls for; false when refused.
  bool act_for_payer(const std::string& payment_request_id, payer_action action, std::string_view by);
  /// The keep-alive client for notifies to `origin`, or why there is none.
  boost::system::result<net::http_client, net::setup_error> notify_client(const std::string& origin);

 private:
  boost::asio::awaitable<net::response> on_api(net::request req, std::string_view name);
  std::optional<api_call> run_api(std::string_view name, std::string_view body);
  net::response on_checkout(const net::request& req, std::string_view rest);
  net::response on_consult_control(const net::request& req);
  net::response on_control(const net::request& req, std::string_view path);
  boost::asio::awaitable<net::response> on_crafted_notify(const net::request& req);
};

}  // namespace cashier::sim
