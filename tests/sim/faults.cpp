// Fault names, counters and rate scaling (see faults.hpp).
#include "tests/sim/faults.hpp"

#include <algorithm>

namespace cashier::sim {

std::string_view to_string(fault f) {
  switch (f) {
    case fault::request_lost: return "request_lost";
    case fault::answer_lost: return "answer_lost";
    case fault::server_error: return "server_error";
    case fault::unsigned_answer: return "unsigned_answer";
    case fault::bad_signature: return "bad_signature";
    case fault::pay_u_other: return "pay_u_other";
    case fault::pay_throttled: return "pay_throttled";
    case fault::inquiry_u: return "inquiry_u";
    case fault::early_order_not_exist: return "early_order_not_exist";
    case fault::cancel_u: return "cancel_u";
    case fault::cancel_refused: return "cancel_refused";
    case fault::cancel_window_exceed: return "cancel_window_exceed";
    case fault::order_is_closed: return "order_is_closed";
    case fault::no_notify: return "no_notify";
    case fault::notify_lost: return "notify_lost";
    case fault::ack_lost: return "ack_lost";
    case fault::notify_duplicate: return "notify_duplicate";
    case fault::notify_late: return "notify_late";
    case fault::notify_reordered: return "notify_reordered";
    case fault::notify_forged: return "notify_forged";
    case fault::notify_wrong_amount: return "notify_wrong_amount";
    case fault::inquiry_wrong_amount: return "inquiry_wrong_amount";
    case fault::merchant_duplicate: return "merchant_duplicate";
    case fault::merchant_early_cancel: return "merchant_early_cancel";
    case fault::webhook_sink_down: return "webhook_sink_down";
    case fault::webhook_error: return "webhook_error";
    case fault::webhook_timeout: return "webhook_timeout";
    case fault::small_webhook_slots: return "small_webhook_slots";
    case fault::operator_redeliver: return "operator_redeliver";
    case fault::store_failure: return "store_failure";
    case fault::store_outage: return "store_outage";
    case fault::tight_budget: return "tight_budget";
    case fault::small_cap: return "small_cap";
    case fault::long_downtime: return "long_downtime";
    case fault::refund_request_lost: return "refund_request_lost";
    case fault::refund_answer_lost: return "refund_answer_lost";
    case fault::refund_server_error: return "refund_server_error";
    case fault::refund_unsigned: return "refund_unsigned";
    case fault::refund_garbled: return "refund_garbled";
    case fault::refund_u: return "refund_u";
    case fault::refund_refused: return "refund_refused";
    case fault::refund_crash_after_commit: return "refund_crash_after_commit";
    case fault::release_lost: return "release_lost";
    case fault::count_: return "count_";
  }
  return "?";
}

std::uint64_t fault_counts::total() const {
  std::uint64_t t = 0;
  for (const auto v : n) t += v;
  return t;
}

void fault_counts::merge(const fault_counts& o) {
  for (std::size_t i = 0; i < n.size(); ++i) n[i] += o.n[i];
}

fault_rates fault_rates::scaled(double k) const {
  fault_rates r = *this;
  for (double* p : {&r.request_lost, &r.answer_lost, &r.server_error, &r.unsigned_answer,
                    &r.bad_signature, &r.pay_u_other, &r.pay_throttled, &r.inquiry_u,
                    &r.early_order_not_exist, &r.cancel_u, &r.cancel_refused,
                    &r.short_cancel_window, &r.order_is_closed, &r.no_notify, &r.notify_lost,
                    &r.ack_lost, &r.notify_duplicate, &r.notify_late, &r.notify_reordered,
                    &r.forged_per_payment, &r.wrong_amount, &r.merchant_duplicate,
                    &r.merchant_cancel, &r.merchant_early_cancel, &r.webhook_error, &r.webhook_timeout, &r.operator_redeliver,
                    &r.store_failure, &r.crash_after_commit, &r.refund_u, &r.refund_garbled,
                    &r.refund_refused, &r.refund_crash_after_commit, &r.release_lost}) {
    *p = std::min(1.0, *p * k);
  }
  return r;
}

}  // namespace cashier::sim
