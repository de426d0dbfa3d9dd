// The merchant API (see merchant_api.hpp): authentication, routing and the five endpoints.
// Body validation and request building live in create_request.cpp.
#include "orchestrator/daemon/merchant_api.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "orchestrator/daemon/create_request.hpp"
#include "orchestrator/daemon/log.hpp"
#include "orchestrator/engine/payment_view.hpp"

namespace cashier::daemon {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using net::request;
using net::response;

/// The largest body accepted (the server's limit is the same; this guards direct callers).
constexpr std::size_t max_body_bytes = 64 * 1024;
/// How often a cancel is resubmitted when another writer changed the payment meanwhile.
constexpr int max_conflict_retries = 3;
/// The events feed page size: default and most.
constexpr std::int64_t default_feed_limit = 100;
constexpr std::int64_t max_feed_limit = 500;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> out{};
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), out.data(), &size, EVP_sha256(), nullptr) != 1 || size != out.size())
    throw std::runtime_error("SHA-256 failed");
  return out;
}

response json_response(int status, const json::value& body) {
  response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = json::serialize(body);
  return r;
}

response error_response(int status, std::string_view code, std::string_view message, std::string_view field = {}) {
  json::object e{{"code", code}, {"message", message}};
  if (!field.empty()) e["field"] = field;
  return json_response(status, json::object{{"error", std::move(e)}});
}

