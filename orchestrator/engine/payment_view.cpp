// The public payment object (see payment_view.hpp).
#include "orchestrator/engine/payment_view.hpp"

#include <chrono>
#include <cstdio>

#include <boost/json/parse.hpp>

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

/// The merchant's order object, as it sent it (kept in merchant_request), or null.
json::value order_of(const payment& p) {
  boost::system::error_code ec;
  auto v = json::parse(p.merchant_request, ec);
  if (ec || !v.is_object()) return nullptr;
  if (auto* o = v.get_object().if_contains("order")) return *o;
  return nullptr;
}

}  // namespace

json::object payment_to_json(const payment& p) {
  json::object o;
  o["paymentRequestId"] = p.payment_request_id;
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
  return o;
}

}  // namespace cashier::engine
