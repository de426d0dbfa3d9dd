// Figures, their table and JSON lines, and Prometheus text reading (see report.hpp).
#include "tools/scale-bench/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace cashier::scale {
namespace {

namespace json = boost::json;

std::string number_text(double v) {
  char buf[32];
  if (v != 0 && (std::fabs(v) >= 1e6 || std::fabs(v) < 1e-3)) std::snprintf(buf, sizeof buf, "%.3g", v);
  else if (std::fabs(v) >= 100) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string target_text(const figure& f) {
  switch (f.kind) {
    case goal::none: return "";
    case goal::at_most: return "<= " + number_text(f.target);
    case goal::at_least: return ">= " + number_text(f.target);
  }
  return "";
}

/// Calls `each(labels, value)` for every sample line of metric `name` (exact name).
template <class Each>
void samples(std::string_view text, std::string_view name, Each each) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const auto line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.starts_with(name) || line.size() <= name.size()) continue;
    const char next = line[name.size()];
    if (next != '{' && next != ' ') continue;
    std::string_view labels;
    if (next == '{') labels = line.substr(name.size(), line.find('}') - name.size() + 1);
    const auto space = line.rfind(' ');
    each(labels, std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr));
  }
}

}  // namespace

std::optional<bool> figure::met() const {
  if (failed_check) return false;
  switch (kind) {
    case goal::none: return std::nullopt;
    case goal::at_most: return value <= target;
    case goal::at_least: return value >= target;
  }
  return std::nullopt;
}

std::string size_label(std::int64_t n) {
  if (n >= 1'000'000 && n % 1'000'000 == 0) return std::to_string(n / 1'000'000) + "M";
  if (n >= 1'000 && n % 1'000 == 0) return std::to_string(n / 1'000) + "k";
  return std::to_string(n);
}

void print_json(std::ostream& out, const std::vector<figure>& figures) {
  for (const auto& f : figures) {
    json::object o;
    o["figure"] = "scale." + f.name + "@" + size_label(f.size);
    o["value"] = f.value;
    o["unit"] = f.unit;
    o["ceiling"] = f.ceiling ? json::value(*f.ceiling) : json::value(nullptr);
    o["ratio"] = f.ceiling && *f.ceiling != 0 ? json::value(f.value / *f.ceiling) : json::value(nullptr);
    o["target"] = f.kind == goal::none ? json::value(nullptr) : json::value(target_text(f));
    const auto met = f.met();
    o["met"] = met ? json::value(*met) : json::value(nullptr);
    out << json::serialize(o) << "\n";
  }
}

void print_table(std::ostream& out, const std::vector<figure>& figures) {
  std::vector<std::string> names;
  std::set<std::int64_t> sizes;
  std::map<std::pair<std::string, std::int64_t>, const figure*> at;
  for (const auto& f : figures) {
    if (std::find(names.begin(), names.end(), f.name) == names.end()) names.push_back(f.name);
    sizes.insert(f.size);
    at[{f.name, f.size}] = &f;
  }
  char line[256];
  std::snprintf(line, sizeof line, "%-30s %-8s", "figure", "unit");
  out << line;
  for (auto n : sizes) {
    std::snprintf(line, sizeof line, " %16s", ("@" + size_label(n)).c_str());
    out << line;
  }
  out << "  target\n";
  for (const auto& name : names) {
    const figure* any = nullptr;
    std::snprintf(line, sizeof line, "%-30s", name.c_str());
    out << line;
    std::string cells;
    for (auto n : sizes) {
      const auto it = at.find({name, n});
      std::string cell = "-";
      if (it != at.end()) {
        any = it->second;
        const auto& f = *it->second;
        cell = number_text(f.value);
        if (f.ceiling) cell += " (" + number_text(*f.ceiling) + ")";
        if (const auto met = f.met()) cell += *met ? " ok" : " NO";
      }
      std::snprintf(line, sizeof line, " %16s", cell.c_str());
      cells += line;
    }
    std::snprintf(line, sizeof line, " %-8s", any != nullptr ? any->unit.c_str() : "");
    out << line << cells << "  " << (any != nullptr ? target_text(*any) : "") << "\n";
  }
  out << "(value (ceiling measured in the same run) ok|NO against the target)\n";
}

double metric_sum(std::string_view text, std::string_view name, std::string_view labels) {
  double sum = 0;
  samples(text, name, [&](std::string_view l, double v) {
    if (l.find(labels) != std::string_view::npos) sum += v;
  });
  return sum;
}

std::optional<double> histogram_quantile(std::string_view text, std::string_view name, double q,
                                         std::string_view labels) {
  std::map<double, double> cumulative;  // le -> count, summed over the matching series
  const std::string bucket = std::string(name) + "_bucket";
  samples(text, bucket, [&](std::string_view l, double v) {
    if (l.find(labels) == std::string_view::npos) return;
    const auto le = l.find("le=\"");
    if (le == std::string_view::npos) return;
    const auto bound = l.substr(le + 4, l.find('"', le + 4) - le - 4);
    const double b = bound == "+Inf" ? std::numeric_limits<double>::infinity()
                                     : std::strtod(std::string(bound).c_str(), nullptr);
    cumulative[b] += v;
  });
  if (cumulative.empty() || cumulative.rbegin()->second <= 0) return std::nullopt;
  const double rank = q * cumulative.rbegin()->second;
  double lower = 0;
  double below = 0;
  for (const auto& [le, count] : cumulative) {
    if (count >= rank) {
      if (std::isinf(le)) return lower;  // beyond the last finite bound: report that bound
      return lower + (le - lower) * (count == below ? 1 : (rank - below) / (count - below));
    }
    lower = le;
    below = count;
  }
  return lower;
}

}  // namespace cashier::scale
