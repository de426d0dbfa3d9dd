// The database side of cashier-scale: seeding N open payments (the first through the store
// API, the others copied from it column by column in SQL, one transaction per 10,000), re-timing
// their deadlines between phases with plain SQL while the daemon is stopped, and the raw
// recovery scan that is the restart figure's ceiling.
#pragma once

#include <cstdint>
#include <string>

#include "state/machine/time.hpp"

namespace cashier::scale {

/// Payments inserted per store transaction while seeding.
inline constexpr std::int64_t seed_batch = 10'000;

/// Creates the database at `path` with `count` open payments (IN_PROCESS, polling at the last
/// interval, a realistic pay request each), every deadline an hour or more after `now`.
void seed_open_payments(const std::string& path, std::int64_t count, time_point now);

/// Payments 1..`due` due from `from` on at `per_second`; the others keep their seeded deadlines.
void schedule_stream(const std::string& path, time_point from, std::int64_t due, double per_second);

/// Every open payment due once in the minute from `from` (spread evenly, as if each polled
/// every 60 s); every `cancel_every`-th one waits on a cancel instead of a poll.
void schedule_minute(const std::string& path, time_point from, std::int64_t count,
                     std::int64_t cancel_every);

/// What the recovery query costs when SQLite alone reads it.
struct scan_cost {
  double wall_s = 0;      ///< elapsed
  double cpu_s = 0;       ///< CPU time of the reading thread
  std::int64_t rows = 0;  ///< rows returned
};
/// Runs the daemon's recovery query on `path` and reads every column of every row.
scan_cost raw_recovery_scan(const std::string& path);

}  // namespace cashier::scale
