// The inbox codec (see inbox_codec.hpp). The decoder reads every field through `reader`, which
// stops at the first broken rule and says where; the encoder checks the same bounds first, so
// nothing it writes is refused by the decoder of the same version.
#include "orchestrator/engine/inbox_codec.hpp"

#include <array>
#include <cstdint>
#include <initializer_list>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace cashier::engine {
namespace json = boost::json;

namespace {

// Bounds of the decoded fields. Generous against what a valid request can hold (a notify body is
// at most 64 KiB, its headers 8 KiB, Alipay+ ids 64 characters), tight against a hostile row.
constexpr std::size_t max_wire_bytes = 64 * 1024;    // a notify body, headers, a reason
constexpr std::size_t max_text_bytes = 1024;         // ids, codes, messages, facts
constexpr std::size_t max_detail_bytes = 4096;       // an anomaly's detail
constexpr std::size_t max_records = 4;               // notify records or anomalies of one input
constexpr std::size_t max_depth = 8;                 // JSON nesting

std::string hex(std::string_view bytes) {
  static constexpr std::array<char, 16> digits{'0', '1', '2', '3', '4', '5', '6', '7',
                                               '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xf]);
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase too: one spelling per byte string
}

std::optional<std::string> unhex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = hex_digit(text[i]);
    const int lo = hex_digit(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
  return out;
}

char status_char(std::string_view s) {
  if (s == "S") return 'S';
  if (s == "F") return 'F';
  if (s == "U") return 'U';
  return '\0';
}

std::optional<requester> requester_of(std::string_view s) {
  if (s == to_string(requester::merchant)) return requester::merchant;
  if (s == to_string(requester::operator_)) return requester::operator_;
  if (s == to_string(requester::system)) return requester::system;
  return std::nullopt;
}

// ---- encoding ----

json::object money_json(const money& m) {
  return json::object{{"minor", m.minor_units}, {"currency", m.currency.str()}};
}

json::object result_json(const aplus_result& r) {
  return json::object{{"status", std::string(1, r.status)}, {"code", r.code}, {"message", r.message}};
}

json::object facts_json(const payment_facts& f) {
  json::object o{{"paymentId", f.payment_id},
                 {"paymentTime", f.payment_time},
                 {"customerId", f.customer_id},
                 {"walletBrandName", f.wallet_brand_name}};
  if (f.settlement_amount) o["settlementAmount"] = money_json(*f.settlement_amount);
  return o;
}

bool facts_fit(const payment_facts& f) {
  return f.payment_id.size() <= max_text_bytes && f.payment_time.size() <= max_text_bytes &&
         f.customer_id.size() <= max_text_bytes && f.wallet_brand_name.size() <= max_text_bytes;
}

bool records_fit(const input& in) {
  if (in.notifies.size() > max_records || in.anomalies.size() > max_records) return false;
  for (const auto& n : in.notifies)
    if (n.payment_request_id.size() > max_text_bytes || n.body.size() > max_wire_bytes ||
        n.headers.size() > max_wire_bytes || n.digest.size() > max_text_bytes)
      return false;
  for (const auto& a : in.anomalies)
    if (a.kind.size() > max_text_bytes || a.detail.size() > max_detail_bytes) return false;
  return true;
}

// The event's kind and JSON, or nothing when the event does not travel (or is too large).
std::optional<std::pair<inbox_kind, json::object>> event_json(const event& ev) {
  if (const auto* n = std::get_if<notify_verified>(&ev)) {
    const auto& r = n->payment_result;
    if (r.code.size() > max_text_bytes || r.message.size() > max_text_bytes || !facts_fit(n->facts))
      return std::nullopt;
    return std::pair{inbox_kind::notify, json::object{{"result", result_json(r)},
                                                      {"amount", money_json(n->amount)},
                                                      {"facts", facts_json(n->facts)}}};
  }
  if (const auto* c = std::get_if<cancel_requested>(&ev)) {
    if (c->reason.size() > max_wire_bytes) return std::nullopt;
    return std::pair{inbox_kind::cancel,
                     json::object{{"who", std::string(to_string(c->who))}, {"reason", c->reason}}};
  }
  if (std::holds_alternative<inquiry_requested>(ev)) return std::pair{inbox_kind::inquiry, json::object{}};
  if (std::holds_alternative<create_answered_early>(ev))
    return std::pair{inbox_kind::early_answer, json::object{}};
  return std::nullopt;
}

bool travels(const event& ev) {
  return std::holds_alternative<notify_verified>(ev) || std::holds_alternative<cancel_requested>(ev) ||
         std::holds_alternative<inquiry_requested>(ev) || std::holds_alternative<create_answered_early>(ev);
}

// ---- decoding ----

// Reads one JSON object field by field; the first broken rule is kept in `error` (with its path)
// and every later read fails, so callers check once at the end.
class reader {
 public:
  explicit reader(std::string& error) : error_(error) {}

  bool ok() const { return error_.empty(); }
  bool fail(std::string_view path, std::string_view what) {
    if (error_.empty()) error_ = std::string(path) + ": " + std::string(what);
    return false;
  }

  // `v` as an object whose keys are all in `allowed`.
  const json::object* object(const json::value* v, std::string_view path,
                             std::initializer_list<std::string_view> allowed) {
    if (!ok()) return nullptr;
    if (v == nullptr || !v->is_object()) return fail(path, "not an object"), nullptr;
    for (const auto& [key, value] : v->get_object()) {
      bool known = false;
      for (const auto a : allowed) known = known || key == a;
      // The key is hostile: only its length is reported, never its bytes.
      if (!known) return fail(path, "an unknown field (" + std::to_string(key.size()) + " bytes)"), nullptr;
    }
    return &v->get_object();
  }

  std::optional<std::string> text(const json::object& o, std::string_view key, std::string_view path,
                                  std::size_t max_bytes) {
    if (!ok()) return std::nullopt;
    const auto* v = o.if_contains(key);
    const auto where = std::string(path) + "." + std::string(key);
    if (v == nullptr || !v->is_string()) return fail(where, "missing or not a string"), std::nullopt;
    if (v->get_string().size() > max_bytes) return fail(where, "too long"), std::nullopt;
    return std::string(v->get_string());
  }

  std::optional<std::string> bytes(const json::object& o, std::string_view key, std::string_view path,
                                   std::size_t max_bytes) {
    auto h = text(o, key, path, max_bytes * 2);
    if (!h) return std::nullopt;
    auto b = unhex(*h);
    if (!b) return fail(std::string(path) + "." + std::string(key), "not lowercase hex"), std::nullopt;
    return b;
  }

  std::optional<std::int64_t> integer(const json::object& o, std::string_view key, std::string_view path) {
    if (!ok()) return std::nullopt;
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_int64())
      return fail(std::string(path) + "." + std::string(key), "missing or not a 64-bit integer"), std::nullopt;
    return v->get_int64();
  }

  std::optional<money> amount(const json::value* v, std::string_view path) {
    const auto* o = object(v, path, {"minor", "currency"});
    if (o == nullptr) return std::nullopt;
    const auto minor = integer(*o, "minor", path);
    const auto code = text(*o, "currency", path, 3);
    if (!minor || !code) return std::nullopt;
    const auto currency = currency_code::parse(*code);
    if (!currency) return fail(std::string(path) + ".currency", "not an ISO 4217 code"), std::nullopt;
    if (*minor < 0) return fail(std::string(path) + ".minor", "negative"), std::nullopt;
    return money{*minor, *currency};
  }

  const json::array* array(const json::object& o, std::string_view key, std::size_t max_items) {
    if (!ok()) return nullptr;
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_array()) return fail(key, "missing or not an array"), nullptr;
    if (v->get_array().size() > max_items) return fail(key, "too many items"), nullptr;
    return &v->get_array();
  }

