// The payment state machine: step(payment, event, now, params) -> decision. Pure: it reads no
// clock, does no I/O and never throws; the driver commits `decision.next` (and an event-log
// row) in one transaction, then executes the effects. Deadlines are data: the machine sets
// `next.next_action_at` and the driver keeps one heap keyed by it. The transition table it
// implements is proto-docs/state-machine.md, checked by tests/state/machine.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/machine/effects.hpp"
#include "state/machine/events.hpp"
#include "state/machine/params.hpp"
#include "state/machine/payment.hpp"
#include "state/machine/time.hpp"

namespace cashier {

/// A payment's public status and pending action, as the event log records a transition.
struct payment_state {
  payment_status status = payment_status::init;  ///< public status
  pending_action pending = pending_action::pay;  ///< what it waits on
  friend bool operator==(const payment_state&, const payment_state&) = default;
};

/// Why a request (cancel, inquiry) was refused.
enum class rejection {
  already_final,  ///< the payment is settled: cancel on FAIL, inquiry on SUCCESS/FAIL/CANCELLED
};

/// What the machine decided for one event.
struct decision {
  payment next;                  ///< the record after the event (updated_at = now when changed)
  bool changed = false;          ///< next differs from the input record
  std::vector<effect> effects;   ///< to execute after the commit, in order
  std::string cause;             ///< e.g. "pay:U/PAYMENT_IN_PROCESS", "notify:S", "timer:expiry"
  payment_state from;            ///< status and pending action before
  payment_state to;              ///< status and pending action after
  bool ack = false;              ///< verified notify: ack S after the commit (always true for them)
  std::optional<rejection> rejected;  ///< set when a cancel or inquiry request is refused
};

/// The status and pending action of `p`.
payment_state state_of(const payment& p);
/// "already_final".
std::string_view to_string(rejection r);

/// The machine's answer to event `e` for payment `p` at payment-clock instant `now`.
decision step(const payment& p, const event& e, time_point now, const machine_params& params);

}  // namespace cashier
