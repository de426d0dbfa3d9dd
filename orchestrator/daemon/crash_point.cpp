// The crash points (see crash_point.hpp). The environment is read once, on the first call; the
// hit counter is touched only on the reactor thread, like every caller.
#include "orchestrator/daemon/crash_point.hpp"

#ifdef CASHIER_CRASH_POINTS
#include <csignal>
#include <cstdlib>
#include <optional>
#include <string_view>

#include <unistd.h>
#endif

namespace cashier::daemon {

#ifndef CASHIER_CRASH_POINTS

void reach(crash_point) {}

std::string armed_crash_point() { return {}; }

#else

namespace {

std::string_view name_of(crash_point p) {
  switch (p) {
    case crash_point::after_commit: return "after_commit";
    case crash_point::call_answered: return "call_answered";
    case crash_point::webhook_answered: return "webhook_answered";
  }
  return "after_commit";
}

struct armed {
  crash_point point;
  long hits_left;
};

/// CASHIER_CRASH_POINT parsed; nothing when unset or malformed.
std::optional<armed> parse_env() {
  const char* text = std::getenv("CASHIER_CRASH_POINT");
  if (text == nullptr) return std::nullopt;
  const std::string_view v(text);
  const auto colon = v.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const long n = std::atol(text + colon + 1);
  if (n < 1) return std::nullopt;
  for (auto p : {crash_point::after_commit, crash_point::call_answered, crash_point::webhook_answered})
    if (v.substr(0, colon) == name_of(p)) return armed{p, n};
  return std::nullopt;
}

std::optional<armed>& state() {
  static std::optional<armed> s = parse_env();
  return s;
}

}  // namespace

void reach(crash_point point) {
  auto& s = state();
  if (!s || s->point != point || --s->hits_left > 0) return;
  // One raw write: the log line must be out before the kill, and nothing else may run.
  const std::string line = "{\"level\":\"warn\",\"msg\":\"crash point reached\",\"point\":\"" +
                           std::string(name_of(point)) + "\"}\n";
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, line.data(), line.size());
  ::kill(::getpid(), SIGKILL);
}

std::string armed_crash_point() {
  const auto& s = state();
  return s ? std::string(name_of(s->point)) + ":" + std::to_string(s->hits_left) : std::string();
}

#endif

}  // namespace cashier::daemon
