// The cashierctl command line (CLI11): parses the arguments, loads the config when given, opens
// the database read-only for the read commands and read-write for prune (never creating it), works out the payment
// clock's now, and dispatches to one command. main() is only this call, so tests run the whole
// command line in-process with string streams.
#pragma once

#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "state/machine/time.hpp"
#include "tools/cashierctl/session.hpp"

namespace cashier::ctl {

/// What the process environment contributes.
struct cli_environment {
  time_point wall_now;  ///< the wall clock at start
  bool color = false;   ///< stdout is a TTY and NO_COLOR is unset
  std::istream* in = nullptr;  ///< the terminal, for prune's confirmation (none: --yes needed)
};

/// Runs `cashierctl <args...>` (args without the program name); the exit status.
exit_status run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                    const cli_environment& env);

}  // namespace cashier::ctl
