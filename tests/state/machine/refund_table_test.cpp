// The refund transition table of proto-docs/state-machine.md ("Refund machine"), replayed
// against step_refund: every row builds a refund in its phase, feeds its input, and checks the
// next phase, the effects (in order), the deadline and the shared event sequence. Also checks
// the table holds every (phase, input) pair exactly once, and the resend/confirm loop end to end.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "state/machine/refund.hpp"
#include "tests/state/machine/table_support.hpp"

using namespace cashier;
using namespace std::chrono_literals;

namespace {

using row = test::table_row;

std::vector<row> read_table() { return test::read_table("### Refund transition table"); }

const time_point t0 = from_epoch_ms(1'700'000'000'000);
const money refund_amount{400, *currency_code::parse("USD")};
constexpr std::int32_t seq_before = 3;

const std::vector<std::string> phases{"PROCESSING/SEND", "PROCESSING/CONFIRM", "SUCCESS", "FAIL"};

const std::vector<std::string> inputs{
    "created", "refund S", "refund F", "refund U", "refund no answer", "refund S mismatch",
    "inquiry refund S", "inquiry refund F", "inquiry refund processing", "inquiry refund absent",
    "inquiry U", "inquiry no answer", "timer early", "timer due",
    "timer due after confirmAfter sends"};

refund in_phase(const std::string& name) {
  refund r;
  r.payment_row = 7;
  r.refund_request_id = "m-ref-1";
  r.alipay_refund_request_id = "rf-table";
  r.amount = refund_amount;
  r.created_at = r.updated_at = t0;
  r.request = R"({"refundRequestId":"rf-table"})";
  r.attempt = 2;
  r.next_action_at = t0 + 10min;
  if (name == "PROCESSING/CONFIRM") {
    r.track = refund_track::confirm;
    r.attempt = 1;
  }
  if (name == "SUCCESS" || name == "FAIL") {
    r.status = name == "SUCCESS" ? refund_status::success : refund_status::fail;
    r.result = name == "SUCCESS" ? aplus_result{"SUCCESS", 'S', ""}
                                 : aplus_result{"REFUND_WINDOW_EXCEED", 'F', ""};
    r.attempt = 0;
    r.next_action_at = never;
  }
  return r;
}

aplus_result res(const char* code, char status) { return {code, status, "msg"}; }

inquiry_answer inquiry_with(std::vector<payment_transaction> txs) {
  return inquiry_answer{res("SUCCESS", 'S'), res("SUCCESS", 'S'), {}, money{1000, refund_amount.currency},
                        std::move(txs)};
}

refund_event make_event(const std::string& input, refund& r, time_point& now,
                        const refund_params& rp) {
  const bool armed = r.next_action_at != never;
  now = armed ? r.next_action_at - 5s : t0 + 2h;
  // Another refund of the same payment, and a cancel, sit beside ours in transactions[].
  const payment_transaction other{"REFUND", "rf-other", "SUCCESS", res("SUCCESS", 'S')};
  const payment_transaction cancel{"CANCEL", "rf-table", "FAIL", res("PROCESS_FAIL", 'F')};
  const std::map<std::string, refund_event> plain{
      {"created", refund_created{}},
      {"refund S", refund_answer{res("SUCCESS", 'S'), "rid-1", "2026-01-01T00:00:00+08:00", refund_amount}},
      {"refund F", refund_answer{res("REFUND_WINDOW_EXCEED", 'F'), "", "", std::nullopt}},
      {"refund U", refund_answer{res("UNKNOWN_EXCEPTION", 'U'), "", "", std::nullopt}},
      {"refund no answer", refund_no_answer{no_answer_reason::garbled}},
      {"refund S mismatch",
       refund_answer{res("SUCCESS", 'S'), "rid-1", "", money{401, refund_amount.currency}}},
      {"inquiry refund S",
       inquiry_with({other, cancel, {"REFUND", "rf-table", "SUCCESS", res("SUCCESS", 'S'), "rid-7"}})},
      {"inquiry refund F",
       inquiry_with({other, {"REFUND", "rf-table", "FAIL", res("REFUND_AMOUNT_EXCEED", 'F')}})},
      {"inquiry refund processing",
       inquiry_with({other, {"REFUND", "rf-table", "PROCESSING", std::nullopt}})},
      {"inquiry refund absent", inquiry_with({other, cancel})},
      {"inquiry U", inquiry_answer{res("UNKNOWN_EXCEPTION", 'U'), std::nullopt, {}, std::nullopt, {}}},
      {"inquiry no answer", inquiry_no_answer{no_answer_reason::timeout}}};
  if (auto it = plain.find(input); it != plain.end()) return it->second;
  if (input == "timer early" && armed) now = r.next_action_at - 1ms;
  if (input == "timer due" && armed) now = r.next_action_at;
  if (input == "timer due after confirmAfter sends") {
    r.attempt = std::max(r.attempt, rp.confirm_after);
    if (armed) now = r.next_action_at;
  }
  REQUIRE_MESSAGE(input.rfind("timer ", 0) == 0, "unknown input " << input);
  return deadline_reached{};
}

time_point expected_deadline(const std::string& token, const refund& before, const refund& after,
                             time_point now, const refund_params& rp) {
  if (token == "unchanged") return before.next_action_at;
  if (token == "never") return never;
  if (token == "guard") return now + rp.answer_guard;
  if (token == "retry") return now + refund_retry_delay(after, rp);
  FAIL("unknown deadline token " << token);
  return never;
}

std::string effects_cell(const refund_decision& d) {
  std::string out;
  for (const refund_effect& e : d.effects) out += (out.empty() ? "" : "; ") + describe(e);
  return out.empty() ? "—" : out;
}

void check_row(const row& r, const refund_params& rp) {
  INFO("row: " << r.phase << " | " << r.input);
  refund before = in_phase(r.phase);
  REQUIRE(to_string(refund_phase_of(before)) == r.phase);
  time_point now{};
  const refund_event e = make_event(r.input, before, now, rp);
  const refund_decision d = step_refund(before, e, now, rp, seq_before);
  CHECK(to_string(refund_phase_of(d.next)) == r.next_phase);
  CHECK(effects_cell(d) == r.effects);
  CHECK(d.next.next_action_at == expected_deadline(r.deadline, before, d.next, now, rp));
  if (r.deadline == "guard") {
    CHECK(d.next.attempt == (r.next_phase == r.phase ? before.attempt + 1 : 1));
  }
  // Never a new body: the request bytes and the ids survive every event.
  CHECK(d.next.request == before.request);
  CHECK(d.next.alipay_refund_request_id == before.alipay_refund_request_id);
  CHECK(d.next.amount == before.amount);
  const bool quiet = r.effects == "—" && r.deadline == "unchanged" && r.next_phase == r.phase;
  if (quiet) CHECK_FALSE(d.changed);
  CHECK(d.changed == !(d.next == before));
  // A merchant event takes the payment's next sequence number; nothing else moves it.
  std::int32_t emitted = 0;
  for (const refund_effect& eff : d.effects) {
    if (const auto* m = std::get_if<emit_refund_event>(&eff)) {
      ++emitted;
      CHECK(m->seq == seq_before + 1);
      CHECK(m->outcome == d.next.status);
      CHECK(m->code == (d.next.status == refund_status::fail ? d.next.result->code : ""));
    }
  }
  CHECK(d.event_seq == seq_before + emitted);
  // Settled by an inquiry's proof: Alipay+'s refundId comes from the transaction.
  if (r.input == "inquiry refund S" && !is_final(before.status)) CHECK(d.next.refund_id == "rid-7");
}

}  // namespace

