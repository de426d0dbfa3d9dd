// `cashier-bench seed`: fills a cashierd database with IN_PROCESS payments before the daemon
// starts, so the notify benchmark has payments to notify. Each payment goes the daemon's own
// way: the create body through the merchant API's validation and pay-request builder, then the
// engine with a `created` input and a pay answer U PAYMENT_IN_PROCESS, committed in groups, so
// the rows, events and deadlines are exactly what cashierd would have written. No Asio here.
#pragma once

#include <cstdint>
#include <string>

namespace cashier::bench {

/// What to seed.
struct seed_options {
  std::string database;                 ///< the SQLite file (created with the schema if missing)
  std::string prefix = "bench-";        ///< payments are named <prefix><index>
  std::int64_t first = 0;               ///< first index
  std::int64_t count = 0;               ///< payments to seed
  std::string merchant_id = "shop";     ///< the merchant that "created" them
  std::string notify_url;               ///< paymentNotifyUrl in their pay requests
  std::int64_t poll_seconds = 3600;     ///< their first inquiry, far beyond any bench run
};

/// Seeds the payments; prints {"mode":"seed","payments","seconds"}. Returns the exit code.
int run_seed(const seed_options& o);

/// `cashier-bench check-acked`: every payment named in `acked_file` (one paymentRequestId a
/// line, as `notify --acked-out` writes it) is SUCCESS in `database` with a verified notify
/// recorded, i.e. no notify was acked before its commit. Prints {"mode":"check-acked",
/// "checked","missing"}; returns 0 when nothing is missing.
int run_check_acked(const std::string& database, const std::string& acked_file);

}  // namespace cashier::bench
