// The metrics registry and its Prometheus text rendering (see metrics.hpp).
#include "orchestrator/daemon/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ranges>

namespace cashier::daemon {
namespace {

bool is_name_char(char c, bool first, bool colon_ok) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
  return alpha || (!first && c >= '0' && c <= '9');
}

/// A metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, without colons, a label name.
bool valid_name(std::string_view name, bool colon_ok) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!is_name_char(name[i], i == 0, colon_ok)) return false;
  return true;
}

bool valid_labels(const metric_labels& labels) {
  return std::ranges::all_of(labels, [](const auto& l) { return valid_name(l.first, false) && l.first != "le"; });
}

/// A sample value as Prometheus writes it: shortest round-trip form, +Inf, -Inf or NaN.
std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return std::string(buf, r.ptr);
}

/// Escapes `\`, `"` and newline (label values); HELP text escapes only `\` and newline.
std::string escape(std::string_view text, bool quotes) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quotes) out += "\\\"";
    else out += c;
  }
  return out;
}

/// `{a="x",b="y"}` (with `extra` appended, e.g. the `le` of a bucket), or "" when empty.
std::string label_text(const metric_labels& labels, std::string_view extra = {}) {
  if (labels.empty() && extra.empty()) return {};
  std::string out = "{";
  for (const auto& [name, value] : labels) {
    if (out.size() > 1) out += ',';
    out += name + "=\"" + escape(value, true) + '"';
  }
  if (!extra.empty()) out += (out.size() > 1 ? "," : "") + std::string(extra);
  return out + "}";
}

std::string_view kind_name(metric_kind kind) {
  switch (kind) {
    case metric_kind::counter: return "counter";
    case metric_kind::gauge: return "gauge";
    case metric_kind::histogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

std::vector<double> call_seconds_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30};
}

std::vector<double> timer_lateness_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
}

std::vector<double> commit_seconds_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
}

metrics::metrics() {
  describe(metric::aplus_calls, "Alipay+ calls by API and result (resultStatus/resultCode or transport error).");
  describe(metric::aplus_call_seconds, "Alipay+ call latency in seconds, by API.", call_seconds_buckets());
  describe(metric::notifies, "Inbound notifyPayment requests by verification outcome.");
  describe(metric::notify_clock_skew, "Authentic notifies acked with a Request-Time beyond maxClockSkewSeconds (each also a clock_skew anomaly; replays of the same bytes counted once).");
  describe(metric::notify_hints_limited, "Rejected notifies naming a known payment that prompted no inquiry (one per payment per 10 s, wall clock).");
  describe(metric::ack_signatures, "RSA signatures computed for notify acks (one per Response-Time second used).");
  describe(metric::payments, "Payments by public status.");
  describe(metric::overdue, "Open payments cashierd itself left behind: a cut-off passed with no last inquiry, cancel or slow path under way, or a timer more than 10 min (payment clock) overdue. Must stay 0.");
  describe(metric::webhook_backlog, "Merchant webhooks not yet delivered (pending).");
  describe(metric::webhook_dead, "Merchant webhooks given up on (dead), awaiting redelivery.");
  describe(metric::webhook_oldest_age, "Age of the oldest pending merchant webhook in seconds (payment clock).");
  describe(metric::webhooks, "Merchant webhook delivery attempts by result.");
  describe(metric::commit_seconds, "Group commit latency in seconds.", commit_seconds_buckets());
  describe(metric::anomalies, "Anomalies recorded (disagreements with what we know).");
  describe(metric::store_failures, "Commits that failed in the storage engine.");
  describe(metric::deadlines_armed, "Payments in the deadline heap (open payments with a deadline).");
  describe(metric::timer_lateness, "How late each due deadline fired versus its schedule, in seconds (payment clock), by lane; includes waits for the outbound budget.", timer_lateness_buckets());
  describe(metric::timer_lateness_max, "The latest any due deadline of the lane fired since the start, in seconds (payment clock).");
  describe(metric::budget_rate, "Outbound Alipay+ calls per second allowed now (maxRequestsPerSecond, lower after REQUEST_TRAFFIC_EXCEED_LIMIT; 0 = unlimited).");
  describe(metric::calls_deferred, "Alipay+ calls not made for want of budget: reason budget (resent after the answer guard) or hint (a notify's extra inquiry, skipped).");
  describe(metric::traffic_limited, "REQUEST_TRAFFIC_EXCEED_LIMIT answers that lowered the outbound rate.");
  describe(metric::calls_in_flight, "Alipay+ calls of payments (pay, inquiryPayment, cancelPayment) sent and not yet answered.");
  // Cluster mode only (cluster_member.cpp sets them); a single instance shows no series.
  describe(metric::cluster_shards_held, "Shards this instance acts for (cluster mode).");
  describe(metric::cluster_takeovers, "Shards this instance took over: claimed, then their open payments armed (cluster mode).");
  describe(metric::cluster_shards_lost, "Shards this instance stopped acting for without releasing them: another instance holds them, or the trust ran out before a renewal (cluster mode).");
  // Cluster mode only (inbox_relay.cpp, inbox_listener.cpp set them).
  describe(metric::inbox_posted, "Inbox rows posted for another instance's shard (cluster mode).");
  describe(metric::inbox_submitted, "Inbox rows of the shards held submitted for applying; a retry counts again (cluster mode).");
  describe(metric::inbox_applied, "Inbox rows whose input committed, deleting the row (cluster mode).");
  describe(metric::inbox_retried, "Inbox rows released for the next poll after a conflict, not_owner or store failure (cluster mode).");
  describe(metric::inbox_undecodable, "Inbox rows kept because they do not decode (cluster mode).");
  describe(metric::inbox_poll_failures, "Inbox reads the store failed; the next poll retries (cluster mode).");
  describe(metric::inbox_listening, "1 while LISTEN cashierd_inbox is in force on the listener's connection (cluster mode on PostgreSQL).");
  describe(metric::inbox_listen_failures, "LISTEN connections lost or refused; the claim tick polls meanwhile (cluster mode on PostgreSQL).");
  describe(metric::inbox_notifications, "NOTIFYs of inbox posts received (cluster mode on PostgreSQL).");
  // Label-less metrics are exposed as 0 from the start so that rate() and alerts see them.
  for (auto name : {metric::anomalies, metric::store_failures, metric::traffic_limited, metric::ack_signatures,
                    metric::notify_clock_skew, metric::notify_hints_limited})
    count(name, {}, 0);
  for (auto name : {metric::overdue, metric::webhook_backlog, metric::webhook_dead,
                    metric::webhook_oldest_age})
    set_gauge(name, {}, 0);
  series_of(*find(metric::commit_seconds.text, metric_kind::histogram), {});
}

