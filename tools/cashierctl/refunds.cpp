// `cashierctl refunds <id> [--merchant ID]`: one payment's refunds, oldest first, as an aligned
// table or (--json) the payment's refundedAmount and the public refund objects (see commands.hpp).
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/engine/payment_view.hpp"
#include "orchestrator/engine/refunds.hpp"
#include "tools/cashierctl/commands.hpp"
#include "tools/cashierctl/format.hpp"

namespace cashier::ctl {

namespace {

tint refund_tint(refund_status s) {
  switch (s) {
    case refund_status::processing: return tint::yellow;
    case refund_status::success: return tint::green;
    case refund_status::fail: return tint::red;
  }
  return tint::none;
}

}  // namespace

exit_status cmd_refunds(const session& s, std::string_view id, std::optional<std::string_view> merchant) {
  auto named = store::resolve_payment_name(s.store, id, merchant);
  switch (named.resolution) {
    case store::name_resolution::found: break;
    case store::name_resolution::not_found:
      return report_error(s.io, exit_status::failed, "NOT_FOUND", "no payment " + printable(id));
    case store::name_resolution::ambiguous:
      return report_error(s.io, exit_status::failed, "AMBIGUOUS_PAYMENT_ID",
                          "several merchants use paymentRequestId " + printable(id) +
                              "; name the merchant with --merchant ID");
  }
  const payment& p = *named.p;
  const auto refunds = s.store.refunds_of(p.id);
  if (s.io.json) {
    const auto with = engine::payment_with_refunds_json(p, refunds);
    boost::json::object doc{{"now", engine::iso8601(s.now)},
                            {"paymentRequestId", p.payment_request_id},
                            {"paymentAmount", with.at("paymentAmount")},
                            {"refundedAmount", with.at("refundedAmount")},
                            {"refunds", with.at("refunds")}};
    s.io.out << boost::json::serialize(doc) << '\n';
    return exit_status::ok;
  }
  text_table t({"REFUND REQUEST ID", "STATUS", "AMOUNT", "ORIGIN", "CREATED", "NEXT ACTION", "RESULT", "REFUND ID"});
  std::int64_t refunded = 0;
  for (const auto& r : refunds) {
    if (r.status == refund_status::success) refunded += r.amount.minor_units;
    t.add({{printable(r.refund_request_id)},
           {std::string(to_string(r.status)), refund_tint(r.status)},
           {amount_text(r.amount)},
           {std::string(to_string(r.origin))},
           {relative_time(r.created_at, s.now)},
           {relative_time(r.next_action_at, s.now)},
           {r.result ? std::string(1, r.result->status) + "/" + printable(r.result->code) : "-", tint::dim},
           {r.refund_id.empty() ? "-" : printable(r.refund_id)}});
  }
  t.print(s.io.out, s.io.color);
  s.io.out << refunds.size() << (refunds.size() == 1 ? " refund" : " refunds") << ", refunded "
           << amount_text(money{refunded, p.amount.currency}) << " of " << amount_text(p.amount) << '\n';
  return exit_status::ok;
}

}  // namespace cashier::ctl
