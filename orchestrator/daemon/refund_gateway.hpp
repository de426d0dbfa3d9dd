// The port through which refunds call Alipay+ (beside `gateway`, whose pay, inquiry and cancel
// serve payments): the refund call sends a refund's stored request bytes and returns the refund
// machine's event (a verified answer, or no answer) with the raw call record for the audit
// trail (call_record::refund_id set). The confirming inquiry goes through gateway::inquiry.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "state/machine/payment.hpp"
#include "state/machine/refund.hpp"
#include "state/store/records.hpp"

namespace cashier::daemon {

/// What one refund call produced.
struct refund_call_result {
  refund_event ev;          ///< refund_answer or refund_no_answer
  store::call_record call;  ///< the raw call and answer, with latency
};

/// Calls Alipay+'s refund on behalf of the refund engine's driver.
class refund_gateway {
 public:
  virtual ~refund_gateway() = default;
  /// Sends `r.request` byte for byte for refund `r` of payment `p`.
  virtual boost::asio::awaitable<refund_call_result> refund(const payment& p, const cashier::refund& r) = 0;
};

}  // namespace cashier::daemon
