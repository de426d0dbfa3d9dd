// Validation of the merchant API bodies and the Alipay+ requests built from them (see
// create_request.hpp for the rules).
#include "orchestrator/daemon/create_request.hpp"

#include <algorithm>
#include <array>

#include <boost/url/parse.hpp>

#include "orchestrator/alipayplus/wire_time.hpp"
#include "orchestrator/engine/random_id.hpp"

namespace cashier::daemon {
namespace {

namespace json = boost::json;
using aplus::error_list;
using aplus::text_rule;

bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

bool is_id_char(char c) {
  const bool alnum = (c >= 'a' && c <= 'z') || is_upper(c) || (c >= '0' && c <= '9');
  return alnum || c == '_' || c == '.' || c == ':' || c == '-';
}

std::string_view check_request_id(std::string_view s) {
  if (!std::all_of(s.begin(), s.end(), is_id_char))
    return "only A-Z, a-z, 0-9 and _ . : - are allowed";
  // "" is reported as empty by the reader; "." and ".." would be dot segments in a URL path.
  if (!s.empty() && s.find_first_not_of('.') == std::string_view::npos)
    return "cannot be only dots";
  return "";
}

std::string_view check_region(std::string_view s) {
  return s.size() == 2 && is_upper(s[0]) && is_upper(s[1])
             ? ""
             : "not a 2-letter uppercase ISO 3166 code";
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return is_upper(c) ? char(c - 'A' + 'a') : c; });
  return out;
}

std::string_view check_redirect_url(std::string_view s) {
  const auto url = boost::urls::parse_uri(s);
  if (!url) return "not an absolute URI";
  constexpr std::array<std::string_view, 4> refused{"javascript", "data", "vbscript", "file"};
  const auto scheme = lower(url->scheme());
  if (std::find(refused.begin(), refused.end(), scheme) != refused.end())
    return "scheme not allowed";
  return "";
}

