// The database commands of cashierctl: list, show, stats, stuck and cluster (read-only), and prune (the one
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
  std::string merchant_id{};               ///< --merchant: only this merchant's ("" = all)
};

/// `list`: payments, newest first. Always ok.
exit_status cmd_list(const session& s, const list_args& a);

/// `show <id> [--merchant M]`: the payment, its timeline (transitions, calls, notifies, webhook
/// attempts, anomalies) and its merchant events. `id` is an alipayPaymentRequestId, or merchant
/// M's paymentRequestId (store::resolve_payment_name); failed when there is no such payment or
/// (AMBIGUOUS_PAYMENT_ID) when several merchants use the id and no merchant was given.
exit_status cmd_show(const session& s, std::string_view id,
                     std::optional<std::string_view> merchant = std::nullopt);

/// `refunds <id> [--merchant M]`: the payment's refunds (named as for show), oldest first, with
/// the refunded sum; failed when there is no such payment or the id is ambiguous.
exit_status cmd_refunds(const session& s, std::string_view id,
                        std::optional<std::string_view> merchant = std::nullopt);
/// `stats`: counts per status, cancel pending, overdue payments, webhook backlog, anomalies.
exit_status cmd_stats(const session& s);

/// `cluster`: the instances holding shards, and every shard's owner, epoch and lease by the
/// database's clock (cluster_store::shards). Failed (NO_CLUSTER) for a store without the port.
exit_status cmd_cluster(const session& s);

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
