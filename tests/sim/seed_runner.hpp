// What both simulation drivers (cashier-sim, tests/sim/main.cpp; cluster-sim,
// tests/sim/cluster_main.cpp) do the same way: read a number argument, pick the directory for
// the seeds' database files, and run seeds first..first+n on `jobs` threads, each seed on its
// own, its report in its slot (so the summary is the same whatever the thread count).
#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <unistd.h>

namespace cashier::sim {

/// Parses all of `s` as a number into `out`; false (out unspecified) on anything else.
template <class T>
bool parse_number(std::string_view s, T& out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

/// Where the seeds' database files go: /dev/shm when writable (a simulated fsync costs nothing
/// real), else the temporary directory.
inline std::string seed_files_dir() {
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0) return "/dev/shm";
  return std::filesystem::temp_directory_path().string();
}

/// Runs `run(i)` for i in 0..seeds-1 on up to `jobs` threads (one when `verbose`, so the trace
/// reads in order) and returns the reports by index.
template <class Report, class Run>
std::vector<Report> run_seeds(std::uint64_t seeds, int jobs, bool verbose, Run run) {
  std::vector<Report> reports(seeds);
  std::atomic<std::uint64_t> next{0};
  auto work = [&] {
    for (std::uint64_t i = next++; i < seeds; i = next++) reports[i] = run(i);
  };
  std::vector<std::thread> threads;
  const auto n = verbose ? 1 : std::min<std::uint64_t>(static_cast<std::uint64_t>(std::max(jobs, 1)), seeds);
  for (std::uint64_t t = 1; t < n; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  return reports;
}

}  // namespace cashier::sim
