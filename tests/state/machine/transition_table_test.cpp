// The transition table of proto-docs/state-machine.md, replayed against the code: every row
// builds a payment in its phase, feeds its input, and checks the next phase, the effects (in
// order), the deadline and the rejection. Also checks the table holds every (phase, input)
// pair exactly once.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "state/machine/machine.hpp"
#include "state/machine/phase.hpp"
#include "state/machine/schedule.hpp"
#include "tests/state/machine/table_support.hpp"

using namespace cashier;
using namespace std::chrono_literals;

namespace {

using row = test::table_row;

std::vector<row> read_table() { return test::read_table("## Transition table"); }

const time_point t0 = from_epoch_ms(1'700'000'000'000);
const money order_amount{1000, *currency_code::parse("USD")};

const std::vector<std::string> phases{
    "INIT/PAY",       "IN_PROCESS/INQUIRY", "LAST LOOK",       "SLOW PATH",   "PARKED",
    "INIT/CANCEL",    "IN_PROCESS/CANCEL",  "OPEN/CONFIRM",    "SUCCESS/CANCEL",
    "SUCCESS/CONFIRM", "FAIL/CANCEL",       "SUCCESS",         "FAIL",        "CANCELLED"};

const std::vector<std::string> inputs{
    "created", "pay S", "pay F", "pay U PAYMENT_IN_PROCESS", "pay U other", "pay no answer",
    "inquiry S/S", "inquiry S/F", "inquiry S/U", "inquiry F ORDER_NOT_EXIST", "inquiry F other",
    "inquiry U", "inquiry no answer", "inquiry mismatch", "inquiry S/S reversed",
    "inquiry no answer past window", "cancel S", "cancel U", "cancel no answer",
    "cancel F ORDER_NOT_EXIST", "cancel F ORDER_IS_CLOSED", "cancel F CANCEL_WINDOW_EXCEED",
    "cancel F other", "cancel F other, last retry", "notify S", "notify F", "notify mismatch",
    "notify other paymentId", "notify unverified", "notify unverified rate-limited",
    "cancel request", "cancel request past window", "inquiry request", "create answered early",
    "timer early", "timer due", "timer past deadline", "timer past window"};

/// A payment in the named phase, with a deadline armed 10 min after creation when open.
payment in_phase(const std::string& name) {
  payment p;
  p.payment_request_id = "pr-table";
  p.merchant_id = "m1";
  p.amount = order_amount;
  p.created_at = p.updated_at = t0;
  p.expiry_at = t0 + 15min;
  p.poll_deadline_at = t0 + 25min;
  p.pay_request = R"({"paymentRequestId":"pr-table"})";
  p.attempt = 2;
  p.next_action_at = t0 + 10min;
  using shape_t = std::tuple<payment_status, pending_action, settle_track>;
  const std::map<std::string, shape_t> shape{
      {"INIT/PAY", {payment_status::init, pending_action::pay, settle_track::normal}},
      {"IN_PROCESS/INQUIRY", {payment_status::in_process, pending_action::inquiry, settle_track::normal}},
      {"LAST LOOK", {payment_status::in_process, pending_action::inquiry, settle_track::last_look}},
      {"SLOW PATH", {payment_status::in_process, pending_action::inquiry, settle_track::slow_path}},
      {"PARKED", {payment_status::in_process, pending_action::inquiry, settle_track::parked}},
      {"INIT/CANCEL", {payment_status::init, pending_action::cancel, settle_track::normal}},
      {"IN_PROCESS/CANCEL", {payment_status::in_process, pending_action::cancel, settle_track::normal}},
      {"OPEN/CONFIRM", {payment_status::in_process, pending_action::cancel, settle_track::confirm_cancel}},
      {"SUCCESS/CANCEL", {payment_status::success, pending_action::cancel, settle_track::normal}},
      {"SUCCESS/CONFIRM", {payment_status::success, pending_action::cancel, settle_track::confirm_cancel}},
      {"FAIL/CANCEL", {payment_status::fail, pending_action::cancel, settle_track::normal}},
      {"SUCCESS", {payment_status::success, pending_action::none, settle_track::normal}},
      {"FAIL", {payment_status::fail, pending_action::none, settle_track::normal}},
      {"CANCELLED", {payment_status::cancelled, pending_action::none, settle_track::normal}}};
  const auto& [status, pending, track] = shape.at(name);
  p.status = status;
  p.pending = pending;
  p.track = track;
  // Alipay+'s paymentId is known once pay answered (every phase but the INIT ones).
  if (status != payment_status::init) p.payment_id = "pid-1";
  if (track == settle_track::last_look) {
    p.cancel_reason = "poll deadline";
    p.attempt = 1;
    p.next_action_at = p.poll_deadline_at + 20s;  // the last inquiry's answer guard
  }
  if (track == settle_track::slow_path) {
    p.slow_path_since = p.poll_deadline_at;
    p.next_action_at = p.poll_deadline_at + 10min;
  }
  if (track == settle_track::confirm_cancel) {
    p.result = aplus_result{"ORDER_IS_CLOSED", 'F', "closed"};
    p.cancel_reason = "merchant";
  }
  if (pending == pending_action::cancel && track == settle_track::normal) p.cancel_reason = "merchant";
  if (is_final(status)) p.event_seq = 1;
  if (track == settle_track::parked) {
    p.slow_path_since = p.poll_deadline_at;
    p.attempt = 0;
    p.next_action_at = never;
  }
  if (pending == pending_action::none) {
    p.attempt = 0;
    p.next_action_at = never;
  }
  return p;
}

payment_facts facts() { return {"pid-1", "2026-01-01T00:00:00+08:00", "cust-1", "GCash", {}}; }

aplus_result res(const char* code, char status) { return {code, status, "msg"}; }

inquiry_answer inquiry(aplus_result result, std::optional<aplus_result> payment_result) {
  return {std::move(result), std::move(payment_result), facts(), order_amount};
}

/// The event for `input`, and the instant it happens at; may adjust `p` (hint rate limit).
event make_event(const std::string& input, payment& p, time_point& now) {
  const bool armed = p.next_action_at != never;
  now = armed ? p.next_action_at - 5s : t0 + 2h;
  const std::map<std::string, event> plain{
      {"created", created{}},
      {"pay S", pay_answer{res("SUCCESS", 'S'), facts(), "https://pay/1", "{}"}},
      {"pay F", pay_answer{res("PROCESS_FAIL", 'F'), {}, "", ""}},
      {"pay U PAYMENT_IN_PROCESS",
       pay_answer{res("PAYMENT_IN_PROCESS", 'U'), facts(), "https://pay/1", "{}"}},
      {"pay U other", pay_answer{res("UNKNOWN_EXCEPTION", 'U'), {}, "", ""}},
      {"pay no answer", pay_no_answer{no_answer_reason::timeout}},
      {"inquiry S/S", inquiry(res("SUCCESS", 'S'), res("SUCCESS", 'S'))},
      {"inquiry S/F", inquiry(res("SUCCESS", 'S'), res("USER_BALANCE_NOT_ENOUGH", 'F'))},
      {"inquiry S/U", inquiry(res("SUCCESS", 'S'), res("PAYMENT_IN_PROCESS", 'U'))},
      {"inquiry F ORDER_NOT_EXIST", inquiry(res("ORDER_NOT_EXIST", 'F'), std::nullopt)},
      {"inquiry F other", inquiry(res("ACCESS_DENIED", 'F'), std::nullopt)},
      {"inquiry U", inquiry(res("UNKNOWN_EXCEPTION", 'U'), std::nullopt)},
      {"inquiry no answer", inquiry_no_answer{no_answer_reason::server_error}},
      {"inquiry mismatch",
       inquiry_answer{res("SUCCESS", 'S'), res("SUCCESS", 'S'), facts(), money{999, order_amount.currency}}},
      {"inquiry S/S reversed",
       inquiry_answer{res("SUCCESS", 'S'), res("SUCCESS", 'S'), facts(), order_amount,
                      {{"CANCEL", "pr-table", "SUCCESS", res("SUCCESS", 'S')}}}},
      {"notify other paymentId",
       notify_verified{res("SUCCESS", 'S'), order_amount,
                       {"pid-OTHER", "2026-01-01T00:00:00+08:00", "cust-1", "GCash", {}}}},
      {"create answered early", create_answered_early{}},
      {"cancel S", cancel_answer{res("SUCCESS", 'S')}},
      {"cancel U", cancel_answer{res("UNKNOWN_EXCEPTION", 'U')}},
      {"cancel no answer", cancel_no_answer{no_answer_reason::bad_signature}},
      {"cancel F ORDER_NOT_EXIST", cancel_answer{res("ORDER_NOT_EXIST", 'F')}},
      {"cancel F ORDER_IS_CLOSED", cancel_answer{res("ORDER_IS_CLOSED", 'F')}},
      {"cancel F CANCEL_WINDOW_EXCEED", cancel_answer{res("CANCEL_WINDOW_EXCEED", 'F')}},
      {"cancel F other", cancel_answer{res("PROCESS_FAIL", 'F')}},
      {"notify S", notify_verified{res("SUCCESS", 'S'), order_amount, facts()}},
      {"notify F", notify_verified{res("USER_BALANCE_NOT_ENOUGH", 'F'), order_amount, facts()}},
      {"notify mismatch",
       notify_verified{res("SUCCESS", 'S'), money{1000, *currency_code::parse("JPY")}, facts()}},
      {"notify unverified", notify_unverified{}},
      {"cancel request", cancel_requested{requester::merchant, "customer asked"}},
      {"inquiry request", inquiry_requested{}}};
  if (auto it = plain.find(input); it != plain.end()) return it->second;
  // After Alipay+'s cancel window has closed (and after any armed deadline).
  const time_point past_window = cancel_window_closes(p.created_at) + 1h;
  if (input == "inquiry no answer past window") {
    now = past_window;
    return inquiry_no_answer{no_answer_reason::timeout};
  }
  if (input == "cancel request past window") {
    now = past_window;
    return cancel_requested{requester::merchant, "customer asked"};
  }
  if (input == "cancel F other, last retry") {
    p.cancel_refusals = machine_params{}.cancel_refused_limit - 1;
    return cancel_answer{res("PROCESS_FAIL", 'F')};
  }
  if (input == "timer past window") {
    now = past_window;
    return deadline_reached{};
  }
  if (input == "notify unverified rate-limited") {
    p.last_hint_inquiry_at = now - 1s;
    return notify_unverified{};
  }
  if (input == "timer early" && armed) now = p.next_action_at - 1ms;
  if (input == "timer due" && armed) now = p.next_action_at;
  if (input == "timer past deadline" && armed) {
    now = p.next_action_at;
    if (p.pending == pending_action::pay) now = p.expiry_at;
    if (p.pending == pending_action::inquiry && p.track == settle_track::normal) now = p.poll_deadline_at;
    if (p.track == settle_track::slow_path) now = p.slow_path_since + machine_params{}.slow_path_for;
  }
  REQUIRE_MESSAGE(input.rfind("timer ", 0) == 0, "unknown input " << input);
  return deadline_reached{};
}

time_point expected_deadline(const std::string& token, const payment& before,
                             const payment& after, time_point now, const machine_params& mp) {
  const auto seed = payment_seed(before.payment_request_id);
  if (token == "unchanged") return before.next_action_at;
  if (token == "never") return never;
  if (token == "guard") return now + mp.answer_guard;
  if (token == "pay retry") {
    return std::min(now + pay_retry_delay(after.attempt, seed, mp.pay_retry_base, mp.pay_retry_cap),
                    after.expiry_at);
  }
  if (token == "poll") {
    return std::min(now + inquiry_delay(after.attempt, mp.inquiry_intervals), after.poll_deadline_at);
  }
  if (token == "poll last") return now + mp.inquiry_intervals.back();
  if (token == "cancel retry") {
    return now + cancel_retry_delay(after.attempt, seed, mp.cancel_retry_base, mp.cancel_retry_cap);
  }
  if (token == "cancel slow") return now + mp.cancel_refused_retry;
  if (token == "slow") {
    const duration d = slow_path_delay(now - after.slow_path_since, mp.slow_path_fast,
                                       mp.slow_path_fast_for, mp.slow_path_slow);
    return std::min(now + d, after.slow_path_since + mp.slow_path_for);
  }
  FAIL("unknown deadline token " << token);
  return never;
}

/// The effects column for decision `d`: described effects and rejection, "; "-joined.
std::string effects_cell(const decision& d) {
  std::string out;
  for (const effect& e : d.effects) out += (out.empty() ? "" : "; ") + describe(e);
  if (d.rejected) out += (out.empty() ? "reject " : "; reject ") + std::string(to_string(*d.rejected));
  return out.empty() ? "—" : out;
}

void check_row(const row& r, const machine_params& mp) {
  INFO("row: " << r.phase << " | " << r.input);
  payment p = in_phase(r.phase);
  REQUIRE(phase_of(p));
  REQUIRE(to_string(*phase_of(p)) == r.phase);
  time_point now{};
  const event e = make_event(r.input, p, now);
  const decision d = step(p, e, now, mp);
  const auto next_phase = phase_of(d.next);
  REQUIRE(next_phase);
  CHECK(to_string(*next_phase) == r.next_phase);
  CHECK(effects_cell(d) == r.effects);
  CHECK(d.next.next_action_at == expected_deadline(r.deadline, p, d.next, now, mp));
  if (r.deadline == "guard") {
    CHECK(d.next.attempt == (r.next_phase == r.phase ? p.attempt + 1 : 1));
  }
  // Noting a 202 create changes the record (pending_notice) without an effect.
  const bool quiet = r.effects == "—" && r.deadline == "unchanged" && r.next_phase == r.phase &&
                     r.input != "create answered early";
  if (quiet) CHECK_FALSE(d.changed);
  CHECK(d.changed == !(d.next == p));
  CHECK(d.from == state_of(p));
  CHECK(d.to == state_of(d.next));
  CHECK(d.ack == std::holds_alternative<notify_verified>(e));
}

}  // namespace

TEST_CASE("the transition table holds every (phase, input) pair exactly once") {
  test::check_every_pair_once(read_table(), phases, inputs);
}

TEST_CASE("every row of the transition table matches the machine") {
  const machine_params mp;
  REQUIRE_FALSE(mp.validate());
  const auto rows = read_table();
  REQUIRE(rows.size() > 0);
  for (const row& r : rows) check_row(r, mp);
}
