// Parsing and validation of cashierd's JSON configuration (see config.hpp). Unknown keys are
// errors: a typo in a payments daemon's config must not silently fall back to a default.
#include "orchestrator/daemon/config.hpp"

#include <array>
#include <cctype>
#include <fstream>
#include <span>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <boost/json.hpp>
#include <boost/url/ipv4_address.hpp>
#include <boost/url/ipv6_address.hpp>
#include <boost/url/parse.hpp>

#include "orchestrator/daemon/webhook_signing.hpp"
#include "state/store/pg_store.hpp"

namespace cashier::daemon {
namespace json = boost::json;

std::string to_string(const config_error& e) {
  return e.key.empty() ? e.message : e.key + ": " + e.message;
}

void throw_exception_from_error(const config_error& e, const boost::source_location&) {
  throw std::invalid_argument(to_string(e));
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    // Only an IPv6 literal may be bracketed; ::1 is its only loopback address.
    const auto v6 = boost::urls::parse_ipv6_address(host.substr(1, host.size() - 2));
    return v6 && v6->is_loopback();
  }
  if (const auto v6 = boost::urls::parse_ipv6_address(host)) return v6->is_loopback();
  // A dotted quad only: a DNS name that merely starts with "127." resolves wherever its owner wants.
  const auto v4 = boost::urls::parse_ipv4_address(host);
  return v4 && v4->is_loopback();
}

std::vector<std::pair<std::string, std::string>> secret_files(const config& cfg) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!cfg.source_path.empty()) out.emplace_back("", cfg.source_path);  // holds merchant tokens
  out.emplace_back("alipayplus.privateKey", cfg.alipayplus.private_key);
  if (cfg.tls_key) out.emplace_back("tls.key", *cfg.tls_key);
  if (!cfg.admin_token_file.empty()) out.emplace_back("adminTokenFile", cfg.admin_token_file);
  if (!cfg.store.postgres_conninfo_file.empty())
    out.emplace_back("store.postgres.conninfoFile", cfg.store.postgres_conninfo_file);
  return out;
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
constexpr std::array<std::string_view, 17> root_keys{
    "listen", "tls", "database", "databaseSynchronous", "alipayplus", "payment", "merchants", "timeScale",
    "opsListen", "adminToken", "adminTokenFile", "maxConnections", "maxConnectionsPerAddress",
    "requestHeadTimeoutMs", "publicUrl", "store", "refund"};
// The storage engine (issue 18).
constexpr std::array<std::string_view, 3> store_keys{"engine", "postgres", "cluster"};
constexpr std::array<std::string_view, 2> cluster_keys{"instanceId", "leaseSeconds"};
constexpr std::array<std::string_view, 2> postgres_keys{"conninfo", "conninfoFile"};
constexpr std::array<std::string_view, 2> tls_keys{"cert", "key"};
constexpr std::array<std::string_view, 11> alipayplus_keys{
    "gateway", "clientId", "privateKey", "alipayplusPublicKey", "keyVersion", "notifyUrl",
    "notifyPath", "caFile", "requestTimeoutMs", "maxClockSkewSeconds", "maxRequestsPerSecond"};
constexpr std::array<std::string_view, 2> public_key_keys{"path", "keyVersion"};
constexpr std::array<std::string_view, 5> payment_keys{"defaultExpiryMinutes", "pollGraceMinutes",
                                                       "pollIntervalsSeconds", "createWaitMs",
                                                       "consultCacheSeconds"};
// refunds (issue 16): the refund machine's resend schedule (refund_params, state/machine/refund.hpp).
constexpr std::array<std::string_view, 3> refund_keys{"retryBaseMs", "retryCapMs", "confirmAfterSends"};
constexpr std::array<std::string_view, 12> merchant_keys{
    "id", "token", "notifySecret", "notifyUrl", "caFile", "notifyHosts", "allowPrivateNotifyAddresses",
    // merchant identity (issue 14, item 5)
    "referenceMerchantId", "merchantName", "merchantMCC", "merchantAddress", "subMerchants"};
