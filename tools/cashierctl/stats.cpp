// `cashierctl stats` (counters from store::stats) and `cashierctl stuck` (what needs an
// operator: open payments past their polling deadline, dead merchant webhooks, anomalies).
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/engine/payment_view.hpp"
#include "orchestrator/engine/refunds.hpp"
#include "state/machine/phase.hpp"
#include "tools/cashierctl/commands.hpp"
#include "tools/cashierctl/format.hpp"
#include "tools/cashierctl/records_json.hpp"

namespace cashier::ctl {
namespace json = boost::json;

namespace {

json::object stats_json(const store::store_stats& st, time_point now) {
  const auto total = st.init + st.in_process + st.success + st.fail + st.cancelled;
  return {{"now", engine::iso8601(now)},
          {"payments",
           {{"INIT", st.init},
            {"IN_PROCESS", st.in_process},
            {"SUCCESS", st.success},
            {"FAIL", st.fail},
            {"CANCELLED", st.cancelled},
            {"total", total}}},
          {"cancelPending", st.cancel_pending},
          {"overdue", st.overdue},
          {"webhooks",
           {{"pending", st.outbox_pending},
            {"dead", st.outbox_dead},
            {"oldestPendingAgeMs", st.oldest_pending_age.count()}}},
          {"anomalies", st.anomalies}};
}

void print_stats(const session& s, const store::store_stats& st) {
  const auto n = [](std::int64_t v) { return std::to_string(v); };
  const auto alarm = [](std::int64_t v) { return v > 0 ? tint::red : tint::green; };
  text_table t({"WHAT", "COUNT"});
  t.add({{"INIT"}, {n(st.init), tint::cyan}});
  t.add({{"IN_PROCESS"}, {n(st.in_process), tint::cyan}});
  t.add({{"SUCCESS"}, {n(st.success), tint::green}});
  t.add({{"FAIL"}, {n(st.fail), tint::red}});
  t.add({{"CANCELLED"}, {n(st.cancelled), tint::yellow}});
  t.add({{"total"}, {n(st.init + st.in_process + st.success + st.fail + st.cancelled)}});
  t.add({{"cancel pending"},
         {n(st.cancel_pending), st.cancel_pending > 0 ? tint::yellow : tint::none}});
  t.add({{"overdue"}, {n(st.overdue), alarm(st.overdue)}});
  auto pending = n(st.outbox_pending);
  if (st.outbox_pending > 0) pending += " (oldest " + span_text(st.oldest_pending_age) + ")";
  t.add({{"webhooks pending"}, {pending, st.outbox_pending > 0 ? tint::yellow : tint::none}});
  t.add({{"webhooks dead"}, {n(st.outbox_dead), alarm(st.outbox_dead)}});
  t.add({{"anomalies"}, {n(st.anomalies), st.anomalies > 0 ? tint::yellow : tint::none}});
  t.print(s.io.out, s.io.color);
}

/// Why an overdue open payment is still open.
std::string overdue_reason(const payment& p) {
  const auto ph = phase_of(p);
  if (!ph) return "impossible state: parked";
  switch (*ph) {
    case phase::init_pay:
    case phase::in_process_inquiry:
      return "not moved to cancel at its deadline (is cashierd running?)";
    case phase::last_look: return "last inquiry before the cancel under way";
    case phase::slow_path:
      return "no cancel possible (window closed or refused): settling by inquiry since " +
             engine::iso8601(p.slow_path_since);
    case phase::parked: return "unresolved: 7 days of inquiries without a verdict; the operator decides";
    case phase::open_confirm:
    case phase::success_confirm:
      return "cancel answered " + (p.result ? p.result->code : std::string("?")) +
             ": confirming by inquiry";
    case phase::init_cancel:
    case phase::in_process_cancel:
    case phase::success_cancel:
    case phase::fail_cancel:
      return "cancel not confirmed yet (sent " + std::to_string(p.attempt) + "x)";
    case phase::success:
    case phase::fail:
    case phase::cancelled: return "settled";
  }
  return "";
}

/// Everything `stuck` lists.
struct stuck_report {
  std::vector<payment> overdue;
  std::vector<std::pair<store::outbox_record, std::string>> dead;  // with the paymentRequestId
  std::vector<std::pair<store::anomaly_record, std::string>> anomalies;
  std::vector<std::pair<refund, std::string>> refunds;  // PROCESSING longer than refund_stuck_after
};

/// A refund PROCESSING longer than this (payment clock) is listed by `stuck`: Alipay+ answers a
/// refund in seconds; an hour means its answers keep failing (faults, a key problem, an outage).
constexpr duration refund_stuck_after = std::chrono::hours{1};

std::string request_id_of(store::payment_store& st, std::int64_t payment_id) {
  if (payment_id == 0) return {};
  const auto p = st.load(payment_id);
  return p ? p->payment_request_id : std::string();
}

stuck_report read_stuck(const session& s, std::size_t limit) {
  stuck_report r;
  r.overdue = s.store.overdue(s.now, limit);
  for (auto& o : s.store.dead_outbox(limit)) {
    auto id = request_id_of(s.store, o.payment_id);
    r.dead.emplace_back(std::move(o), std::move(id));
  }
  for (auto& a : s.store.anomalies({.limit = limit})) {
    auto id = request_id_of(s.store, a.payment_id);
    r.anomalies.emplace_back(std::move(a), std::move(id));
  }
  for (const auto& d : s.store.open_refund_deadlines()) {
    if (r.refunds.size() >= limit) break;
    auto f = s.store.load_refund(d.refund_id);
    if (!f || s.now - f->created_at < refund_stuck_after) continue;
    auto id = request_id_of(s.store, f->payment_row);
    r.refunds.emplace_back(std::move(*f), std::move(id));
  }
  return r;
}

void print_stuck_json(const session& s, const stuck_report& r) {
  json::array overdue, dead, anomalies, refunds;
  for (const auto& p : r.overdue)
    overdue.push_back(json::object{{"payment", engine::payment_to_json(p)},
                                   {"overdueMs", (s.now - p.poll_deadline_at).count()},
                                   {"reason", overdue_reason(p)}});
  for (const auto& [o, id] : r.dead) {
    auto w = webhook_json(o, {});
    w.erase("attempts");
    w["paymentRequestId"] = id.empty() ? json::value(nullptr) : json::value(valid_utf8(id));
    dead.push_back(std::move(w));
  }
  for (const auto& [a, id] : r.anomalies) anomalies.push_back(anomaly_json(a, id));
  for (const auto& [f, id] : r.refunds)
    refunds.push_back(json::object{{"paymentRequestId", valid_utf8(id)},
                                   {"refund", engine::refund_to_json(f)},
                                   {"openMs", (s.now - f.created_at).count()},
                                   {"attempt", f.attempt},
                                   {"nextActionAt", engine::iso8601(f.next_action_at)}});
  const json::object doc{{"now", engine::iso8601(s.now)},
                         {"overdue", std::move(overdue)},
                         {"deadWebhooks", std::move(dead)},
                         {"anomalies", std::move(anomalies)},
                         {"openRefunds", std::move(refunds)}};
  s.io.out << json::serialize(doc) << '\n';
}

std::string last_delivery(const store::outbox_record& o) {
  std::string text = o.last_status != 0 ? "HTTP " + std::to_string(o.last_status) : std::string();
  if (!o.last_error.empty()) text += (text.empty() ? "" : " ") + o.last_error;
  return text.empty() ? "-" : text;
}

void section(const session& s, std::string_view title, const text_table& t) {
  s.io.out << paint(title, tint::bold, s.io.color) << "\n";
  if (t.empty())
    s.io.out << "  none\n";
  else
    t.print(s.io.out, s.io.color, 2);
}

void print_stuck(const session& s, const stuck_report& r) {
  text_table overdue({"PAYMENT REQUEST ID", "STATE", "DEADLINE", "NEXT ACTION", "WHY"});
  for (const auto& p : r.overdue)
    overdue.add({{p.payment_request_id},
                 {state_text(p.status, p.pending), state_tint(p.status, p.pending)},
                 {relative_time(p.poll_deadline_at, s.now), tint::red},
                 {relative_time(p.next_action_at, s.now)},
                 {overdue_reason(p)}});
  section(s, "Open past their polling deadline", overdue);
  text_table dead({"EVENT ID", "PAYMENT REQUEST ID", "TYPE", "ATTEMPTS", "LAST", "CREATED"});
  for (const auto& [o, id] : r.dead)
    dead.add({{o.event_id},
              {id},
              {o.type},
              {std::to_string(o.attempts)},
              {last_delivery(o), tint::red},
              {relative_time(o.created_at, s.now)}});
  s.io.out << "\n";
  section(s, "Dead merchant webhooks (cashierctl redeliver <eventId>)", dead);
  text_table anomalies({"WHEN", "PAYMENT REQUEST ID", "KIND", "DETAIL"});
  for (const auto& [a, id] : r.anomalies)
    anomalies.add(
        {{relative_time(a.at, s.now)}, {id.empty() ? "-" : id}, {a.kind, tint::red}, {a.detail}});
  s.io.out << "\n";
  section(s, "Anomalies (newest first)", anomalies);
  text_table refunds({"PAYMENT REQUEST ID", "REFUND REQUEST ID", "AMOUNT", "OPEN FOR", "SENDS", "NEXT ACTION"});
  for (const auto& [f, id] : r.refunds)
    refunds.add({{id},
                 {printable(f.refund_request_id)},
                 {amount_text(f.amount)},
                 {relative_time(f.created_at, s.now), tint::red},
                 {std::to_string(f.attempt) + (f.track == refund_track::confirm ? " (confirming)" : "")},
                 {relative_time(f.next_action_at, s.now)}});
  s.io.out << "\n";
  section(s, "Refunds processing for more than an hour", refunds);
}

}  // namespace

exit_status cmd_stats(const session& s) {
  const auto st = s.store.stats(s.now);
  if (s.io.json)
    s.io.out << json::serialize(stats_json(st, s.now)) << '\n';
  else
    print_stats(s, st);
  return exit_status::ok;
}

exit_status cmd_stuck(const session& s, const stuck_args& a) {
  const auto r = read_stuck(s, a.limit);
  if (s.io.json)
    print_stuck_json(s, r);
  else
    print_stuck(s, r);
  return exit_status::ok;
}

}  // namespace cashier::ctl