bool metrics::describe(std::string_view name, metric_kind kind, std::string_view help,
                       std::vector<double> buckets) {
  const bool taken = std::ranges::any_of(families_, [&](const family& f) { return f.name == name; });
  if (taken || !valid_name(name, true)) return false;
  if (kind != metric_kind::histogram && !buckets.empty()) return false;
  // Bounds must be finite and strictly ascending (+Inf is implicit).
  if (std::ranges::adjacent_find(buckets, std::greater_equal<>{}) != buckets.end()) return false;
  if (!std::ranges::all_of(buckets, [](double b) { return std::isfinite(b); })) return false;
  families_.push_back({std::string(name), kind, std::string(help), std::move(buckets), {}});
  return true;
}

metrics::family* metrics::find(std::string_view name, metric_kind kind) {
  for (auto& f : families_)
    if (f.name == name) return f.kind == kind ? &f : nullptr;
  return nullptr;
}

metrics::series& metrics::series_of(family& f, const metric_labels& labels) {
  auto [it, added] = f.series_by_labels.try_emplace(labels);
  if (added && f.kind == metric_kind::histogram) it->second.counts.assign(f.buckets.size() + 1, 0);
  return it->second;
}

bool metrics::count(counter_name name, const metric_labels& labels, double n) {
  family* f = find(name.text, metric_kind::counter);
  if (f == nullptr || !valid_labels(labels) || !(n >= 0)) return false;
  series_of(*f, labels).value += n;
  return true;
}

bool metrics::observe(histogram_name name, const metric_labels& labels, double value) {
  family* f = find(name.text, metric_kind::histogram);
  if (f == nullptr || !valid_labels(labels) || std::isnan(value)) return false;
  auto& s = series_of(*f, labels);
  const auto bucket = std::ranges::lower_bound(f->buckets, value) - f->buckets.begin();
  ++s.counts[static_cast<std::size_t>(bucket)];
  s.value += value;
  return true;
}

bool metrics::set_counter(counter_name name, const metric_labels& labels, double total) {
  family* f = find(name.text, metric_kind::counter);
  if (f == nullptr || !valid_labels(labels)) return false;
  auto& s = series_of(*f, labels);
  if (!(total >= s.value)) return false;
  s.value = total;
  return true;
}

bool metrics::set_gauge(gauge_name name, const metric_labels& labels, double value) {
  family* f = find(name.text, metric_kind::gauge);
  if (f == nullptr || !valid_labels(labels)) return false;
  series_of(*f, labels).value = value;
  return true;
}

void metrics::set_store_stats(const store::store_stats& s) {
  const std::pair<payment_status, std::int64_t> by_status[] = {
      {payment_status::init, s.init},       {payment_status::in_process, s.in_process},
      {payment_status::success, s.success}, {payment_status::fail, s.fail},
      {payment_status::cancelled, s.cancelled}};
  for (const auto& [status, n] : by_status)
    set_gauge(metric::payments, {{"status", std::string(to_string(status))}}, static_cast<double>(n));
  set_gauge(metric::overdue, {}, static_cast<double>(s.overdue));
  set_gauge(metric::webhook_backlog, {}, static_cast<double>(s.outbox_pending));
  set_gauge(metric::webhook_dead, {}, static_cast<double>(s.outbox_dead));
  set_gauge(metric::webhook_oldest_age, {}, static_cast<double>(s.oldest_pending_age.count()) / 1000.0);
  // The anomalies table is append-only, so its row count is a valid (monotonic) counter.
  series_of(*find(metric::anomalies.text, metric_kind::counter), {}).value = static_cast<double>(s.anomalies);
}

void metrics::render_family(std::string& out, const family& f) const {
  out += "# HELP " + f.name + ' ' + escape(f.help, false) + '\n';
  out += "# TYPE " + f.name + ' ' + std::string(kind_name(f.kind)) + '\n';
  for (const auto& [labels, s] : f.series_by_labels) {
    if (f.kind != metric_kind::histogram) {
      out += f.name + label_text(labels) + ' ' + format_value(s.value) + '\n';
      continue;
    }
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= f.buckets.size(); ++i) {
      cumulative += s.counts[i];
      const auto le = i < f.buckets.size() ? format_value(f.buckets[i]) : std::string("+Inf");
      out += f.name + "_bucket" + label_text(labels, "le=\"" + le + '"') + ' ' + std::to_string(cumulative) + '\n';
    }
    out += f.name + "_sum" + label_text(labels) + ' ' + format_value(s.value) + '\n';
    out += f.name + "_count" + label_text(labels) + ' ' + std::to_string(cumulative) + '\n';
  }
}

std::string metrics::render() const {
  std::string out;
  for (const auto& f : families_) render_family(out, f);
  return out;
}

}  // namespace cashier::daemon
