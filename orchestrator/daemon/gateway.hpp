// The port through which the driver calls Alipay+: pay, inquiryPayment and cancelPayment for a
// payment, each returning the machine event it amounts to (a verified answer, or no answer)
// together with the raw call record for the audit log. The real adapter signs, sends over
// HTTPS and verifies (aplus_gateway.hpp); tests plug in fakes.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "state/machine/events.hpp"
#include "state/machine/payment.hpp"
#include "state/store/records.hpp"

namespace cashier::daemon {

/// What one Alipay+ call produced.
struct call_result {
  event ev;                 ///< pay_answer / pay_no_answer, inquiry_..., cancel_...
  store::call_record call;  ///< the raw call and answer, with latency
};

/// Calls Alipay+ on behalf of the driver.
class gateway {
 public:
  virtual ~gateway() = default;
  /// Sends the stored pay request bytes of `p`, byte-identical.
  virtual boost::asio::awaitable<call_result> pay(const payment& p) = 0;
  /// Asks inquiryPayment for `p`.
  virtual boost::asio::awaitable<call_result> inquiry(const payment& p) = 0;
  /// Asks cancelPayment for `p`.
  virtual boost::asio::awaitable<call_result> cancel(const payment& p) = 0;
};

}  // namespace cashier::daemon
