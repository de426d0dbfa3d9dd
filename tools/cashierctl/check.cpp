// `cashierctl check`: the invariants (see check.hpp). Each rule is one small function over a
// payment and its records; the scan reads one payment at a time with its log and outbox.
#include "state/machine/merchant_event.hpp"
#include "tools/cashierctl/check.hpp"

#include <algorithm>
#include <limits>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/engine/payment_view.hpp"
#include "state/machine/phase.hpp"
#include "state/machine/schedule.hpp"
#include "tools/cashierctl/format.hpp"

namespace cashier::ctl {
namespace json = boost::json;

std::string_view to_string(invariant i) {
  switch (i) {
    case invariant::final_pending: return "final_pending";
    case invariant::phase: return "phase";
    case invariant::open_past_deadline: return "open_past_deadline";
    case invariant::open_unscheduled: return "open_unscheduled";
    case invariant::event_log: return "event_log";
    case invariant::merchant_events: return "merchant_events";
    case invariant::outbox_overdue: return "outbox_overdue";
  }
  return "?";
}

namespace {

std::string event_type_of(payment_status s) { return std::string(merchant_event_name(s)); }

/// The rules, applied to one payment at a time.
struct checker {
  check_report& report;
  time_point now;
  duration grace;

  void add(invariant rule, const payment& p, std::string message, std::string event_id = {}) {
    report.violations.push_back(
        {rule, p.payment_request_id, std::move(event_id), std::move(message)});
  }

  void phase_rules(const payment& p) {
    if (phase_of(p)) return;
    const auto state = state_text(p.status, p.pending);
    if (is_final(p.status))
      add(invariant::final_pending, p,
          "final payment in " + state +
              ": a final payment waits on nothing or CANCEL (CANCELLED on nothing)");
    else
      add(invariant::phase, p,
          state +
              (p.track == settle_track::normal ? "" : " (track " + std::string(to_string(p.track)) + ")") +
              " is no phase of the machine");
  }

  void deadline_rules(const payment& p) {
    // A parked payment waits on the operator, on purpose (anomaly unresolved).
    if (p.pending != pending_action::none && p.next_action_at == never &&
        p.track != settle_track::parked)
      add(invariant::open_unscheduled, p,
          state_text(p.status, p.pending) + " has no timer armed: nothing will move it");
    const auto ph = phase_of(p);
    if (!ph || (*ph != phase::init_pay && *ph != phase::in_process_inquiry)) return;
    const bool paying = *ph == phase::init_pay;
    const auto cutoff = paying ? p.expiry_at : p.poll_deadline_at;
    if (cutoff + grace >= now) return;
    add(invariant::open_past_deadline, p,
        std::string(to_string(*ph)) + " past its " + (paying ? "expiry " : "polling deadline ") +
            time_text(cutoff) + " (" + relative_time(cutoff, now) + ") without its last inquiry");
  }

  void log_rules(const payment& p, const std::vector<store::event_record>& log) {
    if (log.empty()) return add(invariant::event_log, p, "no transition log");
    if (log.front().from_status)
      add(invariant::event_log, p,
          "the first log row (version " + std::to_string(log.front().version) +
              ") is not the creation");
    for (std::size_t i = 1; i < log.size(); ++i) {
      const auto& before = log[i - 1];
      const auto& row = log[i];
      if (row.from_status == before.to_status && row.from_pending == before.to_pending) continue;
      add(invariant::event_log, p,
          "log row version " + std::to_string(row.version) + " starts from " +
              (row.from_status ? state_text(*row.from_status, row.from_pending) : "nothing") +
              " but the row before ended in " + state_text(before.to_status, before.to_pending));
      break;
    }
    const auto& last = log.back();
    if (last.to_status != p.status || last.to_pending != p.pending)
      add(invariant::event_log, p,
          "the last log row ends in " + state_text(last.to_status, last.to_pending) +
              " but the payment is " + state_text(p.status, p.pending));
  }

