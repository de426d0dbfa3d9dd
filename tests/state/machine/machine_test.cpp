// Scenario tests for machine.hpp: a payment driven through sequences of events, checking
// what the transition table alone cannot show (byte-identical pay resends, caps by expiry and
// polling deadline, backoff growth, hint rate limit, sequence numbers, corrupt rows).
#include <doctest/doctest.h>

#include <algorithm>

#include "state/machine/machine.hpp"
#include "state/machine/phase.hpp"
#include "state/machine/schedule.hpp"

using namespace cashier;
using namespace std::chrono_literals;

namespace {

const time_point t0 = from_epoch_ms(1'700'000'000'000);
const money usd_10{1000, *currency_code::parse("USD")};
const std::string pay_body = R"({"paymentRequestId":"pr-42","paymentAmount":{"currency":"USD","value":"1000"}})";

aplus_result res(const char* code, char status) { return {code, status, "msg"}; }

/// A payment as the daemon builds it, and a loop that feeds it events like the driver would.
struct harness {
  machine_params mp;
  payment p;
  decision last;

  harness() {
    p.payment_request_id = "pr-42";
    p.amount = usd_10;
    p.created_at = p.updated_at = t0;
    p.expiry_at = t0 + 15min;
    p.pay_request = pay_body;
  }
  const decision& feed(const event& e, time_point now) {
    last = step(p, e, now, mp);
    p = last.next;
    return last;
  }
  /// Fires the deadline exactly when it is due.
  const decision& tick() { return feed(deadline_reached{}, p.next_action_at); }
  std::string phase_name() const { return std::string(to_string(*phase_of(p))); }
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

std::vector<emit_merchant_event> events_of(const decision& d) {
  std::vector<emit_merchant_event> out;
  for (const effect& e : d.effects) {
    if (const auto* m = std::get_if<emit_merchant_event>(&e)) out.push_back(*m);
  }
  return out;
}

/// Drives a fresh payment to IN_PROCESS/INQUIRY at t0 + 1 s.
void to_in_process(harness& h) {
  h.feed(created{}, t0);
  h.feed(pay_answer{res("PAYMENT_IN_PROCESS", 'U'), {"pid-1", "", "", "", {}}, "https://c/1", "{\"w\":1}"},
         t0 + 1s);
}

}  // namespace

TEST_CASE("created arms the polling deadline and sends pay with an answer guard") {
  harness h;
  const auto& d = h.feed(created{}, t0);
  CHECK(d.changed);
  CHECK(d.cause == "created");
  CHECK(count<send_pay>(d) == 1);
  CHECK(d.effects.size() == 1);
  CHECK(h.p.poll_deadline_at == t0 + 25min);
  CHECK(h.p.attempt == 1);
  CHECK(h.p.next_action_at == t0 + h.mp.answer_guard);
  CHECK(h.p.updated_at == t0);
  CHECK(d.from == payment_state{payment_status::init, pending_action::pay});
}

TEST_CASE("pay resends are byte-identical: the machine never rebuilds the request") {
  harness h;
  h.feed(created{}, t0);
  int sends = 1;
  for (int i = 0; i < 5; ++i) {
    h.feed(i % 2 ? event{pay_no_answer{no_answer_reason::timeout}}
                 : event{pay_answer{res("UNKNOWN_EXCEPTION", 'U'), {}, "", ""}},
           h.p.next_action_at - 1s);
    CHECK(h.last.effects.empty());
    const auto& d = h.tick();
    CHECK(d.cause == "timer:pay_retry");
    sends += count<send_pay>(d);
    CHECK(h.p.pay_request == pay_body);
  }
  CHECK(sends == 6);
  CHECK(h.p.attempt == 6);
}

TEST_CASE("pay retries back off 1 s doubling to 30 s and are capped by expiry, then a last look") {
  harness h;
  h.feed(created{}, t0);
  const auto seed = payment_seed(h.p.payment_request_id);
  time_point now = t0 + 1s;
  while (h.p.pending == pending_action::pay) {
    const std::int32_t sent = h.p.attempt;
    h.feed(pay_no_answer{no_answer_reason::transport_error}, now);
    const time_point retry_at = h.p.next_action_at;
    CHECK(retry_at <= h.p.expiry_at);
    CHECK(retry_at == std::min(now + pay_retry_delay(sent, seed), h.p.expiry_at));
    CHECK(retry_at - now <= 30s);
    h.tick();
    now = retry_at + 1s;  // the next answer comes a second after the resend
  }
  CHECK(h.last.cause == "timer:expiry");
  CHECK(h.phase_name() == "LAST LOOK");
  CHECK(h.p.status == payment_status::init);
  CHECK(h.p.cancel_reason == "expiry");
  CHECK(count<send_inquiry>(h.last) == 1);
  CHECK(count<send_cancel>(h.last) == 0);
  CHECK(h.p.attempt == 1);
  CHECK(h.p.next_action_at == h.p.expiry_at + h.mp.answer_guard);
  // No verdict: the cancel starts now, with the reason kept.
  h.feed(inquiry_answer{res("ORDER_NOT_EXIST", 'F'), std::nullopt, {}, std::nullopt}, h.p.expiry_at + 1s);
  CHECK(h.phase_name() == "INIT/CANCEL");
  CHECK(h.p.cancel_reason == "expiry");
  CHECK(count<send_cancel>(h.last) == 1);
}

TEST_CASE("an answer arriving after expiry arms the timer at expiry, which then takes a last look") {
  harness h;
  h.feed(created{}, t0);
  h.feed(pay_no_answer{no_answer_reason::timeout}, t0 + 20min);
  CHECK(h.p.next_action_at == h.p.expiry_at);
  h.feed(deadline_reached{}, t0 + 20min);
  CHECK(h.phase_name() == "LAST LOOK");
}

TEST_CASE("pay U PAYMENT_IN_PROCESS keeps the checkout and polls at the configured intervals") {
  harness h;
  to_in_process(h);
  CHECK(h.phase_name() == "IN_PROCESS/INQUIRY");
  CHECK(h.p.payment_id == "pid-1");
  CHECK(h.p.normal_url == "https://c/1");
  CHECK(h.p.payment_data == "{\"w\":1}");
  CHECK(h.p.result == res("PAYMENT_IN_PROCESS", 'U'));
  CHECK(h.p.attempt == 0);
  CHECK(h.last.effects.empty());  // no merchant event for IN_PROCESS
  std::vector<duration> gaps;
  time_point answered = t0 + 1s;
  for (int i = 0; i < 8; ++i) {
    gaps.push_back(h.p.next_action_at - answered);
    CHECK(count<send_inquiry>(h.tick()) == 1);
    answered = h.p.next_action_at - 10s;  // answered 10 s before the guard
    h.feed(inquiry_answer{res("SUCCESS", 'S'), res("PAYMENT_IN_PROCESS", 'U'), {}, usd_10}, answered);
  }
  const std::vector<duration> expected{2s, 4s, 8s, 15s, 30s, 60s, 60s, 60s};
  CHECK(gaps == expected);
}

TEST_CASE("polling never goes past the polling deadline, which takes the last look") {
  harness h;
  h.mp.inquiry_intervals = {7min};
  to_in_process(h);
  while (h.phase_name() == "IN_PROCESS/INQUIRY") {
    CHECK(h.p.next_action_at <= h.p.poll_deadline_at);
    h.tick();
    if (h.phase_name() != "IN_PROCESS/INQUIRY") break;
    h.feed(inquiry_no_answer{no_answer_reason::timeout}, h.p.next_action_at - 1s);
  }
  CHECK(h.last.cause == "timer:poll_deadline");
  CHECK(h.last.changed);
  CHECK(h.phase_name() == "LAST LOOK");
  CHECK(h.p.cancel_reason == "poll deadline");
  CHECK(h.p.updated_at == t0 + 25min);
}

TEST_CASE("inquiry F other than ORDER_NOT_EXIST is an anomaly, polling continues") {
  harness h;
  to_in_process(h);
  h.tick();
  h.feed(inquiry_answer{res("ORDER_NOT_EXIST", 'F'), std::nullopt, {}, std::nullopt}, t0 + 4s);
  CHECK(h.last.effects.empty());
  h.tick();
  const auto& d = h.feed(inquiry_answer{res("ACCESS_DENIED", 'F'), std::nullopt, {}, std::nullopt},
                         t0 + 10s);
  REQUIRE(d.effects.size() == 1);
  CHECK(std::get<record_anomaly>(d.effects[0]) ==
        record_anomaly{anomaly_kind::inquiry_failed, "ACCESS_DENIED"});
  CHECK(h.phase_name() == "IN_PROCESS/INQUIRY");
}

TEST_CASE("inquiry S/S settles with the wallet facts, seq 1, and polling stops") {
  harness h;
  to_in_process(h);
  h.tick();
  const auto& d = h.feed(
      inquiry_answer{res("SUCCESS", 'S'), res("SUCCESS", 'S'),
                     {"pid-1", "2026-01-01T00:00:01+08:00", "cust-9", "GCash", money{950, usd_10.currency}},
                     usd_10},
      t0 + 4s);
  CHECK(d.cause == "inquiry:S/S");
  CHECK(h.p.status == payment_status::success);
  CHECK(h.p.pending == pending_action::none);
  CHECK(h.p.next_action_at == never);
  CHECK(h.p.customer_id == "cust-9");
  CHECK(h.p.wallet_brand_name == "GCash");
  CHECK(h.p.settlement_amount == money{950, usd_10.currency});
  CHECK(events_of(d) == std::vector<emit_merchant_event>{{merchant_event_type::succeeded, 1}});
}

TEST_CASE("verified notify F settles FAIL keeping the code, acked, and a duplicate changes nothing") {
  harness h;
  to_in_process(h);
  const notify_verified n{res("USER_BALANCE_NOT_ENOUGH", 'F'), usd_10, {}};
  const auto& d = h.feed(n, t0 + 30s);
  CHECK(d.ack);
  CHECK(h.p.status == payment_status::fail);
  CHECK(h.p.result->code == "USER_BALANCE_NOT_ENOUGH");
  const auto& again = h.feed(n, t0 + 3min);
  CHECK(again.ack);
  CHECK_FALSE(again.changed);
  CHECK(again.effects.empty());
}

TEST_CASE("amount mismatch on a notify over an open payment cancels instead of applying, and is acked") {
  harness h;
  to_in_process(h);
  const auto& d = h.feed(notify_verified{res("SUCCESS", 'S'), money{100, usd_10.currency}, {}}, t0 + 30s);
  CHECK(d.ack);
  CHECK(h.p.status == payment_status::in_process);
  CHECK(h.phase_name() == "IN_PROCESS/CANCEL");
  CHECK(h.p.cancel_reason == "amount mismatch");
  CHECK(has_anomaly(d, anomaly_kind::amount_mismatch));
  CHECK(std::get<record_anomaly>(d.effects[0]).detail == "notify:S: stated 100 USD, order 1000 USD");
  CHECK(count<send_cancel>(d) == 1);
  CHECK(events_of(d).empty());
}

TEST_CASE("contradicting results on final states are anomalies and change nothing") {
  harness h;
  h.feed(created{}, t0);
  h.feed(pay_answer{res("SUCCESS", 'S'), {}, "", ""}, t0 + 1s);
  REQUIRE(h.p.status == payment_status::success);
  const payment before = h.p;
  auto d = h.feed(notify_verified{res("PROCESS_FAIL", 'F'), usd_10, {}}, t0 + 2min);
  CHECK(d.ack);
  CHECK_FALSE(d.changed);
  CHECK(h.p == before);
  CHECK(has_anomaly(d, anomaly_kind::contradicting_result));
  CHECK(std::get<record_anomaly>(d.effects[0]).detail == "notify:F in SUCCESS");
  d = h.feed(inquiry_answer{res("SUCCESS", 'S'), res("PROCESS_FAIL", 'F'), {}, usd_10}, t0 + 3min);
  CHECK(has_anomaly(d, anomaly_kind::contradicting_result));
  d = h.feed(notify_verified{res("SUCCESS", 'S'), usd_10, {}}, t0 + 4min);
  CHECK(d.effects.empty());  // consistent
}

TEST_CASE("a verdict while cancel is pending is recorded, never applied") {
  harness h;
  to_in_process(h);
  h.feed(cancel_requested{requester::operator_, "fraud"}, t0 + 1min);
  CHECK(h.p.cancel_reason == "operator: fraud");
  const auto& d = h.feed(notify_verified{res("SUCCESS", 'S'), usd_10, {"pid-1", "t", "c", "w", {}}}, t0 + 2min);
  CHECK(d.ack);
  CHECK(h.p.status == payment_status::in_process);
  CHECK(h.p.pending == pending_action::cancel);
  CHECK(h.p.customer_id.empty());
  CHECK(has_anomaly(d, anomaly_kind::result_during_cancel));
  CHECK(events_of(d).empty());
}

TEST_CASE("cancel retries back off, F other retries hourly, S settles CANCELLED") {
  harness h;
  to_in_process(h);
  h.feed(cancel_requested{requester::merchant, ""}, t0 + 1min);
  CHECK(h.p.cancel_reason == "merchant");
  const auto seed = payment_seed("pr-42");
  for (int i = 0; i < 3; ++i) {
    const time_point now = h.p.next_action_at - 1s;
    const std::int32_t sent = h.p.attempt;
    h.feed(cancel_no_answer{no_answer_reason::server_error}, now);
    CHECK(h.p.next_action_at == now + cancel_retry_delay(sent, seed));
    CHECK(count<send_cancel>(h.tick()) == 1);
  }
  const auto& refused = h.feed(cancel_answer{res("RISK_REJECT", 'F')}, h.p.next_action_at - 1s);
  CHECK(has_anomaly(refused, anomaly_kind::cancel_refused));
  CHECK(h.p.next_action_at - h.p.updated_at == 1h);
  h.tick();
  const auto& d = h.feed(cancel_answer{res("SUCCESS", 'S')}, h.p.next_action_at - 1s);
  CHECK(h.p.status == payment_status::cancelled);
  CHECK(h.p.next_action_at == never);
  CHECK(events_of(d) == std::vector<emit_merchant_event>{{merchant_event_type::cancelled, 1, ""}});
  // Idempotent afterwards.
  CHECK_FALSE(h.feed(cancel_requested{requester::merchant, ""}, t0 + 2h).changed);
  CHECK_FALSE(h.last.rejected);
}

TEST_CASE("cancel after SUCCESS: two merchant events, seq 1 then 2") {
  harness h;
  to_in_process(h);
  const auto& s = h.feed(notify_verified{res("SUCCESS", 'S'), usd_10, {}}, t0 + 1min);
  CHECK(events_of(s) == std::vector<emit_merchant_event>{{merchant_event_type::succeeded, 1, ""}});
  const auto& c = h.feed(cancel_requested{requester::merchant, "refund"}, t0 + 2min);
  CHECK(h.phase_name() == "SUCCESS/CANCEL");
  CHECK(events_of(c).empty());
  CHECK(c.from == payment_state{payment_status::success, pending_action::none});
  CHECK(c.to == payment_state{payment_status::success, pending_action::cancel});
  const auto& done = h.feed(cancel_answer{res("SUCCESS", 'S')}, t0 + 3min);
  CHECK(events_of(done) == std::vector<emit_merchant_event>{{merchant_event_type::cancelled, 2, ""}});
  CHECK(h.p.event_seq == 2);
}

TEST_CASE("cancel on FAIL is rejected and a second cancel while pending is a no-op") {
  harness h;
  h.feed(created{}, t0);
  h.feed(pay_answer{res("PARAM_ILLEGAL", 'F'), {}, "", ""}, t0 + 1s);
  const auto& r = h.feed(cancel_requested{requester::merchant, ""}, t0 + 2s);
  CHECK(r.rejected == rejection::already_final);
  CHECK_FALSE(r.changed);
  harness g;
  to_in_process(g);
  g.feed(cancel_requested{requester::merchant, "first"}, t0 + 1min);
  const auto& again = g.feed(cancel_requested{requester::operator_, "second"}, t0 + 2min);
  CHECK_FALSE(again.changed);
  CHECK(again.effects.empty());
  CHECK(g.p.cancel_reason == "merchant: first");
}

TEST_CASE("CANCEL_WINDOW_EXCEED over INIT: the merchant hears cancel_failed, the slow path settles") {
  harness h;
  h.feed(created{}, t0);
  h.feed(cancel_requested{requester::merchant, ""}, t0 + 1s);
  const auto& refused = h.feed(cancel_answer{res("CANCEL_WINDOW_EXCEED", 'F')}, t0 + 30min);
  CHECK(h.phase_name() == "SLOW PATH");
  CHECK(h.p.status == payment_status::init);
  CHECK(h.p.track == settle_track::slow_path);
  CHECK(h.p.slow_path_since == t0 + 30min);
  CHECK(count<send_inquiry>(refused) == 1);  // coming from a cancel: ask at once
  CHECK(has_anomaly(refused, anomaly_kind::cancel_abandoned));
  CHECK(events_of(refused) ==
        std::vector<emit_merchant_event>{{merchant_event_type::cancel_failed, 1, "CANCEL_WINDOW_EXCEED"}});
  // Past the polling deadline (t0 + 25 min): still asking, every 10 minutes.
  h.feed(inquiry_answer{res("SUCCESS", 'S'), res("PAYMENT_IN_PROCESS", 'U'), {}, usd_10}, t0 + 31min);
  CHECK(h.p.next_action_at == t0 + 41min);
  CHECK(count<send_inquiry>(h.tick()) == 1);
  const auto& d = h.feed(inquiry_answer{res("SUCCESS", 'S'), res("SUCCESS", 'S'), {}, usd_10}, t0 + 42min);
  CHECK(h.p.status == payment_status::success);
  CHECK(h.p.track == settle_track::normal);
  CHECK(events_of(d) == std::vector<emit_merchant_event>{{merchant_event_type::succeeded, 2, ""}});
}

TEST_CASE("CANCEL_WINDOW_EXCEED over SUCCESS flags the unreversed success and refunds it in full instead") {
  harness h;
  h.feed(created{}, t0);
  h.feed(pay_answer{res("SUCCESS", 'S'), {}, "", ""}, t0 + 1s);
  h.feed(cancel_requested{requester::operator_, ""}, t0 + 1h);
  const auto& d = h.feed(cancel_answer{res("CANCEL_WINDOW_EXCEED", 'F')}, t0 + 1h + 1s);
  CHECK(h.phase_name() == "SUCCESS");
  CHECK(h.p.next_action_at == never);
  CHECK(has_anomaly(d, anomaly_kind::success_not_reversed));
  // Issue 16: the money goes back by a refund (refund.* events follow), not cancel_failed.
  CHECK(events_of(d).empty());
  CHECK(std::count(d.effects.begin(), d.effects.end(), effect{start_refund{}}) == 1);
}

TEST_CASE("cancel F ORDER_IS_CLOSED asks a confirming inquiry, with an anomaly carrying the code") {
  harness h;
  h.feed(created{}, t0);
  h.tick();  // guard fires: resend
  h.feed(deadline_reached{}, t0 + 15min + h.mp.answer_guard);
  REQUIRE(h.phase_name() == "LAST LOOK");
  h.feed(inquiry_no_answer{no_answer_reason::timeout}, t0 + 15min + 30s);
  REQUIRE(h.phase_name() == "INIT/CANCEL");
  const auto& d = h.feed(cancel_answer{res("ORDER_IS_CLOSED", 'F')}, t0 + 16min);
  CHECK(h.phase_name() == "OPEN/CONFIRM");
  CHECK(h.p.pending == pending_action::cancel);
  CHECK(std::get<record_anomaly>(d.effects[0]) ==
        record_anomaly{anomaly_kind::cancel_order_gone, "ORDER_IS_CLOSED"});
  CHECK(count<send_inquiry>(d) == 1);
  const auto& v = h.feed(inquiry_answer{res("SUCCESS", 'S'), res("ORDER_CLOSED", 'F'), {}, usd_10}, t0 + 17min);
  CHECK(h.p.status == payment_status::cancelled);
  CHECK(events_of(v) == std::vector<emit_merchant_event>{{merchant_event_type::cancelled, 1, ""}});
}

TEST_CASE("unverified notifies prompt an inquiry at most every hint interval") {
  harness h;
  to_in_process(h);
  const time_point armed = h.p.next_action_at;
  auto d = h.feed(notify_unverified{}, t0 + 1min);
  CHECK(count<send_inquiry>(d) == 1);
  CHECK(h.p.last_hint_inquiry_at == t0 + 1min);
  CHECK(h.p.next_action_at == armed);  // a side call: the poll schedule is untouched
  CHECK(h.p.attempt == 0);
  d = h.feed(notify_unverified{}, t0 + 1min + 9s);
  CHECK(d.effects.empty());
  CHECK_FALSE(d.changed);
  CHECK_FALSE(d.ack);
  d = h.feed(notify_unverified{}, t0 + 1min + 10s);
  CHECK(count<send_inquiry>(d) == 1);
  // A verified notify that is neither S nor F is only a hint.
  d = h.feed(notify_verified{res("PAYMENT_IN_PROCESS", 'U'), usd_10, {}}, t0 + 2min);
  CHECK(d.ack);
  CHECK(count<send_inquiry>(d) == 1);
  CHECK(h.p.status == payment_status::in_process);
}

TEST_CASE("an inquiry answer in INIT/PAY settles on a verdict and is ignored otherwise") {
  harness h;
  h.feed(created{}, t0);
  h.feed(inquiry_requested{}, t0 + 1s);
  const payment before = h.p;
  CHECK_FALSE(h.feed(inquiry_answer{res("SUCCESS", 'S'), res("PAYMENT_IN_PROCESS", 'U'), {}, usd_10},
                     t0 + 2s).changed);
  CHECK(h.p == before);
  h.feed(inquiry_answer{res("SUCCESS", 'S'), res("SUCCESS", 'S'), {}, usd_10}, t0 + 3s);
  CHECK(h.p.status == payment_status::success);
  CHECK(h.feed(inquiry_requested{}, t0 + 4s).rejected == rejection::already_final);
}

TEST_CASE("stale deadlines and stale answers change nothing") {
  harness h;
  to_in_process(h);
  const payment before = h.p;
  auto d = h.feed(deadline_reached{}, h.p.next_action_at - 1ms);
  CHECK(d.cause == "timer:not_due");
  CHECK_FALSE(d.changed);
  CHECK(d.effects.empty());
  d = h.feed(cancel_answer{res("SUCCESS", 'S')}, t0 + 2s);
  CHECK_FALSE(d.changed);
  d = h.feed(pay_no_answer{no_answer_reason::garbled}, t0 + 2s);
  CHECK_FALSE(d.changed);
  CHECK(h.p == before);
}

TEST_CASE("a corrupt record is parked with an anomaly instead of looping") {
  harness h;
  h.p.status = payment_status::cancelled;
  h.p.pending = pending_action::inquiry;
  h.p.next_action_at = t0;
  const auto& d = h.feed(deadline_reached{}, t0 + 1s);
  CHECK(d.changed);
  CHECK(h.p.next_action_at == never);
  REQUIRE(d.effects.size() == 1);
  CHECK(std::get<record_anomaly>(d.effects[0]) ==
        record_anomaly{anomaly_kind::impossible_state, "CANCELLED/INQUIRY/normal"});
  CHECK(h.feed(notify_verified{res("SUCCESS", 'S'), usd_10, {}}, t0 + 2s).ack);
}

TEST_CASE("a settled payment with an armed timer is disarmed when it fires") {
  harness h;
  h.p.status = payment_status::success;
  h.p.pending = pending_action::none;
  h.p.next_action_at = t0;
  const auto& d = h.feed(deadline_reached{}, t0);
  CHECK(d.changed);
  CHECK(d.effects.empty());
  CHECK(h.p.next_action_at == never);
}

TEST_CASE("replays are deterministic") {
  auto run = [] {
    harness h;
    h.feed(created{}, t0);
    std::vector<time_point> schedule;
    for (int i = 0; i < 6; ++i) {
      h.feed(pay_no_answer{no_answer_reason::timeout}, h.p.next_action_at - 1s);
      schedule.push_back(h.p.next_action_at);
      h.tick();
    }
    return schedule;
  };
  CHECK(run() == run());
}
