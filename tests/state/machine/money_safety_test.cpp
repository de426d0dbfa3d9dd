// Regression tests for issue 14's machine items: the last look before a deadline cancel (3),
// "refunded" only on proof (4), the cancel window (7), contradicting results after a confirmed
// one (8) and the merchant's cancel_failed and pending events (10). Each drives a payment the
// way the driver would and checks what a merchant's money depends on.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>

#include "state/machine/machine.hpp"
#include "state/machine/phase.hpp"
#include "state/machine/schedule.hpp"

using namespace cashier;
using namespace std::chrono_literals;

namespace {

// 2023-11-15 06:13:20 UTC+8: the cancel window closes 2023-11-16 00:15 UTC+8.
const time_point t0 = from_epoch_ms(1'700'000'000'000);
const money usd_10{1000, *currency_code::parse("USD")};

aplus_result res(const char* code, char status) { return {code, status, "msg"}; }

struct harness {
  machine_params mp;
  payment p;
  decision last;

  explicit harness(time_point created = t0) {
    p.payment_request_id = "pr-safe";
    p.amount = usd_10;
    p.created_at = p.updated_at = created;
    p.expiry_at = created + 15min;
    p.pay_request = R"({"paymentRequestId":"pr-safe"})";
    feed(cashier::created{}, created);
  }
  const decision& feed(const event& e, time_point now) {
    last = step(p, e, now, mp);
    p = last.next;
    return last;
  }
  void in_process(time_point now) {
    feed(pay_answer{res("PAYMENT_IN_PROCESS", 'U'), {"pid-1", "", "", "", {}}, "https://c/1", "{}"},
         now);
  }
};

template <class T>
int count(const decision& d) {
  return static_cast<int>(std::count_if(d.effects.begin(), d.effects.end(),
                                        [](const effect& e) { return std::holds_alternative<T>(e); }));
}

bool has_anomaly(const decision& d, anomaly_kind k) {
  return std::any_of(d.effects.begin(), d.effects.end(), [k](const effect& e) {
    const auto* a = std::get_if<record_anomaly>(&e);
    return a && a->kind == k;
  });
}

std::vector<std::string> events_of(const decision& d) {
  std::vector<std::string> out;
  for (const effect& e : d.effects) {
    if (std::holds_alternative<emit_merchant_event>(e) || std::holds_alternative<start_refund>(e))
      out.push_back(describe(e));
  }
  return out;
}

inquiry_answer inquiry(char payment_status) {
  return {res("SUCCESS", 'S'), res(payment_status == 'S' ? "SUCCESS" : "X", payment_status),
          {}, usd_10};
}

}  // namespace

TEST_CASE("item 3: the polling deadline sends one last inquiry first, never a cancel straight away") {
  harness h;
  h.in_process(t0 + 1s);
  // The daemon was down across the deadline: the timer fires hours late.
  const auto& d = h.feed(deadline_reached{}, h.p.poll_deadline_at + 3h);
  CHECK(count<send_cancel>(d) == 0);
  CHECK(count<send_inquiry>(d) == 1);
  CHECK(h.p.pending == pending_action::inquiry);
  // Alipay+ says the payment was paid meanwhile: SUCCESS, and no cancel is ever sent.
  const auto& v = h.feed(inquiry('S'), h.p.poll_deadline_at + 3h + 1s);
  CHECK(h.p.status == payment_status::success);
  CHECK(count<send_cancel>(v) == 0);
  CHECK(events_of(v) == std::vector<std::string>{"emit succeeded"});
}

TEST_CASE("item 3: the last look answered U starts the cancel, S/F settles FAIL") {
  harness h;
  h.in_process(t0 + 1s);
  h.feed(deadline_reached{}, h.p.poll_deadline_at);
  const auto& d = h.feed(inquiry_answer{res("UNKNOWN_EXCEPTION", 'U'), std::nullopt, {}, std::nullopt},
                         h.p.poll_deadline_at + 1s);
  CHECK(count<send_cancel>(d) == 1);
  CHECK(h.p.pending == pending_action::cancel);

  harness f;
  f.in_process(t0 + 1s);
  f.feed(deadline_reached{}, f.p.poll_deadline_at);
  f.feed(inquiry('F'), f.p.poll_deadline_at + 1s);
  CHECK(f.p.status == payment_status::fail);
}

