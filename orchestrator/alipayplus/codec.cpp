// Decoding of the Alipay+ messages (see codec.hpp): the field rules and one read() per struct.
// Encoding is in codec_encode.cpp.
//
// Length limits count characters (UTF-8 code points), not bytes. Where ALIPAYPLUS.md gives a
// limit it is used; the others are generous bounds of our own, so that a real Alipay+ answer is
// never refused for length while a hostile one stays small:
//   ids (paymentRequestId, paymentId, referenceOrderId, referenceMerchantId, acquirerId, pspId,
//        customerId, transactionId, transactionRequestId, quoteId)                      64 (spec)
//   codes (resultCode (spec), paymentMethodType, paymentMethodCategory, presentmentMode,
//          merchantMCC, transactionType, transactionStatus, quoteCurrencyPair)           64
//   orderDescription (spec), merchantName, city, walletName, walletBrandName,
//     walletRegion, logoName, disableReason                                            256
//   resultMessage (documented 256; prose only, so accepted up to)                     1024
//   each promoNames entry (a small JSON document of translations)                     4096
//   URLs (paymentNotifyUrl, paymentRedirectUrl, normalUrl, logoUrl)                    2048
//   paymentData (a JSON document in a string: bounded by the 64 KiB body)            65536
// Fields with a shape check (amount value and currency, resultStatus, times, regions,
// terminalType, osType, quotePrice) are bounded at 64 and then must match their shape.
//
// Strict and lenient (guarantee 4). In the answers and notifies cashierd acts on (pay and
// inquiryPayment responses, notifyPayment requests) the fields the machine needs (result and
// paymentResult status and code, paymentRequestId, paymentId, amounts, normalUrl, paymentData)
// are strict: a broken one makes the message garbled. The informational ones (resultMessage,
// paymentTime, customerId, walletBrandName, settlementAmount, settlementQuote, acquirerId,
// pspId) are lenient: a broken one is set aside raw in extra_fields and reads as absent, so a
// verified S/S is never lost to a decoder rule (informational_set_aside() lists them for the log).
#include "orchestrator/alipayplus/codec.hpp"

#include <algorithm>

namespace cashier::aplus {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

std::string_view check_currency(std::string_view s) {
  return currency_code::parse(s) ? "" : "not a 3-letter uppercase ISO 4217 code";
}

std::string_view check_minor_units(std::string_view s) {
  if (parse_minor_units(s)) return "";
  const bool digits = !s.empty() && std::all_of(s.begin(), s.end(), is_digit);
  return digits ? "out of range" : "not a non-negative integer";
}

std::string_view check_region(std::string_view s) {
  return s.size() == 2 && is_upper(s[0]) && is_upper(s[1]) ? "" : "not a 2-letter uppercase ISO 3166 code";
}

std::string_view check_status(std::string_view s) {
  return s == "S" || s == "F" || s == "U" ? "" : "not one of S, F, U";
}

std::string_view check_terminal_type(std::string_view s) {
  return s == "WEB" || s == "WAP" || s == "APP" || s == "MINI_APP" ? "" : "not one of WEB, WAP, APP, MINI_APP";
}

std::string_view check_os_type(std::string_view s) {
  return s == "IOS" || s == "ANDROID" ? "" : "not one of IOS, ANDROID";
}

std::string_view check_decimal(std::string_view s) {
  const auto point = s.find('.');
  const auto whole = s.substr(0, point);
  const auto fraction = point == std::string_view::npos ? std::string_view("0") : s.substr(point + 1);
  const bool ok = !whole.empty() && !fraction.empty() && std::all_of(whole.begin(), whole.end(), is_digit) &&
                  std::all_of(fraction.begin(), fraction.end(), is_digit);
  return ok ? "" : "not a decimal number";
}

/// True when s[pos, pos+n) are digits whose value lies in [lo, hi].
bool number_at(std::string_view s, std::size_t pos, std::size_t n, int lo, int hi) {
  if (pos + n > s.size()) return false;
  int value = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!is_digit(s[i])) return false;
    value = value * 10 + (s[i] - '0');
  }
  return value >= lo && value <= hi;
}

/// "Z", or "+HH:MM" / "-HH:MM".
bool is_zone(std::string_view z) {
  if (z == "Z") return true;
  return z.size() == 6 && (z[0] == '+' || z[0] == '-') && number_at(z, 1, 2, 0, 23) && z[3] == ':' &&
         number_at(z, 4, 2, 0, 59);
}

