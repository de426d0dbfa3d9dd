// Fault names, their parsing and their consumption (see scenario.hpp).
#include "tools/aplus-sim/scenario.hpp"

#include <algorithm>
#include <charconv>
#include <ostream>
#include <stdexcept>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/throw_exception.hpp>

#include "tools/aplus-sim/duration_text.hpp"

namespace cashier::sim {
namespace {

constexpr std::array<sim_api, 4> all_apis{sim_api::pay, sim_api::inquiry, sim_api::cancel, sim_api::refund};
// The counted answer faults (delay takes a hold time instead of a count).
constexpr std::array<answer_fault, 9> counted_answer_faults{
    answer_fault::timeout,       answer_fault::drop,          answer_fault::unknown,
    answer_fault::server_error,  answer_fault::garbled,       answer_fault::unsigned_body,
    answer_fault::bad_signature, answer_fault::http_500,      answer_fault::reset};
constexpr std::int32_t max_count = 1000;
constexpr std::int64_t max_delay_ms = 600'000;
constexpr std::int32_t default_duplicate_copies = 3;

std::size_t index_of(sim_api api) { return static_cast<std::size_t>(api); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The name of an answer fault for `api`, e.g. "inquiry-5xx".
std::string answer_fault_name(sim_api api, answer_fault fault) {
  return std::string(to_string(api)) + "-" + std::string(to_string(fault));
}

// Sets the flag that `name` names; false when `name` is not a flag fault.
bool set_flag(scenario& s, std::string_view name) {
  if (name == "cancel-window-exceeded") s.cancel_window_exceeded = true;
  else if (name == "refund-window-exceeded") s.refund_window_exceeded = true;
  else if (name == "notify-duplicate") s.notify_copies = std::max(s.notify_copies, default_duplicate_copies);
  else if (name == "notify-late") s.notify_late = true;
  else if (name == "notify-none") s.notify_none = true;
  else if (name == "payer-fail") s.payer = payer_script::fail;
  else if (name == "payer-abandon") s.payer = payer_script::abandon;
  else if (name == "pay-success-immediately") s.pay_success_immediately = true;
  else if (name == "redirect-lost") s.redirect_lost = true;
  else return false;
  return true;
}

// Queues the counted fault `name`; false when `name` is not a counted fault.
bool add_counted(scenario& s, std::string_view name, std::int32_t count) {
  if (name == "notify-badsig") {
    s.notify_bad_signatures += count;
    return true;
  }
  if (name == "notify-duplicate") {
    s.notify_copies = std::max(s.notify_copies, count);
    return true;
  }
  for (const sim_api api : all_apis)
    for (const answer_fault fault : counted_answer_faults)
      if (name == answer_fault_name(api, fault)) {
        s.answers[index_of(api)].push_back({fault, count});
        return true;
      }
  return false;
}

sim_result<std::int32_t> parse_count(std::string_view text, std::string_view spec) {
  std::int32_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || n < 1 || n > max_count)
    return sim_error{"bad count in fault '" + std::string(spec) + "' (expected 1.." + std::to_string(max_count) + ")"};
  return n;
}

// `<api>-delay:<ms>` and `notify-after:<duration>`, the faults whose argument is a time; nothing
// when `name` is neither, else whether `arg` was accepted.
std::optional<sim_result<void>> add_timed(scenario& s, std::string_view name, std::string_view arg,
                                          std::string_view spec) {
  if (name == "notify-after") {
    auto d = parse_duration(arg);
    if (!d) return sim_result<void>(sim_error{"bad duration in fault '" + std::string(spec) + "' (e.g. 90s, 24h)"});
    s.notify_after = *d;
    return sim_result<void>();
  }
  for (const sim_api api : all_apis) {
    if (name != answer_fault_name(api, answer_fault::delay)) continue;
    std::int64_t ms = 0;
    const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), ms);
    if (arg.empty() || ec != std::errc{} || end != arg.data() + arg.size() || ms < 1 || ms > max_delay_ms)
      return sim_result<void>(sim_error{"bad hold in fault '" + std::string(spec) + "' (expected 1.." +
                                        std::to_string(max_delay_ms) + " ms)"});
    s.answers[index_of(api)].push_back({answer_fault::delay, 1, std::chrono::milliseconds{ms}});
    return sim_result<void>();
  }
  return std::nullopt;
}

}  // namespace

void throw_exception_from_error(const sim_error& e, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(e.message), loc);
}

std::ostream& operator<<(std::ostream& os, const sim_error& e) { return os << e.message; }

std::string_view to_string(sim_api api) {
  switch (api) {
    case sim_api::pay: return "pay";
    case sim_api::inquiry: return "inquiry";
    case sim_api::cancel: return "cancel";
    case sim_api::refund: return "refund";
  }
  return "?";
}

