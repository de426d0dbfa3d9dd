// Latency percentiles and result lines (see stats.hpp).
#include "tools/cashier-bench/stats.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include <boost/json/serialize.hpp>

namespace cashier::bench {

void latencies::add(bench_clock::duration d) {
  us_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  sorted_ = false;
}

double latencies::quantile_ms(double q) {
  if (us_.empty()) return 0;
  if (!sorted_) std::sort(us_.begin(), us_.end());
  sorted_ = true;
  // Nearest rank: the smallest sample with at least q of the samples at or below it.
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(us_.size())));
  return static_cast<double>(us_[std::clamp<std::size_t>(rank, 1, us_.size()) - 1]) / 1000.0;
}

void latencies::put(boost::json::object& out, std::string_view prefix) {
  const std::string p(prefix);
  out[p + "p50_ms"] = quantile_ms(0.50);
  out[p + "p99_ms"] = quantile_ms(0.99);
  out[p + "max_ms"] = quantile_ms(1.0);
}

double seconds_since(bench_clock::time_point start) {
  return std::chrono::duration<double>(bench_clock::now() - start).count();
}

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

void print_result(const boost::json::object& result) {
  const auto text = boost::json::serialize(result);
  std::fprintf(stdout, "%s\n", text.c_str());
  std::fflush(stdout);
}

void note(std::string_view text) {
  std::fprintf(stderr, "cashier-bench: %.*s\n", static_cast<int>(text.size()), text.data());
}

}  // namespace cashier::bench
