// `cashierctl show <paymentRequestId>`: one payment with everything the store keeps beside it.
// Human output is a header with the payment's fields, a timeline merging transitions (with
// their cause), Alipay+ calls (result, latency), inbound notifies (verification), merchant
// events and their delivery attempts, and anomalies, in time order with offsets from creation;
// then the merchant events table. --json prints the payment object (with refundedAmount and
// refunds[], as GET answers it) beside the raw records; refunds are in the timeline too.
#include <algorithm>
#include <limits>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/engine/payment_view.hpp"
#include "orchestrator/engine/refunds.hpp"
#include "tools/cashierctl/commands.hpp"
#include "tools/cashierctl/format.hpp"
#include "tools/cashierctl/records_json.hpp"

namespace cashier::ctl {
namespace json = boost::json;

namespace {

/// Everything `show` prints about one payment.
struct payment_file {
  payment p{};
  std::vector<store::event_record> events{};
  std::vector<store::call_record> calls{};
  std::vector<store::notify_record> notifies{};
  std::vector<store::outbox_record> outbox{};
  std::vector<store::webhook_attempt_record> attempts{};
  std::vector<store::anomaly_record> anomalies{};  // oldest first
  std::vector<refund> refunds{};                   // oldest first
};

payment_file read_file(store::payment_store& st, payment p) {
  payment_file f{.p = std::move(p)};
  const auto id = f.p.id;
  f.events = st.events_of(id);
  f.calls = st.calls_of(id);
  f.notifies = st.notifies_of(id);
  f.outbox = st.outbox_of(id);
  f.attempts = st.webhook_attempts_of(id);
  f.anomalies = st.anomalies({.payment_id = id, .limit = std::numeric_limits<std::size_t>::max()});
  std::reverse(f.anomalies.begin(), f.anomalies.end());
  f.refunds = st.refunds_of(id);
  return f;
}

void print_json(const session& s, const payment_file& f) {
  json::array events, calls, notifies, webhooks, anomalies;
  for (const auto& e : f.events) events.push_back(event_json(e));
  for (const auto& c : f.calls) calls.push_back(call_json(c));
  for (const auto& n : f.notifies) notifies.push_back(notify_json(n));
  for (const auto& o : f.outbox) webhooks.push_back(webhook_json(o, f.attempts));
  for (const auto& a : f.anomalies) anomalies.push_back(anomaly_json(a, f.p.payment_request_id));
  const json::object doc{
      {"now", engine::iso8601(s.now)},    {"payment", engine::payment_with_refunds_json(f.p, f.refunds)},
      {"events", std::move(events)},      {"calls", std::move(calls)},
      {"notifies", std::move(notifies)},  {"webhooks", std::move(webhooks)},
      {"anomalies", std::move(anomalies)}};
  s.io.out << json::serialize(doc) << '\n';
}

std::string when(time_point t, time_point now) {
  if (t == never || t == time_point{}) return "-";
  return time_text(t) + " (" + relative_time(t, now) + ")";
}

void print_header(const session& s, const payment& p) {
  auto& out = s.io.out;
  out << paint("Payment " + printable(p.payment_request_id), tint::bold, s.io.color) << "  "
      << paint(state_text(p.status, p.pending), state_tint(p.status, p.pending), s.io.color)
      << "\n";
  text_table t({"FIELD", "VALUE"});
  t.add({{"merchant"}, {p.merchant_id}});
  t.add({{"amount"}, {amount_text(p.amount)}});
  if (!p.payment_id.empty()) t.add({{"paymentId"}, {p.payment_id}});
  if (p.result)
    t.add({{"result"},
           {std::string(1, p.result->status) + "/" + p.result->code + " " + p.result->message}});
  t.add({{"created"}, {when(p.created_at, s.now)}});
  t.add({{"updated"}, {when(p.updated_at, s.now)}});
  t.add({{"expiry"}, {when(p.expiry_at, s.now)}});
  t.add({{"poll deadline"},
         {when(p.poll_deadline_at, s.now),
          p.poll_deadline_at < s.now && !is_final(p.status) ? tint::red : tint::none}});
  t.add({{"next action"}, {when(p.next_action_at, s.now)}});
  t.add({{"attempt"}, {std::to_string(p.attempt)}});
  if (!p.wallet_brand_name.empty()) t.add({{"wallet"}, {p.wallet_brand_name}});
  if (!p.customer_id.empty()) t.add({{"customerId"}, {p.customer_id}});
  if (!p.payment_time.empty()) t.add({{"paymentTime"}, {p.payment_time}});
  if (p.settlement_amount) t.add({{"settlement"}, {amount_text(*p.settlement_amount)}});
  if (!p.cancel_reason.empty()) t.add({{"cancel reason"}, {p.cancel_reason}});
  switch (p.track) {
    case settle_track::normal: break;
    case settle_track::last_look: t.add({{"track"}, {"last look: one inquiry before any cancel"}}); break;
    case settle_track::confirm_cancel:
      t.add({{"track"}, {"confirming the cancel's answer by inquiry", tint::yellow}});
      break;
    case settle_track::slow_path:
      t.add({{"track"}, {"slow path: no cancel possible; settling by inquiry", tint::red}});
      break;
    case settle_track::parked:
      t.add({{"track"}, {"parked: unresolved after 7 days; the operator decides", tint::red}});
      break;
  }
  t.print(out, s.io.color, 2, false);
}

/// One line of the timeline.
struct moment {
  time_point at;
  int rank;  // order of kinds at the same instant: cause before effect
  std::string what;
  std::string detail;
  tint color = tint::none;
};

std::string transition_text(const store::event_record& e) {
  const auto from = e.from_status ? state_text(*e.from_status, e.from_pending) : std::string("new");
  std::string text = from + " -> " + state_text(e.to_status, e.to_pending) + "  cause " + e.cause;
  if (!e.detail.empty()) text += "  (" + e.detail + ")";
  return text;
}

std::string call_text(const store::call_record& c) {
  const auto http =
      c.http_status == 0 ? std::string("no answer") : "HTTP " + std::to_string(c.http_status);
  return http + "  " + c.outcome + "  " + latency_text(c.latency_us);
}

std::string attempt_text(const store::webhook_attempt_record& a) {
  std::string text = a.event_id + "  " +
                     (a.http_status == 0 ? "no answer" : "HTTP " + std::to_string(a.http_status));
  if (!a.error.empty()) text += "  " + a.error;
  return text + "  " + latency_text(a.latency_us);
}

std::vector<moment> timeline(const payment_file& f) {
  std::vector<moment> m;
  for (const auto& n : f.notifies)
    m.push_back({n.received_at, 0, "notify", "verification " + n.verification,
                 n.verification == "ok" ? tint::none : tint::red});
  for (const auto& c : f.calls)
    m.push_back({c.started_at, 1, "call " + c.api, call_text(c),
                 c.http_status == 0 ? tint::red : tint::none});
  for (const auto& e : f.events)
    m.push_back({e.at, 2, "transition", transition_text(e), state_tint(e.to_status, e.to_pending)});
  for (const auto& a : f.anomalies)
    m.push_back({a.at, 3, "anomaly", a.kind + ": " + a.detail, tint::red});
  for (const auto& o : f.outbox)
    m.push_back(
        {o.created_at, 4, "event", o.event_id + "  " + o.type + "  seq " + std::to_string(o.seq)});
  for (const auto& a : f.attempts)
    m.push_back({a.at, 5, "webhook", attempt_text(a), a.error.empty() ? tint::green : tint::red});
  for (const auto& r : f.refunds) {
    m.push_back({r.created_at, 2, "refund", printable(r.refund_request_id) + "  " + amount_text(r.amount) +
                                                "  asked by " + std::string(to_string(r.origin))});
    if (is_final(r.status)) {
      const std::string code = r.result ? " " + r.result->code : "";
      m.push_back({r.updated_at, 2, "refund", printable(r.refund_request_id) + "  " +
                                                  std::string(to_string(r.status)) + code,
                   r.status == refund_status::success ? tint::green : tint::red});
    }
  }
  std::stable_sort(m.begin(), m.end(), [](const moment& a, const moment& b) {
    return a.at != b.at ? a.at < b.at : a.rank < b.rank;
  });
  return m;
}

void print_timeline(const session& s, const payment_file& f) {
  s.io.out << "\n" << paint("Timeline", tint::bold, s.io.color) << " (offsets from creation)\n";
  text_table t({"AT", "WHAT", "DETAIL"});
  for (const auto& m : timeline(f))
    t.add({{offset_text(m.at - f.p.created_at), tint::dim}, {m.what}, {m.detail, m.color}});
  t.print(s.io.out, s.io.color, 2);
}

tint outbox_tint(store::outbox_state st) {
  switch (st) {
    case store::outbox_state::pending: return tint::yellow;
    case store::outbox_state::delivered: return tint::green;
    case store::outbox_state::dead: return tint::red;
  }
  return tint::none;
}

void print_outbox(const session& s, const payment_file& f) {
  if (f.outbox.empty()) return;
  s.io.out << "\n" << paint("Merchant events", tint::bold, s.io.color) << "\n";
  text_table t({"EVENT ID", "SEQ", "TYPE", "STATE", "ATTEMPTS", "LAST", "NEXT ATTEMPT"});
  for (const auto& o : f.outbox) {
    const auto last = o.last_status != 0     ? "HTTP " + std::to_string(o.last_status)
                      : o.last_error.empty() ? "-"
                                             : o.last_error;
    const bool pending = o.state == store::outbox_state::pending;
    t.add({{o.event_id},
           {std::to_string(o.seq)},
           {o.type},
           {std::string(to_string(o.state)), outbox_tint(o.state)},
           {std::to_string(o.attempts)},
           {last},
           {pending ? relative_time(o.next_attempt_at, s.now) : "-"}});
  }
  t.print(s.io.out, s.io.color, 2);
}

}  // namespace

exit_status cmd_show(const session& s, std::string_view id,
                     std::optional<std::string_view> merchant) {
  auto named = store::resolve_payment_name(s.store, id, merchant);
  switch (named.resolution) {
    case store::name_resolution::found: break;
    case store::name_resolution::not_found:
      return report_error(s.io, exit_status::failed, "NOT_FOUND", "no payment " + printable(id));
    case store::name_resolution::ambiguous:
      return report_error(s.io, exit_status::failed, "AMBIGUOUS_PAYMENT_ID",
                          "several merchants use paymentRequestId " + printable(id) +
                              "; name the merchant with --merchant ID");
  }
  const auto f = read_file(s.store, std::move(*named.p));
  if (s.io.json) {
    print_json(s, f);
    return exit_status::ok;
  }
  print_header(s, f.p);
  print_timeline(s, f);
  print_outbox(s, f);
  return exit_status::ok;
}

}  // namespace cashier::ctl