/// YYYY-MM-DDTHH:MM:SS, optional fraction of 1 to 9 digits, then a zone.
std::string_view check_time(std::string_view s) {
  constexpr std::string_view bad = "not an ISO 8601 time with offset";
  if (s.size() < 20) return bad;  // the shortest is 2020-01-01T12:01:01Z
  const bool date = number_at(s, 0, 4, 0, 9999) && s[4] == '-' && number_at(s, 5, 2, 1, 12) && s[7] == '-' &&
                    number_at(s, 8, 2, 1, 31) && s[10] == 'T';
  const bool clock = date && number_at(s, 11, 2, 0, 23) && s[13] == ':' && number_at(s, 14, 2, 0, 59) &&
                     s[16] == ':' && number_at(s, 17, 2, 0, 60);
  if (!clock) return bad;
  std::size_t pos = 19;
  if (s[pos] == '.') {
    const std::size_t start = ++pos;
    while (pos < s.size() && is_digit(s[pos])) ++pos;
    if (pos == start || pos - start > 9) return bad;
  }
  return is_zone(s.substr(pos)) ? "" : bad;
}

constexpr text_rule id_rule{64};
constexpr text_rule code_rule{64};
constexpr text_rule name_rule{256};
constexpr text_rule message_rule{1024};
constexpr text_rule promo_rule{4096};
constexpr text_rule url_rule{2048};
constexpr text_rule data_rule{65536};
constexpr text_rule currency_rule{64, check_currency};
constexpr text_rule minor_units_rule{64, check_minor_units};
constexpr text_rule region_rule{64, check_region};
constexpr text_rule status_rule{64, check_status};
constexpr text_rule terminal_rule{64, check_terminal_type};
constexpr text_rule os_rule{64, check_os_type};
constexpr text_rule decimal_rule{64, check_decimal};
constexpr text_rule time_rule{64, check_time};

template <class T>
decode_result<T> decode_body(std::string_view body, const json_limits& limits) {
  auto parsed = parse_untrusted(body, limits);
  if (!parsed) return parsed.errors();
  return decode_value<T>(*parsed);
}

}  // namespace

void read(object_reader& r, amount& out) {
  std::string currency, value;
  if (r.text("currency", currency, currency_rule)) out.currency = *currency_code::parse(currency);
  if (r.text("value", value, minor_units_rule)) out.minor_units = *parse_minor_units(value);
}

void read(object_reader& r, api_result& out) {
  r.text("resultCode", out.code, code_rule);
  std::string status;
  if (r.text("resultStatus", status, status_rule)) out.status = status[0];
  // An absent and an empty resultMessage mean the same; the encoder writes neither. Prose only:
  // a broken one (too long, not a string) is set aside raw, never a reason to drop the result.
  std::optional<std::string> message;
  r.lenient_text("resultMessage", message, message_rule);
  out.message = message.value_or("");
}

void read(object_reader& r, merchant_address& out) {
  r.text("region", out.region, region_rule);
  r.text("city", out.city, name_rule);
}

void read(object_reader& r, merchant& out) {
  r.text("referenceMerchantId", out.reference_merchant_id, id_rule);
  r.text("merchantName", out.merchant_name, name_rule);
  r.text("merchantMCC", out.merchant_mcc, code_rule);
  r.object("merchantAddress", out.merchant_address);
}

void read(object_reader& r, env& out) {
  r.text("terminalType", out.terminal_type, terminal_rule);
  r.text("osType", out.os_type, os_rule);
}

void read(object_reader& r, order& out) {
  r.text("referenceOrderId", out.reference_order_id, id_rule);
  r.text("orderDescription", out.order_description, name_rule);
  r.object("orderAmount", out.order_amount);
  r.object("merchant", out.merchant);
  r.object("env", out.env);
}

void read(object_reader& r, payment_method& out) {
  r.text("paymentMethodType", out.payment_method_type, code_rule);
}

void read(object_reader& r, payment_factor& out) {
  r.flag("isInStorePayment", out.is_in_store_payment);
  r.flag("isCashierPayment", out.is_cashier_payment);
  r.text("presentmentMode", out.presentment_mode, code_rule);
}

void read(object_reader& r, settlement_strategy& out) {
  std::string currency;
  if (r.text("settlementCurrency", currency, currency_rule)) out.settlement_currency = *currency_code::parse(currency);
}