TEST_CASE("the refund table holds every (phase, input) pair exactly once") {
  test::check_every_pair_once(read_table(), phases, inputs);
}

TEST_CASE("every row of the refund table matches the refund machine") {
  const refund_params rp;
  REQUIRE_FALSE(rp.validate());
  const auto rows = read_table();
  REQUIRE(rows.size() > 0);
  for (const row& r : rows) check_row(r, rp);
}

TEST_CASE("a refund without answers resends the same bytes, confirms, and settles on proof") {
  const refund_params rp;
  refund r = in_phase("PROCESSING/SEND");
  r.attempt = 0;
  r.next_action_at = never;
  time_point now = t0;
  std::int32_t seq = 1;
  auto run = [&](const refund_event& e) {
    const refund_decision d = step_refund(r, e, now, rp, seq);
    r = d.next;
    seq = d.event_seq;
    return d;
  };
  std::int32_t refund_sends = 0, inquiries = 0;
  auto count = [&](const refund_decision& d) {
    for (const refund_effect& e : d.effects) {
      refund_sends += std::holds_alternative<send_refund>(e);
      inquiries += std::holds_alternative<send_refund_inquiry>(e);
    }
  };
  count(run(refund_created{}));
  // Two confirm rounds where the inquiry does not find the refund yet.
  for (int round = 0; round < 2; ++round) {
    while (r.track == refund_track::send) {
      CHECK(r.next_action_at - now <= rp.answer_guard);
      count(run(refund_no_answer{no_answer_reason::timeout}));
      CHECK(r.next_action_at - now <= rp.retry_cap);
      now = r.next_action_at;
      count(run(deadline_reached{}));
    }
    CHECK(r.status == refund_status::processing);
    count(run(inquiry_with({})));
  }
  CHECK(refund_sends == 2 * rp.confirm_after + 1);
  CHECK(inquiries == 2);
  // The third confirmation finds it: SUCCESS, one event with the payment's next seq.
  while (r.track == refund_track::send) {
    count(run(refund_answer{res("UNKNOWN_EXCEPTION", 'U'), "", "", std::nullopt}));
    now = r.next_action_at;
    count(run(deadline_reached{}));
  }
  const auto d = run(inquiry_with({{"REFUND", "rf-table", "SUCCESS", res("SUCCESS", 'S')}}));
  CHECK(r.status == refund_status::success);
  REQUIRE(d.effects.size() == 1);
  CHECK(std::get<emit_refund_event>(d.effects[0]).seq == 2);
  CHECK(seq == 2);
  CHECK(r.next_action_at == never);
  // A late F for the same refund is a contradiction, not a change.
  const auto late = run(refund_answer{res("REFUND_AMOUNT_EXCEED", 'F'), "", "", std::nullopt});
  CHECK(r.status == refund_status::success);
  CHECK(seq == 2);
  REQUIRE(late.effects.size() == 1);
  CHECK(describe(late.effects[0]) == "anomaly contradicting_result");
}
