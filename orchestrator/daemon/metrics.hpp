// The daemon's metrics: a small registry of counters, gauges and histograms with labels,
// rendered in the Prometheus text exposition format (version 0.0.4) for `GET /metrics`. No
// external library. Every metric is described once (name, kind, HELP text, histogram buckets);
// the constructor describes the fixed cashierd set. It is used only on the reactor thread and
// is not thread-safe: worker threads post their observations to the reactor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "state/store/store.hpp"

namespace cashier::daemon {

/// What a metric is (the `# TYPE` line).
enum class metric_kind {
  counter,    ///< only goes up (`_total` names)
  gauge,      ///< set to the current value
  histogram,  ///< observations counted into cumulative buckets, with `_sum` and `_count`
};

/// Label pairs of one series, e.g. {{"api", "pay"}, {"result", "S"}}; order is kept.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// Names of the fixed cashierd metrics.
namespace metric {
inline constexpr std::string_view aplus_calls = "cashierd_alipayplus_calls_total";  ///< counter {api,result}
inline constexpr std::string_view aplus_call_seconds = "cashierd_alipayplus_call_seconds";  ///< histogram {api}
inline constexpr std::string_view notifies = "cashierd_notifies_total";  ///< counter {outcome}
inline constexpr std::string_view notify_clock_skew = "cashierd_notify_clock_skew_total";  ///< counter
inline constexpr std::string_view notify_hints_limited = "cashierd_notify_hints_limited_total";  ///< counter
inline constexpr std::string_view ack_signatures = "cashierd_ack_signatures_total";  ///< counter
inline constexpr std::string_view payments = "cashierd_payments";  ///< gauge {status}
inline constexpr std::string_view overdue = "cashierd_payments_overdue";  ///< gauge: left behind, must stay 0
inline constexpr std::string_view webhook_backlog = "cashierd_webhook_backlog";  ///< gauge: pending
inline constexpr std::string_view webhook_dead = "cashierd_webhook_dead";  ///< gauge: dead
inline constexpr std::string_view webhook_oldest_age = "cashierd_webhook_oldest_age_seconds";  ///< gauge
inline constexpr std::string_view webhooks = "cashierd_webhooks_total";  ///< counter {result}
inline constexpr std::string_view commit_seconds = "cashierd_commit_seconds";  ///< histogram
inline constexpr std::string_view anomalies = "cashierd_anomalies_total";  ///< counter
inline constexpr std::string_view store_failures = "cashierd_store_failures_total";  ///< counter
inline constexpr std::string_view deadlines_armed = "cashierd_deadlines_armed";  ///< gauge: heap size
inline constexpr std::string_view timer_lateness = "cashierd_timer_lateness_seconds";  ///< histogram {lane}
inline constexpr std::string_view timer_lateness_max = "cashierd_timer_lateness_max_seconds";  ///< gauge {lane}
inline constexpr std::string_view budget_rate = "cashierd_alipayplus_budget_rate";  ///< gauge: calls/s, 0 = unlimited
inline constexpr std::string_view calls_deferred = "cashierd_alipayplus_calls_deferred_total";  ///< counter {reason}
inline constexpr std::string_view traffic_limited = "cashierd_alipayplus_throttled_total";  ///< counter
inline constexpr std::string_view calls_in_flight = "cashierd_alipayplus_calls_in_flight";  ///< gauge
}  // namespace metric

/// A metrics registry; reactor thread only.
class metrics {
 public:
  /// A registry with the fixed cashierd metrics described.
  metrics();

  /// Describes metric `name` (a valid Prometheus name) once; false when the name is taken or
  /// invalid. `buckets` (histograms only) are the finite upper bounds, ascending.
  bool describe(std::string_view name, metric_kind kind, std::string_view help,
                std::vector<double> buckets = {});
  /// Adds `n` (≥ 0) to counter `name`; false when it is not a described counter or n < 0.
  bool count(std::string_view name, const metric_labels& labels = {}, double n = 1);
  /// Records `value` in histogram `name`; false when it is not a described histogram.
  bool observe(std::string_view name, const metric_labels& labels, double value);
  /// Sets gauge `name`; false when it is not a described gauge.
  bool set_gauge(std::string_view name, const metric_labels& labels, double value);
  /// Sets counter `name` to `total`, a monotonic count kept elsewhere; false when it is not a
  /// described counter or `total` is below the value it has.
  bool set_counter(std::string_view name, const metric_labels& labels, double total);
  /// Sets the payment, backlog and anomaly metrics from the store's counters.
  void set_store_stats(const store::store_stats& s);
  /// Every metric in the Prometheus text format, in the order described, series by labels.
  std::string render() const;

 private:
  struct series {
    double value = 0;                   // counter or gauge value; histogram sum
    std::vector<std::uint64_t> counts;  // histogram: per bucket (not cumulative), then +Inf
  };
  struct family {
    std::string name;
    metric_kind kind;
    std::string help;
    std::vector<double> buckets;
    std::map<metric_labels, series> series_by_labels;
  };
  family* find(std::string_view name, metric_kind kind);
  series& series_of(family& f, const metric_labels& labels);
  void render_family(std::string& out, const family& f) const;

  std::vector<family> families_;
};

/// Default buckets (seconds) of cashierd_alipayplus_call_seconds.
std::vector<double> call_seconds_buckets();
/// Default buckets (seconds) of cashierd_commit_seconds.
std::vector<double> commit_seconds_buckets();
/// Default buckets (seconds) of cashierd_timer_lateness_seconds.
std::vector<double> timer_lateness_buckets();

}  // namespace cashier::daemon
