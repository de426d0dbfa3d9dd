// What every cashierctl command works with: where output goes (human or --json, colour or
// not), the read-only store, and the payment-clock `now` used for relative times and for
// "overdue". Also the exit codes of PRODUCT.md and the parsing of time arguments. The command
// functions take a session instead of reading globals, so tests drive them with a fixed `now`
// and string streams.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "state/machine/time.hpp"
#include "state/store/store.hpp"

namespace cashier::ctl {

/// The process exit code of a command (PRODUCT.md: 0 ok, 1 not found / check failed, 2 usage).
enum class exit_status {
  ok = 0,      ///< done
  failed = 1,  ///< not found, check violation, refused by the daemon, or an unusable database
  usage = 2,   ///< bad command line or config
};

/// Where a command writes, and how.
struct console {
  std::ostream& out;   ///< results (a table, or exactly one JSON document with --json)
  std::ostream& err;   ///< diagnostics for humans
  bool json = false;   ///< --json: machine-readable output on `out`
  bool color = false;  ///< ANSI colours in human output (stdout is a TTY and NO_COLOR unset)
};

/// A read command's context: the console, the store opened read-only, and the payment clock's now.
struct session {
  console io;                   ///< output
  store::payment_store& store;  ///< read-only store
  time_point now;               ///< payment-clock now
};

/// Reports a failure: `cashierctl: <message>` on err and, with --json, the error object
/// `{"error":{"code":...,"message":...}}` on out. Returns `status`.
exit_status report_error(const console& io, exit_status status, std::string_view code,
                         std::string_view message);

/// The payment clock at wall-clock `wall`: `origin + (wall − origin) × time_scale` when the
/// database's meta `clock_origin_ms` is known and `time_scale` ≠ 1 (the daemon's scaled clock),
/// else `wall`.
time_point payment_now(const std::optional<std::string>& clock_origin_ms, double time_scale,
                       time_point wall);

/// A time argument (`--since`): ISO 8601 UTC `2026-11-25`, `2026-11-25T10:00:00Z` (seconds and
/// `.mmm` optional, `Z` or `+hh:mm`/`-hh:mm`), or a span back from `now`: `<n>s|m|h|d`
/// (`15m` = 15 minutes ago); nothing when it is neither.
std::optional<time_point> parse_time_arg(std::string_view text, time_point now);

}  // namespace cashier::ctl
