// The phases of a payment: the (status, pending action, settle track) combinations the machine
// can be in, one dispatch key for every event. The names are the ones the transition table in
// proto-docs/state-machine.md uses.
#pragma once

#include <optional>
#include <string_view>

#include "state/machine/payment.hpp"

namespace cashier {

/// Where a payment is in its life.
enum class phase {
  init_pay,            ///< INIT/PAY: pay sent or being retried until expiry
  in_process_inquiry,  ///< IN_PROCESS/INQUIRY: polling until the polling deadline
  last_look,           ///< INIT or IN_PROCESS, INQUIRY: the one last inquiry at the cut-off, before any cancel
  slow_path,           ///< INIT or IN_PROCESS, INQUIRY: no cancel possible; slow inquiries for up to 7 days
  parked,              ///< INIT or IN_PROCESS, INQUIRY with nothing scheduled: the slow path ran out (anomaly unresolved)
  init_cancel,         ///< INIT with cancel pending
  in_process_cancel,   ///< IN_PROCESS with cancel pending
  open_confirm,        ///< INIT or IN_PROCESS, CANCEL: a confirming inquiry decides whether it was paid
  success_cancel,      ///< SUCCESS with cancel pending (refund)
  success_confirm,     ///< SUCCESS, CANCEL: a confirming inquiry decides whether it was reversed
  fail_cancel,         ///< FAIL with cancel pending (rows from before contract 2: amount mismatch)
  success,             ///< SUCCESS, nothing pending (final)
  fail,                ///< FAIL, nothing pending (final)
  cancelled,           ///< CANCELLED (final)
};

/// The phase of `p`, or nothing when its status, pending action and track match none (a corrupt row).
std::optional<phase> phase_of(const payment& p);
/// The table's name: "INIT/PAY", "IN_PROCESS/INQUIRY", "LAST LOOK", "SLOW PATH", "PARKED",
/// "INIT/CANCEL", "IN_PROCESS/CANCEL", "OPEN/CONFIRM", "SUCCESS/CANCEL", "SUCCESS/CONFIRM",
/// "FAIL/CANCEL", "SUCCESS", "FAIL", "CANCELLED".
std::string_view to_string(phase ph);
/// True for the four phases that send cancels (not the confirming ones).
bool is_cancel_pending(phase ph);
/// True for the two confirming phases (cancel pending, a confirming inquiry in flight).
bool is_confirming(phase ph);
/// True for the phases with no verdict yet and no cancel under way: INIT/PAY,
/// IN_PROCESS/INQUIRY, LAST LOOK, SLOW PATH, PARKED.
bool is_open(phase ph);

}  // namespace cashier