/// 400 naming the first error; `details` lists all of them when there are several.
response invalid(const std::vector<aplus::field_error>& errors) {
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

response bad_query(std::string_view name, std::string_view problem) {
  return error_response(400, "INVALID_REQUEST", std::string(name) + ": " + std::string(problem), name);
}

response path_not_found() { return error_response(404, "NOT_FOUND", "no such endpoint"); }

response payment_not_found() { return error_response(404, "PAYMENT_NOT_FOUND", "no such payment"); }

response not_allowed(std::string_view allow) {
  auto r = error_response(405, "METHOD_NOT_ALLOWED", "allowed here: " + std::string(allow));
  r.headers.push_back({"Allow", std::string(allow)});
  return r;
}

/// 413 or 415 for a POST body we cannot take, or nothing. An empty body needs no Content-Type.
std::optional<response> check_post_body(const request& req) {
  if (req.body.size() > max_body_bytes) return error_response(413, "PAYLOAD_TOO_LARGE", "the body is larger than 64 KiB");
  if (req.body.empty()) return std::nullopt;
  const auto type = net::find_header(req.headers, "Content-Type");
  if (type && iequals(trim(type->substr(0, type->find(';'))), "application/json")) return std::nullopt;
  return error_response(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json");
}

/// The decoded query parameters of `target`, in order.
std::vector<std::pair<std::string, std::string>> params_of(std::string_view target) {
  std::vector<std::pair<std::string, std::string>> out;
  if (const auto url = boost::urls::parse_origin_form(target))
    for (const auto& p : url->params()) out.emplace_back(p.key, p.value);
  return out;
}

/// A non-negative decimal integer, digits only.
std::optional<std::int64_t> parse_count(std::string_view s) {
  std::int64_t n = 0;
  if (s.empty() || s[0] < '0' || s[0] > '9') return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return n;
}

bool pay_answered(const payment& p) { return p.status != payment_status::init || p.pending != pending_action::pay; }

/// True when the stored merchant request is the same JSON value as `body`.
bool same_json(const std::string& stored, const json::value& body) {
  boost::system::error_code ec;
  const json::value v = json::parse(stored, ec);
  return !ec && v == body;
}

/// 200 with `existing` for an idempotent repeat, else 409.
response repeat(const payment& existing, const merchant_config& m, const json::value& body) {
  if (existing.merchant_id == m.id && same_json(existing.merchant_request, body))
    return json_response(200, engine::payment_to_json(existing));
  return error_response(409, "REPEAT_REQ_INCONSISTENT",
                        "paymentRequestId is already used by a different request", "paymentRequestId");
}

std::optional<std::string_view> request_id_of(const json::value& body) {
  const auto* object = body.if_object();
  const auto* id = object ? object->if_contains("paymentRequestId") : nullptr;
  if (id == nullptr || !id->is_string()) return std::nullopt;
  return std::string_view(id->get_string());
}

/// Rereads `p`; false when the store cannot be read. The payment is committed by then, so the
/// caller answers with what it has rather than with an error.
bool reload(store::payment_store& s, payment& p) {
  try {
    if (auto fresh = s.load(p.id)) p = std::move(*fresh);
    return true;
  } catch (const store::store_error& e) {
    log_line(log_level::error, "merchant API: reload failed", {{"paymentId", p.id}, {"error", e.what()}});
    return false;
  }
}

json::object state_json(payment_status s, pending_action a) {
  return {{"status", to_string(s)},
          {"pendingAction", a == pending_action::none ? json::value(nullptr) : json::value(to_string(a))}};
}

json::array event_log(const std::vector<store::event_record>& records) {
  json::array out;
  for (const auto& e : records) {
    json::object o;
    o["at"] = engine::iso8601(e.at);
    o["from"] = e.from_status ? json::value(state_json(*e.from_status, e.from_pending)) : json::value(nullptr);
    o["to"] = state_json(e.to_status, e.to_pending);
    o["cause"] = e.cause;
    if (!e.detail.empty()) o["detail"] = e.detail;
    out.push_back(std::move(o));
  }
  return out;
}

/// One entry of the events feed, its data taken from the stored webhook payload.
json::object feed_entry(const store::outbox_record& r) {
  boost::system::error_code ec;
  const json::value payload = json::parse(r.payload, ec);
  const json::value* data = ec ? nullptr : payload.find_pointer("/data", ec);
  const json::value* id = data ? data->find_pointer("/payment/paymentRequestId", ec) : nullptr;
  return {{"eventId", r.event_id},
          {"type", r.type},
          {"sequence", r.seq},
          {"paymentRequestId", id ? *id : json::value(nullptr)},
          {"createdAt", engine::iso8601(r.created_at)},
          {"data", data ? *data : json::value(nullptr)}};
}

response cancel_answer(const engine::output& out) {
  switch (out.result) {
    case engine::outcome::applied:
    case engine::outcome::unchanged:
      if (!out.made.rejected) return json_response(202, engine::payment_to_json(out.after));
      switch (*out.made.rejected) {
        case rejection::already_final:
          return error_response(409, "PAYMENT_FINAL", "the payment is " + std::string(to_string(out.after.status)) +
                                                          " and can no longer be cancelled");
      }
      break;
    case engine::outcome::not_found: return payment_not_found();
    case engine::outcome::duplicate:
    case engine::outcome::conflict:
    case engine::outcome::rejected: break;
  }
  log_line(log_level::error, "merchant API: cancel not applied", {{"detail", out.detail}});
  return error_response(500, "INTERNAL", "the cancel could not be recorded");
}

response consult_answer(const consult_outcome& o) {
  if (!o.verified_body) return error_response(502, "ALIPAYPLUS_UNAVAILABLE", "no answer from Alipay+: " + o.error);
  const auto answer = aplus::decode_consult_payment_response(*o.verified_body);
  if (!answer)
    return error_response(502, "ALIPAYPLUS_UNAVAILABLE", "unreadable answer from Alipay+: " + aplus::to_string(answer.errors()));
  const auto& r = answer->result;
  const std::string said = std::string(1, r.status) + "/" + r.code + (r.message.empty() ? "" : " (" + r.message + ")");
  if (r.status == 'F') return error_response(502, "ALIPAYPLUS_REJECTED", "Alipay+ refused the consult: " + said);
  if (r.status != 'S') return error_response(502, "ALIPAYPLUS_UNAVAILABLE", "Alipay+ answered " + said);
  json::value options = answer->payment_options ? aplus::to_json(*answer->payment_options) : json::array();
  return json_response(200, json::object{{"paymentOptions", std::move(options)}});
}

}  // namespace

merchant_api::merchant_api(merchant_api_deps deps) : deps_(std::move(deps)) {
  for (const auto& m : deps_.cfg.merchants)
    if (!m.id.empty() && !m.token.empty()) keys_.push_back({&m, sha256(m.token)});
}

const merchant_config* merchant_api::authenticate(const request& req) const {
  const auto header = net::find_header(req.headers, "Authorization");
  if (!header || header->size() <= 7 || !iequals(header->substr(0, 7), "Bearer ")) return nullptr;
  const auto token = trim(header->substr(7));
  if (token.empty()) return nullptr;
  // Digests have equal lengths, so CRYPTO_memcmp's time depends on neither token; every key is
  // compared, whether or not an earlier one matched.
  const auto digest = sha256(token);
  const merchant_config* found = nullptr;
  for (const auto& k : keys_)
    if (CRYPTO_memcmp(k.digest.data(), digest.data(), digest.size()) == 0) found = k.merchant;
  return found;
}

asio::awaitable<response> merchant_api::handle(const request& req) {
  const merchant_config* m = authenticate(req);
  if (m == nullptr) {
    auto r = error_response(401, "UNAUTHORIZED", "missing or unknown Bearer token");
    r.headers.push_back({"WWW-Authenticate", "Bearer"});
    co_return r;
  }
  try {
    co_return co_await route(req, *m);
  } catch (const store::store_error& e) {
    log_line(log_level::error, "merchant API: store unavailable", {{"error", e.what()}});
    co_return error_response(503, "STORE_UNAVAILABLE", "the payment store is unavailable; retry later");
  }
}

asio::awaitable<response> merchant_api::route(const request& req, const merchant_config& m) {
  const auto url = boost::urls::parse_origin_form(req.target);
  if (!url) co_return path_not_found();
  const std::vector<std::string> seg(url->segments().begin(), url->segments().end());
  const bool is_get = req.method == "GET";
  const bool is_post = req.method == "POST";
  if (seg.size() < 2 || seg[0] != "v1") co_return path_not_found();
  if (seg[1] == "payments" && seg.size() == 2) {
    if (is_post) co_return co_await create(req, m);
    co_return not_allowed("POST");
  }
  if (seg[1] == "payments" && seg.size() == 3) {
    if (is_post && seg[2] == "consult") co_return co_await consult(req);
    if (is_get) co_return get(m, seg[2], req);
    co_return not_allowed(seg[2] == "consult" ? "GET, POST" : "GET");
  }
  if (seg[1] == "payments" && seg.size() == 4 && seg[3] == "cancel") {
    if (is_post) co_return co_await cancel(req, m, seg[2]);
    co_return not_allowed("POST");
  }
  if (seg[1] == "events" && seg.size() == 2) {
    if (is_get) co_return events(m, req);
    co_return not_allowed("GET");
  }
  co_return path_not_found();
}

asio::awaitable<response> merchant_api::create(const request& req, const merchant_config& m) {
  if (auto bad = check_post_body(req)) co_return *bad;
  const auto body = aplus::parse_untrusted(req.body);
  if (!body) co_return invalid(body.errors());
  // A repeat is answered before validation: time-dependent rules (expiry in the future) must not
  // turn a retry of an accepted request into a 400.
  if (const auto id = request_id_of(*body))
    if (auto existing = deps_.eng.store().find(*id)) co_return repeat(*existing, m, *body);
  const auto now = deps_.clock.now();
  const auto parsed = parse_create_request(*body, now);
  if (!parsed) co_return invalid(parsed.errors());
  const create_context ctx{m.id, deps_.cfg.alipayplus.notify_url,
                           std::chrono::minutes(deps_.cfg.payment.default_expiry_minutes), now};
  engine::input in;
  in.create = build_payment(*parsed, req.body, ctx);
  in.ev = created{};
  auto out = co_await deps_.drv.submit(std::move(in));
  switch (out.result) {
    case engine::outcome::duplicate: co_return repeat(out.after, m, *body);
    case engine::outcome::applied: {
      const payment p = co_await await_pay_answer(std::move(out.after));
      co_return json_response(pay_answered(p) ? 201 : 202, engine::payment_to_json(p));
    }
    case engine::outcome::unchanged:
    case engine::outcome::not_found:
    case engine::outcome::conflict:
    case engine::outcome::rejected: break;
  }
  log_line(log_level::error, "merchant API: create not applied", {{"paymentRequestId", parsed->payment_request_id}, {"detail", out.detail}});
  co_return error_response(500, "INTERNAL", "the payment could not be stored");
}

asio::awaitable<payment> merchant_api::await_pay_answer(payment p) {
  using std::chrono::milliseconds;
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(deps_.cfg.payment.create_wait_ms);
  for (;;) {
    // Reread before every wait: the answer may have been committed while this coroutine was
    // queued, before any watcher was registered. Nothing suspends between the read and the
    // watcher's registration, so no commit can fall between them.
    if (!reload(deps_.eng.store(), p) || pay_answered(p)) co_return p;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= milliseconds::zero()) co_return p;
    co_await deps_.drv.wait_for_change(p.id, left);
  }
}

