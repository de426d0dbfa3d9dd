// Child processes and loopback probes for cashier-scale: start a binary with its output in a log
// file, stop it with SIGTERM (SIGKILL after a timeout), read its resident memory from /proc,
// and a minimal blocking HTTP/1.1 GET for /readyz and /metrics. POSIX only; no Asio here, so
// the bench compiles in seconds and never shares a reactor with what it measures.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace cashier::scale {

/// A running child process; stopped (SIGTERM) when destroyed.
class child {
 public:
  /// Starts `argv` (argv[0] is the path) with stdout and stderr appended to `log_path`.
  /// Throws std::runtime_error when it cannot be started.
  child(const std::vector<std::string>& argv, const std::string& log_path);
  ~child();
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  /// The process id.
  pid_t pid() const { return pid_; }
  /// True while the process has not exited.
  bool alive();
  /// SIGTERM, then SIGKILL after `grace`; waits for the exit. Returns the exit status (or
  /// 128 + signal).
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(20));
  /// Resident set size in bytes (VmRSS), or nothing once it exited.
  std::optional<std::int64_t> rss_bytes() const;
  /// CPU time used so far (user + system, 10 ms resolution), or nothing once it exited.
  std::optional<double> cpu_seconds() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// An HTTP answer: status (0 = no connection) and body.
struct http_answer {
  int status = 0;    ///< HTTP status, 0 when nothing answered
  std::string body;  ///< the body (Content-Length bytes)
};

/// GET http://127.0.0.1:`port``path`, waiting at most `timeout` in all.
http_answer http_get(std::uint16_t port, const std::string& path,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// A TCP port on 127.0.0.1 that was free a moment ago.
std::uint16_t free_port();

/// Polls `probe` every `every` until it returns true; false after `timeout`.
template <class Probe>
bool wait_for(Probe probe, std::chrono::milliseconds timeout,
              std::chrono::milliseconds every = std::chrono::milliseconds(2));

}  // namespace cashier::scale

#include <thread>

namespace cashier::scale {
template <class Probe>
bool wait_for(Probe probe, std::chrono::milliseconds timeout, std::chrono::milliseconds every) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (!probe()) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    std::this_thread::sleep_for(every);
  }
  return true;
}
}  // namespace cashier::scale
