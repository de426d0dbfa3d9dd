// The phases of cashier-scale (see scenario.hpp). Progress goes to stderr; figures are returned.
#include "tools/scale-bench/scenario.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "orchestrator/daemon/metrics.hpp"
#include "orchestrator/engine/deadline_heap.hpp"
#include "tools/scale-bench/child.hpp"
#include "tools/scale-bench/seed.hpp"

namespace cashier::scale {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr const char* client_id = "SCALE_CLIENT";
// The daemon's metric names, from the one place they are written (a renamed metric fails here).
constexpr std::string_view lateness = cashier::daemon::metric::timer_lateness.text;
constexpr std::string_view lateness_max = cashier::daemon::metric::timer_lateness_max.text;
/// The cancels of the polling phase (urgent lane) ask for this share of the budget.
constexpr double cancel_share = 0.05;

double seconds_since(steady::time_point t) { return std::chrono::duration<double>(steady::now() - t).count(); }

time_point payment_now() { return std::chrono::time_point_cast<duration>(std::chrono::system_clock::now()); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void progress(const std::string& what) { std::cerr << "cashier-scale: " << what << std::endl; }

/// Bytes the allocator holds for the program (heap and mmapped chunks).
double allocated_bytes() {
  const auto m = mallinfo2();
  return static_cast<double>(m.uordblks + m.hblkhd);
}

/// Bytes per deadline of the daemon's heap holding `n` deadlines armed as recovery arms them.
double heap_bytes_per_entry(std::int64_t n) {
  const double before = allocated_bytes();
  double per_entry = 0;
  {
    deadline_heap heap;
    heap.reserve(static_cast<std::size_t>(n));
    const auto base = payment_now();
    for (std::int64_t i = 1; i <= n; ++i) heap.arm(i, base + std::chrono::milliseconds(i));
    per_entry = (allocated_bytes() - before) / static_cast<double>(n);
    if (heap.size() != static_cast<std::size_t>(n)) throw std::logic_error("deadline heap lost entries");
  }
  return per_entry;
}

/// The 99th percentile of how late a thread wakes from sleep_until at `per_second` for `span`:
/// the floor under any timer on this machine right now.
double bare_sleep_lateness_p99(double per_second, std::chrono::seconds span) {
  std::vector<double> late;
  const auto start = steady::now() + 10ms;
  const auto period = std::chrono::duration<double>(1.0 / per_second);
  for (int i = 0; start + period * i < start + span; ++i) {
    const auto due = start + std::chrono::duration_cast<steady::duration>(period * i);
    std::this_thread::sleep_until(due);
    late.push_back(std::chrono::duration<double>(steady::now() - due).count());
  }
  std::sort(late.begin(), late.end());
  return late[late.size() * 99 / 100];
}

/// The longest /readyz answer while a /metrics scrape is under way (the store counters scan
/// the open payments): how long the daemon's reactor, hence every timer, was held up.
double stall_during_scrape(std::uint16_t port) {
  std::atomic<bool> done = false;
  std::thread scrape([&] {
    http_get(port, "/metrics", 60s);
    done = true;
  });
  double worst = 0;
  do {
    const auto asked = steady::now();
    http_get(port, "/readyz", 60s);
    worst = std::max(worst, seconds_since(asked));
  } while (!done);
  scrape.join();
  return worst;
}

/// Times a 4 KiB write + fdatasync in `dir` every 20 ms until `stop`: the disk the daemon's
/// commits wait on, measured while they happen (what shared machines make of LIMITS.md's 150 µs).
class fsync_probe {
 public:
  explicit fsync_probe(const std::string& dir) : path_(dir + "/fsync-probe") {
    thread_ = std::thread([this] { run(); });
  }
  ~fsync_probe() { stop(); }
  fsync_probe(const fsync_probe&) = delete;
  fsync_probe& operator=(const fsync_probe&) = delete;
  /// Stops probing; the latencies in seconds, sorted.
  std::vector<double> stop() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
      std::sort(late_.begin(), late_.end());
    }
    return late_;
  }

 private:
  void run() {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    const std::string page(4096, 'x');
    for (int i = 0; !stop_; ++i) {
      const auto t = steady::now();
      if (::pwrite(fd, page.data(), page.size(), static_cast<off_t>(i % 16) * 4096) < 0 || ::fdatasync(fd) != 0) break;
      late_.push_back(seconds_since(t));
      std::this_thread::sleep_for(20ms);
    }
    ::close(fd);
    ::unlink(path_.c_str());
  }
  std::string path_;
  std::atomic<bool> stop_ = false;
  std::vector<double> late_;
  std::thread thread_;
};