std::optional<payment> merchant_api::own_payment(const merchant_config& m, const std::string& id) {
  auto p = deps_.eng.store().find(id);
  if (!p || p->merchant_id != m.id) return std::nullopt;  // another merchant's looks absent
  return p;
}

response merchant_api::get(const merchant_config& m, const std::string& id, const request& req) {
  bool with_events = false;
  for (const auto& [key, value] : params_of(req.target)) {
    if (key != "events") return bad_query(key, "unknown query parameter");
    if (value != "true" && value != "false") return bad_query(key, "not true or false");
    with_events = value == "true";
  }
  const auto p = own_payment(m, id);
  if (!p) return payment_not_found();
  json::object body = engine::payment_to_json(*p);
  if (with_events) body["events"] = event_log(deps_.eng.store().events_of(p->id));
  return json_response(200, body);
}

asio::awaitable<response> merchant_api::cancel(const request& req, const merchant_config& m, const std::string& id) {
  if (auto bad = check_post_body(req)) co_return *bad;
  const auto p = own_payment(m, id);
  if (!p) co_return payment_not_found();
  const auto reason = parse_cancel_reason(req.body);
  if (!reason) co_return invalid(reason.errors());
  for (int attempt = 0; attempt < max_conflict_retries; ++attempt) {
    engine::input in;
    in.payment_id = p->id;
    in.ev = cancel_requested{requester::merchant, *reason};
    const auto out = co_await deps_.drv.submit(std::move(in));
    // A conflict means another writer changed the payment between load and commit: resubmit.
    if (out.result != engine::outcome::conflict) co_return cancel_answer(out);
  }
  co_return error_response(503, "STORE_UNAVAILABLE", "the payment kept changing; retry later");
}

