// The simulation's refunds (issue 16), beside the payments' world (world.cpp): the merchant's
// refund orders (random partial refunds of paid payments, sometimes two partials and the rest,
// sometimes one over what is left, repeats of a key with the same body and with another; one
// order of a payment at a time, the next once the last is answered; some seeds send every
// payment's first order in one batch, a burst against the outbound budget), the
// fake Alipay+'s refund side (its own ledger per paymentRequestId: idempotent per
// refundRequestId, REFUND_AMOUNT_EXCEED past the amount, refunds listed in inquiryPayment's
// transactions[]), the network of refund calls with the payment calls' faults (lost requests,
// lost answers after Alipay+ acted, 5xx, unsigned and garbled answers, U processed or not), and
// the refund invariants:
// - a refund settles SUCCESS only if Alipay+ refunded it, FAIL only if Alipay+ did not;
// - a final refund never changes again; exactly one merchant event per refund outcome, of its
//   type, with the payment's next sequence number;
// - at the end every refund is final; the refunds not FAIL of a payment sum to at most its
//   amount; Alipay+'s refunded sum equals cashierd's SUCCESS sum per payment, refund by refund
//   (the same refundId); Alipay+ never saw two bodies under one refundRequestId; an order over
//   what is left is refused REFUND_AMOUNT_EXCEED and a key reused with another body 409.
// It draws from its own generator (seeded from the seed), so the same seed reproduces.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tests/sim/cashierd.hpp"
#include "tests/sim/checker.hpp"
#include "tests/sim/event_queue.hpp"
#include "tests/sim/fake_aplus.hpp"
#include "tests/sim/faults.hpp"
#include "tests/sim/rng.hpp"

namespace cashier::sim {

/// What the refunds of one run did.
struct refund_totals {
  std::uint64_t planned = 0;       ///< payments the merchant meant to refund
  std::uint64_t orders = 0;        ///< refund creates the merchant sent (retries included)
  std::uint64_t created = 0;       ///< refunds stored (merchant's and a cancel's)
  std::uint64_t repeats = 0;       ///< idempotent repeats answered with the existing refund
  std::uint64_t inconsistent = 0;  ///< a key reused with another body (409)
  std::uint64_t exceeded = 0;      ///< orders refused REFUND_AMOUNT_EXCEED
  std::uint64_t not_refundable = 0;  ///< orders refused PAYMENT_NOT_REFUNDABLE
  std::uint64_t succeeded = 0;     ///< refunds ended SUCCESS
  std::uint64_t failed = 0;        ///< refunds ended FAIL
  std::uint64_t from_cancels = 0;  ///< refunds a late cancel started (origin cancel)
  std::uint64_t calls = 0;         ///< refund calls sent
  std::uint64_t inquiries = 0;     ///< confirming inquiries sent
  std::uint64_t events = 0;        ///< refund.* merchant events
  std::int64_t refunded_minor = 0; ///< minor units refunded (all currencies together)
  /// Adds `o`.
  void merge(const refund_totals& o);
};

/// The refunds of one simulated run.
class refund_world {
 public:
  /// Refunds over `cashierd` and `fake` (which must outlive this), drawing from their own
  /// generator seeded from `seed`.
  refund_world(event_queue& queue, std::uint64_t seed, const fault_rates& rates, fault_counts& faults,
               violation_log& log, sim_cashierd& cashierd, fake_aplus& fake, checker& payments);

  /// The merchant may refund payment `id` of `amount` created at `created` (not one it cancels).
  void plan(const std::string& id, const money& amount, time_point created);
  /// The process crashes once more at a random instant while refunds are under way (some seeds).
  void plan_crash();
  /// The network: carries refund call `kind` of refund `r` (bytes `request`) for `p`.
  void send(engine::refund_call kind, const refund& r, const std::string& request, const payment& p,
            int incarnation);
  /// The final checks against the store, for the merchant's `payment_ids`.
  void at_end(store::payment_store& s, const std::vector<std::string>& payment_ids);
  /// What the run did (complete after at_end).
  const refund_totals& totals() const { return totals_; }

 private:
  /// One refund at Alipay+.
  struct aplus_refund {
    std::string payment_request_id;
    std::string body;  // the first body, the reference for every resend
    std::int64_t amount = 0;
    bool succeeded = false;
    std::string code;
    std::string refund_id;
  };
  /// One order the merchant sends until it gets an answer.
  struct order {
    std::string payment;  // paymentRequestId
    std::string key;      // refundRequestId
    std::int64_t amount = 0;
    bool over = false;          // more than what is left (REFUND_AMOUNT_EXCEED expected)
    bool other_body = false;    // a key used before, with another body (409 expected)
    int tries = 0;
  };

  void send_order(order o);
  void next_order(const std::string& payment);
  void on_created(const refund& r);
  void on_commit(const engine::refund_input& in, const engine::refund_output& out, const payment& p);
  refund_answer process(const std::string& body);
  void deliver(time_point at, int incarnation, const refund& r, refund_event ev, store::call_record rec);
  void fail(const std::string& what);

  event_queue& queue_;
  rng rng_;
  fault_rates rates_;
  fault_counts& faults_;
  violation_log& log_;
  sim_cashierd& cashierd_;
  fake_aplus& fake_;
  checker& payments_;
  std::map<std::string, aplus_refund, std::less<>> ledger_;       // Alipay+: refundRequestId -> refund
  std::map<std::string, std::int64_t, std::less<>> refunded_;     // Alipay+: paymentRequestId -> refunded
  std::map<std::int64_t, refund> mirror_;                         // cashierd's refunds as committed
  // The merchant: its orders per payment, one at a time (the next once the last is answered).
  std::map<std::string, std::vector<order>, std::less<>> queued_orders_;
  int next_refund_id_ = 0;
  std::optional<time_point> batch_at_;  // some merchants refund in one batch: every first order then
  refund_totals totals_;
};

}  // namespace cashier::sim
