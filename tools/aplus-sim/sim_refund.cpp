// The simulated Alipay+'s refund (ledger.hpp): its own ledger of refunds per payment, by the
// ACQP's refundRequestId. Partial refunds are accepted while the successful ones stay within the
// payment amount; a decided refundRequestId is idempotent for the same bytes and refused
// (REPEAT_REQ_INCONSISTENT) for others, so a client that ever sends two bodies under one id is
// caught in the truth (`inconsistentRefunds`).
#include <algorithm>

#include "orchestrator/alipayplus/wire_time.hpp"
#include "tools/aplus-sim/ledger.hpp"

namespace cashier::sim {
namespace {

aplus::refund_response answer_of(const truth& t, const sim_refund& r) {
  aplus::refund_response a;
  a.result = make_result(r.succeeded ? 'S' : 'F', r.code, r.succeeded ? "success" : "The refund was refused.");
  a.acquirer_id = std::string(sim_acquirer_id);
  a.psp_id = std::string(sim_psp_id);
  if (r.succeeded) {
    a.refund_id = r.refund_id;
    a.refund_time = aplus::format_wire_time(r.at, 480);
    aplus::amount amount;
    amount.minor_units = r.amount;
    amount.currency = t.request.payment_amount.currency;
    a.refund_amount = amount;
  }
  return a;
}

}  // namespace

api_outcome<aplus::refund_response> ledger::refund(std::string_view body, time_point now) {
  api_outcome<aplus::refund_response> out;
  auto decoded = aplus::decode_refund_request(body);
  if (!decoded) {
    std::string message = aplus::to_string(decoded.errors());
    if (message.size() > 512) message.resize(512);
    out.answer.result = make_result('F', "PARAM_ILLEGAL", std::move(message));
    return out;
  }
  const aplus::refund_request& req = *decoded;
  truth* t = req.payment_request_id ? find(*req.payment_request_id) : find_by_payment_id(*req.payment_id);
  if (!t || (req.payment_id && *req.payment_id != t->payment_id)) {
    out.answer.result = make_result('F', "ORDER_NOT_EXIST", "The order does not exist.");
    return out;
  }
  out.payment_request_id = t->payment_request_id;
  auto known = std::find_if(t->refunds.begin(), t->refunds.end(),
                            [&](const sim_refund& r) { return r.refund_request_id == req.refund_request_id; });
  if (known != t->refunds.end()) {
    ++known->calls;
    if (known->body != body) {
      ++t->inconsistent_refunds;
      out.answer.result = make_result('F', "REPEAT_REQ_INCONSISTENT", "Another request with this refundRequestId.");
      return out;
    }
    out.answer = answer_of(*t, *known);
    return out;
  }
  sim_refund r;
  r.refund_request_id = req.refund_request_id;
  r.body = std::string(body);
  r.amount = req.refund_amount.minor_units;
  r.at = now;
  const bool refundable = t->paid && t->status == order_status::paid;
  const bool late = scenario_for(t->payment_request_id).refund_window_exceeded ||
                    (t->finished_at && now > *t->finished_at + refund_window_);
  const bool over = req.refund_amount.currency != t->request.payment_amount.currency ||
                    refunded_minor(*t) + r.amount > t->request.payment_amount.minor_units;
  if (!refundable) {
    r.code = "ORDER_STATUS_INVALID";
  } else if (late) {
    r.code = "REFUND_WINDOW_EXCEED";
  } else if (over) {
    r.code = "REFUND_AMOUNT_EXCEED";
  } else {
    r.succeeded = true;
    r.code = "SUCCESS";
    r.refund_id = payment_id_prefix_ + "R" + std::to_string(next_refund_++);
  }
  t->refunds.push_back(r);
  out.answer = answer_of(*t, t->refunds.back());
  return out;
}

}  // namespace cashier::sim