 private:
  std::string& error_;
};

std::optional<event> decode_notify_event(reader& r, const json::value* v) {
  const auto* o = r.object(v, "event", {"result", "amount", "facts"});
  if (o == nullptr) return std::nullopt;
  const auto* res = r.object(o->if_contains("result"), "event.result", {"status", "code", "message"});
  if (res == nullptr) return std::nullopt;
  notify_verified n;
  const auto status = r.text(*res, "status", "event.result", 1);
  auto code = r.text(*res, "code", "event.result", max_text_bytes);
  auto message = r.text(*res, "message", "event.result", max_text_bytes);
  const auto amount = r.amount(o->if_contains("amount"), "event.amount");
  const auto* f = r.object(o->if_contains("facts"), "event.facts",
                           {"paymentId", "paymentTime", "customerId", "walletBrandName", "settlementAmount"});
  if (!status || !code || !message || !amount || f == nullptr) return std::nullopt;
  // A notify says S or F (notify_verified); U is an answer's, never a notify's.
  const char s = status_char(*status);
  if (s != 'S' && s != 'F') return r.fail("event.result.status", "not S or F"), std::nullopt;
  n.payment_result = aplus_result{std::move(*code), s, std::move(*message)};
  n.amount = *amount;
  auto pid = r.text(*f, "paymentId", "event.facts", max_text_bytes);
  auto time = r.text(*f, "paymentTime", "event.facts", max_text_bytes);
  auto customer = r.text(*f, "customerId", "event.facts", max_text_bytes);
  auto wallet = r.text(*f, "walletBrandName", "event.facts", max_text_bytes);
  if (!pid || !time || !customer || !wallet) return std::nullopt;
  n.facts = payment_facts{std::move(*pid), std::move(*time), std::move(*customer), std::move(*wallet), std::nullopt};
  if (const auto* s_amount = f->if_contains("settlementAmount")) {
    n.facts.settlement_amount = r.amount(s_amount, "event.facts.settlementAmount");
    if (!n.facts.settlement_amount) return std::nullopt;
  }
  return event{std::move(n)};
}