// Webhooks carry customer data and are POSTed by cashierd itself: cleartext is refused, and so
// are credentials in the URL (they would end up in logs). The host is checked against the
// merchant's notifyHosts by check_notify_host, and its addresses when the webhook is sent.
std::string_view check_notify_url(std::string_view s) {
  const auto url = boost::urls::parse_uri(s);
  // Boost.URL 1.81 reads "https://127.0.0.1.evil.example/" as host 127.0.0.1 and path
  // ".evil.example/": a path after a host must start with '/', so such a URL is refused here.
  if (!url || url->scheme_id() != boost::urls::scheme::https || url->encoded_host().empty() ||
      !(url->encoded_path().empty() || url->encoded_path().starts_with('/')))
    return "must be an https:// URL with a host";
  if (url->has_userinfo()) return "must not carry user information";
  return "";
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]` then `Z` or `±HH:MM`, naming a real instant.
std::string_view check_expiry(std::string_view s) {
  constexpr std::string_view bad =
      "not an ISO 8601 time with offset, e.g. 2026-01-31T12:00:00+08:00";
  if (s.size() < 20 || s[10] != 'T') return bad;
  const std::size_t n = s.size();
  const bool zulu = s[n - 1] == 'Z';
  const bool offset = n >= 25 && s[n - 3] == ':' && (s[n - 6] == '+' || s[n - 6] == '-');
  if (!zulu && !offset) return bad;
  return aplus::parse_wire_time(s) ? "" : bad;
}

constexpr text_rule request_id_rule{64, check_request_id};
constexpr text_rule region_rule{64, check_region};
constexpr text_rule redirect_url_rule{2048, check_redirect_url};
constexpr text_rule notify_url_rule{2048, check_notify_url};
constexpr text_rule expiry_rule{64, check_expiry};
constexpr text_rule reason_rule{256};

std::string join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : std::string(path) + '.' + std::string(key);
}

void refuse(const aplus::extra_fields_t& extra, std::string_view path, error_list& errors) {
  for (const auto& field : extra) errors.add(join(path, field.key()), "unknown field");
}

void refuse(const aplus::merchant& m, std::string_view path, error_list& errors) {
  refuse(m.extra_fields, path, errors);
  if (m.merchant_address)
    refuse(m.merchant_address->extra_fields, join(path, "merchantAddress"), errors);
}

void refuse(const aplus::order& o, error_list& errors) {
  refuse(o.extra_fields, "order", errors);
  refuse(o.order_amount.extra_fields, "order.orderAmount", errors);
  refuse(o.merchant, "order.merchant", errors);
  refuse(o.env.extra_fields, "order.env", errors);
}

/// Top-level keys of a create body that no reader asked for.
void refuse_top_level(const aplus::extra_fields_t& extra, error_list& errors) {
  constexpr std::array<std::string_view, 3> filled{"paymentNotifyUrl", "paymentMethod",
                                                   "paymentFactor"};
  for (const auto& field : extra) {
    const bool ours = std::find(filled.begin(), filled.end(), field.key()) != filled.end();
    errors.add(std::string(field.key()), ours ? "set by cashierd; leave it out" : "unknown field");
  }
}

void check_env(const aplus::env& e, std::string_view path, error_list& errors) {
  if (!e.os_type && (e.terminal_type == "APP" || e.terminal_type == "WAP"))
    errors.add(join(path, "osType"), "missing: required when terminalType is APP or WAP");
}

/// Checks across fields, once every field on its own is valid.
void check_create(create_request& r, time_point now, error_list& errors) {
  if (r.payment_amount.minor_units <= 0)
    errors.add("paymentAmount.value", "must be greater than zero");
  check_env(r.order.env, "order.env", errors);
  if (!r.payment_expiry_time) return;
  const auto at = aplus::parse_wire_time(*r.payment_expiry_time);
  if (!at || *at <= now) {
    errors.add("paymentExpiryTime", "must be in the future");
  } else if (*at > now + max_expiry_ahead) {
    errors.add("paymentExpiryTime", "more than 30 days ahead");
  } else {
    r.expiry_at = *at;
  }
}

/// `o` without any field the codec does not know.
aplus::order known_fields(aplus::order o) {
  o.extra_fields.clear();
  o.order_amount.extra_fields.clear();
  o.merchant.extra_fields.clear();
  if (o.merchant.merchant_address) o.merchant.merchant_address->extra_fields.clear();
  o.env.extra_fields.clear();
  return o;
}

/// A cancel body.
struct cancel_body {
  std::optional<std::string> reason;
  aplus::extra_fields_t extra_fields;
};

void read(aplus::object_reader& r, cancel_body& out) { r.text("reason", out.reason, reason_rule); }

}  // namespace

/// Reads the fields of a create body (found by read_object through argument-dependent lookup).
void read(aplus::object_reader& r, create_request& out) {
  r.text("paymentRequestId", out.payment_request_id, request_id_rule);
  r.object("order", out.order);
  r.object("paymentAmount", out.payment_amount);
  r.text("paymentRedirectUrl", out.payment_redirect_url, redirect_url_rule);
  r.text("paymentExpiryTime", out.payment_expiry_time, expiry_rule);
  r.text("userRegion", out.user_region, region_rule);
  r.object("settlementStrategy", out.settlement_strategy);
  r.text("merchantNotifyUrl", out.merchant_notify_url, notify_url_rule);
}

aplus::decode_result<create_request> parse_create_request(const json::value& body, time_point now) {
  error_list errors;
  create_request out;
  if (!aplus::read_object(body, "", errors, out)) return errors.take();
  refuse_top_level(out.extra_fields, errors);
  refuse(out.order, errors);
  refuse(out.payment_amount.extra_fields, "paymentAmount", errors);
  if (out.settlement_strategy)
    refuse(out.settlement_strategy->extra_fields, "settlementStrategy", errors);
  if (errors.empty()) check_create(out, now, errors);
  if (!errors.empty()) return errors.take();
  return out;
}

std::string wire_seconds(time_point t) {
  std::string text = aplus::format_wire_time(std::chrono::floor<std::chrono::seconds>(t), 0);
  return text.erase(19, 4);  // ".000" of YYYY-MM-DDTHH:MM:SS.000+00:00
}

aplus::payment_factor cashier_payment_factor() {
  aplus::payment_factor f;
  f.is_in_store_payment = false;
  f.is_cashier_payment = true;
  f.presentment_mode = "UNIFIED";
  return f;
}

aplus::pay_request build_pay_request(const create_request& in, std::string_view notify_url,
                                     time_point expiry_at) {
  aplus::pay_request p;
  p.payment_request_id = in.payment_request_id;  // build_payment puts cashierd's own id in
  p.order = known_fields(in.order);
  p.payment_amount = in.payment_amount;
  p.payment_amount.extra_fields.clear();
  p.payment_method.payment_method_type = "CONNECT_WALLET";
  p.payment_factor = cashier_payment_factor();
  p.payment_expiry_time =
      in.payment_expiry_time ? *in.payment_expiry_time : wire_seconds(expiry_at);
  p.payment_notify_url = std::string(notify_url);
  p.payment_redirect_url = in.payment_redirect_url;
  if (in.settlement_strategy) {
    p.settlement_strategy = in.settlement_strategy;
    p.settlement_strategy->extra_fields.clear();
  }
  p.user_region = in.user_region;
  return p;
}

payment build_payment(const create_request& in, std::string raw_body, const create_context& ctx) {
  payment p;
  p.payment_request_id = in.payment_request_id;
  p.merchant_id = ctx.merchant_id;
  p.status = payment_status::init;
  p.pending = pending_action::pay;
  p.amount = static_cast<const money&>(in.payment_amount);
  // The default is whole seconds so that the instant kept equals the text sent.
  p.expiry_at =
      in.expiry_at.value_or(std::chrono::floor<std::chrono::seconds>(ctx.now + ctx.default_expiry));
  p.created_at = ctx.now;
  p.updated_at = ctx.now;
  p.alipay_payment_request_id = ctx.alipay_payment_request_id.empty()
                                    ? in.payment_request_id
                                    : ctx.alipay_payment_request_id;
  auto pay = build_pay_request(in, ctx.notify_url, p.expiry_at);
  pay.payment_request_id = p.alipay_payment_request_id;  // Alipay+ sees only cashierd's id
  p.pay_request = aplus::encode(pay);
  p.merchant_request = std::move(raw_body);
  p.merchant_notify_url = in.merchant_notify_url.value_or("");
  return p;
}

aplus::decode_result<aplus::consult_payment_request> parse_consult_request(
    const json::value& body) {
  error_list errors;
  aplus::consult_payment_request out;
  if (!aplus::read_object(body, "", errors, out)) return errors.take();
  if (out.payment_factor) errors.add("paymentFactor", "set by cashierd; leave it out");
  refuse(out.extra_fields, "", errors);
  refuse(out.payment_amount.extra_fields, "paymentAmount", errors);
  if (out.env) refuse(out.env->extra_fields, "env", errors);
  if (out.merchant) refuse(*out.merchant, "merchant", errors);
  if (out.settlement_strategy)
    refuse(out.settlement_strategy->extra_fields, "settlementStrategy", errors);
  if (errors.empty() && out.env) check_env(*out.env, "env", errors);
  if (!errors.empty()) return errors.take();
  out.payment_factor = cashier_payment_factor();
  return out;
}

aplus::merchant to_aplus(const merchant_identity& id) {
  aplus::merchant m;
  m.reference_merchant_id = id.reference_merchant_id;
  m.merchant_name = id.merchant_name;
  m.merchant_mcc = id.merchant_mcc;
  m.merchant_address = aplus::merchant_address{id.region, id.city, {}};
  return m;
}

json::value fill_merchant(json::value body, const merchant_config& m, bool consult) {
  auto* top = body.if_object();
  json::object* holder = top;
  if (top != nullptr && !consult) {
    auto* order = top->if_contains("order");
    holder = order != nullptr ? order->if_object() : nullptr;
  }
  if (holder != nullptr && !holder->contains("merchant"))
    (*holder)["merchant"] = aplus::to_json(to_aplus(m.identity));
  return body;
}

std::optional<merchant_mismatch> check_merchant(const aplus::merchant& sent,
                                                const merchant_config& m, std::string_view path) {
  const merchant_identity* found = nullptr;
  if (sent.reference_merchant_id == m.identity.reference_merchant_id) found = &m.identity;
  for (const auto& sub : m.sub_merchants)
    if (found == nullptr && sent.reference_merchant_id == sub.reference_merchant_id) found = &sub;
  const std::string base(path);
  if (found == nullptr)
    return merchant_mismatch{base + ".referenceMerchantId",
                             "not a merchant record configured for this merchant"};
  const auto differs = [&](std::string_view field) {
    return merchant_mismatch{base + "." + std::string(field),
                             "differs from the configured record of " +
                                 found->reference_merchant_id};
  };
  if (sent.merchant_name != found->merchant_name) return differs("merchantName");
  if (sent.merchant_mcc != found->merchant_mcc) return differs("merchantMCC");
  const auto& a = sent.merchant_address;
  if (!a) return differs("merchantAddress");
  if (a->region != found->region) return differs("merchantAddress.region");
  if (a->city != found->city) return differs("merchantAddress.city");
  return std::nullopt;
}

std::string new_alipay_payment_request_id() { return engine::random_id("cp1"); }

std::optional<aplus::field_error> check_notify_host(const create_request& in,
                                                   std::span<const std::string> notify_hosts) {
  if (!in.merchant_notify_url) return std::nullopt;
  const auto url = boost::urls::parse_uri(*in.merchant_notify_url);
  if (!url) return aplus::field_error{"merchantNotifyUrl", "must be an https:// URL with a host"};
  const auto host = lower(url->host_address());
  if (std::find(notify_hosts.begin(), notify_hosts.end(), host) == notify_hosts.end())
    return aplus::field_error{"merchantNotifyUrl", "host is not one of the merchant's notifyHosts"};
  return std::nullopt;
}

aplus::decode_result<std::string> parse_cancel_reason(std::string_view body) {
  if (body.empty()) return std::string();
  auto parsed = aplus::parse_untrusted(body);
  if (!parsed) return parsed.errors();
  error_list errors;
  cancel_body out;
  if (aplus::read_object(*parsed, "", errors, out)) refuse(out.extra_fields, "", errors);
  if (!errors.empty()) return errors.take();
  return out.reason.value_or("");
}

}  // namespace cashier::daemon
