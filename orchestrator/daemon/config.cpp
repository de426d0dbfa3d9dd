// Parsing and validation of cashierd's JSON configuration (see config.hpp). Unknown keys are
// errors: a typo in a payments daemon's config must not silently fall back to a default.
#include "orchestrator/daemon/config.hpp"

#include <array>
#include <fstream>
#include <span>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace cashier::daemon {
namespace json = boost::json;

std::string to_string(const config_error& e) {
  return e.key.empty() ? e.message : e.key + ": " + e.message;
}

void throw_exception_from_error(const config_error& e, const boost::source_location&) {
  throw std::invalid_argument(to_string(e));
}

bool is_loopback_host(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

namespace {

/// Thrown inside this file only, turned into a config_error at the boundary.
struct bad_key {
  config_error error;
};

[[noreturn]] void fail(std::string key, std::string message) {
  throw bad_key{{std::move(key), std::move(message)}};
}

std::string join(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : std::string(parent) + "." + std::string(key);
}

// The keys each object of the file accepts: the one table that both parsing (as_object) and
// `cashierd --print-config-keys` (config_keys, compared with proto-docs/operations.md) read.
using key_list = std::span<const std::string_view>;
constexpr std::array<std::string_view, 9> root_keys{
    "listen", "tls", "database", "databaseSynchronous", "alipayplus", "payment", "merchants", "timeScale",
    "publicUrl"};
constexpr std::array<std::string_view, 2> tls_keys{"cert", "key"};
constexpr std::array<std::string_view, 11> alipayplus_keys{
    "gateway", "clientId", "privateKey", "alipayplusPublicKey", "keyVersion", "notifyUrl",
    "notifyPath", "caFile", "requestTimeoutMs", "maxClockSkewSeconds", "maxRequestsPerSecond"};
constexpr std::array<std::string_view, 2> public_key_keys{"path", "keyVersion"};
constexpr std::array<std::string_view, 4> payment_keys{"defaultExpiryMinutes", "pollGraceMinutes",
                                                       "pollIntervalsSeconds", "createWaitMs"};
constexpr std::array<std::string_view, 5> merchant_keys{"id", "token", "notifySecret", "notifyUrl",
                                                        "caFile"};

/// Where each key list applies, as a dotted prefix (`[]` for every element of an array).
constexpr std::array<std::pair<std::string_view, key_list>, 6> key_sections{{
    {"", root_keys},
    {"tls.", tls_keys},
    {"alipayplus.", alipayplus_keys},
    {"alipayplus.alipayplusPublicKey[].", public_key_keys},
    {"payment.", payment_keys},
    {"merchants[].", merchant_keys},
}};

/// Reads an object's keys, rejecting keys not in `known`.
const json::object& as_object(const json::value& v, const std::string& key, key_list known) {
  if (!v.is_object()) fail(key, "must be an object");
  for (const auto& kv : v.get_object()) {
    bool ok = false;
    for (auto k : known) ok = ok || kv.key() == k;
    if (!ok) fail(join(key, kv.key()), "unknown key");
  }
  return v.get_object();
}

std::string get_string(const json::object& o, const std::string& parent, std::string_view key,
                       bool required, std::string fallback = {}) {
  const auto* v = o.if_contains(key);
  if (!v) {
    if (required) fail(join(parent, key), "missing");
    return fallback;
  }
  if (!v->is_string() || v->get_string().empty()) fail(join(parent, key), "must be a non-empty string");
  return std::string(v->get_string());
}

std::int64_t get_int(const json::object& o, const std::string& parent, std::string_view key,
                     std::int64_t fallback, std::int64_t min, std::int64_t max) {
  const auto* v = o.if_contains(key);
  if (!v) return fallback;
  std::int64_t n = 0;
  if (v->is_int64()) n = v->get_int64();
  else if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(max)) n = static_cast<std::int64_t>(v->get_uint64());
  else fail(join(parent, key), "must be an integer");
  if (n < min || n > max)
    fail(join(parent, key), "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return n;
}

double get_number(const json::object& o, const std::string& parent, std::string_view key,
                  double fallback, double min, double max) {
  const auto* v = o.if_contains(key);
  if (!v) return fallback;
  if (!v->is_number()) fail(join(parent, key), "must be a number");
  const double d = v->to_number<double>();
  if (!(d >= min && d <= max))
    fail(join(parent, key), "must be between " + json::serialize(json::value(min)) + " and " +
                                json::serialize(json::value(max)));
  return d;
}

/// keyVersion may be a number or a string (PRODUCT.md).
std::string get_key_version(const json::object& o, const std::string& parent, std::string fallback) {
  const auto* v = o.if_contains("keyVersion");
  if (!v) return fallback;
  if (v->is_int64() && v->get_int64() >= 0) return std::to_string(v->get_int64());
  if (v->is_string() && !v->get_string().empty()) return std::string(v->get_string());
  fail(join(parent, "keyVersion"), "must be a non-negative integer or a non-empty string");
}

void require_readable(const std::string& path, const std::string& key) {
  std::ifstream f(path);
  if (!f) fail(key, "cannot read file '" + path + "'");
}

/// Checks an http(s) URL; plain http only towards loopback. Returns its path.
std::string check_url(const std::string& url, const std::string& key) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) fail(key, "not an absolute URL");
  const auto scheme = u->scheme();
  if (scheme != "https" && scheme != "http") fail(key, "must be an https:// URL");
  if (u->host().empty()) fail(key, "has no host");
  if (scheme == "http" && !is_loopback_host(u->host()))
    fail(key, "must be https:// unless the host is a loopback address");
  std::string path(u->encoded_path());
  return path.empty() ? "/" : path;
}

