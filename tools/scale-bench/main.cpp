// cashier-scale: cashierd with many open payments. Seeds 10k, 100k (--quick) and 1M (--full)
// open payments straight into the store and measures, at each size: the deadline heap's bytes
// per entry, restart-to-ready with every deadline re-armed, RSS per open payment above the
// empty daemon, timer lateness while due timers fire, and polling under maxRequestsPerSecond
// with aplus-sim answering. Prints a table (a curve over the sizes) or, with --json, one JSON
// object per line for tools/bench. See proto-docs/scale.md.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include <CLI/CLI.hpp>

#include "tools/scale-bench/child.hpp"
#include "tools/scale-bench/scenario.hpp"

namespace {

namespace fs = std::filesystem;
using namespace cashier::scale;

/// The build directory this binary lives in (…/tools/scale-bench/cashier-scale).
std::string own_build_dir() {
  return fs::canonical("/proc/self/exe").parent_path().parent_path().parent_path().string();
}

/// Makes (or reuses) development keys in `dir` with tools/dev-keys.
void make_keys(const std::string& dir) {
  const std::string script = std::string(CASHIER_SOURCE_DIR) + "/tools/dev-keys";
  child keys({script, dir}, dir + ".log");
  if (!wait_for([&] { return !keys.alive(); }, std::chrono::seconds(120), std::chrono::milliseconds(20)) ||
      keys.stop() != 0)
    throw std::runtime_error("tools/dev-keys failed; see " + dir + ".log");
}

std::string make_work_dir(const std::string& wanted) {
  if (!wanted.empty()) {
    fs::create_directories(wanted);
    return fs::canonical(wanted).string();
  }
  std::string pattern = (fs::temp_directory_path() / "cashier-scale-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot make a work directory");
  return pattern;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cashier-scale: cashierd with 10k, 100k and 1M open payments (see proto-docs/scale.md)"};
  bool quick = false;
  bool full = false;
  bool json = false;
  bool keep = false;
  std::vector<std::int64_t> sizes;
  std::string build_dir;
  std::string work_dir;
  bench_setup setup;
  int window_s = 0;
  app.add_flag("--quick", quick, "10k and 100k open payments, short windows (the default; about a minute)");
  app.add_flag("--full", full, "10k, 100k and 1M open payments, longer windows");
  app.add_flag("--json", json, "one JSON object per figure and line instead of the table");
  app.add_option("--sizes", sizes, "open payment counts to measure (overrides --quick/--full)")->check(CLI::PositiveNumber);
  app.add_option("--build-dir", build_dir, "where cashierd and aplus-sim are (default: this binary's build dir)");
  app.add_option("--work-dir", work_dir, "databases, configs and logs (default: a new temp dir)");
  app.add_option("--keys-dir", setup.keys_dir, "dev keys (default: <temp>/cashier-scale-keys, made by tools/dev-keys)");
  app.add_option("--rate", setup.rate, "maxRequestsPerSecond in the polling phase")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--timer-rate", setup.timer_rate, "due timers per second in the lateness phase")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--window", window_s, "seconds of the polling window (default 8, --full 20)")->check(CLI::PositiveNumber);
  app.add_flag("--keep", keep, "keep the work directory and the databases");
  CLI11_PARSE(app, argc, argv);
  if (quick && full) {
    std::cerr << "cashier-scale: --quick and --full exclude each other\n";
    return 2;
  }

  try {
    if (sizes.empty()) sizes = full ? std::vector<std::int64_t>{10'000, 100'000, 1'000'000} : std::vector<std::int64_t>{10'000, 100'000};
    if (full) setup.timer_window = std::chrono::seconds(10);
    setup.polling_window = std::chrono::seconds(window_s > 0 ? window_s : full ? 20 : 8);
    if (build_dir.empty()) build_dir = own_build_dir();
    setup.cashierd = build_dir + "/orchestrator/daemon/cashierd";
    setup.aplus_sim = build_dir + "/tools/aplus-sim/aplus-sim";
    if (setup.keys_dir.empty()) setup.keys_dir = (fs::temp_directory_path() / "cashier-scale-keys").string();
    make_keys(setup.keys_dir);
    setup.work_dir = make_work_dir(work_dir);
    setup.keep = keep;
    std::vector<figure> figures;
    {
      scale_bench bench(setup);
      for (auto n : sizes) {
        auto f = bench.run_size(n);
        figures.insert(figures.end(), f.begin(), f.end());
      }
    }
    if (!keep && work_dir.empty()) fs::remove_all(setup.work_dir);
    if (json) print_json(std::cout, figures);
    else print_table(std::cout, figures);
  } catch (const std::exception& e) {
    std::cerr << "cashier-scale: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