asio::awaitable<response> merchant_api::consult(const request& req) {
  if (auto bad = check_post_body(req)) co_return *bad;
  const auto body = aplus::parse_untrusted(req.body);
  if (!body) co_return invalid(body.errors());
  const auto consult_request = parse_consult_request(*body);
  if (!consult_request) co_return invalid(consult_request.errors());
  if (!deps_.consult) co_return error_response(502, "ALIPAYPLUS_UNAVAILABLE", "consultPayment is not available");
  const consult_outcome outcome = co_await deps_.consult(aplus::encode(*consult_request));
  co_return consult_answer(outcome);
}

response merchant_api::events(const merchant_config& m, const request& req) {
  std::int64_t after = 0;
  std::int64_t limit = default_feed_limit;
  for (const auto& [key, value] : params_of(req.target)) {
    const auto n = parse_count(value);
    if (key == "after") {
      if (!n) return bad_query(key, "not a cursor (nextCursor of a previous page)");
      after = *n;
    } else if (key == "limit") {
      if (!n || *n < 1 || *n > max_feed_limit) return bad_query(key, "not an integer from 1 to 500");
      limit = *n;
    } else {
      return bad_query(key, "unknown query parameter");
    }
  }
  const auto rows = deps_.eng.store().events_feed(m.id, after, static_cast<std::size_t>(limit));
  json::array list;
  for (const auto& r : rows) list.push_back(feed_entry(r));
  const std::int64_t next = rows.empty() ? after : rows.back().id;
  return json_response(200, json::object{{"events", std::move(list)}, {"nextCursor", std::to_string(next)}});
}

}  // namespace cashier::daemon