void parse_listen(const json::object& root, config& c) {
  const auto listen = get_string(root, "", "listen", false, "127.0.0.1:8080");
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) fail("listen", "must be \"host:port\"");
  c.listen_host = listen.substr(0, colon);
  if (c.listen_host.size() > 2 && c.listen_host.front() == '[') c.listen_host = c.listen_host.substr(1, c.listen_host.size() - 2);
  const auto port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535)
    fail("listen", "port must be a number from 0 to 65535");
  c.listen_port = static_cast<std::uint16_t>(std::stoi(port));
}

void parse_public_keys(const json::object& o, config& c) {
  const auto* v = o.if_contains("alipayplusPublicKey");
  const std::string key = "alipayplus.alipayplusPublicKey";
  if (!v) fail(key, "missing");
  if (v->is_string()) {
    c.alipayplus.public_keys.push_back({std::string(v->get_string()), ""});
  } else if (v->is_array()) {
    const auto& a = v->get_array();
    if (a.empty() || a.size() > 2) fail(key, "must list one or two keys");
    for (std::size_t i = 0; i < a.size(); ++i) {
      const auto k = key + "[" + std::to_string(i) + "]";
      const auto& e = as_object(a[i], k, public_key_keys);
      c.alipayplus.public_keys.push_back({get_string(e, k, "path", true), get_key_version(e, k, "")});
    }
  } else {
    fail(key, "must be a PEM path or an array of {path, keyVersion}");
  }
  for (const auto& pk : c.alipayplus.public_keys) require_readable(pk.path, key);
}

void parse_alipayplus(const json::value& v, config& c) {
  const std::string k = "alipayplus";
  const auto& o = as_object(v, k, alipayplus_keys);
  auto& a = c.alipayplus;
  a.gateway = get_string(o, k, "gateway", true);
  check_url(a.gateway, "alipayplus.gateway");
  a.client_id = get_string(o, k, "clientId", true);
  a.private_key = get_string(o, k, "privateKey", true);
  require_readable(a.private_key, "alipayplus.privateKey");
  parse_public_keys(o, c);
  a.key_version = get_key_version(o, k, "1");
  a.notify_url = get_string(o, k, "notifyUrl", true);
  const auto notify_url_path = check_url(a.notify_url, "alipayplus.notifyUrl");
  a.notify_path = get_string(o, k, "notifyPath", false, notify_url_path);
  if (a.notify_path.front() != '/') fail("alipayplus.notifyPath", "must start with /");
  a.ca_file = get_string(o, k, "caFile", false);
  if (!a.ca_file.empty()) require_readable(a.ca_file, "alipayplus.caFile");
  a.request_timeout_ms = get_int(o, k, "requestTimeoutMs", 15000, 100, 600000);
  a.max_clock_skew_seconds = get_int(o, k, "maxClockSkewSeconds", 600, 1, 86400);
  a.max_requests_per_second = get_number(o, k, "maxRequestsPerSecond", 0, 0, 1e6);
}

void parse_payment(const json::value* v, config& c) {
  if (!v) return;
  const std::string k = "payment";
  const auto& o = as_object(*v, k, payment_keys);
  auto& p = c.payment;
  p.default_expiry_minutes = get_int(o, k, "defaultExpiryMinutes", 15, 1, 60 * 24 * 30);
  p.poll_grace_minutes = get_int(o, k, "pollGraceMinutes", 10, 10, 60 * 24 * 30);
  p.create_wait_ms = get_int(o, k, "createWaitMs", 10000, 0, 600000);
  if (const auto* iv = o.if_contains("pollIntervalsSeconds")) {
    const std::string ik = "payment.pollIntervalsSeconds";
    if (!iv->is_array() || iv->get_array().empty()) fail(ik, "must be a non-empty array of seconds");
    p.poll_intervals_seconds.clear();
    for (const auto& e : iv->get_array()) {
      if (!e.is_int64() || e.get_int64() < 1 || e.get_int64() > 86400)
        fail(ik, "every interval must be an integer from 1 to 86400");
      p.poll_intervals_seconds.push_back(e.get_int64());
    }
  }
}