double percentile(const std::vector<double>& sorted, double q) {
  return sorted.empty() ? 0 : sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(q * static_cast<double>(sorted.size())))];
}

/// Writes `text` to `path`, readable by its owner only (cashierd refuses a config holding tokens
/// that every user can read).
void write_file(const std::string& path, const std::string& text) {
  {
    std::ofstream out(path);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
  }
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

}  // namespace

struct scale_bench::daemon {
  std::unique_ptr<child> proc;
  std::uint16_t port = 0;
  std::uint16_t ops_port = 0;  // opsListen: /readyz and /metrics
  double ready_s = 0;      // exec to /readyz 200
  double ready_cpu_s = 0;  // CPU time used until then

  std::string metrics() const {
    const auto a = http_get(ops_port, "/metrics");
    if (a.status != 200) throw std::runtime_error("cashierd /metrics answered " + std::to_string(a.status));
    return a.body;
  }
};

scale_bench::scale_bench(bench_setup setup) : setup_(std::move(setup)) {
  sim_port_ = free_port();
  const auto& k = setup_.keys_dir;
  sim_ = std::make_unique<child>(
      std::vector<std::string>{setup_.aplus_sim, "--listen", "127.0.0.1:" + std::to_string(sim_port_), "--plain-http",
                               "--private-key", k + "/aplus_private.pem", "--acqp-public-key", k + "/acqp_public.pem",
                               "--client-id", client_id},
      setup_.work_dir + "/aplus-sim.log");
  if (!wait_for([this] { return http_get(sim_port_, "/sim/payments/none", 1s).status != 0; }, 30s))
    throw std::runtime_error("aplus-sim did not start; see " + setup_.work_dir + "/aplus-sim.log");

  const auto db = setup_.work_dir + "/empty.db";
  seed_open_payments(db, 0, payment_now());
  std::vector<double> rss;
  for (int i = 0; i < setup_.restarts; ++i) {
    auto d = start_daemon(db, 0, sim_port_);
    std::this_thread::sleep_for(300ms);
    rss.push_back(static_cast<double>(d->proc->rss_bytes().value_or(0)));
    d->proc->stop();
  }
  empty_rss_ = median(rss);
  bare_lateness_p99_ = bare_sleep_lateness_p99(setup_.timer_rate, 2s);
  progress("empty daemon RSS " + std::to_string(empty_rss_ / 1024) + " KiB; bare sleep lateness p99 " +
           std::to_string(bare_lateness_p99_ * 1000) + " ms");
}

scale_bench::~scale_bench() = default;

std::unique_ptr<scale_bench::daemon> scale_bench::start_daemon(const std::string& db, double max_rps,
                                                               std::uint16_t gateway_port) {
  auto d = std::make_unique<daemon>();
  d->port = free_port();
  d->ops_port = free_port();
  const auto name = setup_.work_dir + "/cashierd-" + std::to_string(++daemons_started_);
  const auto& k = setup_.keys_dir;
  const auto listen = "127.0.0.1:" + std::to_string(d->port);
  write_file(name + ".json", R"({"listen": ")" + listen + R"(", "opsListen": "127.0.0.1:)" +
                                 std::to_string(d->ops_port) + R"(", "database": ")" + db + R"(",
  "alipayplus": {"gateway": "http://127.0.0.1:)" + std::to_string(gateway_port) + R"(", "clientId": ")" + client_id +
                                 R"(", "privateKey": ")" + k + R"(/acqp_private.pem", "alipayplusPublicKey": ")" + k +
                                 R"(/aplus_public.pem", "notifyUrl": "http://)" + listen + R"(/alipayplus/notify",
    "requestTimeoutMs": 5000, "maxRequestsPerSecond": )" + std::to_string(max_rps) + R"(},
  "merchants": [{"id": "scale", "token": "scale-bench-merchant-token", "referenceMerchantId": "M0001",
                 "merchantName": "Scale Shop", "merchantMCC": "5732", "merchantAddress": {"region": "JP", "city": "Tokyo"}}]})");
  const auto started = steady::now();
  d->proc = std::make_unique<child>(std::vector<std::string>{setup_.cashierd, "--config", name + ".json"}, name + ".log");
  const bool ready = wait_for([&] { return !d->proc->alive() || http_get(d->ops_port, "/readyz", 1s).status == 200; },
                              120s, 1ms);
  if (!ready || !d->proc->alive()) throw std::runtime_error("cashierd did not get ready; see " + name + ".log");
  d->ready_s = seconds_since(started);
  d->ready_cpu_s = d->proc->cpu_seconds().value_or(0);
  return d;
}