TEST_CASE("item 3: INIT/PAY at expiry (pay never answered) takes the same last look") {
  harness h;
  const auto& d = h.feed(deadline_reached{}, h.p.expiry_at);
  CHECK(count<send_cancel>(d) == 0);
  CHECK(count<send_inquiry>(d) == 1);
  h.feed(inquiry('S'), h.p.expiry_at + 1s);
  CHECK(h.p.status == payment_status::success);
}

TEST_CASE("item 4: cancel F ORDER_IS_CLOSED over SUCCESS is no proof: SUCCESS stays unless reversed") {
  harness h;
  h.feed(pay_answer{res("SUCCESS", 'S'), {}, "", ""}, t0 + 1s);
  h.feed(cancel_requested{requester::merchant, ""}, t0 + 2s);
  const auto& d = h.feed(cancel_answer{res("ORDER_IS_CLOSED", 'F')}, t0 + 3s);
  CHECK(h.p.status == payment_status::success);
  CHECK(events_of(d).empty());
  CHECK(count<send_inquiry>(d) == 1);
  CHECK(h.p.pending == pending_action::cancel);  // the cancel stays pending meanwhile
  h.feed(inquiry_answer{res("UNKNOWN_EXCEPTION", 'U'), std::nullopt, {}, std::nullopt}, t0 + 4s);
  CHECK(h.p.pending == pending_action::cancel);
  CHECK(h.p.next_action_at > t0 + 4s);
  const auto& v = h.feed(inquiry('S'), t0 + 5s);
  CHECK(h.p.status == payment_status::success);
  CHECK(h.p.pending == pending_action::none);
  CHECK(events_of(v) == std::vector<std::string>{"emit cancel_failed"});
  CHECK(has_anomaly(v, anomaly_kind::success_not_reversed));
}

TEST_CASE("item 4: the confirming inquiry settles CANCELLED when it shows the payment reversed or unpaid") {
  harness h;
  h.feed(pay_answer{res("SUCCESS", 'S'), {}, "", ""}, t0 + 1s);
  h.feed(cancel_requested{requester::merchant, ""}, t0 + 2s);
  h.feed(cancel_answer{res("ORDER_NOT_EXIST", 'F')}, t0 + 3s);
  inquiry_answer reversed = inquiry('S');
  reversed.transactions.push_back({"CANCEL", "c-1", "SUCCESS", std::nullopt});
  const auto& d = h.feed(reversed, t0 + 4s);
  CHECK(h.p.status == payment_status::cancelled);
  CHECK(events_of(d) == std::vector<std::string>{"emit cancelled"});

  harness u;
  u.in_process(t0 + 1s);
  u.feed(cancel_requested{requester::merchant, ""}, t0 + 2s);
  u.feed(cancel_answer{res("ORDER_IS_CLOSED", 'F')}, t0 + 3s);
  u.feed(inquiry('F'), t0 + 4s);
  CHECK(u.p.status == payment_status::cancelled);
}

TEST_CASE("a partial REFUND among the transactions is no reversal: the cancel's confirming inquiry keeps SUCCESS") {
  // A merchant refunded half, then cancelled inside the window; Alipay+ refused the cancel and
  // its inquiry lists the partial refund. Half of the money is still the merchant's: SUCCESS
  // stays (payment.cancel_failed), never CANCELLED. Refunds summing to the amount are a reversal.
  auto confirm = [](std::vector<std::int64_t> refunded) {
    auto h = std::make_unique<harness>();
    h->feed(pay_answer{res("SUCCESS", 'S'), {}, "", ""}, t0 + 1s);
    h->feed(cancel_requested{requester::merchant, ""}, t0 + 2s);
    h->feed(cancel_answer{res("ORDER_IS_CLOSED", 'F')}, t0 + 3s);
    inquiry_answer answer = inquiry('S');
    int n = 0;
    for (const auto units : refunded) {
      payment_transaction t{"REFUND", "r-" + std::to_string(++n), "SUCCESS", res("SUCCESS", 'S')};
      t.amount = money{units, h->p.amount.currency};
      answer.transactions.push_back(t);
    }
    answer.transactions.push_back({"REFUND", "r-failed", "FAIL", res("REFUND_AMOUNT_EXCEED", 'F')});
    h->feed(answer, t0 + 4s);
    return h;
  };
  const auto half = usd_10.minor_units / 2;
  const auto partial = confirm({half});
  CHECK(partial->p.status == payment_status::success);
  CHECK(events_of(partial->last) == std::vector<std::string>{"emit cancel_failed"});
  CHECK(has_anomaly(partial->last, anomaly_kind::success_not_reversed));
  const auto whole = confirm({half, usd_10.minor_units - half});
  CHECK(whole->p.status == payment_status::cancelled);
  // A REFUND without transactionAmount proves nothing about how much went back.
  auto h = harness();
  h.feed(pay_answer{res("SUCCESS", 'S'), {}, "", ""}, t0 + 1s);
  h.feed(cancel_requested{requester::merchant, ""}, t0 + 2s);
  h.feed(cancel_answer{res("ORDER_IS_CLOSED", 'F')}, t0 + 3s);
  inquiry_answer unsized = inquiry('S');
  unsized.transactions.push_back({"REFUND", "r-1", "SUCCESS", res("SUCCESS", 'S')});
  h.feed(unsized, t0 + 4s);
  CHECK(h.p.status == payment_status::success);
}

