// Measurement helpers of cashier-bench: latency samples with their percentiles, and the result
// lines every mode prints on stdout (one JSON object per line) for tools/bench to read. Human
// progress goes to stderr. No Asio here.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

namespace cashier::bench {

using bench_clock = std::chrono::steady_clock;

/// Latencies of one phase, kept in microseconds.
class latencies {
 public:
  /// Makes room for `n` samples (avoids reallocation while measuring).
  void reserve(std::size_t n) { us_.reserve(n); }
  /// Adds one sample.
  void add(bench_clock::duration d);
  /// Samples so far.
  std::size_t size() const { return us_.size(); }
  /// The `q`-quantile (0 ≤ q ≤ 1) in milliseconds; 0 without samples.
  double quantile_ms(double q);
  /// p50, p99 and max in milliseconds as {"p50_ms","p99_ms","max_ms"} fields of `out`.
  void put(boost::json::object& out, std::string_view prefix = "");

 private:
  std::vector<std::int64_t> us_;
  bool sorted_ = true;
};

/// Seconds since `start`.
double seconds_since(bench_clock::time_point start);

/// CPU time (user + system) this process has used so far, in seconds, all threads.
double process_cpu_seconds();

/// Prints `result` as one JSON line on stdout and flushes.
void print_result(const boost::json::object& result);

/// Prints a progress line on stderr.
void note(std::string_view text);

}  // namespace cashier::bench