// merchant identity (issue 14, item 5): a sub-merchant record and an address.
constexpr std::array<std::string_view, 4> identity_keys{"referenceMerchantId", "merchantName",
                                                        "merchantMCC", "merchantAddress"};
constexpr std::array<std::string_view, 2> address_keys{"region", "city"};

/// Where each key list applies, as a dotted prefix (`[]` for every element of an array).
constexpr std::array<std::pair<std::string_view, key_list>, 13> key_sections{{
    {"", root_keys},
    {"store.", store_keys},
    {"store.postgres.", postgres_keys},
    {"store.cluster.", cluster_keys},
    {"tls.", tls_keys},
    {"alipayplus.", alipayplus_keys},
    {"alipayplus.alipayplusPublicKey[].", public_key_keys},
    {"payment.", payment_keys},
    {"refund.", refund_keys},
    {"merchants[].", merchant_keys},
    {"merchants[].merchantAddress.", address_keys},
    {"merchants[].subMerchants[].", identity_keys},
    {"merchants[].subMerchants[].merchantAddress.", address_keys},
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
  // Boost.URL 1.81 reads "http://127.0.0.1.evil.example/" as host 127.0.0.1 and path
  // ".evil.example/"; a path after a host must start with '/'.
  if (!u->encoded_path().empty() && !u->encoded_path().starts_with('/')) fail(key, "has a malformed host");
  if (scheme == "http" && !is_loopback_host(u->host()))
    fail(key, "must be https:// unless the host is a loopback address");
  std::string path(u->encoded_path());
  return path.empty() ? "/" : path;
}

/// Reads a "host:port" key (`listen`, `opsListen`) into `host` and `port`.
void parse_host_port(const json::object& root, std::string_view key, const std::string& fallback,
                     std::string& host, std::uint16_t& port_out) {
  const std::string k(key);
  const auto listen = get_string(root, "", key, false, fallback);
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) fail(k, "must be \"host:port\"");
  host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const auto port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535)
    fail(k, "port must be a number from 0 to 65535");
  port_out = static_cast<std::uint16_t>(std::stoi(port));
}

void parse_listen(const json::object& root, config& c) {
  parse_host_port(root, "listen", host_port(c.listen_host, c.listen_port), c.listen_host, c.listen_port);
}

/// The admin token must be long enough not to be guessed, and usable as a header value.
void check_admin_token(const std::string& token, const std::string& key) {
  if (token.size() < 16) fail(key, "the admin token must be at least 16 characters");
  for (char ch : token)
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f)
      fail(key, "the admin token must not contain white space or control characters");
}

/// opsListen, the admin token and the connection limits (proto-docs/security.md).
void parse_operations(const json::object& root, config& c) {
  parse_host_port(root, "opsListen", host_port(c.ops_host, c.ops_port), c.ops_host, c.ops_port);
  const auto inline_token = get_string(root, "", "adminToken", false);
  c.admin_token_file = get_string(root, "", "adminTokenFile", false);
  if (!inline_token.empty() && !c.admin_token_file.empty())
    fail("adminTokenFile", "give adminToken or adminTokenFile, not both");
  if (!inline_token.empty()) {
    check_admin_token(inline_token, "adminToken");
    c.admin_token = inline_token;
  }
  if (!c.admin_token_file.empty()) {
    std::ifstream f(c.admin_token_file, std::ios::binary);
    if (!f) fail("adminTokenFile", "cannot read file '" + c.admin_token_file + "'");
    std::ostringstream text;
    text << f.rdbuf();
    std::string token = text.str();
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    check_admin_token(token, "adminTokenFile");
    c.admin_token = std::move(token);
  }
  c.max_connections = static_cast<std::size_t>(get_int(root, "", "maxConnections", static_cast<std::int64_t>(c.max_connections), 1, 1000000));
  c.max_connections_per_address =
      static_cast<std::size_t>(get_int(root, "", "maxConnectionsPerAddress",
                                          static_cast<std::int64_t>(c.max_connections_per_address), 1, 1000000));
  c.request_head_timeout_ms = get_int(root, "", "requestHeadTimeoutMs", c.request_head_timeout_ms, 100, 600000);
}