  void event_rules(const payment& p, const std::vector<store::event_record>& log,
                   const std::vector<store::outbox_record>& outbox, const std::vector<refund>& refunds) {
    std::vector<payment_status> finals;  // each transition into a final status emits one event
    for (const auto& e : log)
      if (is_final(e.to_status) && e.from_status != e.to_status) finals.push_back(e.to_status);
    // payment.pending and payment.cancel_failed carry no status change, refund events (issue 16)
    // a refund's outcome; the others match the transitions into a final status one for one, in
    // order.
    std::size_t status_events = 0;
    std::size_t refund_events[2] = {0, 0};  // refund.succeeded, refund.failed
    for (std::size_t i = 0; i < outbox.size(); ++i) {
      const auto& o = outbox[i];
      if (o.seq != static_cast<std::int32_t>(i + 1))
        add(invariant::merchant_events, p,
            "sequence " + std::to_string(o.seq) + " where " + std::to_string(i + 1) + " was due",
            o.event_id);
      if (o.type == "payment.pending" || o.type == "payment.cancel_failed") continue;
      if (o.type == refund_event_name(refund_status::success) || o.type == refund_event_name(refund_status::fail)) {
        ++refund_events[o.type == refund_event_name(refund_status::success) ? 0 : 1];
        continue;
      }
      const std::size_t k = status_events++;
      if (o.seq == static_cast<std::int32_t>(i + 1) && k < finals.size() &&
          o.type != event_type_of(finals[k]))
        add(invariant::merchant_events, p,
            o.type + " for the transition to " + std::string(to_string(finals[k])), o.event_id);
    }
    if (status_events != finals.size())
      add(invariant::merchant_events, p,
          std::to_string(finals.size()) + " transitions to a final status but " +
              std::to_string(status_events) + " merchant events");
    // One refund event per settled refund, of its outcome.
    for (const auto status : {refund_status::success, refund_status::fail}) {
      const auto settled = static_cast<std::size_t>(
          std::count_if(refunds.begin(), refunds.end(), [status](const refund& r) { return r.status == status; }));
      const auto events = refund_events[status == refund_status::success ? 0 : 1];
      if (events != settled)
        add(invariant::merchant_events, p,
            std::to_string(settled) + " refunds " + std::string(to_string(status)) + " but " +
                std::to_string(events) + " " + std::string(refund_event_name(status)) + " events");
    }
    if (p.event_seq != static_cast<std::int32_t>(outbox.size()))
      add(invariant::merchant_events, p,
          "event_seq is " + std::to_string(p.event_seq) + " but " + std::to_string(outbox.size()) +
              " merchant events exist");
  }

  void outbox_rules(const payment& p, const std::vector<store::outbox_record>& outbox) {
    for (const auto& o : outbox) {
      if (o.state != store::outbox_state::pending) continue;
      if (!webhook_delay(o.attempts))
        add(invariant::outbox_overdue, p,
            "still pending after " + std::to_string(o.attempts) +
                " attempts: the retry schedule is over, it should be dead",
            o.event_id);
      else if (o.next_attempt_at + grace < now)
        add(invariant::outbox_overdue, p,
            "pending, attempt " + std::to_string(o.attempts + 1) + " was due " +
                relative_time(o.next_attempt_at, now),
            o.event_id);
    }
  }
};

}  // namespace

check_report check_store(store::payment_store& st, time_point now, duration grace) {
  check_report report;
  checker c{report, now, grace};
  for (const auto& p : st.list({.limit = std::numeric_limits<std::size_t>::max()})) {
    const auto log = st.events_of(p.id);
    const auto outbox = st.outbox_of(p.id);
    ++report.payments;
    report.merchant_events += static_cast<std::int64_t>(outbox.size());
    c.phase_rules(p);
    c.deadline_rules(p);
    c.log_rules(p, log);
    c.event_rules(p, log, outbox, st.refunds_of(p.id));
    c.outbox_rules(p, outbox);
  }
  return report;
}

namespace {

void print_json(const session& s, const check_report& r) {
  json::array list;
  for (const auto& v : r.violations)
    list.push_back(json::object{
        {"invariant", to_string(v.rule)},
        {"paymentRequestId", v.payment_request_id},
        {"eventId", v.event_id.empty() ? json::value(nullptr) : json::value(v.event_id)},
        {"message", v.message}});
  const json::object doc{{"now", engine::iso8601(s.now)},
                         {"ok", r.violations.empty()},
                         {"payments", r.payments},
                         {"merchantEvents", r.merchant_events},
                         {"violations", std::move(list)}};
  s.io.out << json::serialize(doc) << '\n';
}

void print_human(const session& s, const check_report& r) {
  const auto summary = "checked " + std::to_string(r.payments) + " payments and " +
                       std::to_string(r.merchant_events) + " merchant events: ";
  if (r.violations.empty()) {
    s.io.out << summary << paint("all invariants hold", tint::green, s.io.color) << "\n";
    return;
  }
  text_table t({"INVARIANT", "PAYMENT REQUEST ID", "EVENT ID", "PROBLEM"});
  for (const auto& v : r.violations)
    t.add({{std::string(to_string(v.rule)), tint::red},
           {v.payment_request_id},
           {v.event_id.empty() ? "-" : v.event_id},
           {v.message}});
  t.print(s.io.out, s.io.color);
  const auto n = r.violations.size();
  s.io.out << summary
           << paint(std::to_string(n) + (n == 1 ? " violation" : " violations"), tint::red,
                    s.io.color)
           << "\n";
}

}  // namespace

exit_status cmd_check(const session& s, const check_args& a) {
  const auto r = check_store(s.store, s.now, a.grace);
  if (s.io.json)
    print_json(s, r);
  else
    print_human(s, r);
  return r.violations.empty() ? exit_status::ok : exit_status::failed;
}

}  // namespace cashier::ctl