TEST_CASE("item 4: over an unpaid payment, a confirming S/S not reversed ends SUCCESS with both events") {
  harness h;
  h.in_process(t0 + 1s);
  h.feed(cancel_requested{requester::merchant, ""}, t0 + 2s);
  h.feed(cancel_answer{res("ORDER_IS_CLOSED", 'F')}, t0 + 3s);
  const auto& d = h.feed(inquiry('S'), t0 + 4s);
  CHECK(h.p.status == payment_status::success);
  CHECK(events_of(d) == std::vector<std::string>{"emit succeeded", "emit cancel_failed"});
}

TEST_CASE("item 7: the cancel window closes at 00:15 UTC+8 of the day after creation") {
  // 2023-11-15 23:55 UTC+8 = 15:55Z; 00:14 and 00:16 UTC+8 on 2023-11-16 = 16:14Z, 16:16Z.
  const time_point at_2355 = from_epoch_ms(1'700'063'700'000);
  const time_point close_1116 = from_epoch_ms(1'700'064'900'000);  // 2023-11-15T16:15Z
  const time_point close_1117 = close_1116 + 24h;
  CHECK(cancel_window_closes(at_2355) == close_1116);
  CHECK(cancel_window_closes(at_2355 + 19min) == close_1117);  // 00:14 UTC+8 next day
  CHECK(cancel_window_closes(at_2355 + 21min) == close_1117);  // 00:16
  CHECK(cancel_window_closes(from_epoch_ms(1'700'064'000'000 - 1)) == close_1116);  // 23:59:59.999 UTC+8
  CHECK(cancel_window_closes(from_epoch_ms(1'700'064'000'000)) == close_1116 + 24h);  // 00:00 UTC+8 the 16th
}

TEST_CASE("item 7: a deadline cancel that would fall after the window becomes the slow path") {
  const time_point at_2355 = from_epoch_ms(1'700'063'700'000);
  harness h(at_2355);
  h.in_process(at_2355 + 1s);
  h.feed(deadline_reached{}, h.p.poll_deadline_at);  // 00:20 UTC+8: past the window
  const auto& d = h.feed(inquiry_answer{res("UNKNOWN_EXCEPTION", 'U'), std::nullopt, {}, std::nullopt},
                         h.p.poll_deadline_at + 1s);
  CHECK(count<send_cancel>(d) == 0);
  CHECK(h.p.pending == pending_action::inquiry);
  CHECK(h.p.next_action_at == h.p.poll_deadline_at + 1s + 10min);
  // Inquiry every 10 min for 24 h, then hourly, for 7 days: then parked with an anomaly.
  int sends = 0;
  for (int i = 0; i < 1000 && h.p.next_action_at != never; ++i) {
    const time_point now = h.p.next_action_at;
    const auto& t = h.feed(deadline_reached{}, now);
    sends += count<send_inquiry>(t);
    CHECK(count<send_cancel>(t) == 0);
    if (h.p.next_action_at != never) {
      h.feed(inquiry_answer{res("SUCCESS", 'S'), res("PAYMENT_IN_PROCESS", 'U'), {}, usd_10}, now + 1s);
    } else {
      CHECK(has_anomaly(t, anomaly_kind::unresolved));
    }
  }
  CHECK(sends == 24 * 6 + 6 * 24 - 1);
  CHECK(h.p.status == payment_status::in_process);
  CHECK(h.p.next_action_at == never);
}

