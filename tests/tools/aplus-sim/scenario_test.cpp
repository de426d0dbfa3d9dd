// Tests of aplus-sim's fault names: every documented name parses, counts and order are kept,
// tags are found in an order description, and bad names or counts are refused with a reason.
#include <doctest/doctest.h>

#include "tools/aplus-sim/scenario.hpp"

namespace cashier::sim {
namespace {

std::vector<answer_fault> drain(scenario& s, sim_api api) {
  std::vector<answer_fault> out;
  while (auto f = take_answer_fault(s, api)) out.push_back(f->fault);
  return out;
}

}  // namespace

TEST_CASE("scenario: every documented fault name parses") {
  const std::vector<std::string> names{
      "pay-timeout", "pay-drop", "pay-u", "pay-5xx", "pay-garbled", "pay-unsigned", "pay-badsig",
      "inquiry-timeout", "inquiry-drop", "inquiry-u", "inquiry-5xx", "inquiry-garbled", "inquiry-unsigned",
      "inquiry-badsig", "cancel-timeout", "cancel-drop", "cancel-u", "cancel-5xx", "cancel-garbled",
      "cancel-unsigned", "cancel-badsig", "cancel-window-exceeded", "notify-duplicate", "notify-late",
      "notify-none", "notify-badsig", "payer-fail", "payer-abandon", "pay-success-immediately",
      "pay-500", "inquiry-500", "cancel-500", "pay-reset", "inquiry-reset", "cancel-reset",
      "pay-delay:1500", "inquiry-delay:1", "cancel-delay:600000", "notify-duplicate:5", "notify-after:24h",
      "redirect-lost"};
  for (const auto& name : names) {
    CAPTURE(name);
    scenario s;
    CHECK(add_fault(s, name).has_value());
    CHECK(s.names == std::vector<std::string>{name});
  }
}

TEST_CASE("scenario: answer faults are consumed in order, each for its count") {
  auto s = parse_faults(std::vector<std::string>{"pay-u:2", "pay-drop", "inquiry-5xx", " pay-badsig "});
  REQUIRE(s.has_value());
  CHECK(drain(*s, sim_api::pay) == std::vector<answer_fault>{answer_fault::unknown, answer_fault::unknown,
                                                              answer_fault::drop, answer_fault::bad_signature});
  CHECK(drain(*s, sim_api::inquiry) == std::vector<answer_fault>{answer_fault::server_error});
  CHECK(drain(*s, sim_api::cancel).empty());
}

TEST_CASE("scenario: delays keep their hold, duplicates their copies, notify-after its delay") {
  auto s = parse_faults(std::vector<std::string>{"inquiry-delay:2500", "inquiry-reset:2", "inquiry-500",
                                                 "notify-duplicate:5", "notify-after:90s"});
  REQUIRE(s.has_value());
  CHECK(to_json(*s).at("pendingAnswerFaults").as_array() ==
        boost::json::array{"inquiry-delay:2500", "inquiry-reset:2", "inquiry-500"});
  const auto first = take_answer_fault(*s, sim_api::inquiry);
  REQUIRE(first);
  CHECK(first->fault == answer_fault::delay);
  CHECK(first->hold == std::chrono::milliseconds{2500});
  CHECK(drain(*s, sim_api::inquiry) ==
        std::vector<answer_fault>{answer_fault::reset, answer_fault::reset, answer_fault::http_500});
  CHECK(s->notify_copies == 5);
  CHECK(s->notify_after == std::chrono::seconds{90});
  scenario plain;
  REQUIRE(add_fault(plain, "notify-duplicate").has_value());
  CHECK(plain.notify_copies == 3);
}

TEST_CASE("scenario: flags and the payer script") {
  auto s = parse_faults(std::vector<std::string>{"cancel-window-exceeded", "notify-duplicate", "notify-late",
                                                 "notify-badsig:2", "payer-abandon", "pay-success-immediately"});
  REQUIRE(s.has_value());
  CHECK(s->cancel_window_exceeded);
  CHECK(s->notify_copies == 3);
  CHECK(s->notify_late);
  CHECK_FALSE(s->notify_none);
  CHECK(s->payer == payer_script::abandon);
  CHECK(s->pay_success_immediately);
  CHECK(notify_badly_signed(*s, 0));
  CHECK(notify_badly_signed(*s, 1));
  CHECK_FALSE(notify_badly_signed(*s, 2));
}

TEST_CASE("scenario: bad names and counts are refused with a reason") {
  scenario s;
  CHECK(add_fault(s, "pay-slow").error().message == "unknown fault 'pay-slow'");
  CHECK(add_fault(s, "").error().message == "unknown fault ''");
  CHECK(add_fault(s, "pay-u:0").error().message.find("bad count") != std::string::npos);
  CHECK(add_fault(s, "pay-u:1001").error().message.find("bad count") != std::string::npos);
  CHECK(add_fault(s, "pay-u:x").error().message.find("bad count") != std::string::npos);
  CHECK(add_fault(s, "pay-u:").error().message.find("bad count") != std::string::npos);
  CHECK(add_fault(s, "notify-late:2").error().message == "fault 'notify-late' takes no count");
  CHECK(add_fault(s, "pay-delay").error().message.find("bad hold") != std::string::npos);
  CHECK(add_fault(s, "pay-delay:0").error().message.find("bad hold") != std::string::npos);
  CHECK(add_fault(s, "pay-delay:600001").error().message.find("bad hold") != std::string::npos);
  CHECK(add_fault(s, "notify-after:soon").error().message.find("bad duration") != std::string::npos);
  CHECK(add_fault(s, "notify-after").error().message.find("bad duration") != std::string::npos);
  CHECK(s == scenario{});
}

TEST_CASE("scenario: tags in the order description") {
  scenario s;
  REQUIRE(add_description_tags(s, "Mi Band 3 [sim:pay-u:2, notify-late] strap [sim:payer-fail]").has_value());
  CHECK(s.names == std::vector<std::string>{"pay-u:2", "notify-late", "payer-fail"});
  CHECK(s.notify_late);
  CHECK(s.payer == payer_script::fail);
  CHECK(drain(s, sim_api::pay).size() == 2);

  scenario plain;
  CHECK(add_description_tags(plain, "no tags [here] sim:pay-u").has_value());
  CHECK(plain == scenario{});
  scenario bad;
  CHECK(add_description_tags(bad, "x [sim:pay-u").error().message.find("unterminated") != std::string::npos);
  CHECK(add_description_tags(bad, "x [sim:pay-u,pay-nope]").error().message == "unknown fault 'pay-nope'");
}

TEST_CASE("scenario: merge appends answer faults and keeps flags") {
  scenario s = parse_faults(std::vector<std::string>{"pay-u", "notify-badsig"}).value();
  merge(s, parse_faults(std::vector<std::string>{"pay-5xx", "notify-badsig", "payer-fail", "notify-none"}).value());
  CHECK(drain(s, sim_api::pay) == std::vector<answer_fault>{answer_fault::unknown, answer_fault::server_error});
  CHECK(s.notify_bad_signatures == 2);
  CHECK(s.notify_none);
  CHECK(s.payer == payer_script::fail);
  CHECK(s.names.size() == 6);
}

TEST_CASE("scenario: JSON lists the faults given and the answer faults still to come") {
  scenario s = parse_faults(std::vector<std::string>{"pay-u:3", "notify-late"}).value();
  take_answer_fault(s, sim_api::pay);
  const auto j = to_json(s).as_object();
  CHECK(j.at("faults").as_array().size() == 2);
  CHECK(j.at("pendingAnswerFaults").as_array().at(0).as_string() == "pay-u:2");
}

}  // namespace cashier::sim