std::optional<event> decode_cancel_event(reader& r, const json::value* v) {
  const auto* o = r.object(v, "event", {"who", "reason"});
  if (o == nullptr) return std::nullopt;
  const auto who = r.text(*o, "who", "event", 16);
  auto reason = r.text(*o, "reason", "event", max_wire_bytes);
  if (!who || !reason) return std::nullopt;
  const auto req = requester_of(*who);
  if (!req) return r.fail("event.who", "not merchant, operator or system"), std::nullopt;
  return event{cancel_requested{*req, std::move(*reason)}};
}

std::optional<event> decode_empty_event(reader& r, const json::value* v, event ev) {
  if (r.object(v, "event", {}) == nullptr) return std::nullopt;
  return ev;
}

std::optional<store::notify_record> decode_notify_record(reader& r, const json::value& v) {
  const auto* o =
      r.object(&v, "notifies[]", {"paymentRequestId", "body", "headers", "verification", "receivedAt", "digest"});
  if (o == nullptr) return std::nullopt;
  store::notify_record n;
  auto id = r.text(*o, "paymentRequestId", "notifies[]", max_text_bytes);
  auto body = r.bytes(*o, "body", "notifies[]", max_wire_bytes);
  auto headers = r.bytes(*o, "headers", "notifies[]", max_wire_bytes);
  auto verification = r.text(*o, "verification", "notifies[]", 16);
  const auto at = r.integer(*o, "receivedAt", "notifies[]");
  auto digest = r.bytes(*o, "digest", "notifies[]", max_text_bytes);
  if (!id || !body || !headers || !verification || !at || !digest) return std::nullopt;
  // Only verified notifies travel: a rejected one is log-only and written where it arrived.
  if (*verification != "ok") return r.fail("notifies[].verification", "not ok"), std::nullopt;
  n.payment_request_id = std::move(*id);
  n.body = std::move(*body);
  n.headers = std::move(*headers);
  n.verification = std::move(*verification);
  n.received_at = from_epoch_ms(*at);
  n.digest = std::move(*digest);
  return n;
}

std::optional<store::anomaly_record> decode_anomaly(reader& r, const json::value& v) {
  const auto* o = r.object(&v, "anomalies[]", {"kind", "detail", "at"});
  if (o == nullptr) return std::nullopt;
  auto kind = r.text(*o, "kind", "anomalies[]", max_text_bytes);
  auto detail = r.text(*o, "detail", "anomalies[]", max_detail_bytes);
  const auto at = r.integer(*o, "at", "anomalies[]");
  if (!kind || !detail || !at) return std::nullopt;
  if (kind->empty()) return r.fail("anomalies[].kind", "empty"), std::nullopt;
  store::anomaly_record a;
  a.kind = std::move(*kind);
  a.detail = std::move(*detail);
  a.at = from_epoch_ms(*at);
  return a;
}

std::optional<inbox_kind> kind_of(std::string_view kind) {
  for (const auto k : {inbox_kind::notify, inbox_kind::cancel, inbox_kind::inquiry, inbox_kind::early_answer,
                       inbox_kind::refund, inbox_kind::redeliver})
    if (kind == to_string(k)) return k;
  return std::nullopt;
}

inbox_decode_error malformed(std::string detail) { return {inbox_failure::malformed, std::move(detail)}; }

/// The body's JSON once its size, syntax and version are right, or why not (the first checks of
/// every kind: a newer body may have any other shape, so the version is read before the rest).
std::variant<json::value, inbox_decode_error> parse_body(std::string_view body) {
  if (body.size() > max_inbox_body_bytes) return malformed("body larger than " + std::to_string(max_inbox_body_bytes) + " bytes");
  json::parse_options options;
  options.max_depth = max_depth;
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec, {}, options);  // rejects invalid UTF-8 too
  if (ec) return malformed("not JSON (" + ec.message() + ")");
  if (!doc.is_object()) return malformed("not a JSON object");
  const auto* v = doc.get_object().if_contains("v");
  if (v == nullptr || !v->is_int64()) return malformed("v: missing or not an integer");
  if (v->get_int64() != inbox_body_version)
    return inbox_decode_error{inbox_failure::unknown_format, "body version " + std::to_string(v->get_int64())};
  return doc;
}