void parse_merchants(const json::value* v, config& c) {
  if (!v) fail("merchants", "missing: at least one merchant is needed");
  if (!v->is_array() || v->get_array().empty()) fail("merchants", "must be a non-empty array");
  const auto& a = v->get_array();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto k = "merchants[" + std::to_string(i) + "]";
    const auto& o = as_object(a[i], k, merchant_keys);
    merchant_config m;
    m.id = get_string(o, k, "id", true);
    m.token = get_string(o, k, "token", true);
    if (m.token.size() < 16) fail(k + ".token", "must be at least 16 characters");
    const auto* s = o.if_contains("notifySecret");
    if (s && s->is_string()) m.notify_secrets.emplace_back(s->get_string());
    else if (s && s->is_array() && !s->get_array().empty() && s->get_array().size() <= 2) {
      for (const auto& e : s->get_array()) {
        if (!e.is_string()) fail(k + ".notifySecret", "must be strings");
        m.notify_secrets.emplace_back(e.get_string());
      }
    } else if (s) fail(k + ".notifySecret", "must be a string or an array of one or two strings");
    for (const auto& sec : m.notify_secrets)
      if (!sec.starts_with("whsec_") || sec.size() < 10) fail(k + ".notifySecret", "must look like whsec_<base64 key>");
    m.notify_url = get_string(o, k, "notifyUrl", false);
    if (!m.notify_url.empty()) check_url(m.notify_url, k + ".notifyUrl");
    if (!m.notify_url.empty() && m.notify_secrets.empty()) fail(k + ".notifySecret", "missing: needed to sign webhooks");
    m.ca_file = get_string(o, k, "caFile", false);
    if (!m.ca_file.empty()) require_readable(m.ca_file, k + ".caFile");
    for (const auto& other : c.merchants) {
      if (other.id == m.id) fail(k + ".id", "duplicate merchant id '" + m.id + "'");
      if (other.token == m.token) fail(k + ".token", "the same token is used by two merchants");
    }
    c.merchants.push_back(std::move(m));
  }
}

// publicUrl: where browsers reach the public listener (the hosted page's checkoutUrl base), an
// http(s) origin with an optional path prefix and no query; a trailing '/' is dropped.
std::string parse_public_url(std::string text) {
  if (text.empty()) return text;
  const auto url = boost::urls::parse_absolute_uri(text);
  if (!url || (url->scheme_id() != boost::urls::scheme::http && url->scheme_id() != boost::urls::scheme::https) ||
      url->encoded_host().empty() || url->has_query() || url->has_fragment() || url->has_userinfo())
    fail("publicUrl", "must be an http(s) URL such as https://pay.example.com (no query, no user)");
  while (!text.empty() && text.back() == '/') text.pop_back();
  return text;
}

config parse_root(const json::value& root_value) {
  config c;
  const auto& root = as_object(root_value, "", root_keys);
  parse_listen(root, c);
  if (const auto* tls = root.if_contains("tls")) {
    const auto& t = as_object(*tls, "tls", tls_keys);
    c.tls_cert = get_string(t, "tls", "cert", true);
    c.tls_key = get_string(t, "tls", "key", true);
    require_readable(*c.tls_cert, "tls.cert");
    require_readable(*c.tls_key, "tls.key");
  }
  c.database = get_string(root, "", "database", true);
  const auto sync = get_string(root, "", "databaseSynchronous", false, "FULL");
  if (sync != "FULL" && sync != "NORMAL") fail("databaseSynchronous", "must be \"FULL\" or \"NORMAL\"");
  c.synchronous_full = sync == "FULL";
  const auto* ap = root.if_contains("alipayplus");
  if (!ap) fail("alipayplus", "missing");
  parse_alipayplus(*ap, c);
  parse_payment(root.if_contains("payment"), c);
  parse_merchants(root.if_contains("merchants"), c);
  c.time_scale = get_number(root, "", "timeScale", 1, 1, 1e7);
  c.public_url = parse_public_url(get_string(root, "", "publicUrl", false, ""));
  return c;
}

}  // namespace

boost::system::result<config, config_error> parse_config(std::string_view text) {
  json::parse_options opts;
  opts.allow_comments = true;
  opts.allow_trailing_commas = true;
  boost::system::error_code ec;
  const auto root = json::parse(text, ec, {}, opts);
  if (ec) return config_error{"", "not valid JSON: " + ec.message()};
  try {
    return parse_root(root);
  } catch (const bad_key& e) {
    return e.error;
  }
}

std::vector<std::string> config_keys() {
  std::vector<std::string> out;
  for (const auto& [prefix, keys] : key_sections)
    for (auto k : keys) out.push_back(std::string(prefix) + std::string(k));
  return out;
}

boost::system::result<config, config_error> load_config(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return config_error{"", "cannot read config file '" + path + "'"};
  std::ostringstream s;
  s << f.rdbuf();
  return parse_config(s.str());
}

}  // namespace cashier::daemon
