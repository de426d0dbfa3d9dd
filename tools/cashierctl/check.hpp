// `cashierctl check`: the store's invariants, verified read-only through the payment_store
// interface. Every payment is examined with its transition log and merchant events; each broken
// invariant is one violation naming the payment (and the event) concerned. The rules and their
// reasons are documented in proto-docs/cashierctl.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tools/cashierctl/session.hpp"

namespace cashier::ctl {

/// The invariants `check` verifies.
enum class invariant {
  final_pending,       ///< a final payment waits on PAY or INQUIRY, or a CANCELLED one on anything
  phase,               ///< an open payment's status and pending action match no machine phase
  open_past_deadline,  ///< INIT/PAY past expiry, or IN_PROCESS/INQUIRY past the poll deadline (plus
                       ///< grace)
  open_unscheduled,    ///< something is pending but no timer is armed (next action never)
  event_log,  ///< the transition log is missing, broken, or its last row is not the payment's state
  merchant_events,  ///< merchant events are not seq 1..n, one per final transition, of the right
                    ///< type, and one refund event per settled refund, of its outcome
  outbox_overdue,   ///< a pending merchant event is past its attempt time (plus grace) or its
                    ///< schedule
};

/// The stable name of `i`, e.g. "open_past_deadline".
std::string_view to_string(invariant i);

/// One broken invariant.
struct violation {
  invariant rule;                  ///< which invariant
  std::string payment_request_id;  ///< the payment concerned
  std::string event_id;            ///< the merchant event concerned, or empty
  std::string message;             ///< what is wrong, for a human
};

/// What a check found.
struct check_report {
  std::int64_t payments = 0;          ///< payments examined
  std::int64_t merchant_events = 0;   ///< merchant events examined
  std::vector<violation> violations;  ///< in payment order (newest first), then rule order
};

/// Verifies every invariant at payment-clock `now`; deadlines are late only after `grace`.
check_report check_store(store::payment_store& st, time_point now, duration grace);

/// Arguments of `check`.
struct check_args {
  duration grace{60'000};  ///< payment-clock slack before a deadline counts as missed
};

/// `check`: prints each violation; ok when there is none, failed otherwise.
exit_status cmd_check(const session& s, const check_args& a);

}  // namespace cashier::ctl