std::string_view to_string(answer_fault fault) {
  switch (fault) {
    case answer_fault::timeout: return "timeout";
    case answer_fault::drop: return "drop";
    case answer_fault::unknown: return "u";
    case answer_fault::server_error: return "5xx";
    case answer_fault::garbled: return "garbled";
    case answer_fault::unsigned_body: return "unsigned";
    case answer_fault::bad_signature: return "badsig";
    case answer_fault::http_500: return "500";
    case answer_fault::reset: return "reset";
    case answer_fault::delay: return "delay";
  }
  return "?";
}

sim_result<void> add_fault(scenario& s, std::string_view spec) {
  spec = trim(spec);
  const auto colon = spec.find(':');
  const std::string_view name = spec.substr(0, colon);
  if (colon != std::string_view::npos)
    if (auto timed = add_timed(s, name, spec.substr(colon + 1), spec)) {
      if (*timed) s.names.emplace_back(spec);
      return *timed;
    }
  std::int32_t count = 1;
  if (colon != std::string_view::npos) {
    auto parsed = parse_count(spec.substr(colon + 1), spec);
    if (!parsed) return parsed.error();
    count = *parsed;
  }
  if (colon == std::string_view::npos && set_flag(s, name)) {
    s.names.emplace_back(spec);
    return {};
  }
  if (add_counted(s, name, count)) {
    s.names.emplace_back(spec);
    return {};
  }
  scenario probe;
  if (set_flag(probe, name)) return sim_error{"fault '" + std::string(name) + "' takes no count"};
  if (auto timed = add_timed(probe, name, "", spec)) return *timed;  // a timed fault without its time
  return sim_error{"unknown fault '" + std::string(spec) + "'"};
}

sim_result<void> add_description_tags(scenario& s, std::string_view description) {
  constexpr std::string_view open = "[sim:";
  for (auto at = description.find(open); at != std::string_view::npos; at = description.find(open)) {
    description.remove_prefix(at + open.size());
    const auto close = description.find(']');
    if (close == std::string_view::npos) return sim_error{"unterminated [sim:...] tag in orderDescription"};
    std::string_view list = description.substr(0, close);
    description.remove_prefix(close + 1);
    while (!list.empty()) {
      const auto comma = list.find(',');
      if (auto added = add_fault(s, list.substr(0, comma)); !added) return added.error();
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    }
  }
  return {};
}

sim_result<scenario> parse_faults(std::span<const std::string> specs) {
  scenario s;
  for (const auto& spec : specs)
    if (auto added = add_fault(s, spec); !added) return added.error();
  return s;
}

void merge(scenario& s, const scenario& more) {
  for (const sim_api api : all_apis)
    for (const auto& step : more.answers[index_of(api)]) s.answers[index_of(api)].push_back(step);
  s.cancel_window_exceeded = s.cancel_window_exceeded || more.cancel_window_exceeded;
  s.refund_window_exceeded = s.refund_window_exceeded || more.refund_window_exceeded;
  s.notify_copies = std::max(s.notify_copies, more.notify_copies);
  s.notify_late = s.notify_late || more.notify_late;
  if (more.notify_after) s.notify_after = more.notify_after;
  s.notify_none = s.notify_none || more.notify_none;
  s.notify_bad_signatures += more.notify_bad_signatures;
  if (more.payer != payer_script::automatic) s.payer = more.payer;
  s.pay_success_immediately = s.pay_success_immediately || more.pay_success_immediately;
  s.redirect_lost = s.redirect_lost || more.redirect_lost;
  s.names.insert(s.names.end(), more.names.begin(), more.names.end());
}

std::optional<fault_step> take_answer_fault(scenario& s, sim_api api) {
  auto& queue = s.answers[index_of(api)];
  if (queue.empty()) return std::nullopt;
  fault_step taken = queue.front();
  taken.remaining = --queue.front().remaining;
  if (taken.remaining == 0) queue.pop_front();
  return taken;
}

bool notify_badly_signed(const scenario& s, std::int32_t attempt) { return attempt < s.notify_bad_signatures; }

boost::json::value to_json(const scenario& s) {
  boost::json::array given;
  for (const auto& n : s.names) given.emplace_back(n);
  boost::json::array pending;
  for (const sim_api api : all_apis)
    for (const auto& step : s.answers[index_of(api)]) {
      std::string name = answer_fault_name(api, step.fault);
      if (step.fault == answer_fault::delay) name += ":" + std::to_string(step.hold.count());
      else if (step.remaining > 1) name += ":" + std::to_string(step.remaining);
      pending.emplace_back(name);
    }
  return boost::json::object{{"faults", std::move(given)}, {"pendingAnswerFaults", std::move(pending)}};
}

}  // namespace cashier::sim
