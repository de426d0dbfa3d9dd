// A fake Alipay+ for the refund tests of the daemon: every refund is answered `answer` a few
// reactor turns after it was sent (so answers interleave with other work); an S answer carries
// the refund's own amount, as Alipay+'s does. A payment call fails the test (the payments are
// settled before these tests start).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "orchestrator/daemon/gateway.hpp"
#include "orchestrator/daemon/refund_gateway.hpp"

namespace cashier::daemon::test {

class refund_only_gateway final : public gateway, public refund_gateway {
 public:
  explicit refund_only_gateway(refund_answer answer) : answer_(std::move(answer)) {}

  std::vector<std::chrono::steady_clock::time_point> refund_calls;  ///< when each refund was sent
  int answered = 0;                                                  ///< refunds answered so far

  boost::asio::awaitable<call_result> pay(const payment&) override { co_return unexpected("pay"); }
  boost::asio::awaitable<call_result> inquiry(const payment&) override { co_return unexpected("inquiryPayment"); }
  boost::asio::awaitable<call_result> cancel(const payment&) override { co_return unexpected("cancelPayment"); }
  boost::asio::awaitable<refund_call_result> refund(const payment& p, const cashier::refund& r) override {
    refund_calls.push_back(std::chrono::steady_clock::now());
    for (int i = 0; i < 3; ++i)
      co_await boost::asio::post(co_await boost::asio::this_coro::executor, boost::asio::use_awaitable);
    ++answered;
    store::call_record c;
    c.payment_id = p.id;
    c.refund_id = r.id;
    c.api = "refund";
    c.http_status = 200;
    c.outcome = "fake";
    auto answer = answer_;
    if (answer.result.status == 'S') answer.amount = r.amount;
    co_return refund_call_result{std::move(answer), c};
  }

 private:
  static call_result unexpected(const char* api) {
    FAIL("unexpected payment call " << api);
    return call_result{pay_no_answer{no_answer_reason::transport_error}, {}};
  }

  refund_answer answer_;
};

}  // namespace cashier::daemon::test