/// The host of an absolute URL, lower-cased, without brackets.
std::string host_of(const std::string& url) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) return {};
  std::string host = u->host_address();
  for (auto& ch : host) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return host;
}

/// notifyHosts (default: the host of notifyUrl) and allowPrivateNotifyAddresses.
void parse_notify_hosts(const json::object& o, const std::string& k, merchant_config& m) {
  if (const auto* v = o.if_contains("notifyHosts")) {
    if (!v->is_array()) fail(k + ".notifyHosts", "must be an array of host names");
    for (const auto& e : v->get_array()) {
      if (!e.is_string() || e.get_string().empty()) fail(k + ".notifyHosts", "must be an array of host names");
      std::string host(e.get_string());
      for (auto& ch : host) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      // A bare host: what parses as the host of https://<host>/ and is all of it.
      if (host_of("https://" + host + "/") != host && host_of("https://[" + host + "]/") != host)
        fail(k + ".notifyHosts", "'" + std::string(e.get_string()) + "' is not a host name (no scheme, port or path)");
      m.notify_hosts.push_back(std::move(host));
    }
  } else if (!m.notify_url.empty()) {
    m.notify_hosts.push_back(host_of(m.notify_url));
  }
  if (const auto* v = o.if_contains("allowPrivateNotifyAddresses")) {
    if (!v->is_bool()) fail(k + ".allowPrivateNotifyAddresses", "must be true or false");
    m.allow_private_notify_addresses = v->get_bool();
  }
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
  a.key_version = get_key_version(o, k, a.key_version);
  a.notify_url = get_string(o, k, "notifyUrl", true);
  const auto notify_url_path = check_url(a.notify_url, "alipayplus.notifyUrl");
  a.notify_path = get_string(o, k, "notifyPath", false, notify_url_path);
  if (a.notify_path.front() != '/') fail("alipayplus.notifyPath", "must start with /");
  a.ca_file = get_string(o, k, "caFile", false);
  if (!a.ca_file.empty()) require_readable(a.ca_file, "alipayplus.caFile");
  a.request_timeout_ms = get_int(o, k, "requestTimeoutMs", a.request_timeout_ms, 100, 600000);
  a.max_clock_skew_seconds = get_int(o, k, "maxClockSkewSeconds", a.max_clock_skew_seconds, 1, 86400);
  a.max_requests_per_second = get_number(o, k, "maxRequestsPerSecond", a.max_requests_per_second, 0, 1e6);
}

void parse_payment(const json::value* v, config& c) {
  if (!v) return;
  const std::string k = "payment";
  const auto& o = as_object(*v, k, payment_keys);
  auto& p = c.payment;
  p.default_expiry_minutes = get_int(o, k, "defaultExpiryMinutes", p.default_expiry_minutes, 1, 60 * 24 * 30);
  p.poll_grace_minutes = get_int(o, k, "pollGraceMinutes", p.poll_grace_minutes, 10, 60 * 24 * 30);
  p.create_wait_ms = get_int(o, k, "createWaitMs", p.create_wait_ms, 0, 600000);
  p.consult_cache_seconds = get_int(o, k, "consultCacheSeconds", p.consult_cache_seconds, 0, 3600);
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

// refund: the defaults are refund_params' (state/machine/refund.hpp), the one place they are
// written. The answer guard is no key: like the payment's it is alipayplus.requestTimeoutMs + 5 s
// (app.cpp), since a shorter one would resend while the first request may still be answered.
void parse_refund(const json::value* v, config& c) {
  if (!v) return;
  const std::string k = "refund";
  const auto& o = as_object(*v, k, refund_keys);
  using std::chrono::milliseconds;
  auto& r = c.refund;
  const auto ms = [](duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); };
  r.retry_base = milliseconds(get_int(o, k, "retryBaseMs", ms(r.retry_base), 100, 3'600'000));
  r.retry_cap = milliseconds(get_int(o, k, "retryCapMs", ms(r.retry_cap), 100, 86'400'000));
  if (r.retry_cap < r.retry_base) fail("refund.retryCapMs", "must be at least refund.retryBaseMs");
  r.confirm_after = static_cast<std::int32_t>(get_int(o, k, "confirmAfterSends", r.confirm_after, 1, 100));
  if (auto problem = r.validate()) fail(k, *problem);
}

