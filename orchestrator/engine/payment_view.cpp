// The public payment object (see payment_view.hpp).
#include "orchestrator/engine/payment_view.hpp"
#include "state/store/store.hpp"

#include <chrono>
#include <cstdio>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace cashier::engine {
namespace json = boost::json;

namespace {

/// Writes `v` as `width` decimal digits, zero-padded, at `out`.
char* digits(char* out, long long v, int width) {
  for (int i = width - 1; i >= 0; --i, v /= 10) out[i] = static_cast<char>('0' + v % 10);
  return out + width;
}

}  // namespace

// Formatted by hand: every webhook payload and log line carries several of these, and
// snprintf cost more than the rest of the payment object together.
std::string iso8601(time_point t) {
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{t - day};
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) {  // not four digits (`never`, for one): printed as it comes
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", year,
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()), static_cast<int>(hms.subseconds().count()));
    return buf;
  }
  std::string out(24, '\0');
  char* p = out.data();
  p = digits(p, year, 4);
  *p++ = '-';
  p = digits(p, static_cast<unsigned>(ymd.month()), 2);
  *p++ = '-';
  p = digits(p, static_cast<unsigned>(ymd.day()), 2);
  *p++ = 'T';
  p = digits(p, hms.hours().count(), 2);
  *p++ = ':';
  p = digits(p, hms.minutes().count(), 2);
  *p++ = ':';
  p = digits(p, hms.seconds().count(), 2);
  *p++ = '.';
  p = digits(p, hms.subseconds().count(), 3);
  *p = 'Z';
  return out;
}

json::object money_to_json(const money& m) {
  return {{"currency", m.currency.str()}, {"value", format_minor_units(m.minor_units)}};
}

namespace {

json::value time_or_null(time_point t) {
  if (t == never || t == time_point{}) return nullptr;
  return json::value(iso8601(t));
}

json::value string_or_null(const std::string& s) {
  if (s.empty()) return nullptr;
  return json::value(s);
}

/// The merchant's order object, as it sent it (kept in merchant_request), or null. When the
/// merchant left order.merchant out, the record cashierd filled in from the config (as sent to
/// Alipay+ in the pay request) is shown.
json::value order_of(const payment& p) {
  boost::system::error_code ec;
  auto v = json::parse(p.merchant_request, ec);
  if (ec || !v.is_object()) return nullptr;
  auto* o = v.get_object().if_contains("order");
  if (o == nullptr) return nullptr;
  if (auto* order = o->if_object(); order != nullptr && !order->contains("merchant")) {
    auto pay = json::parse(p.pay_request, ec);
    const auto* sent = !ec && pay.is_object() ? pay.get_object().if_contains("order") : nullptr;
    const auto* merchant = sent != nullptr && sent->is_object() ? sent->get_object().if_contains("merchant") : nullptr;
    if (merchant != nullptr) (*order)["merchant"] = *merchant;
  }
  return *o;
}

}  // namespace

namespace {
std::string& checkout_base() {
  static std::string base;
  return base;
}
}  // namespace

void set_checkout_base(std::string base) { checkout_base() = std::move(base); }

std::string checkout_url(const payment& p) {
  if (p.checkout_id.empty()) return {};
  return checkout_base() + "/pay/" + p.checkout_id;
}

json::object payment_to_json(const payment& p) {
  json::object o;
  o["paymentRequestId"] = p.payment_request_id;
  o["alipayPaymentRequestId"] = store::alipay_request_id(p);
  o["status"] = to_string(p.status);
  o["pendingAction"] = p.pending == pending_action::none ? json::value(nullptr) : json::value(to_string(p.pending));
  o["paymentAmount"] = money_to_json(p.amount);
  o["order"] = order_of(p);
  o["paymentId"] = string_or_null(p.payment_id);
  o["normalUrl"] = string_or_null(p.normal_url);
  o["paymentData"] = string_or_null(p.payment_data);
  o["walletBrandName"] = string_or_null(p.wallet_brand_name);
  o["customerId"] = string_or_null(p.customer_id);
  o["paymentTime"] = string_or_null(p.payment_time);
  o["settlementAmount"] = p.settlement_amount ? json::value(money_to_json(*p.settlement_amount)) : json::value(nullptr);
  if (p.result) {
    o["result"] = {{"resultCode", p.result->code},
                   {"resultStatus", std::string(1, p.result->status)},
                   {"resultMessage", p.result->message}};
  } else {
    o["result"] = nullptr;
  }
  o["paymentExpiryTime"] = time_or_null(p.expiry_at);
  o["pollDeadline"] = time_or_null(p.poll_deadline_at);
  o["nextActionAt"] = time_or_null(p.next_action_at);
  o["createdAt"] = time_or_null(p.created_at);
  o["updatedAt"] = time_or_null(p.updated_at);
  if (!p.cancel_reason.empty()) o["cancelReason"] = p.cancel_reason;
  o["checkoutUrl"] = string_or_null(checkout_url(p));
  return o;
}