std::vector<figure> scale_bench::run_size(std::int64_t n) {
  std::vector<figure> out;
  const auto db = setup_.work_dir + "/open-" + size_label(n) + ".db";
  auto t = steady::now();
  seed_open_payments(db, n, payment_now());
  last_seed_s_ = seconds_since(t);
  progress("seeded " + std::to_string(n) + " open payments in " + std::to_string(last_seed_s_) + " s");

  out.push_back({.name = "deadline_heap_bytes_per_entry", .size = n, .value = heap_bytes_per_entry(n), .unit = "B",
                 .ceiling = 16.0});  // the (time, id) pair itself
  measure_restarts(n, db, out);
  measure_lateness(n, db, out);
  measure_polling(n, db, out);
  if (!setup_.keep)
    for (const auto* suffix : {"", "-wal", "-shm"}) fs::remove(db + suffix);
  return out;
}

void scale_bench::measure_restarts(std::int64_t n, const std::string& db, std::vector<figure>& out) {
  std::vector<double> scans;
  std::vector<double> scan_cpus;
  std::int64_t rows = 0;
  for (int i = 0; i < setup_.restarts; ++i) {
    const auto cost = raw_recovery_scan(db);
    scans.push_back(cost.wall_s);
    scan_cpus.push_back(cost.cpu_s);
    rows = cost.rows;
  }
  std::vector<double> ready;
  std::vector<double> ready_cpus;
  std::vector<double> rss;
  std::vector<double> stalls;
  bool all_armed = true;
  for (int i = 0; i < setup_.restarts; ++i) {
    auto d = start_daemon(db, 0, sim_port_);
    ready.push_back(d->ready_s);
    ready_cpus.push_back(d->ready_cpu_s);
    all_armed = all_armed && metric_sum(d->metrics(), cashier::daemon::metric::deadlines_armed.text) == static_cast<double>(n);
    stalls.push_back(stall_during_scrape(d->ops_port));
    std::this_thread::sleep_for(300ms);
    rss.push_back(static_cast<double>(d->proc->rss_bytes().value_or(0)));
    d->proc->stop();
  }
  last_ready_s_ = median(ready);
  const double heap = out.back().value;
  figure restart{.name = "restart_to_ready", .size = n, .value = last_ready_s_, .unit = "s",
                 .ceiling = median(scans), .kind = goal::at_most, .target = 1.0};
  restart.failed_check = !all_armed || rows != n;
  out.push_back(restart);
  // CPU time does not depend on how busy the shared machine is; the wall time above does.
  out.push_back({.name = "restart_cpu", .size = n, .value = median(ready_cpus), .unit = "s",
                 .ceiling = median(scan_cpus)});
  out.push_back({.name = "rss_per_open_payment", .size = n, .value = (median(rss) - empty_rss_) / static_cast<double>(n),
                 .unit = "B", .ceiling = heap, .kind = goal::at_most, .target = 128});
  // Whatever a scrape costs must not hold up the reactor, hence every timer.
  out.push_back({.name = "reactor_stall_during_scrape", .size = n, .value = 1000 * median(stalls), .unit = "ms",
                 .kind = goal::at_most, .target = 50});
  progress("restart-to-ready " + std::to_string(last_ready_s_) + " s (raw scan " + std::to_string(median(scans)) +
           " s), every deadline re-armed: " + (all_armed ? "yes" : "NO"));
}