TEST_CASE("item 7 / issue 16: a merchant cancel of a SUCCESS after the window sends no cancel and starts a full refund") {
  harness h;
  h.feed(pay_answer{res("SUCCESS", 'S'), {}, "", ""}, t0 + 1s);
  const auto& d = h.feed(cancel_requested{requester::merchant, ""}, t0 + 30h);
  CHECK(count<send_cancel>(d) == 0);
  CHECK(h.p.status == payment_status::success);
  CHECK(h.p.pending == pending_action::none);
  CHECK(events_of(d) == std::vector<std::string>{"start refund"});
  // Over a payment not paid yet the window still answers cancel_failed (nothing to refund).
  harness open;
  const auto& o = open.feed(cancel_requested{requester::merchant, ""}, t0 + 30h);
  CHECK(events_of(o) == std::vector<std::string>{"emit cancel_failed"});
}

TEST_CASE("item 7: cancel F other is retried hourly 24 times, then abandoned with cancel_failed") {
  harness h(from_epoch_ms(1'699'978'560'000));  // 2023-11-15 00:16 UTC+8: the window lasts 23 h 59 min
  const time_point t0 = h.p.created_at;
  h.feed(pay_answer{res("SUCCESS", 'S'), {}, "", ""}, t0 + 1s);
  h.feed(cancel_requested{requester::merchant, ""}, t0 + 2s);
  time_point now = t0 + 3s;
  for (int i = 0; i < 23; ++i) {
    h.feed(cancel_answer{res("PROCESS_FAIL", 'F')}, now);
    CHECK(h.p.pending == pending_action::cancel);
    now = h.p.next_action_at;
    h.feed(deadline_reached{}, now);
  }
  const auto& d = h.feed(cancel_answer{res("PROCESS_FAIL", 'F')}, now);
  CHECK(h.p.status == payment_status::success);
  CHECK(h.p.pending == pending_action::none);
  CHECK(events_of(d) == std::vector<std::string>{"emit cancel_failed"});
  CHECK(has_anomaly(d, anomaly_kind::cancel_abandoned));
}

TEST_CASE("item 8: a mismatching notify over a confirmed SUCCESS or FAIL is an anomaly, never a cancel") {
  harness h;
  h.feed(pay_answer{res("SUCCESS", 'S'), {}, "", ""}, t0 + 1s);
  const auto& d = h.feed(notify_verified{res("SUCCESS", 'S'), money{999, usd_10.currency}, {}}, t0 + 2s);
  CHECK(count<send_cancel>(d) == 0);
  CHECK(has_anomaly(d, anomaly_kind::amount_mismatch));
  CHECK(h.p.pending == pending_action::none);
  CHECK(d.ack);

  harness f;
  f.feed(pay_answer{res("PROCESS_FAIL", 'F'), {}, "", ""}, t0 + 1s);
  const auto& g = f.feed(inquiry_answer{res("SUCCESS", 'S'), res("SUCCESS", 'S'), {}, money{1, usd_10.currency}},
                         t0 + 2s);
  CHECK(count<send_cancel>(g) == 0);
  CHECK(f.p.pending == pending_action::none);
}

TEST_CASE("item 8: a notify naming another paymentId is an anomaly and is not applied") {
  harness h;
  h.in_process(t0 + 1s);  // paymentId pid-1 stored
  const auto& d = h.feed(notify_verified{res("SUCCESS", 'S'), usd_10, {"pid-OTHER", "", "", "", {}}}, t0 + 2s);
  CHECK(h.p.status == payment_status::in_process);
  CHECK(has_anomaly(d, anomaly_kind::contradicting_result));
  CHECK(d.ack);
}

TEST_CASE("item 10: a create answered 202 gets payment.pending once pay answers PAYMENT_IN_PROCESS") {
  harness h;
  h.feed(create_answered_early{}, t0 + 10s);
  h.in_process(t0 + 11s);
  CHECK(events_of(h.last) == std::vector<std::string>{"emit pending"});
  h.feed(inquiry('S'), t0 + 20s);
  CHECK(events_of(h.last) == std::vector<std::string>{"emit succeeded"});
  CHECK(h.p.event_seq == 2);

  harness late;  // pay answered before the 202 was noted: pending right then, once
  late.in_process(t0 + 1s);
  CHECK(events_of(late.last).empty());
  late.feed(create_answered_early{}, t0 + 10s);
  CHECK(events_of(late.last) == std::vector<std::string>{"emit pending"});
  late.feed(create_answered_early{}, t0 + 11s);
  CHECK(events_of(late.last).empty());
}
