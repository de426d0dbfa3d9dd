// The --json shapes of the store's records (see records_json.hpp).
#include "tools/cashierctl/records_json.hpp"

#include "orchestrator/engine/payment_view.hpp"

namespace cashier::ctl {
namespace json = boost::json;

namespace {

/// The length of the well-formed UTF-8 sequence at the start of `s` (Unicode table 3-7), or 0.
std::size_t sequence_length(std::string_view s) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto b0 = byte(0);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // bounds of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf)
    n = 2;
  else if (b0 >= 0xe0 && b0 <= 0xef)
    n = 3, lo = b0 == 0xe0 ? 0xa0 : 0x80, hi = b0 == 0xed ? 0x9f : 0xbf;
  else if (b0 >= 0xf0 && b0 <= 0xf4)
    n = 4, lo = b0 == 0xf0 ? 0x90 : 0x80, hi = b0 == 0xf4 ? 0x8f : 0xbf;
  else
    return 0;
  if (s.size() < n || byte(1) < lo || byte(1) > hi) return 0;
  for (std::size_t i = 2; i < n; ++i)
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
  return n;
}

json::value text_or_null(const std::string& s) {
  if (s.empty()) return nullptr;
  return json::value(valid_utf8(s));
}

json::value pending_json(pending_action a) {
  if (a == pending_action::none) return nullptr;
  return json::value(to_string(a));
}

}  // namespace

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const auto n = sequence_length(text);
    if (n == 0) {
      out += "\xef\xbf\xbd";
      text.remove_prefix(1);
    } else {
      out.append(text.substr(0, n));
      text.remove_prefix(n);
    }
  }
  return out;
}

json::value time_json(time_point t) {
  if (t == never || t == time_point{}) return nullptr;
  return json::value(engine::iso8601(t));
}

json::object event_json(const store::event_record& e) {
  return {
      {"at", time_json(e.at)},
      {"version", e.version},
      {"fromStatus", e.from_status ? json::value(to_string(*e.from_status)) : json::value(nullptr)},
      {"fromPendingAction", e.from_status ? pending_json(e.from_pending) : json::value(nullptr)},
      {"toStatus", to_string(e.to_status)},
      {"toPendingAction", pending_json(e.to_pending)},
      {"cause", valid_utf8(e.cause)},
      {"detail", text_or_null(e.detail)}};
}

json::object call_json(const store::call_record& c) {
  return {{"api", valid_utf8(c.api)},
          {"startedAt", time_json(c.started_at)},
          {"latencyUs", c.latency_us},
          {"httpStatus", c.http_status == 0 ? json::value(nullptr) : json::value(c.http_status)},
          {"outcome", valid_utf8(c.outcome)},
          {"requestHeaders", valid_utf8(c.request_headers)},
          {"requestBody", valid_utf8(c.request_body)},
          {"responseHeaders", valid_utf8(c.response_headers)},
          {"responseBody", valid_utf8(c.response_body)}};
}

json::object notify_json(const store::notify_record& n) {
  return {{"receivedAt", time_json(n.received_at)},
          {"verification", valid_utf8(n.verification)},
          {"headers", valid_utf8(n.headers)},
          {"body", valid_utf8(n.body)},
          {"bodyBytes", n.body_bytes},
          {"timesReceived", n.times_received},
          {"lastReceivedAt", time_json(n.last_received_at)}};
}

json::object webhook_json(const store::outbox_record& o,
                          const std::vector<store::webhook_attempt_record>& attempts) {
  json::array tries;
  for (const auto& a : attempts) {
    if (a.event_id != o.event_id) continue;
    tries.push_back(json::object{
        {"at", time_json(a.at)},
        {"httpStatus", a.http_status == 0 ? json::value(nullptr) : json::value(a.http_status)},
        {"error", text_or_null(a.error)},
        {"latencyUs", a.latency_us}});
  }
  return {{"eventId", valid_utf8(o.event_id)},
          {"seq", o.seq},
          {"type", valid_utf8(o.type)},
          {"state", to_string(o.state)},
          {"targetUrl", text_or_null(o.target_url)},
          {"attemptCount", o.attempts},
          {"nextAttemptAt", o.state == store::outbox_state::pending ? time_json(o.next_attempt_at)
                                                                    : json::value(nullptr)},
          {"lastStatus", o.last_status == 0 ? json::value(nullptr) : json::value(o.last_status)},
          {"lastError", text_or_null(o.last_error)},
          {"createdAt", time_json(o.created_at)},
          {"attempts", std::move(tries)}};
}

json::object anomaly_json(const store::anomaly_record& a, std::string_view payment_request_id) {
  return {{"at", time_json(a.at)},
          {"kind", valid_utf8(a.kind)},
          {"detail", valid_utf8(a.detail)},
          {"paymentRequestId", payment_request_id.empty()
                                   ? json::value(nullptr)
                                   : json::value(valid_utf8(payment_request_id))}};
}

}  // namespace cashier::ctl
