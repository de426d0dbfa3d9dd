// What cashier-scale reports: one figure per measured quantity and size, printed as a human
// table (a curve over the sizes) or as JSON lines {"figure","value","unit","ceiling","ratio",
// "target","met"} for tools/bench; and the reading of cashierd's Prometheus text (/metrics).
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace cashier::scale {

/// How a figure is judged against its target.
enum class goal {
  none,      ///< informational
  at_most,   ///< met when value <= target
  at_least,  ///< met when value >= target
};

/// One measured figure at one size.
struct figure {
  std::string name{};             ///< e.g. "restart_to_ready"
  std::int64_t size = 0;          ///< open payments
  double value = 0;               ///< the measurement
  std::string unit{};             ///< "s", "ms", "B", "calls/s"
  std::optional<double> ceiling{};  ///< what the machine allows, measured in the same run
  goal kind = goal::none;         ///< how `target` applies
  double target = 0;              ///< the target value (when kind is not none)
  bool failed_check = false;      ///< a precondition failed (e.g. not every deadline re-armed)

  /// Whether the target is met (nothing when there is none).
  std::optional<bool> met() const;
};

/// "10k", "100k", "1M", or the number.
std::string size_label(std::int64_t n);
/// One JSON object per figure and line; the figure is "scale.<name>@<size label>".
void print_json(std::ostream& out, const std::vector<figure>& figures);
/// A table: one row per figure name, one column per size, then unit, ceiling and target.
void print_table(std::ostream& out, const std::vector<figure>& figures);

/// The sum of the samples of metric `name` whose label text contains `labels` ("" = all).
double metric_sum(std::string_view text, std::string_view name, std::string_view labels = "");
/// The `q` quantile (0..1) of histogram `name` (series whose labels contain `labels`), linear
/// within a bucket as Prometheus' histogram_quantile does; nothing without observations.
std::optional<double> histogram_quantile(std::string_view text, std::string_view name, double q,
                                         std::string_view labels = "");

}  // namespace cashier::scale
