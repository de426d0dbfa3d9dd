// The driver's log lines for what the scheduler reports (engine::notice): a call deferred over
// the budget, a cancel held behind a pay, a lowered rate, the store failing and recovering. One
// wording per notice kind, kept out of the executor.
#pragma once

#include "orchestrator/engine/scheduler.hpp"

namespace cashier::daemon {

/// Writes the log line of scheduler notice `n`.
void log_notice(const engine::notice& n);

}  // namespace cashier::daemon
