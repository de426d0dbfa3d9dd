// Tests of the metrics registry: golden Prometheus text for counters, gauges (from store stats)
// and histograms, label escaping, what the API refuses, and a parse check of the whole
// exposition against the text format's grammar.
#include <doctest/doctest.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>

#include "orchestrator/daemon/metrics.hpp"

using namespace cashier;
using namespace cashier::daemon;

namespace {

/// The lines of family `name` in `text`: from its `# HELP` up to the next `# HELP`.
std::string family_block(const std::string& text, const std::string& name) {
  const auto start = text.find("# HELP " + name + " ");
  if (start == std::string::npos) return {};
  const auto end = text.find("# HELP ", start + 1);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }

/// Reads `{a="x",b="y"}` at `pos`; false on a syntax error.
bool parse_labels(const std::string& line, std::size_t& pos, std::map<std::string, std::string>& labels) {
  if (pos >= line.size() || line[pos] != '{') return true;
  ++pos;
  while (pos < line.size() && line[pos] != '}') {
    const auto eq = line.find('=', pos);
    if (eq == std::string::npos || eq == pos || line[eq + 1] != '"') return false;
    const std::string label = line.substr(pos, eq - pos);
    std::string value;
    for (pos = eq + 2; pos < line.size() && line[pos] != '"'; ++pos) {
      if (line[pos] == '\\') {
        const char e = line[++pos];
        if (e != '\\' && e != '"' && e != 'n') return false;
        value += e == 'n' ? '\n' : e;
      } else {
        value += line[pos];
      }
    }
    if (pos >= line.size() || !labels.emplace(label, value).second) return false;
    ++pos;  // closing quote
    if (pos < line.size() && line[pos] == ',') ++pos;
  }
  if (pos >= line.size()) return false;
  ++pos;  // closing brace
  return true;
}

bool parse_value(const std::string& text, double& v) {
  if (text == "+Inf" || text == "-Inf" || text == "NaN") return true;
  char* end = nullptr;
  v = std::strtod(text.c_str(), &end);
  return !text.empty() && end == text.c_str() + text.size();
}

/// Checks `text` against the Prometheus text format: HELP then TYPE once per family, samples
/// only of the current family (histograms as _bucket with le, _sum, _count), valid labels and
/// values, cumulative buckets ending in +Inf equal to _count. Returns the number of samples.
int parse_check(const std::string& text) {
  std::istringstream in(text);
  std::string line, family, kind;
  std::set<std::string> seen;
  std::map<std::string, double> last_bucket, inf_bucket;  // by label text without le
  int samples = 0;
  while (std::getline(in, line)) {
    INFO("line: " << line);
    if (line.rfind("# HELP ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      REQUIRE(seen.insert(family).second);
      REQUIRE(std::getline(in, line));
      REQUIRE(line.rfind("# TYPE " + family + " ", 0) == 0);
      kind = line.substr(8 + family.size());
      REQUIRE((kind == "counter" || kind == "gauge" || kind == "histogram"));
      continue;
    }
    REQUIRE(!family.empty());
    std::size_t pos = 0;
    while (pos < line.size() && name_char(line[pos])) ++pos;
    const std::string name = line.substr(0, pos);
    std::map<std::string, std::string> labels;
    REQUIRE(parse_labels(line, pos, labels));
    REQUIRE(pos < line.size());
    REQUIRE(line[pos] == ' ');
    double value = 0;
    REQUIRE(parse_value(line.substr(pos + 1), value));
    ++samples;
    if (kind != "histogram") {
      CHECK(name == family);
      continue;
    }
    const std::string suffix = name.substr(std::min(name.size(), family.size()));
    REQUIRE(name.rfind(family, 0) == 0);
    REQUIRE((suffix == "_bucket" || suffix == "_sum" || suffix == "_count"));
    std::string key;
    for (const auto& [k, v] : labels)
      if (k != "le") key += k + "=" + v + ";";
    if (suffix == "_bucket") {
      REQUIRE(labels.contains("le"));
      CHECK(value >= last_bucket[family + key]);
      last_bucket[family + key] = value;
      if (labels["le"] == "+Inf") inf_bucket[family + key] = value;
    } else if (suffix == "_count") {
      CHECK(inf_bucket.contains(family + key));
      CHECK(inf_bucket[family + key] == value);
    }
  }
  return samples;
}

}  // namespace

TEST_CASE("counters render HELP, TYPE and one line per label set, sorted") {
  metrics m;
  CHECK(m.count(metric::aplus_calls, {{"api", "pay"}, {"result", "S/SUCCESS"}}));
  CHECK(m.count(metric::aplus_calls, {{"api", "pay"}, {"result", "S/SUCCESS"}}, 2));
  CHECK(m.count(metric::aplus_calls, {{"api", "inquiryPayment"}, {"result", "timeout"}}));
  CHECK(family_block(m.render(), "cashierd_alipayplus_calls_total") ==
        "# HELP cashierd_alipayplus_calls_total Alipay+ calls by API and result "
        "(resultStatus/resultCode or transport error).\n"
        "# TYPE cashierd_alipayplus_calls_total counter\n"
        "cashierd_alipayplus_calls_total{api=\"inquiryPayment\",result=\"timeout\"} 1\n"
        "cashierd_alipayplus_calls_total{api=\"pay\",result=\"S/SUCCESS\"} 3\n");
}

TEST_CASE("gauges follow the store's counters") {
  metrics m;
  store::store_stats s;
  s.init = 1;
  s.in_process = 2;
  s.success = 30;
  s.fail = 4;
  s.cancelled = 5;
  s.overdue = 6;
  s.outbox_pending = 7;
  s.outbox_dead = 8;
  s.oldest_pending_age = std::chrono::milliseconds(1500);
  s.anomalies = 9;
  m.set_store_stats(s);
  const auto text = m.render();
  CHECK(family_block(text, "cashierd_payments") ==
        "# HELP cashierd_payments Payments by public status.\n"
        "# TYPE cashierd_payments gauge\n"
        "cashierd_payments{status=\"CANCELLED\"} 5\n"
        "cashierd_payments{status=\"FAIL\"} 4\n"
        "cashierd_payments{status=\"INIT\"} 1\n"
        "cashierd_payments{status=\"IN_PROCESS\"} 2\n"
        "cashierd_payments{status=\"SUCCESS\"} 30\n");
  CHECK(text.find("\ncashierd_payments_overdue 6\n") != std::string::npos);
  CHECK(text.find("\ncashierd_webhook_backlog 7\n") != std::string::npos);
  CHECK(text.find("\ncashierd_webhook_dead 8\n") != std::string::npos);
  CHECK(text.find("\ncashierd_webhook_oldest_age_seconds 1.5\n") != std::string::npos);
  CHECK(text.find("\n# TYPE cashierd_anomalies_total counter\ncashierd_anomalies_total 9\n") != std::string::npos);
  s.outbox_pending = 0;
  m.set_store_stats(s);
  CHECK(m.render().find("\ncashierd_webhook_backlog 0\n") != std::string::npos);
}

TEST_CASE("histograms render cumulative buckets with inclusive upper bounds, sum and count") {
  metrics m;
  constexpr histogram_name latency{"test_latency_seconds"};
  REQUIRE(m.describe(latency, "Test latency.", {0.25, 0.5, 1}));
  for (double v : {0.125, 0.25, 0.75, 3.0}) CHECK(m.observe(latency, {{"api", "pay"}}, v));
  CHECK(family_block(m.render(), "test_latency_seconds") ==
        "# HELP test_latency_seconds Test latency.\n"
        "# TYPE test_latency_seconds histogram\n"
        "test_latency_seconds_bucket{api=\"pay\",le=\"0.25\"} 2\n"
        "test_latency_seconds_bucket{api=\"pay\",le=\"0.5\"} 2\n"
        "test_latency_seconds_bucket{api=\"pay\",le=\"1\"} 3\n"
        "test_latency_seconds_bucket{api=\"pay\",le=\"+Inf\"} 4\n"
        "test_latency_seconds_sum{api=\"pay\"} 4.125\n"
        "test_latency_seconds_count{api=\"pay\"} 4\n");
}

TEST_CASE("label-less metrics are exposed as zero from the start") {
  const auto text = metrics().render();
  CHECK(text.find("\ncashierd_store_failures_total 0\n") != std::string::npos);
  CHECK(text.find("\ncashierd_anomalies_total 0\n") != std::string::npos);
  CHECK(text.find("\ncashierd_payments_overdue 0\n") != std::string::npos);
  CHECK(text.find("\ncashierd_commit_seconds_bucket{le=\"0.0001\"} 0\n") != std::string::npos);
  CHECK(text.find("\ncashierd_commit_seconds_count 0\n") != std::string::npos);
  // Labelled families have no series until something is counted.
  CHECK(family_block(text, "cashierd_notifies_total") ==
        "# HELP cashierd_notifies_total Inbound notifyPayment requests by verification outcome.\n"
        "# TYPE cashierd_notifies_total counter\n");
}

TEST_CASE("label values and HELP text are escaped") {
  metrics m;
  constexpr counter_name events{"test_events_total"};
  REQUIRE(m.describe(events, "Line one\nback\\slash \"quoted\"."));
  CHECK(m.count(events, {{"detail", "a\"b\\c\nd"}}));
  CHECK(family_block(m.render(), "test_events_total") ==
        "# HELP test_events_total Line one\\nback\\\\slash \"quoted\".\n"
        "# TYPE test_events_total counter\n"
        "test_events_total{detail=\"a\\\"b\\\\c\\nd\"} 1\n");
}

// A metric name is typed by its kind and never made from a string implicitly: a string literal
// (where a typo would silently drop the metric) or a name of the wrong kind does not compile.
static_assert(!std::is_invocable_v<decltype(&metrics::set_gauge), metrics&, const char*, const metric_labels&, double>);
static_assert(!std::is_convertible_v<const char*, counter_name>);
static_assert(!std::is_convertible_v<std::string_view, counter_name>);
static_assert(!std::is_convertible_v<gauge_name, counter_name>);
static_assert(!std::is_convertible_v<counter_name, histogram_name>);
static_assert(!std::is_invocable_v<decltype(&metrics::observe), metrics&, counter_name, const metric_labels&, double>);
static_assert(!std::is_invocable_v<decltype(&metrics::set_gauge), metrics&, counter_name, const metric_labels&, double>);

TEST_CASE("the registry refuses unknown names, wrong kinds and bad input") {
  metrics m;
  CHECK_FALSE(m.count(counter_name{"cashierd_no_such_total"}));  // built explicitly, never described
  CHECK_FALSE(m.count(counter_name{metric::payments.text}, {{"status", "INIT"}}));  // a gauge's name
  CHECK_FALSE(m.set_gauge(gauge_name{metric::aplus_calls.text}, {}, 1));            // a counter's name
  CHECK_FALSE(m.observe(histogram_name{metric::webhooks.text}, {}, 1));             // a counter's name
  CHECK_FALSE(m.count(metric::webhooks, {{"result", "dead"}}, -1));
  CHECK_FALSE(m.count(metric::webhooks, {{"bad-label", "x"}}));
  CHECK_FALSE(m.count(metric::webhooks, {{"le", "x"}}));
  CHECK_FALSE(m.observe(metric::commit_seconds, {}, std::nan("")));
  CHECK_FALSE(m.describe(metric::webhooks, "again"));
  CHECK_FALSE(m.describe(gauge_name{metric::webhooks.text}, "the same name as another kind"));
  CHECK_FALSE(m.describe(counter_name{"1starts_with_digit"}, "x"));
  CHECK_FALSE(m.describe(gauge_name{"has space"}, "x"));
  CHECK_FALSE(m.describe(gauge_name{"test_gauge_buckets"}, "x", {1}));
  CHECK_FALSE(m.describe(histogram_name{"test_unsorted"}, "x", {1, 0.5}));
  CHECK_FALSE(m.describe(histogram_name{"test_repeated"}, "x", {1, 1}));
  CHECK(m.describe(gauge_name{"ns:test_ok"}, "x"));
  // Nothing refused left a trace.
  CHECK(m.render().find("cashierd_no_such_total") == std::string::npos);
  CHECK(m.render().find("bad-label") == std::string::npos);
  CHECK(family_block(m.render(), "cashierd_webhooks_total").find("\ncashierd_webhooks_total") == std::string::npos);
}

TEST_CASE("the full exposition parses as Prometheus text format") {
  metrics m;
  m.count(metric::aplus_calls, {{"api", "pay"}, {"result", "U/UNKNOWN_EXCEPTION"}});
  m.observe(metric::aplus_call_seconds, {{"api", "pay"}}, 0.042);
  m.observe(metric::aplus_call_seconds, {{"api", "cancelPayment"}}, 31);
  m.observe(metric::commit_seconds, {}, 0.0003);
  m.count(metric::notifies, {{"outcome", "bad_signature"}});
  m.count(metric::webhooks, {{"result", "delivered"}}, 5);
  m.count(metric::store_failures);
  m.set_gauge(metric::webhook_oldest_age, {}, 12.25);
  const auto text = m.render();
  CHECK(parse_check(text) > 40);
  CHECK(text.find("\ncashierd_commit_seconds_bucket{le=\"0.00025\"} 0\n"
                  "cashierd_commit_seconds_bucket{le=\"0.0005\"} 1\n") != std::string::npos);
  CHECK(text.find("\ncashierd_alipayplus_call_seconds_bucket{api=\"cancelPayment\",le=\"30\"} 0\n"
                  "cashierd_alipayplus_call_seconds_bucket{api=\"cancelPayment\",le=\"+Inf\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("\ncashierd_store_failures_total 1\n") != std::string::npos);
}
