// The /metrics page (see metrics_endpoint.hpp).
#include "orchestrator/daemon/metrics_endpoint.hpp"

#include <string>
#include <variant>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cashier::daemon {
namespace asio = boost::asio;

namespace {

/// The store's counters, read on `reader` wherever this is resumed (its own thread): with a
/// million open payments they scan the recovery index for a good part of a second. A named
/// coroutine, not a lambda inside co_await (GCC 12, proto-docs/coding-rules.md).
asio::awaitable<store::store_stats> read_store_stats(store::payment_store& reader, time_point now) {
  co_return reader.stats(now);
}

}  // namespace

asio::awaitable<net::response> metrics_endpoint::page() {
  auto counting = read_store_stats(deps_.reader, deps_.clock.now());
  const auto counts =
      co_await asio::co_spawn(deps_.stats_thread.get_executor(), std::move(counting), asio::use_awaitable);
  deps_.stats.set_store_stats(counts);
  copy_driver_counters();
  net::response r;
  r.headers.push_back({"Content-Type", "text/plain; version=0.0.4"});
  r.body = deps_.stats.render();
  co_return r;
}

void metrics_endpoint::copy_driver_counters() {
  auto& m = deps_.stats;
  const auto s = deps_.drv.stats();
  m.set_gauge(metric::deadlines_armed, {}, static_cast<double>(s.armed_deadlines));
  m.set_gauge(metric::calls_in_flight, {}, static_cast<double>(s.calls_in_flight));
  m.set_gauge(metric::timer_lateness_max, {{"lane", std::string(to_string(call_lane::urgent))}}, s.worst_urgent_lateness_s);
  m.set_gauge(metric::timer_lateness_max, {{"lane", std::string(to_string(call_lane::polling))}}, s.worst_polling_lateness_s);
  m.set_gauge(metric::budget_rate, {}, deps_.drv.budget().rate());
  m.set_counter(metric::calls_deferred, {{"reason", "budget"}}, static_cast<double>(s.budget_deferred));
  m.set_counter(metric::calls_deferred, {{"reason", "hint"}}, static_cast<double>(s.hints_skipped));
  m.set_counter(metric::traffic_limited, {}, static_cast<double>(deps_.drv.budget().throttles()));
}

void metrics_endpoint::count_commit(const engine::input& in, const engine::output& out) {
  for (const auto& c : in.calls) {
    deps_.stats.count(metric::aplus_calls, {{"api", c.api}, {"result", c.outcome}});
    deps_.stats.observe(metric::aplus_call_seconds, {{"api", c.api}}, static_cast<double>(c.latency_us) / 1e6);
  }
  if (out.result != engine::outcome::applied) return;
  for (const auto& e : out.made.effects)
    if (std::holds_alternative<record_anomaly>(e)) deps_.stats.count(metric::anomalies);
}

}  // namespace cashier::daemon