void read(object_reader& r, settlement_quote& out) {
  r.text("quoteId", out.quote_id, id_rule);
  r.text("quoteCurrencyPair", out.quote_currency_pair, code_rule);
  r.text("quotePrice", out.quote_price, decimal_rule);
  r.text("quoteStartTime", out.quote_start_time, time_rule);
  r.text("quoteExpiryTime", out.quote_expiry_time, time_rule);
}

void read(object_reader& r, transaction& out) {
  r.object("transactionResult", out.transaction_result);
  r.text("transactionId", out.transaction_id, id_rule);
  r.text("transactionType", out.transaction_type, code_rule);
  r.text("transactionStatus", out.transaction_status, code_rule);
  r.text("transactionRequestId", out.transaction_request_id, id_rule);
  r.object("transactionAmount", out.transaction_amount);
  r.text("transactionTime", out.transaction_time, time_rule);
}

void read(object_reader& r, logo& out) {
  r.text("logoName", out.logo_name, name_rule);
  r.text("logoUrl", out.logo_url, url_rule);
}

void read(object_reader& r, support_wallet& out) {
  r.text("walletName", out.wallet_name, name_rule);
  r.text("walletBrandName", out.wallet_brand_name, name_rule);
  r.object("walletLogo", out.wallet_logo);
  r.text("walletRegion", out.wallet_region, name_rule);
}

void read(object_reader& r, connect_wallet& out) { r.array("supportWallets", out.support_wallets); }

void read(object_reader& r, payment_option_detail& out) { r.object("connectWallet", out.connect_wallet); }

void read(object_reader& r, payment_option& out) {
  r.text("paymentMethodType", out.payment_method_type, code_rule);
  r.text("paymentMethodCategory", out.payment_method_category, code_rule);
  r.flag("enabled", out.enabled);
  r.flag("preferred", out.preferred);
  r.text("disableReason", out.disable_reason, name_rule);
  r.object("logo", out.logo);
  r.array("promoNames", out.promo_names, promo_rule);
  r.object("paymentOptionDetail", out.payment_option_detail);
}

void read(object_reader& r, pay_request& out) {
  r.text("paymentRequestId", out.payment_request_id, id_rule);
  r.object("order", out.order);
  r.object("paymentAmount", out.payment_amount);
  r.object("paymentMethod", out.payment_method);
  r.object("paymentFactor", out.payment_factor);
  r.text("paymentExpiryTime", out.payment_expiry_time, time_rule);
  r.text("paymentNotifyUrl", out.payment_notify_url, url_rule);
  r.text("paymentRedirectUrl", out.payment_redirect_url, url_rule);
  r.object("settlementStrategy", out.settlement_strategy);
  r.text("userRegion", out.user_region, region_rule);
}

void read(object_reader& r, pay_response& out) {
  r.object("result", out.result);
  r.lenient_text("acquirerId", out.acquirer_id, id_rule);
  r.lenient_text("pspId", out.psp_id, id_rule);
  r.text("paymentId", out.payment_id, id_rule);
  r.object("paymentAmount", out.payment_amount);
  r.text("normalUrl", out.normal_url, url_rule);
  r.text("paymentData", out.payment_data, data_rule);
  r.lenient_text("paymentTime", out.payment_time, time_rule);
}

void read(object_reader& r, payment_lookup& out) {
  r.text("paymentRequestId", out.payment_request_id, id_rule);
  r.text("paymentId", out.payment_id, id_rule);
  if (!out.payment_request_id && !out.payment_id) r.error("paymentRequestId", "missing (and no paymentId)");
}

void read(object_reader& r, inquiry_payment_response& out) {
  r.object("result", out.result);
  r.object("paymentResult", out.payment_result);
  r.text("paymentRequestId", out.payment_request_id, id_rule);
  r.text("paymentId", out.payment_id, id_rule);
  r.object("paymentAmount", out.payment_amount);
  r.lenient_text("paymentTime", out.payment_time, time_rule);
  r.lenient_text("customerId", out.customer_id, id_rule);
  r.lenient_text("walletBrandName", out.wallet_brand_name, name_rule);
  r.array("transactions", out.transactions);
  r.lenient_object("settlementAmount", out.settlement_amount);
  r.lenient_object("settlementQuote", out.settlement_quote);
  r.lenient_text("acquirerId", out.acquirer_id, id_rule);
  r.lenient_text("pspId", out.psp_id, id_rule);
}

void read(object_reader& r, cancel_payment_response& out) {
  r.object("result", out.result);
  r.text("acquirerId", out.acquirer_id, id_rule);
  r.text("pspId", out.psp_id, id_rule);
}