// A refund order's bounds: the merchant API allows a refundRequestId of 64 characters and a
// reason of 256; the admin API's are shorter. The canonical merchant request is a few hundred
// bytes. Byte strings travel as hex (an operator's reason is cut at 256 bytes, maybe inside a
// UTF-8 sequence, and must come back as stored).
constexpr std::size_t max_refund_key_bytes = 64;

}  // namespace

std::string_view to_string(inbox_kind k) {
  switch (k) {
    case inbox_kind::notify: return "notify";
    case inbox_kind::cancel: return "cancel";
    case inbox_kind::inquiry: return "inquiry";
    case inbox_kind::early_answer: return "early_answer";
    case inbox_kind::refund: return "refund";
    case inbox_kind::redeliver: return "redeliver";
  }
  return "?";
}

std::variant<inbox_message, inbox_refusal> encode_inbox(const input& in) {
  if (in.create || in.payment_id == 0 || !in.calls.empty() || !travels(in.ev))
    return inbox_refusal::not_an_inbox_input;
  // Only verified notifies travel: a rejected one is log-only, written where it arrived.
  for (const auto& n : in.notifies)
    if (n.verification != "ok") return inbox_refusal::not_an_inbox_input;
  if (!records_fit(in)) return inbox_refusal::too_large;
  auto ev = event_json(in.ev);
  if (!ev) return inbox_refusal::too_large;
  // The notify record travels with its notify only; a cancel or an inquiry has none.
  if (!in.notifies.empty() && ev->first != inbox_kind::notify) return inbox_refusal::not_an_inbox_input;
  json::array notifies;
  for (const auto& n : in.notifies)
    notifies.push_back(json::object{{"paymentRequestId", n.payment_request_id},
                                    {"body", hex(n.body)},
                                    {"headers", hex(n.headers)},
                                    {"verification", n.verification},
                                    {"receivedAt", to_epoch_ms(n.received_at)},
                                    {"digest", hex(n.digest)}});
  json::array anomalies;
  for (const auto& a : in.anomalies)
    anomalies.push_back(json::object{{"kind", a.kind}, {"detail", a.detail}, {"at", to_epoch_ms(a.at)}});
  const json::object body{{"v", inbox_body_version},
                          {"event", std::move(ev->second)},
                          {"notifies", std::move(notifies)},
                          {"anomalies", std::move(anomalies)}};
  auto text = json::serialize(body);
  if (text.size() > max_inbox_body_bytes) return inbox_refusal::too_large;
  return inbox_message{std::string(to_string(ev->first)), std::move(text)};
}

std::variant<input, inbox_decode_error> decode_inbox(std::string_view kind_text, std::string_view body) {
  const auto kind = kind_of(kind_text);
  if (!kind)  // Reported by length only: the column is hostile bytes.
    return inbox_decode_error{inbox_failure::unknown_format,
                              "unknown kind (" + std::to_string(kind_text.size()) + " bytes)"};
  // A refund order or a redeliver is not an input: the caller reads it with
  // decode_refund_inbox() / decode_redeliver_inbox().
  if (*kind == inbox_kind::refund)
    return inbox_decode_error{inbox_failure::unknown_format, "a refund order is not an input"};
  if (*kind == inbox_kind::redeliver)
    return inbox_decode_error{inbox_failure::unknown_format, "a redeliver is not an input"};
  auto parsed = parse_body(body);
  if (auto* bad = std::get_if<inbox_decode_error>(&parsed)) return std::move(*bad);
  const json::value doc = std::get<json::value>(std::move(parsed));
  const auto& top = doc.get_object();

  std::string error;
  reader r(error);
  if (r.object(&doc, "body", {"v", "event", "notifies", "anomalies"}) == nullptr) return malformed(error);
  std::optional<event> ev;
  switch (*kind) {
    case inbox_kind::notify: ev = decode_notify_event(r, top.if_contains("event")); break;
    case inbox_kind::cancel: ev = decode_cancel_event(r, top.if_contains("event")); break;
    case inbox_kind::inquiry: ev = decode_empty_event(r, top.if_contains("event"), inquiry_requested{}); break;
    case inbox_kind::early_answer:
      ev = decode_empty_event(r, top.if_contains("event"), create_answered_early{});
      break;
    case inbox_kind::refund:
    case inbox_kind::redeliver: break;  // answered above
  }
  input in;
  if (ev) in.ev = std::move(*ev);
  const auto* notifies = r.array(top, "notifies", max_records);
  const auto* anomalies = r.array(top, "anomalies", max_records);
  if (!r.ok()) return malformed(error);
  if (!notifies->empty() && *kind != inbox_kind::notify) return malformed("notifies: only a notify carries one");
  for (const auto& n : *notifies)
    if (auto rec = decode_notify_record(r, n)) in.notifies.push_back(std::move(*rec));
  for (const auto& a : *anomalies)
    if (auto rec = decode_anomaly(r, a)) in.anomalies.push_back(std::move(*rec));
  if (!r.ok()) return malformed(error);
  return in;
}

