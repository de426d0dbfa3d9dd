// The phases of cashier-scale at one size N: seed N open payments, measure the deadline heap
// in-process and SQLite's raw recovery scan (ceilings), restart cashierd on them (time to
// /readyz with every deadline re-armed, RSS above the empty daemon), fire a stream of due
// timers (lateness; the gateway refuses connections at once, so only the daemon is measured),
// then make every payment due within a minute with aplus-sim answering and maxRequestsPerSecond
// set (achieved rate, worst polling and urgent delays).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tools/scale-bench/report.hpp"

namespace cashier::scale {

/// Where the binaries and files are, and how hard to push.
struct bench_setup {
  std::string cashierd;    ///< the cashierd binary
  std::string aplus_sim;   ///< the aplus-sim binary
  std::string keys_dir;    ///< tools/dev-keys output
  std::string work_dir;    ///< databases, configs and logs
  double rate = 100;       ///< maxRequestsPerSecond in the polling phase
  double timer_rate = 100; ///< due timers per second in the lateness phase
  std::chrono::seconds timer_window{5};    ///< how long timers come due
  std::chrono::seconds polling_window{8};  ///< how long the polling rate is measured
  int restarts = 3;        ///< restarts per size (the median is reported)
  bool keep = false;       ///< keep the databases
};

class child;

/// Runs the phases; keeps aplus-sim and the empty daemon's figures across sizes.
class scale_bench {
 public:
  /// Starts aplus-sim and measures what does not depend on N.
  explicit scale_bench(bench_setup setup);
  ~scale_bench();
  scale_bench(const scale_bench&) = delete;
  scale_bench& operator=(const scale_bench&) = delete;

  /// Every figure at `n` open payments.
  std::vector<figure> run_size(std::int64_t n);

 private:
  struct daemon;
  std::unique_ptr<daemon> start_daemon(const std::string& db, double max_rps, std::uint16_t gateway_port);
  void measure_restarts(std::int64_t n, const std::string& db, std::vector<figure>& out);
  void measure_lateness(std::int64_t n, const std::string& db, std::vector<figure>& out);
  void measure_polling(std::int64_t n, const std::string& db, std::vector<figure>& out);

  bench_setup setup_;
  std::uint16_t sim_port_ = 0;
  std::unique_ptr<child> sim_;
  double empty_rss_ = 0;         // bytes, median of restarts
  double bare_lateness_p99_ = 0; // seconds: sleep_until lateness on this machine now
  double last_ready_s_ = 0;      // the latest restart-to-ready, to lead the next phases
  double last_seed_s_ = 0;       // the latest seeding time, to lead the re-timed minute
  int daemons_started_ = 0;
};

}  // namespace cashier::scale