void read(object_reader& r, consult_payment_request& out) {
  r.object("paymentAmount", out.payment_amount);
  r.object("paymentFactor", out.payment_factor);
  r.object("settlementStrategy", out.settlement_strategy);
  r.text("userRegion", out.user_region, region_rule);
  r.object("env", out.env);
  r.object("merchant", out.merchant);
}

void read(object_reader& r, consult_payment_response& out) {
  r.object("result", out.result);
  r.array("paymentOptions", out.payment_options);
}

void read(object_reader& r, notify_payment_request& out) {
  // A notify carries a final result only. The status stays '\0' when resultStatus itself is
  // missing or malformed (already reported), so U is the only case left to refuse here.
  out.payment_result.status = '\0';
  r.object("paymentResult", out.payment_result);
  if (out.payment_result.status == 'U') r.error("paymentResult.resultStatus", "not one of S, F");
  r.text("paymentRequestId", out.payment_request_id, id_rule);
  r.text("paymentId", out.payment_id, id_rule);
  r.object("paymentAmount", out.payment_amount);
  r.lenient_text("paymentTime", out.payment_time, time_rule);
  r.lenient_text("customerId", out.customer_id, id_rule);
  r.lenient_text("walletBrandName", out.wallet_brand_name, name_rule);
  r.lenient_object("settlementAmount", out.settlement_amount);
  r.lenient_object("settlementQuote", out.settlement_quote);
  r.lenient_text("acquirerId", out.acquirer_id, id_rule);
  r.lenient_text("pspId", out.psp_id, id_rule);
}

void read(object_reader& r, notify_payment_ack& out) { r.object("result", out.result); }

namespace {

std::vector<std::string> informational_of(const extra_fields_t& extra) {
  return set_aside(extra, {"paymentTime", "customerId", "walletBrandName", "settlementAmount", "settlementQuote",
                           "acquirerId", "pspId"});
}

void add_result(std::vector<std::string>& out, const api_result& r, std::string_view path) {
  for (auto& key : set_aside(r.extra_fields, {"resultMessage"})) out.push_back(std::string(path) + "." + key);
}

}  // namespace

std::vector<std::string> informational_set_aside(const pay_response& m) {
  auto out = informational_of(m.extra_fields);
  add_result(out, m.result, "result");
  return out;
}

std::vector<std::string> informational_set_aside(const inquiry_payment_response& m) {
  auto out = informational_of(m.extra_fields);
  add_result(out, m.result, "result");
  if (m.payment_result) add_result(out, *m.payment_result, "paymentResult");
  return out;
}

std::vector<std::string> informational_set_aside(const notify_payment_request& m) {
  auto out = informational_of(m.extra_fields);
  add_result(out, m.payment_result, "paymentResult");
  return out;
}

decode_result<pay_request> decode_pay_request(std::string_view body, const json_limits& limits) {
  return decode_body<pay_request>(body, limits);
}
decode_result<pay_response> decode_pay_response(std::string_view body, const json_limits& limits) {
  return decode_body<pay_response>(body, limits);
}
decode_result<inquiry_payment_request> decode_inquiry_payment_request(std::string_view body,
                                                                      const json_limits& limits) {
  return decode_body<inquiry_payment_request>(body, limits);
}
decode_result<inquiry_payment_response> decode_inquiry_payment_response(std::string_view body,
                                                                        const json_limits& limits) {
  return decode_body<inquiry_payment_response>(body, limits);
}
decode_result<cancel_payment_request> decode_cancel_payment_request(std::string_view body,
                                                                    const json_limits& limits) {
  return decode_body<cancel_payment_request>(body, limits);
}
decode_result<cancel_payment_response> decode_cancel_payment_response(std::string_view body,
                                                                      const json_limits& limits) {
  return decode_body<cancel_payment_response>(body, limits);
}
decode_result<consult_payment_request> decode_consult_payment_request(std::string_view body,
                                                                      const json_limits& limits) {
  return decode_body<consult_payment_request>(body, limits);
}
decode_result<consult_payment_response> decode_consult_payment_response(std::string_view body,
                                                                        const json_limits& limits) {
  return decode_body<consult_payment_response>(body, limits);
}
decode_result<notify_payment_request> decode_notify_payment_request(std::string_view body,
                                                                    const json_limits& limits) {
  return decode_body<notify_payment_request>(body, limits);
}
decode_result<notify_payment_ack> decode_notify_payment_ack(std::string_view body, const json_limits& limits) {
  return decode_body<notify_payment_ack>(body, limits);
}

}  // namespace cashier::aplus
