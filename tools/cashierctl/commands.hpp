// The database commands of cashierctl: list, show, stats and stuck (read-only), and prune (the one
// that writes). Each reads the store
// through the payment_store interface only, writes a human table (or one JSON document with
// --json, schema in proto-docs/cashierctl.md) and returns the exit code. store_error escapes
// to the caller (run_cli), which reports it.
#pragma once

#include <cstddef>
#include <istream>
#include <optional>
#include <string_view>

#include "tools/cashierctl/session.hpp"

namespace cashier::ctl {

/// Arguments of `list`.
struct list_args {
  std::optional<payment_status> status{};  ///< --status: only this status
  time_point since{};                      ///< --since: created at or after
  std::size_t limit = 100;                 ///< --limit: at most this many
};

/// `list`: payments, newest first. Always ok.
exit_status cmd_list(const session& s, const list_args& a);

/// `show <paymentRequestId>`: the payment, its timeline (transitions, calls, notifies, webhook
/// attempts, anomalies) and its merchant events; failed when there is no such payment.
exit_status cmd_show(const session& s, std::string_view payment_request_id);

/// `stats`: counts per status, cancel pending, overdue payments, webhook backlog, anomalies.
exit_status cmd_stats(const session& s);

/// Arguments of `stuck`.
struct stuck_args {
  std::size_t limit = 100;  ///< --limit: at most this many rows per section
};

/// `stuck`: open payments past their polling deadline, dead webhooks, recent anomalies. Always ok.
exit_status cmd_stuck(const session& s, const stuck_args& a);

/// Arguments of `prune`.
struct prune_args {
  time_point before{};         ///< --before: payments final (last changed) before this instant
  bool yes = false;            ///< --yes: no confirmation question
  std::istream* in = nullptr;  ///< where the confirmation is read (none: only --yes works)
};

/// `prune`: removes the audit rows of payments final before `a.before` from `store` (opened
/// read-write), after a confirmation unless --yes; prints what it removed. Failed when the
/// operator does not confirm (nothing is removed then).
exit_status cmd_prune(const console& io, store::payment_store& store, const prune_args& a);

}  // namespace cashier::ctl