void scale_bench::measure_lateness(std::int64_t n, const std::string& db, std::vector<figure>& out) {
  const auto window_s = static_cast<double>(setup_.timer_window.count());
  const auto due = std::min<std::int64_t>(n, static_cast<std::int64_t>(setup_.timer_rate * window_s));
  const auto lead = std::chrono::milliseconds(static_cast<std::int64_t>(1500 + 2000 * last_ready_s_));
  schedule_stream(db, payment_now() + lead, due, setup_.timer_rate);
  const auto from = steady::now() + lead;
  // Nobody listens on this port: each call fails at once, so only the daemon's own work counts.
  auto d = start_daemon(db, 0, free_port());
  fsync_probe disk(setup_.work_dir);
  // No scrape while the timers fire: it would only add load.
  std::this_thread::sleep_until(from + setup_.timer_window + 500ms);
  const auto fsyncs = disk.stop();
  std::string text;
  const bool fired = wait_for([&] {
    text = d->metrics();
    return metric_sum(text, std::string(lateness) + "_count") >= static_cast<double>(due);
  }, 60s, 500ms);
  d->proc->stop();
  const double worst = metric_sum(text, lateness_max);
  // Commits run on the reactor: a timer due during one fires after it, so the disk's fsync
  // latency in the same seconds is the floor under the lateness (the sleep floor is far lower).
  const double fsync_p99 = percentile(fsyncs, 0.99);
  figure p99{.name = "timer_lateness_p99", .size = n,
             .value = 1000 * std::min(worst, histogram_quantile(text, lateness, 0.99).value_or(0)), .unit = "ms",
             .ceiling = 1000 * std::max(fsync_p99, bare_lateness_p99_), .kind = goal::at_most, .target = 50};
  p99.failed_check = !fired;
  out.push_back(p99);
  out.push_back({.name = "timer_lateness_max", .size = n, .value = 1000 * worst, .unit = "ms"});
  out.push_back({.name = "commit_p99", .size = n,
                 .value = 1000 * histogram_quantile(text, cashier::daemon::metric::commit_seconds.text, 0.99).value_or(0), .unit = "ms",
                 .ceiling = 1000 * fsync_p99});
  progress("timer lateness p99 " + std::to_string(p99.value) + " ms over " + std::to_string(due) +
           " due timers; fsync p99 " + std::to_string(1000 * fsync_p99) + " ms, max " +
           std::to_string(1000 * percentile(fsyncs, 1.0)) + " ms");
}

void scale_bench::measure_polling(std::int64_t n, const std::string& db, std::vector<figure>& out) {
  // Re-timing every row rewrites the whole table (a third to half of the seeding time):
  // the minute must not start before the daemon is up, or its first deadlines would be late.
  const auto lead = std::chrono::milliseconds(static_cast<std::int64_t>(2000 + 2000 * last_ready_s_ + 600 * last_seed_s_));
  const auto from = payment_now() + lead;
  const auto cancels = std::max<std::int64_t>(1, static_cast<std::int64_t>(setup_.rate * 60 * cancel_share));
  schedule_minute(db, from, n, std::max<std::int64_t>(2, n / cancels));
  auto d = start_daemon(db, setup_.rate, sim_port_);
  const auto from_wall = std::chrono::system_clock::time_point(from.time_since_epoch());
  const bool on_time = std::chrono::system_clock::now() < from_wall;
  if (!on_time) progress("WARNING: the daemon was ready after the first deadlines; delays include the start");
  std::this_thread::sleep_until(from_wall + 1s);
  // Calls sent: answered ones (the counter) plus those still under way. The budget bounds calls
  // sent; answers alone would count the calls in flight at the window's start against it.
  const auto calls = [&] {
    const auto text = d->metrics();
    return metric_sum(text, cashier::daemon::metric::aplus_calls.text) + metric_sum(text, cashier::daemon::metric::calls_in_flight.text);
  };
  const double calls0 = calls();
  const auto t0 = steady::now();
  std::this_thread::sleep_for(setup_.polling_window);
  const double calls1 = calls();
  const double span = seconds_since(t0);
  const auto text = d->metrics();
  d->proc->stop();
  const double achieved = (calls1 - calls0) / span;
  // Two bursts of 20 ms each may come on top of the rate within the window (rate_budget.hpp).
  const double allowed = setup_.rate * (1 + 0.04 / span);
  out.push_back({.name = "polling_demand", .size = n, .value = static_cast<double>(n) / 60, .unit = "calls/s"});
  out.push_back({.name = "polling_rate", .size = n, .value = achieved, .unit = "calls/s", .ceiling = setup_.rate,
                 .kind = goal::at_most, .target = allowed});
  out.push_back({.name = "worst_polling_delay", .size = n,
                 .value = metric_sum(text, lateness_max, "lane=\"polling\""), .unit = "s"});
  figure urgent{.name = "worst_urgent_delay", .size = n, .value = metric_sum(text, lateness_max, "lane=\"urgent\""),
                .unit = "s", .kind = goal::at_most, .target = 1};
  urgent.failed_check = !on_time;
  out.push_back(urgent);
  progress("polling: " + std::to_string(achieved) + " calls/s of " + std::to_string(setup_.rate) + " allowed");
}

}  // namespace cashier::scale
