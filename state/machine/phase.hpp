// The phases of a payment: the (status, pending action, cancel abandoned) combinations the
// machine can be in, one dispatch key for every event. The names are the ones the transition
// table in proto-docs/state-machine.md uses.
#pragma once

#include <optional>
#include <string_view>

#include "state/machine/payment.hpp"

namespace cashier {

/// Where a payment is in its life.
enum class phase {
  init_pay,            ///< INIT/PAY: pay sent or being retried until expiry
  in_process_inquiry,  ///< IN_PROCESS/INQUIRY: polling until the polling deadline
  inquiry_abandoned,   ///< INIT or IN_PROCESS, INQUIRY after a cancel refused (CANCEL_WINDOW_EXCEED); polls past the deadline
  init_cancel,         ///< INIT with cancel pending
  in_process_cancel,   ///< IN_PROCESS with cancel pending
  success_cancel,      ///< SUCCESS with cancel pending (refund)
  fail_cancel,         ///< FAIL with cancel pending (only after an amount mismatch)
  success,             ///< SUCCESS, nothing pending (final)
  fail,                ///< FAIL, nothing pending (final)
  cancelled,           ///< CANCELLED (final)
};

/// The phase of `p`, or nothing when its status and pending action match none (a corrupt row).
std::optional<phase> phase_of(const payment& p);
/// The table's name: "INIT/PAY", "IN_PROCESS/INQUIRY", "INQUIRY abandoned", "INIT/CANCEL",
/// "IN_PROCESS/CANCEL", "SUCCESS/CANCEL", "FAIL/CANCEL", "SUCCESS", "FAIL", "CANCELLED".
std::string_view to_string(phase ph);
/// True for the four cancel-pending phases.
bool is_cancel_pending(phase ph);

}  // namespace cashier