// --- merchant identity (issue 14, item 5) -------------------------------------------------

/// UTF-8 code points in `s` (continuation bytes are not counted), as the Alipay+ codec counts.
std::size_t chars_of(std::string_view s) {
  std::size_t n = 0;
  for (const char ch : s) n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

/// A required string of at most `max_chars` characters (ALIPAYPLUS.md limits).
std::string get_bounded(const json::object& o, const std::string& parent, std::string_view key,
                        std::size_t max_chars) {
  auto s = get_string(o, parent, key, true);
  if (chars_of(s) > max_chars)
    fail(join(parent, key), "longer than " + std::to_string(max_chars) + " characters");
  return s;
}

/// The identity keys of `o` (a merchant or a sub-merchant) at `k`.
merchant_identity parse_identity(const json::object& o, const std::string& k) {
  merchant_identity id;
  id.reference_merchant_id = get_bounded(o, k, "referenceMerchantId", 64);
  id.merchant_name = get_bounded(o, k, "merchantName", 256);
  id.merchant_mcc = get_bounded(o, k, "merchantMCC", 64);
  const auto ak = join(k, "merchantAddress");
  const auto* a = o.if_contains("merchantAddress");
  if (!a) fail(ak, "missing");
  const auto& address = as_object(*a, ak, address_keys);
  id.region = get_string(address, ak, "region", true);
  if (id.region.size() != 2 || id.region[0] < 'A' || id.region[0] > 'Z' || id.region[1] < 'A' ||
      id.region[1] > 'Z')
    fail(join(ak, "region"), "must be a 2-letter uppercase ISO 3166 code");
  id.city = get_bounded(address, ak, "city", 256);
  return id;
}

/// The merchant's own record and its sub-merchants; every referenceMerchantId is configured
/// once across all merchants, so a record names exactly one merchant.
void parse_identities(const json::object& o, const std::string& k, merchant_config& m,
                      const std::vector<merchant_config>& earlier) {
  m.identity = parse_identity(o, k);
  if (const auto* subs = o.if_contains("subMerchants")) {
    const auto sk = k + ".subMerchants";
    if (!subs->is_array()) fail(sk, "must be an array of merchant records");
    for (std::size_t i = 0; i < subs->get_array().size(); ++i) {
      const auto ek = sk + "[" + std::to_string(i) + "]";
      m.sub_merchants.push_back(parse_identity(as_object(subs->get_array()[i], ek, identity_keys), ek));
    }
  }
  std::vector<const merchant_identity*> seen;
  for (const auto& other : earlier) {
    seen.push_back(&other.identity);
    for (const auto& s : other.sub_merchants) seen.push_back(&s);
  }
  auto check = [&](const merchant_identity& id, const std::string& key) {
    for (const auto* s : seen)
      if (s->reference_merchant_id == id.reference_merchant_id)
        fail(key, "referenceMerchantId '" + id.reference_merchant_id + "' is configured twice");
    seen.push_back(&id);
  };
  check(m.identity, k + ".referenceMerchantId");
  for (std::size_t i = 0; i < m.sub_merchants.size(); ++i)
    check(m.sub_merchants[i], k + ".subMerchants[" + std::to_string(i) + "].referenceMerchantId");
}

// --- end of merchant identity -----------------------------------------------------------------

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
    // Checked here, not at the first webhook: a bad secret would otherwise kill every event.
    for (const auto& sec : m.notify_secrets) {
      const auto key = webhook_key(sec);
      if (!key) fail(k + ".notifySecret", "must be whsec_ followed by standard Base64");
      if (key->size() < 24) fail(k + ".notifySecret", "the key must be at least 24 bytes (32 Base64 characters)");
    }
    m.notify_url = get_string(o, k, "notifyUrl", false);
    if (!m.notify_url.empty()) check_url(m.notify_url, k + ".notifyUrl");
    if (!m.notify_url.empty() && m.notify_secrets.empty()) fail(k + ".notifySecret", "missing: needed to sign webhooks");
    m.ca_file = get_string(o, k, "caFile", false);
    if (!m.ca_file.empty()) require_readable(m.ca_file, k + ".caFile");
    parse_identities(o, k, m, c.merchants);  // merchant identity (issue 14, item 5)
    parse_notify_hosts(o, k, m);
    // The sender would refuse it at every attempt: say so now rather than let webhooks die.
    if (!m.notify_url.empty() && !m.allow_private_notify_addresses && is_loopback_host(host_of(m.notify_url)))
      fail(k + ".notifyUrl", "webhooks to a loopback address are refused unless allowPrivateNotifyAddresses is true "
                             "(development only)");
    for (const auto& other : c.merchants) {
      if (other.id == m.id) fail(k + ".id", "duplicate merchant id '" + m.id + "'");
      if (other.token == m.token) fail(k + ".token", "the same token is used by two merchants");
    }
    c.merchants.push_back(std::move(m));
  }
}

