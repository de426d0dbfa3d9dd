// Crash points for the crash campaign (tools/crash-campaign): a debug-only hook that kills the
// process with SIGKILL the Nth time a named point is reached, so a test can hit a narrow window
// (a commit made durable but not yet answered, an answer received but not yet recorded)
// deterministically instead of hoping a timed kill lands in it. Armed by the environment
// variable CASHIER_CRASH_POINT=<name>:<N>, in test builds only: crash_point.cpp compiles to
// nothing unless the CMake option CASHIER_CRASH_POINTS is on (the default when tests are built;
// off in the release preset, which makes the package), so the packaged daemon carries no way to
// be killed from the environment and never reads that variable.
#pragma once

#include <string>

namespace cashier::daemon {

/// The named points.
enum class crash_point {
  after_commit,      ///< a group commit is durable; no answer, ack or effect has left yet
  call_answered,     ///< an Alipay+ call returned; its answer is not yet committed
  webhook_answered,  ///< a merchant webhook was answered; the delivery is not yet recorded
};

/// Kills the process with SIGKILL if `point` is the armed one and this is its Nth hit.
void reach(crash_point point);

/// The armed point as "<name>:<N>", or empty when none is armed (always empty without
/// CASHIER_CRASH_POINTS).
std::string armed_crash_point();

}  // namespace cashier::daemon
