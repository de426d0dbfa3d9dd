// The assembled daemon: opens the store, builds the clock, the engine, the driver, the Alipay+
// gateway, the webhook sender and the request handlers (request_router.hpp), recovers every
// open payment BEFORE the listener opens, then runs the reactor thread until SIGTERM/SIGINT,
// which drain in-flight work.
#pragma once

#include <optional>
#include <string>

#include "orchestrator/daemon/config.hpp"

namespace cashier::daemon {

/// Loads the keys and certificates the config names; the first problem, naming the key.
std::optional<config_error> check_resources(const config& cfg);

/// Runs the daemon; returns the process exit code (0 after a drained SIGTERM).
int run_daemon(const config& cfg);

}  // namespace cashier::daemon
