// JSON-lines logging (see log.hpp).
#include "orchestrator/daemon/log.hpp"

#include <unistd.h>

#include <atomic>

#include <boost/json/serialize.hpp>

#include "orchestrator/engine/clock.hpp"
#include "orchestrator/engine/payment_view.hpp"

namespace cashier::daemon {
namespace {
std::atomic<int> min_level{static_cast<int>(log_level::info)};

std::string_view name_of(log_level l) {
  switch (l) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
  }
  return "?";
}
}  // namespace

void set_log_level(log_level level) { min_level = static_cast<int>(level); }

void log_line(log_level level, std::string_view msg, boost::json::object fields) {
  if (static_cast<int>(level) < min_level) return;
  boost::json::object line;
  line["ts"] = engine::iso8601(wall_now());
  line["level"] = name_of(level);
  line["msg"] = msg;
  for (auto& kv : fields) line[kv.key()] = std::move(kv.value());
  auto text = boost::json::serialize(line);
  text.push_back('\n');
  // One write per line: whole lines even with several writers.
  [[maybe_unused]] auto n = ::write(2, text.data(), text.size());
}

std::string what_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown error";
  }
}

}  // namespace cashier::daemon
