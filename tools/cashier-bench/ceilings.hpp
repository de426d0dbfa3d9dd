// The machine ceilings cashierd is compared with, measured in the same run: RSA256 signatures
// through the project's signer (orchestrator/alipayplus/signer.hpp) on one thread and on every
// core, and raw SQLite durable commits with the store's pragmas, schema, row sizes and batching
// but none of its code. Each prints one result line. No Asio here.
#pragma once

#include <string>

namespace cashier::bench {

/// What `cashier-bench rsa` measures with.
struct rsa_options {
  std::string keys_dir;    ///< tools/dev-keys output (acqp_private.pem, acqp_public.pem)
  double seconds = 2;      ///< per figure
  unsigned threads = 0;    ///< "all cores": 0 = std::thread::hardware_concurrency()
};

/// Signs and verifies a pay-request-sized message for `seconds` on one thread, then on
/// `threads` threads; prints {"mode":"rsa","sign_1","sign_all","verify_1","verify_all",...}.
/// Returns the exit code.
int run_rsa(const rsa_options& o);

/// What `cashier-bench sqlite` measures with.
struct sqlite_options {
  std::string dir = ".";  ///< where the scratch database goes (the same disk as the daemon's)
  double seconds = 2;     ///< per batch size
  int batch = 64;         ///< transitions per commit for the batched figure (1 is always measured)
  int payments = 20'000;  ///< rows the transitions cycle through
};

/// Commits notify-shaped transitions (payment update, event, inbound notify, outbox row)
/// straight through the SQLite C API; prints {"mode":"sqlite","commits_1","transitions_b",...}.
/// Returns the exit code.
int run_sqlite(const sqlite_options& o);

}  // namespace cashier::bench
