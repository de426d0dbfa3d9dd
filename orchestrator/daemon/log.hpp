// JSON-lines logging to stderr: one object per line with `ts` (wall clock, ISO 8601), `level`,
// `msg` and the caller's fields. Lines are written whole with one write so concurrent writers
// (any of cashierd's threads: the reactor, cashierd-net, cashierd-stats; proto-docs/
// threads-and-owners.md) never interleave within a line.
#pragma once

#include <exception>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace cashier::daemon {

/// Severity of a log line.
enum class log_level {
  debug,  ///< details for developers
  info,   ///< normal operation: transitions, start, stop
  warn,   ///< something an operator may want to look at
  error,  ///< something failed
};

/// Writes one JSON line: {"ts":...,"level":...,"msg":msg, ...fields}.
void log_line(log_level level, std::string_view msg, boost::json::object fields = {});

/// Lines below `level` are dropped (default info).
void set_log_level(log_level level);

/// The message of the exception `e`, for a log line ("unknown error" for a non-std exception).
std::string what_of(std::exception_ptr e);

}  // namespace cashier::daemon
