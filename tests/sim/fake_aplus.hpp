// The in-process fake Alipay+: it keeps the truth of every paymentRequestId (does the order
// exist, did the payer pay, fail or walk away, was it cancelled), answers pay, inquiryPayment
// and cancelPayment as ALIPAYPLUS.md describes, drives the payer, and sends notifyPayment on
// Alipay+'s retry schedule until acked. It injects the business faults (U answers, early
// ORDER_NOT_EXIST, refused cancels, short cancel windows, wrong amounts); message loss,
// latency and signatures belong to the network (world.cpp). It also checks what only Alipay+
// can see: pay retries byte-identical, no pay after a cancel answered ORDER_NOT_EXIST.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "state/machine/events.hpp"
#include "tests/sim/event_queue.hpp"
#include "tests/sim/faults.hpp"
#include "tests/sim/rng.hpp"

namespace cashier::sim {

/// What the payer does at the checkout.
enum class payer_action {
  pay,      ///< pays (Alipay+ truth SUCCESS)
  fail,     ///< the payment fails (truth FAIL)
  abandon,  ///< walks away; Alipay+ closes the order some time after expiry
};

/// How one payment behaves at Alipay+; drawn at random unless scripted.
struct payer_plan {
  payer_action action = payer_action::pay;  ///< what the payer does
  duration after{std::chrono::seconds{5}};  ///< when, counted from the order's creation
  duration close_lag{std::chrono::minutes{30}};  ///< unpaid orders close at expiry + this
  std::optional<duration> cancel_window;    ///< a short cancel window from creation, or the usual one
  bool notify = true;                       ///< Alipay+ notifies the result
  bool wrong_amount = false;                ///< notifies (and some inquiries) state another amount
};

/// Where an order stands at Alipay+.
enum class order_state {
  pending,  ///< waiting for the payer
  paid,     ///< the payer paid
  failed,   ///< the payment failed
  closed,   ///< expired unpaid and closed by Alipay+
};

/// Alipay+'s truth about one paymentRequestId.
struct order_truth {
  bool exists = false;             ///< a pay created the order
  std::string pay_body;            ///< the first pay body, the reference for every retry
  money amount;                    ///< paymentAmount of the pay
  time_point created_at{};         ///< when the first pay was processed
  time_point expiry_at{};          ///< paymentExpiryTime of the pay
  order_state state = order_state::pending;  ///< the payer's side
  bool cancelled = false;          ///< a cancel succeeded (refunding a paid order)
  bool cancel_gone = false;        ///< a cancel was answered ORDER_NOT_EXIST or ORDER_IS_CLOSED (no proof of anything)
  bool not_exist_told = false;     ///< a cancel was answered ORDER_NOT_EXIST
  bool window_exceeded = false;    ///< a cancel was answered CANCEL_WINDOW_EXCEED
  bool closed_told_paid = false;   ///< a cancel of the paid order was answered ORDER_IS_CLOSED (not reversed)
  bool refused_once = false;       ///< the refused-cancel fault was used
  bool notify_acked = false;       ///< a notify was acked
  std::string payment_id;          ///< Alipay+'s paymentId
  std::string fail_code;           ///< the failure's resultCode
  payer_plan plan;                 ///< how it behaves
};

/// One notifyPayment on its way to cashierd.
struct notify_message {
  std::string payment_request_id;  ///< paymentRequestId
  aplus_result payment_result;     ///< S or F
  money amount;                    ///< paymentAmount as stated
  payment_facts facts;             ///< paymentId, paymentTime, customer, wallet
  int attempt = 0;                 ///< 0 for the first delivery, then 1..7
};

/// The fake Alipay+.
class fake_aplus {
 public:
  /// A fake scheduling on `queue`, drawing from `random`, counting into `faults` and reporting
  /// into `violations`; all must outlive it.
  fake_aplus(event_queue& queue, rng& random, const fault_rates& rates, fault_counts& faults,
             violation_log& violations);

  /// Where notifies go (the network to cashierd); set before the first pay.
  std::function<void(notify_message)> send_notify;

  /// Processes a pay request body now and answers it.
  pay_answer pay(std::string_view body);
  /// Answers inquiryPayment now.
  inquiry_answer inquiry(std::string_view payment_request_id);
  /// Processes cancelPayment now and answers it.
  cancel_answer cancel(std::string_view payment_request_id);
  /// A notify ack reached Alipay+.
  void ack(std::string_view payment_request_id);

  /// Fixes the plan of a payment instead of drawing one (before its first pay).
  void script(std::string payment_request_id, payer_plan plan);
  /// The truth about `payment_request_id`, or nothing when Alipay+ never heard of it.
  const order_truth* truth(std::string_view payment_request_id) const;

 private:
  payer_plan draw_plan();
  order_truth& create(std::string_view id, std::string_view body, money amount, time_point expiry);
  void payer_acts(const std::string& id);
  void close_if_unpaid(const std::string& id);
  void notify_attempt(const std::string& id, int attempt);
  payment_facts facts_of(const order_truth& o) const;
  cancel_answer cancel_order(order_truth& o);

  event_queue& queue_;
  rng& rng_;
  fault_rates rates_;
  fault_counts& faults_;
  violation_log& violations_;
  std::map<std::string, order_truth, std::less<>> orders_;
  std::map<std::string, payer_plan, std::less<>> scripted_;
  int next_payment_id_ = 0;
};

/// A pay body the fake understands: the fields it reads, in Alipay+'s JSON shape.
std::string make_pay_body(std::string_view payment_request_id, const money& amount,
                          time_point expiry, std::string_view order_ref);

/// Alipay+'s usual cancel window: until 00:15 UTC+8 on the day after `created`.
time_point usual_cancel_window_end(time_point created);

}  // namespace cashier::sim
