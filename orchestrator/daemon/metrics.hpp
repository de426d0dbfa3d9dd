// The daemon's metrics: a small registry of counters, gauges and histograms with labels,
// rendered in the Prometheus text exposition format (version 0.0.4) for `GET /metrics`. No
// external library. Every metric is described once (name, kind, HELP text, histogram buckets);
// the constructor describes the fixed cashierd set. Names are typed by kind (counter_name,
// gauge_name, histogram_name) and built only explicitly, so a typo in a name or a counter passed
// where a gauge is expected fails to compile instead of silently dropping the metric. It is
// used only on the reactor thread and is not thread-safe: other threads post their
// observations to the reactor.
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

/// The name of a metric of kind `K`. The constructor is explicit: a string literal does not
/// turn into a metric name by accident, so call sites use the `metric::` constants below.
template <metric_kind K>
struct metric_name {
  std::string_view text;  ///< the Prometheus name, e.g. `cashierd_webhooks_total`
  explicit constexpr metric_name(std::string_view name) : text(name) {}
};
using counter_name = metric_name<metric_kind::counter>;      ///< a counter's name
using gauge_name = metric_name<metric_kind::gauge>;          ///< a gauge's name
using histogram_name = metric_name<metric_kind::histogram>;  ///< a histogram's name

/// Label pairs of one series, e.g. {{"api", "pay"}, {"result", "S"}}; order is kept.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// Names of the fixed cashierd metrics.
namespace metric {
inline constexpr counter_name aplus_calls{"cashierd_alipayplus_calls_total"};  ///< counter {api,result}
inline constexpr histogram_name aplus_call_seconds{"cashierd_alipayplus_call_seconds"};  ///< histogram {api}
inline constexpr counter_name notifies{"cashierd_notifies_total"};  ///< counter {outcome}
inline constexpr counter_name notify_clock_skew{"cashierd_notify_clock_skew_total"};  ///< counter
inline constexpr counter_name notify_hints_limited{"cashierd_notify_hints_limited_total"};  ///< counter
inline constexpr counter_name ack_signatures{"cashierd_ack_signatures_total"};  ///< counter
inline constexpr gauge_name payments{"cashierd_payments"};  ///< gauge {status}
inline constexpr gauge_name overdue{"cashierd_payments_overdue"};  ///< gauge: left behind, must stay 0
inline constexpr gauge_name webhook_backlog{"cashierd_webhook_backlog"};  ///< gauge: pending
inline constexpr gauge_name webhook_dead{"cashierd_webhook_dead"};  ///< gauge: dead
inline constexpr gauge_name webhook_oldest_age{"cashierd_webhook_oldest_age_seconds"};  ///< gauge
inline constexpr counter_name webhooks{"cashierd_webhooks_total"};  ///< counter {result}
inline constexpr histogram_name commit_seconds{"cashierd_commit_seconds"};  ///< histogram
inline constexpr counter_name anomalies{"cashierd_anomalies_total"};  ///< counter
inline constexpr counter_name store_failures{"cashierd_store_failures_total"};  ///< counter
inline constexpr gauge_name deadlines_armed{"cashierd_deadlines_armed"};  ///< gauge: heap size
inline constexpr histogram_name timer_lateness{"cashierd_timer_lateness_seconds"};  ///< histogram {lane}
inline constexpr gauge_name timer_lateness_max{"cashierd_timer_lateness_max_seconds"};  ///< gauge {lane}
inline constexpr gauge_name budget_rate{"cashierd_alipayplus_budget_rate"};  ///< gauge: calls/s, 0 = unlimited
inline constexpr counter_name calls_deferred{"cashierd_alipayplus_calls_deferred_total"};  ///< counter {reason}
inline constexpr counter_name traffic_limited{"cashierd_alipayplus_throttled_total"};  ///< counter
inline constexpr gauge_name calls_in_flight{"cashierd_alipayplus_calls_in_flight"};  ///< gauge
inline constexpr gauge_name cluster_shards_held{"cashierd_cluster_shards_held"};  ///< gauge (cluster mode)
inline constexpr counter_name cluster_takeovers{"cashierd_cluster_takeovers_total"};  ///< counter (cluster mode)
inline constexpr counter_name cluster_shards_lost{"cashierd_cluster_shards_lost_total"};  ///< counter (cluster mode)
inline constexpr counter_name inbox_posted{"cashierd_inbox_posted_total"};  ///< counter (cluster mode)
inline constexpr counter_name inbox_submitted{"cashierd_inbox_submitted_total"};  ///< counter (cluster mode)
inline constexpr counter_name inbox_applied{"cashierd_inbox_applied_total"};  ///< counter (cluster mode)
inline constexpr counter_name inbox_retried{"cashierd_inbox_retried_total"};  ///< counter (cluster mode)
inline constexpr counter_name inbox_undecodable{"cashierd_inbox_undecodable_total"};  ///< counter (cluster mode)
inline constexpr counter_name inbox_poll_failures{"cashierd_inbox_poll_failures_total"};  ///< counter (cluster mode)
inline constexpr gauge_name inbox_listening{"cashierd_inbox_listening"};  ///< gauge: 1/0 (cluster mode, PostgreSQL)
inline constexpr counter_name inbox_listen_failures{"cashierd_inbox_listen_failures_total"};  ///< counter (PostgreSQL)
inline constexpr counter_name inbox_notifications{"cashierd_inbox_notifications_total"};  ///< counter (PostgreSQL)
}  // namespace metric

/// A metrics registry; reactor thread only.
class metrics {
 public:
  /// A registry with the fixed cashierd metrics described.
  metrics();

  /// Describes metric `name` (a valid Prometheus name) once; false when the name is taken or
  /// invalid. `buckets` (histograms only) are the finite upper bounds, ascending.
  template <metric_kind K>
  bool describe(metric_name<K> name, std::string_view help, std::vector<double> buckets = {}) {
    return describe(name.text, K, help, std::move(buckets));
  }
  /// Adds `n` (≥ 0) to counter `name`; false when it is not described, a label name is
  /// invalid or n < 0.
  bool count(counter_name name, const metric_labels& labels = {}, double n = 1);
  /// Records `value` in histogram `name`; false when it is not described or value is NaN.
  bool observe(histogram_name name, const metric_labels& labels, double value);
  /// Sets gauge `name`; false when it is not described.
  bool set_gauge(gauge_name name, const metric_labels& labels, double value);
  /// Sets counter `name` to `total`, a monotonic count kept elsewhere; false when it is not
  /// described or `total` is below the value it has.
  bool set_counter(counter_name name, const metric_labels& labels, double total);
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
  bool describe(std::string_view name, metric_kind kind, std::string_view help, std::vector<double> buckets);
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