std::variant<inbox_message, inbox_refusal> encode_refund_inbox(const refund_order& order) {
  if (order.payment_id == 0 || order.amount.minor_units <= 0) return inbox_refusal::not_an_inbox_input;
  if (order.refund_request_id.empty() || order.refund_request_id.size() > max_refund_key_bytes ||
      order.reason.size() > max_text_bytes || order.merchant_request.size() > max_wire_bytes)
    return inbox_refusal::too_large;
  const json::object body{{"v", inbox_body_version},
                          {"order", json::object{{"refundRequestId", hex(order.refund_request_id)},
                                                 {"amount", money_json(order.amount)},
                                                 {"reason", hex(order.reason)},
                                                 {"origin", std::string(to_string(order.origin))},
                                                 {"merchantRequest", hex(order.merchant_request)}}}};
  auto text = json::serialize(body);
  if (text.size() > max_inbox_body_bytes) return inbox_refusal::too_large;
  return inbox_message{std::string(to_string(inbox_kind::refund)), std::move(text)};
}

std::variant<refund_order, inbox_decode_error> decode_refund_inbox(std::string_view body) {
  auto parsed = parse_body(body);
  if (auto* bad = std::get_if<inbox_decode_error>(&parsed)) return std::move(*bad);
  const json::value doc = std::get<json::value>(std::move(parsed));
  std::string error;
  reader r(error);
  if (r.object(&doc, "body", {"v", "order"}) == nullptr) return malformed(error);
  const auto* o = r.object(doc.get_object().if_contains("order"), "order",
                           {"refundRequestId", "amount", "reason", "origin", "merchantRequest"});
  if (o == nullptr) return malformed(error);
  auto key = r.bytes(*o, "refundRequestId", "order", max_refund_key_bytes);
  const auto amount = r.amount(o->if_contains("amount"), "order.amount");
  auto reason = r.bytes(*o, "reason", "order", max_text_bytes);
  const auto origin_text = r.text(*o, "origin", "order", 16);
  auto request = r.bytes(*o, "merchantRequest", "order", max_wire_bytes);
  if (!key || !amount || !reason || !origin_text || !request) return malformed(error);
  if (key->empty()) return malformed("order.refundRequestId: empty");
  if (amount->minor_units <= 0) return malformed("order.amount.minor: not positive");
  const auto origin = parse_refund_origin(*origin_text);
  if (!origin) return malformed("order.origin: not merchant, operator or cancel");
  refund_order order;
  order.refund_request_id = std::move(*key);
  order.amount = *amount;
  order.reason = std::move(*reason);
  order.origin = *origin;
  order.merchant_request = std::move(*request);
  return order;
}

std::variant<inbox_message, inbox_refusal> encode_redeliver_inbox(std::string_view event_id) {
  if (event_id.empty()) return inbox_refusal::not_an_inbox_input;
  if (event_id.size() > max_event_id_bytes) return inbox_refusal::too_large;
  const json::object body{{"v", inbox_body_version}, {"eventId", hex(event_id)}};
  return inbox_message{std::string(to_string(inbox_kind::redeliver)), json::serialize(body)};
}

std::variant<std::string, inbox_decode_error> decode_redeliver_inbox(std::string_view body) {
  auto parsed = parse_body(body);
  if (auto* bad = std::get_if<inbox_decode_error>(&parsed)) return std::move(*bad);
  const json::value doc = std::get<json::value>(std::move(parsed));
  std::string error;
  reader r(error);
  const auto* o = r.object(&doc, "body", {"v", "eventId"});
  if (o == nullptr) return malformed(error);
  auto id = r.bytes(*o, "eventId", "body", max_event_id_bytes);
  if (!id) return malformed(error);
  if (id->empty()) return malformed("eventId: empty");
  return std::move(*id);
}

}  // namespace cashier::engine