// store.cluster: the instance's name in the shard table and the lease. An instance id is shown
// by cashierctl cluster and in logs, so it is printable ASCII without spaces, and short; the
// lease stays between 1 s (tests: renew every 250 ms) and 10 min (failover takes a lease).
constexpr std::size_t max_instance_id = 64;
void parse_cluster(const json::value& v, config& c) {
  const auto& o = as_object(v, "store.cluster", cluster_keys);
  cluster_config cc;
  cc.instance_id = get_string(o, "store.cluster", "instanceId", false);
  if (cc.instance_id.size() > max_instance_id)
    fail("store.cluster.instanceId", "must be at most " + std::to_string(max_instance_id) + " characters");
  for (const char ch : cc.instance_id)
    if (ch < 0x21 || ch > 0x7e) fail("store.cluster.instanceId", "must be printable ASCII without spaces");
  cc.lease_seconds = get_number(o, "store.cluster", "leaseSeconds", cc.lease_seconds, 1, 600);
  c.store.cluster = std::move(cc);
}

// store: the engine, and PostgreSQL's connection string, inline or in a file of its own (which
// may then hold the password away from the config). The conninfo's syntax is checked here,
// without connecting; a bad one is reported without quoting it.
void parse_store(const json::value* v, config& c) {
  if (v == nullptr) return;
  const auto& o = as_object(*v, "store", store_keys);
  const auto engine = get_string(o, "store", "engine", false, "sqlite");
  if (engine == "sqlite") c.store.engine = store_engine::sqlite;
  else if (engine == "postgres") c.store.engine = store_engine::postgres;
  else fail("store.engine", "must be \"sqlite\" or \"postgres\"");
  const auto* pg = o.if_contains("postgres");
  const auto* cluster = o.if_contains("cluster");
  if (c.store.engine == store_engine::sqlite) {
    if (pg != nullptr) fail("store.postgres", "is for store.engine \"postgres\"");
    if (cluster != nullptr)
      fail("store.cluster", "is for store.engine \"postgres\": several instances share one PostgreSQL database, "
                            "never one SQLite file");
    return;
  }
  if (cluster != nullptr) parse_cluster(*cluster, c);
  if (pg == nullptr) fail("store.postgres", "missing (store.engine is \"postgres\")");
  const auto& p = as_object(*pg, "store.postgres", postgres_keys);
  c.store.postgres_conninfo = get_string(p, "store.postgres", "conninfo", false);
  c.store.postgres_conninfo_file = get_string(p, "store.postgres", "conninfoFile", false);
  if (c.store.postgres_conninfo.empty() == c.store.postgres_conninfo_file.empty())
    fail("store.postgres", "give conninfo or conninfoFile, one of them");
  if (!c.store.postgres_conninfo_file.empty()) {
    std::ifstream f(c.store.postgres_conninfo_file, std::ios::binary);
    if (!f) fail("store.postgres.conninfoFile", "cannot read file '" + c.store.postgres_conninfo_file + "'");
    std::ostringstream text;
    text << f.rdbuf();
    std::string conninfo = text.str();
    while (!conninfo.empty() && (conninfo.back() == '\n' || conninfo.back() == '\r')) conninfo.pop_back();
    if (conninfo.empty()) fail("store.postgres.conninfoFile", "is empty");
    c.store.postgres_conninfo = std::move(conninfo);
  }
  const std::string key = c.store.postgres_conninfo_file.empty() ? "store.postgres.conninfo" : "store.postgres.conninfoFile";
  if (!store::postgres_conninfo_valid(c.store.postgres_conninfo))
    fail(key, "is not a libpq connection string (key=value pairs or a postgresql:// URI)");
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
  parse_store(root.if_contains("store"), c);
  // The SQLite file: required with the SQLite engine, meaningless with another.
  c.database = get_string(root, "", "database", c.store.engine == store_engine::sqlite);
  if (c.store.engine != store_engine::sqlite && !c.database.empty())
    fail("database", "is the SQLite file: remove it with store.engine \"postgres\"");
  const auto sync = get_string(root, "", "databaseSynchronous", false, c.synchronous_full ? "FULL" : "NORMAL");
  if (sync != "FULL" && sync != "NORMAL") fail("databaseSynchronous", "must be \"FULL\" or \"NORMAL\"");
  c.synchronous_full = sync == "FULL";
  const auto* ap = root.if_contains("alipayplus");
  if (!ap) fail("alipayplus", "missing");
  parse_alipayplus(*ap, c);
  parse_payment(root.if_contains("payment"), c);
  parse_refund(root.if_contains("refund"), c);
  parse_merchants(root.if_contains("merchants"), c);
  c.time_scale = get_number(root, "", "timeScale", c.time_scale, 1, 1e7);
  parse_operations(root, c);
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

std::string host_port(const std::string& host, std::uint16_t port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::vector<std::int64_t> default_poll_intervals_seconds() {
  std::vector<std::int64_t> out;
  for (const auto d : product_defaults::inquiry_intervals)
    out.push_back(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  return out;
}

machine_params machine_params_of(const config& cfg) {
  machine_params p;
  p.inquiry_intervals.clear();
  for (auto s : cfg.payment.poll_intervals_seconds) p.inquiry_intervals.push_back(std::chrono::seconds(s));
  p.poll_grace = std::chrono::minutes(cfg.payment.poll_grace_minutes);
  p.default_expiry = std::chrono::minutes(cfg.payment.default_expiry_minutes);
  // Wait a little longer than a request may take before treating the call as lost.
  p.answer_guard = std::chrono::milliseconds(cfg.alipayplus.request_timeout_ms) + product_defaults::answer_guard_margin;
  return p;
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
  auto parsed = parse_config(s.str());
  if (parsed) parsed->source_path = path;
  return parsed;
}

}  // namespace cashier::daemon
