// The hosted payment page (see checkout_pages.hpp): routing under /pay/, the status map and its
// long poll, the consult-backed option, and the embedded files with their headers.
#include "orchestrator/daemon/checkout_pages.hpp"

#include <algorithm>
#include <array>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/daemon/create_request.hpp"
#include "orchestrator/daemon/hosted_assets.hpp"
#include "orchestrator/daemon/log.hpp"
#include "orchestrator/daemon/merchant_answers.hpp"
#include "orchestrator/engine/random_id.hpp"

namespace cashier::daemon {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using net::request;
using net::response;

/// The longest a status request waits for a change (below the server's idle timeout, and short
/// enough that a drain is not held up for long).
constexpr std::chrono::milliseconds longest_wait{15000};
/// A long poll waits in slices of this, so that a drain ends it quickly.
constexpr std::chrono::milliseconds wait_slice{1000};
/// How long a consult answer is reused for the same (merchant, amount, region, terminal).
constexpr std::chrono::seconds option_ttl{60};
constexpr std::size_t max_options = 1000;

// No inline script or style, nothing from elsewhere, never framed, no forms, no base tag.
constexpr std::string_view content_security_policy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'";

void common_headers(response& r) {
  r.headers.push_back({"Content-Security-Policy", std::string(content_security_policy)});
  r.headers.push_back({"X-Content-Type-Options", "nosniff"});
  // The checkoutId is in the URL: never send it to the wallet or anyone else as a Referer.
  r.headers.push_back({"Referrer-Policy", "no-referrer"});
  r.headers.push_back({"Cross-Origin-Opener-Policy", "same-origin-allow-popups"});
}

response page_json(int status, std::string body) {
  response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/json"});
  r.headers.push_back({"Cache-Control", "no-store"});
  // Public by capability (whoever has the checkoutId); no cookies or credentials are involved,
  // so the embed script on the merchant's own origin may read it.
  r.headers.push_back({"Access-Control-Allow-Origin", "*"});
  common_headers(r);
  r.body = std::move(body);
  return r;
}

response not_found() { return page_json(404, net::json_error_body("NOT_FOUND", "no such payment page")); }

response asset_response(const hosted::asset& a, bool page) {
  response r;
  r.headers.push_back({"Content-Type", std::string(a.content_type)});
  // The page itself is the same for every payment but must pick up a new build; the assets may
  // be cached briefly.
  r.headers.push_back({"Cache-Control", page ? "no-cache" : "public, max-age=300"});
  if (!page) r.headers.push_back({"Access-Control-Allow-Origin", "*"});  // embed.js, embed.css
  common_headers(r);
  r.body.assign(a.bytes);
  return r;
}

/// The promotion texts of one consult option: each promoName is a JSON map per locale (or plain
/// text, kept as {"en_US": text}).
json::array promotions_of(const std::vector<std::string>& names) {
  json::array out;
  for (const auto& n : names) {
    boost::system::error_code ec;
    auto v = json::parse(n, ec);
    json::object map;
    if (!ec && v.is_object()) {
      for (const auto& [locale, text] : v.get_object())
        if (text.is_string() && locale.size() <= 16) map[locale] = text.get_string();
    } else {
      map["en_US"] = n;
    }
    if (!map.empty()) out.push_back(std::move(map));
  }
  return out;
}

/// promoNames from paymentData, when it carries any (the fallback without a consult answer).
json::array promotions_of_payment_data(std::string_view data) {
  boost::system::error_code ec;
  const auto v = json::parse(data, ec);
  const auto* o = ec ? nullptr : v.if_object();
  const auto* names = o ? o->if_contains("promoNames") : nullptr;
  std::vector<std::string> list;
  if (names && names->is_array())
    for (const auto& n : names->get_array()) {
      if (n.is_string()) list.emplace_back(n.get_string());
      else if (n.is_object()) list.push_back(json::serialize(n));
    }
  return promotions_of(list);
}

json::array wallets_of(const aplus::payment_option& o) {
  json::array out;
  if (!o.payment_option_detail || !o.payment_option_detail->connect_wallet ||
      !o.payment_option_detail->connect_wallet->support_wallets)
    return out;
  for (const auto& w : *o.payment_option_detail->connect_wallet->support_wallets)
    if (w.wallet_name) out.push_back(json::string(*w.wallet_name));
  return out;
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace

std::string new_checkout_id() {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (const auto b : engine::random_128_bits()) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::span<const checkout_route> checkout_routes() {
  static constexpr std::array<checkout_route, 5> table{{
      {"GET", "/pay/{checkoutId}"},
      {"GET", "/pay/{checkoutId}/result"},
      {"GET", "/pay/{checkoutId}/status"},
      {"GET", "/pay/{checkoutId}/options"},
      {"GET", "/pay/assets/{name}"},
  }};
  return table;
}

bool is_checkout_id(std::string_view text) {
  return text.size() == 32 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

checkout_pages::checkout_pages(checkout_deps deps) : deps_(std::move(deps)) {}

void checkout_pages::on_commit(const payment& p) {
  const auto it = views_.find(p.checkout_id);
  if (it == views_.end()) {
    // Not opened yet: the first request reads it; one reading it now reads it again.
    if (const auto r = reading_.find(p.checkout_id); r != reading_.end()) ++r->second.commits;
    return;
  }
  auto& v = it->second;
  v.status = p.status;
  v.normal_url = p.normal_url;
  if (!p.payment_data.empty()) v.data_promotions = json::serialize(promotions_of_payment_data(p.payment_data));
  v.cancel_reason = p.cancel_reason;
}

asio::awaitable<const checkout_pages::view*> checkout_pages::find(const std::string& checkout_id) {
  if (const auto it = views_.find(checkout_id); it != views_.end()) co_return &it->second;
  const auto read = [checkout_id](store::payment_store& s) { return s.find_by_checkout(checkout_id); };
  ++reading_[checkout_id].readers;
  std::optional<payment> p;
  try {
    for (;;) {
      const auto seen = reading_[checkout_id].commits;
      p = co_await deps_.db.call(read);
      if (reading_[checkout_id].commits == seen) break;  // no commit of it while the read was out
    }
  } catch (...) {
    if (--reading_[checkout_id].readers == 0) reading_.erase(checkout_id);
    throw;
  }
  if (--reading_[checkout_id].readers == 0) reading_.erase(checkout_id);
  if (!p) co_return nullptr;
  // Another request may have read it meanwhile, and on_commit kept that entry current since:
  // it is newer than this read.
  if (const auto it = views_.find(checkout_id); it != views_.end()) co_return &it->second;
  view v;
  v.id = p->id;
  v.status = p->status;
  v.amount = p->amount;
  v.normal_url = p->normal_url;
  v.data_promotions = json::serialize(promotions_of_payment_data(p->payment_data));
  v.expiry_at = p->expiry_at;
  v.cancel_reason = p->cancel_reason;
  if (const auto pay = aplus::decode_pay_request(p->pay_request)) {
    v.merchant_name = pay->order.merchant.merchant_name;
    v.order_description = pay->order.order_description;
    v.terminal_type = pay->order.env.terminal_type;
    aplus::consult_payment_request c;
    c.payment_amount = pay->payment_amount;
    c.payment_factor = cashier_payment_factor();
    c.settlement_strategy = pay->settlement_strategy;
    c.user_region = pay->user_region;
    c.env = pay->order.env;
    c.merchant = pay->order.merchant;
    v.consult_request = aplus::encode(c);
  }
  // Bounded: past the limit an arbitrary entry goes (it is read again if its page asks).
  if (views_.size() >= max_cached) views_.erase(views_.begin());
  co_return &views_.emplace(checkout_id, std::move(v)).first->second;
}

std::string checkout_pages::state_of(const view& v) const {
  const bool expired = !is_final(v.status) && deps_.clock.now() >= v.expiry_at;
  return std::string(to_string(v.status)) + (expired ? "/EXPIRED" : "") + (v.normal_url.empty() ? "" : "/URL");
}

std::string checkout_pages::status_json(const view& v) const {
  const bool final = is_final(v.status);
  const bool expired = !final && deps_.clock.now() >= v.expiry_at;
  json::object o{{"status", to_string(v.status)},
                 {"final", final},
                 {"expired", expired || (v.status == payment_status::cancelled && v.cancel_reason == "expiry")},
                 {"state", state_of(v)},
                 {"amount", json::object{{"currency", v.amount.currency.view()},
                                         {"value", format_minor_units(v.amount.minor_units)}}},
                 {"merchantName", v.merchant_name},
                 {"orderDescription", v.order_description},
                 {"terminalType", v.terminal_type}};
  // Only while the user can still pay there.
  if (!final && !expired && !v.normal_url.empty()) o["normalUrl"] = v.normal_url;
  return json::serialize(o);
}

asio::awaitable<response> checkout_pages::status(const std::string& checkout_id, const request& req) {
  std::optional<std::string> seen;
  for (const auto& [key, value] : answers::query_params(req.target)) {
    if (key != "wait" || value.size() > 64) co_return page_json(400, net::json_error_body("INVALID_REQUEST", "unknown query parameter"));
    seen = value;
  }
  const view* v = co_await find(checkout_id);
  if (v == nullptr) co_return not_found();
  if (seen && *seen == state_of(*v) && !is_final(v->status)) {
    // Wait for a commit of this payment, or for its expiry, whichever comes first.
    auto wait = longest_wait;
    const auto to_expiry = std::chrono::duration_cast<std::chrono::milliseconds>(
        deps_.clock.wall_wait_until(v->expiry_at)) + std::chrono::milliseconds(50);
    if (deps_.clock.now() < v->expiry_at) wait = std::min(wait, to_expiry);
    const auto id = v->id;
    const auto until = std::chrono::steady_clock::now() + wait;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (stopping_ || left <= std::chrono::milliseconds::zero()) break;
      co_await deps_.drv.wait_for_change(id, std::min(left, wait_slice));
      v = co_await find(checkout_id);  // the entry may have been evicted meanwhile
      if (v == nullptr) co_return not_found();
      if (*seen != state_of(*v)) break;
    }
    v = co_await find(checkout_id);
    if (v == nullptr) co_return not_found();
  }
  co_return page_json(200, status_json(*v));
}

asio::awaitable<response> checkout_pages::options(const std::string& checkout_id) {
  const view* v = co_await find(checkout_id);
  if (v == nullptr) co_return not_found();
  const auto now = std::chrono::steady_clock::now();
  if (const auto it = options_.find(v->consult_request); it != options_.end() && it->second.until > now)
    co_return page_json(200, it->second.body);
  const auto data_promotions = v->data_promotions;
  const bool has_url = !v->normal_url.empty();
  auto consult_body = v->consult_request;
  json::object answer{{"available", false}, {"source", "consult"}};
  bool cache = false;
  if (!consult_body.empty() && deps_.consult) {
    const consult_outcome out = co_await deps_.consult(consult_body);
    if (out.verified_body) {
      if (const auto r = aplus::decode_consult_payment_response(*out.verified_body); r && r->result.status == 'S') {
        cache = true;
        for (const auto& o : r->payment_options.value_or(std::vector<aplus::payment_option>{})) {
          if (o.payment_method_type.value_or("") != "CONNECT_WALLET" || !o.enabled.value_or(false)) continue;
          answer["available"] = true;
          answer["promotions"] = promotions_of(o.promo_names.value_or(std::vector<std::string>{}));
          answer["wallets"] = wallets_of(o);
          break;
        }
      }
    }
    if (!out.verified_body) log_line(log_level::warn, "checkout: consult without an answer", {{"error", out.error}});
  }
  if (!cache) {
    // No consult answer: the option is shown when pay gave a checkout URL, with paymentData's
    // promotions if it has any. A verified "not available" is never overridden.
    answer["available"] = has_url;
    answer["source"] = "paymentData";
    boost::system::error_code ec;
    auto promotions = json::parse(data_promotions, ec);
    answer["promotions"] = !ec && promotions.is_array() ? std::move(promotions) : json::value(json::array());
    answer["wallets"] = json::array();
  }
  auto body = json::serialize(answer);
  if (cache) {
    if (options_.size() >= max_options) options_.clear();
    options_[consult_body] = option_entry{body, now + option_ttl};
  }
  co_return page_json(200, std::move(body));
}

asio::awaitable<response> checkout_pages::handle(const request& req) {
  if (req.method != "GET" && req.method != "HEAD") {
    auto r = page_json(405, net::json_error_body("METHOD_NOT_ALLOWED", "allowed here: GET, HEAD"));
    r.headers.push_back({"Allow", "GET, HEAD"});
    co_return r;
  }
  const auto path = path_of(req.target);  // "/pay/..."
  const auto rest = path.substr(5);
  const auto slash = rest.find('/');
  const std::string first(rest.substr(0, slash));
  const std::string_view tail = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (first == "assets") {
    const auto* a = hosted::find_asset(tail.empty() ? std::string_view() : tail.substr(1));
    if (a == nullptr || a->is_page) co_return not_found();
    co_return asset_response(*a, false);
  }
  if (!is_checkout_id(first)) co_return not_found();
  if (tail.empty() || tail == "/result") {
    // The same page for every payment and view: nothing of the payment is in the HTML, so
    // nothing from the URL can be injected into it; the script asks for the status.
    co_return asset_response(*hosted::find_asset("page.html"), true);
  }
  if (tail == "/status") co_return co_await status(first, req);
  if (tail == "/options") co_return co_await options(first);
  co_return not_found();
}

}  // namespace cashier::daemon
