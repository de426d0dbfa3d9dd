// The merchant API's answer building blocks (see merchant_answers.hpp).
#include "orchestrator/daemon/merchant_answers.hpp"

#include <algorithm>
#include <charconv>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "orchestrator/engine/payment_view.hpp"

namespace cashier::daemon::answers {
namespace {

namespace json = boost::json;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

json::object state_json(payment_status s, pending_action a) {
  const json::value pending =
      a == pending_action::none ? json::value(nullptr) : json::value(to_string(a));
  return {{"status", to_string(s)}, {"pendingAction", pending}};
}

}  // namespace

net::response json_response(int status, const json::value& body) {
  return json_text_response(status, json::serialize(body));
}

net::response json_text_response(int status, std::string text) {
  net::response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = std::move(text);
  return r;
}

net::response error_response(int status, std::string_view code, std::string_view message,
                             std::string_view field) {
  json::object e{{"code", code}, {"message", message}};
  if (!field.empty()) e["field"] = field;
  return json_response(status, json::object{{"error", std::move(e)}});
}

net::response retry_later(std::string_view message) {
  auto r = error_response(503, "STORE_UNAVAILABLE", message);
  r.headers.push_back({"Retry-After", "1"});
  return r;
}

net::response server_error_response(int status, std::string_view code, std::string_view message) {
  net::response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = net::json_error_body(code, message);
  return r;
}

net::response invalid_request(const std::vector<aplus::field_error>& errors) {
  const auto& first = errors.front();
  json::object e{{"code", "INVALID_REQUEST"}, {"message", aplus::to_string(first)}};
  if (!first.path.empty()) e["field"] = first.path;
  if (errors.size() > 1) {
    json::array details;
    for (const auto& x : errors) {
      json::object d{{"message", x.message}};
      if (!x.path.empty()) d["field"] = x.path;
      details.push_back(std::move(d));
    }
    e["details"] = std::move(details);
  }
  return json_response(400, json::object{{"error", std::move(e)}});
}

net::response bad_query(std::string_view name, std::string_view problem) {
  return error_response(400, "INVALID_REQUEST", std::string(name) + ": " + std::string(problem),
                        name);
}

net::response method_not_allowed(std::string_view allow) {
  auto r = error_response(405, "METHOD_NOT_ALLOWED", "allowed here: " + std::string(allow));
  r.headers.push_back({"Allow", std::string(allow)});
  return r;
}

std::optional<net::response> check_json_body(const net::request& req) {
  if (req.body.size() > max_body_bytes)
    return error_response(413, "PAYLOAD_TOO_LARGE", "the body is larger than 64 KiB");
  if (req.body.empty()) return std::nullopt;
  const auto type = net::find_header(req.headers, "Content-Type");
  if (type && iequals(trim(type->substr(0, type->find(';'))), "application/json"))
    return std::nullopt;
  return error_response(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json");
}

std::optional<std::string_view> bearer_token(const net::request& req) {
  const auto fields = std::count_if(req.headers.begin(), req.headers.end(),
                                    [](const net::header& h) { return iequals(h.name, "Authorization"); });
  if (fields > 1) return std::nullopt;
  const auto header = net::find_header(req.headers, "Authorization");
  if (!header || header->size() <= 7 || !iequals(header->substr(0, 7), "Bearer "))
    return std::nullopt;
  const auto token = trim(header->substr(7));
  if (token.empty()) return std::nullopt;
  return token;
}

std::vector<std::pair<std::string, std::string>> query_params(std::string_view target) {
  std::vector<std::pair<std::string, std::string>> out;
  if (const auto url = boost::urls::parse_origin_form(target))
    for (const auto& p : url->params()) out.emplace_back(p.key, p.value);
  return out;
}

std::optional<std::int64_t> parse_count(std::string_view text) {
  std::int64_t n = 0;
  if (text.empty() || text[0] < '0' || text[0] > '9') return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

json::array event_log_json(const std::vector<store::event_record>& records) {
  json::array out;
  for (const auto& e : records) {
    json::object o;
    o["at"] = engine::iso8601(e.at);
    o["from"] = e.from_status ? json::value(state_json(*e.from_status, e.from_pending))
                              : json::value(nullptr);
    o["to"] = state_json(e.to_status, e.to_pending);
    o["cause"] = e.cause;
    if (!e.detail.empty()) o["detail"] = e.detail;
    out.push_back(std::move(o));
  }
  return out;
}

json::object feed_entry_json(const store::outbox_record& record) {
  // The payload was written by the engine (webhook_payload); a row that does not parse still
  // appears, with null data, so the feed never skips an event.
  boost::system::error_code ec;
  const json::value payload = json::parse(record.payload, ec);
  const json::value* data = ec ? nullptr : payload.find_pointer("/data", ec);
  const json::value* id = data ? data->find_pointer("/payment/paymentRequestId", ec) : nullptr;
  return {{"eventId", record.event_id},
          {"type", record.type},
          {"sequence", record.seq},
          {"paymentRequestId", id ? *id : json::value(nullptr)},
          {"createdAt", engine::iso8601(record.created_at)},
          {"data", data ? *data : json::value(nullptr)}};
}

}  // namespace cashier::daemon::answers