void append_json_string(std::string& out, std::string_view s) {
  // Boost.JSON's escapes: the quote, the backslash, and control characters (short forms for
  // backspace, tab, newline, form feed and return; "u00" and two lowercase hex digits for the
  // rest); every other byte is copied as it is.
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && c != '"' && c != '\\') {
      out += c;
      continue;
    }
    out += '\\';
    switch (c) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '\b': out += 'b'; break;
      case '\t': out += 't'; break;
      case '\n': out += 'n'; break;
      case '\f': out += 'f'; break;
      case '\r': out += 'r'; break;
      default: out.append("u00").append(1, hex[u >> 4]).append(1, hex[u & 15]);
    }
  }
  out += '"';
}

namespace {

/// The pieces of payment_json, each appending one value.
void append_string_or_null(std::string& out, std::string_view s) {
  if (s.empty()) out += "null";
  else append_json_string(out, s);
}

void append_time_or_null(std::string& out, time_point t) {
  if (t == never || t == time_point{}) out += "null";
  else append_json_string(out, iso8601(t));
}

void append_money(std::string& out, const money& m) {
  out += R"({"currency":)";
  append_json_string(out, m.currency.view());
  out += R"(,"value":)";
  append_json_string(out, format_minor_units(m.minor_units));
  out += '}';
}

void append_result(std::string& out, const std::optional<aplus_result>& r) {
  if (!r) {
    out += "null";
    return;
  }
  out += R"({"resultCode":)";
  append_json_string(out, r->code);
  out += R"(,"resultStatus":)";
  append_json_string(out, std::string_view(&r->status, 1));
  out += R"(,"resultMessage":)";
  append_json_string(out, r->message);
  out += '}';
}

}  // namespace

// The field order and forms of payment_to_json; a test holds the two byte-identical.
std::string payment_json(const payment& p) {
  std::string out;
  out.reserve(768 + p.merchant_request.size() + p.payment_data.size() + p.normal_url.size());
  out += R"({"paymentRequestId":)";
  append_json_string(out, p.payment_request_id);
  out += R"(,"alipayPaymentRequestId":)";
  append_json_string(out, store::alipay_request_id(p));
  out += R"(,"status":)";
  append_json_string(out, to_string(p.status));
  out += R"(,"pendingAction":)";
  append_string_or_null(out, p.pending == pending_action::none ? std::string_view() : to_string(p.pending));
  out += R"(,"paymentAmount":)";
  append_money(out, p.amount);
  out += R"(,"order":)";
  out += json::serialize(order_of(p));  // as the merchant sent it, re-serialized like the tree
  const std::pair<const char*, const std::string*> texts[] = {
      {R"(,"paymentId":)", &p.payment_id},       {R"(,"normalUrl":)", &p.normal_url},
      {R"(,"paymentData":)", &p.payment_data},   {R"(,"walletBrandName":)", &p.wallet_brand_name},
      {R"(,"customerId":)", &p.customer_id},     {R"(,"paymentTime":)", &p.payment_time}};
  for (const auto& [key, value] : texts) {
    out += key;
    append_string_or_null(out, *value);
  }
  out += R"(,"settlementAmount":)";
  if (p.settlement_amount) append_money(out, *p.settlement_amount);
  else out += "null";
  out += R"(,"result":)";
  append_result(out, p.result);
  const std::pair<const char*, time_point> times[] = {
      {R"(,"paymentExpiryTime":)", p.expiry_at}, {R"(,"pollDeadline":)", p.poll_deadline_at},
      {R"(,"nextActionAt":)", p.next_action_at}, {R"(,"createdAt":)", p.created_at},
      {R"(,"updatedAt":)", p.updated_at}};
  for (const auto& [key, t] : times) {
    out += key;
    append_time_or_null(out, t);
  }
  if (!p.cancel_reason.empty()) {
    out += R"(,"cancelReason":)";
    append_json_string(out, p.cancel_reason);
  }
  out += R"(,"checkoutUrl":)";
  append_string_or_null(out, checkout_url(p));
  out += '}';
  return out;
}

}  // namespace cashier::engine
