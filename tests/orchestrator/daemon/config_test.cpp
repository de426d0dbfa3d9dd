// Tests for config parsing: defaults, every validation error names its key.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "orchestrator/daemon/config.hpp"

using namespace cashier::daemon;
namespace fs = std::filesystem;

namespace {

/// A temp dir with placeholder key files, so the readability checks pass.
struct files {
  fs::path dir = fs::temp_directory_path() / ("cashier_config_test_" + std::to_string(::getpid()));
  files() {
    fs::create_directories(dir);
    for (auto n : {"priv.pem", "pub.pem", "pub2.pem"}) std::ofstream(dir / n) << "x";
  }
  ~files() { fs::remove_all(dir); }
  std::string p(const char* n) const { return (dir / n).string(); }
};

std::string good(const files& f, const std::string& alipay_extra = "", const std::string& root_extra = "") {
  return R"({
    // comments are allowed
    "listen": "127.0.0.1:8443",
    "database": "/tmp/x.db",
    "alipayplus": {
      "gateway": "https://open-sea-global.alipayplus.com",
      "clientId": "TEST_CLIENT",
      "privateKey": ")" + f.p("priv.pem") + R"(",
      "alipayplusPublicKey": ")" + f.p("pub.pem") + R"(",
      "keyVersion": 2,
      "notifyUrl": "https://acqp.example.com/alipayplus/notify")" + alipay_extra + R"(
    },
    "merchants": [{"id": "m1", "token": "tok_0123456789abcdef", "notifySecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                   "notifyUrl": "https://merchant.example.com/hook",
                   "referenceMerchantId": "M0001", "merchantName": "Shop", "merchantMCC": "5732",
                   "merchantAddress": {"region": "JP", "city": "Tokyo"}}])" + root_extra + R"(
  })";
}

config_error error_of(const std::string& text) {
  auto r = parse_config(text);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

}  // namespace

TEST_CASE("a minimal config parses with PRODUCT.md's defaults") {
  files f;
  auto r = parse_config(good(f));
  REQUIRE_MESSAGE(r.has_value(), to_string(r.error()));
  const auto& c = *r;
  CHECK(c.listen_host == "127.0.0.1");
  CHECK(c.listen_port == 8443);
  CHECK(c.alipayplus.key_version == "2");
  CHECK(c.alipayplus.notify_path == "/alipayplus/notify");
  CHECK(c.alipayplus.request_timeout_ms == 15000);
  CHECK(c.alipayplus.max_clock_skew_seconds == 600);
  CHECK(c.payment.create_wait_ms == 10000);
  CHECK(c.payment.default_expiry_minutes == 15);
  CHECK(c.payment.poll_grace_minutes == 10);
  CHECK(c.payment.poll_intervals_seconds == std::vector<std::int64_t>{2, 4, 8, 15, 30, 60});
  CHECK(c.time_scale == 1);
  CHECK(c.synchronous_full);
  REQUIRE(c.merchants.size() == 1);
  CHECK(c.merchants[0].notify_secrets.size() == 1);
  CHECK(c.merchants[0].identity.reference_merchant_id == "M0001");
  CHECK(c.merchants[0].identity.city == "Tokyo");
  CHECK(c.merchants[0].sub_merchants.empty());
  CHECK(c.payment.consult_cache_seconds == 60);
}

TEST_CASE("keyVersion may be a string and two public keys may be active") {
  files f;
  auto text = good(f);
  text.replace(text.find("\"keyVersion\": 2"), 15, "\"keyVersion\": \"v3\"");
  text.replace(text.find("\"" + f.p("pub.pem") + "\""), f.p("pub.pem").size() + 2,
               "[{\"path\": \"" + f.p("pub.pem") + "\", \"keyVersion\": 1}, {\"path\": \"" + f.p("pub2.pem") + "\", \"keyVersion\": \"2\"}]");
  auto r = parse_config(text);
  REQUIRE_MESSAGE(r.has_value(), to_string(r.error()));
  CHECK(r->alipayplus.key_version == "v3");
  REQUIRE(r->alipayplus.public_keys.size() == 2);
  CHECK(r->alipayplus.public_keys[1].key_version == "2");
}

TEST_CASE("errors name the offending key") {
  files f;
  CHECK(error_of("{").key == "");
  CHECK(error_of(good(f, ",\"pollGrace\": 3")).key == "alipayplus.pollGrace");
  CHECK(error_of(good(f, "", ",\"payment\": {\"pollGraceMinutes\": 9}")).key == "payment.pollGraceMinutes");
  CHECK(error_of(good(f, "", ",\"payment\": {\"pollIntervalsSeconds\": [2, 0]}")).key == "payment.pollIntervalsSeconds");
  CHECK(error_of(good(f, "", ",\"timeScale\": 0.5")).key == "timeScale");
  CHECK(error_of(good(f, ",\"requestTimeoutMs\": \"5\"")).key == "alipayplus.requestTimeoutMs");
  auto text = good(f);
  text.replace(text.find("https://open-sea"), 8, "http://");
  CHECK(error_of(text).key == "alipayplus.gateway");
  text = good(f);
  text.replace(text.find(f.p("priv.pem")), f.p("priv.pem").size(), "/nonexistent/key.pem");
  const auto e = error_of(text);
  CHECK(e.key == "alipayplus.privateKey");
  CHECK(e.message.find("/nonexistent/key.pem") != std::string::npos);
  text = good(f);
  text.replace(text.find("127.0.0.1:8443"), 14, "127.0.0.1:99999");
  CHECK(error_of(text).key == "listen");
  text = good(f);
  text.replace(text.find("whsec_"), 6, "secret");
  CHECK(error_of(text).key == "merchants[0].notifySecret");
}

TEST_CASE("plain http is accepted only towards loopback") {
  files f;
  auto text = good(f);
  text.replace(text.find("https://open-sea-global.alipayplus.com"), 38, "http://127.0.0.1:9443");
  CHECK(parse_config(text).has_value());
  CHECK(is_loopback_host("localhost"));
  CHECK(is_loopback_host("127.0.0.1"));
  CHECK(is_loopback_host("[::1]"));
  CHECK_FALSE(is_loopback_host("10.0.0.1"));
  CHECK_FALSE(is_loopback_host("localhost.evil.com"));
}

// Issue 14, item 5: each merchant's identity towards Alipay+ comes from the config, validated.
TEST_CASE("merchant identity records are required and validated, naming the key") {
  files f;
  const auto without = [&](const std::string& piece) {
    auto text = good(f);
    text.replace(text.find(piece), piece.size(), "");
    return text;
  };
  CHECK(error_of(without(R"("referenceMerchantId": "M0001", )")).key == "merchants[0].referenceMerchantId");
  CHECK(error_of(without(R"("merchantMCC": "5732",)")).key == "merchants[0].merchantMCC");
  CHECK(error_of(without(R"(,
                   "referenceMerchantId": "M0001", "merchantName": "Shop", "merchantMCC": "5732",
                   "merchantAddress": {"region": "JP", "city": "Tokyo"})")).key == "merchants[0].referenceMerchantId");
  const auto replaced = [&](const std::string& from, const std::string& to) {
    auto text = good(f);
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  CHECK(error_of(replaced("\"M0001\"", "\"" + std::string(65, 'M') + "\"")).key ==
        "merchants[0].referenceMerchantId");
  CHECK(error_of(replaced("\"Shop\"", "\"" + std::string(257, 'S') + "\"")).key == "merchants[0].merchantName");
  CHECK(error_of(replaced("\"JP\"", "\"jp\"")).key == "merchants[0].merchantAddress.region");
  CHECK(error_of(replaced(R"("city": "Tokyo")", R"("city": "Tokyo", "zip": "1")")).key ==
        "merchants[0].merchantAddress.zip");
  // 256 characters of a multi-byte name are within the limit (characters, not bytes).
  std::string long_name;
  for (int i = 0; i < 256; ++i) long_name += "\xe5\xba\x97";  // 店
  CHECK(parse_config(replaced("\"Shop\"", "\"" + long_name + "\"")).has_value());

  const std::string subs = R"(, "subMerchants": [{"referenceMerchantId": "M0001-A", "merchantName": "Stall",
      "merchantMCC": "5812", "merchantAddress": {"region": "JP", "city": "Osaka"}}])";
  auto r = parse_config(replaced(R"("city": "Tokyo"})", R"("city": "Tokyo"})" + subs));
  REQUIRE_MESSAGE(r.has_value(), to_string(r.error()));
  REQUIRE(r->merchants[0].sub_merchants.size() == 1);
  CHECK(r->merchants[0].sub_merchants[0].city == "Osaka");
  auto bad_sub = subs;
  bad_sub.replace(bad_sub.find("\"5812\""), 6, "\"\"");
  CHECK(error_of(replaced(R"("city": "Tokyo"})", R"("city": "Tokyo"})" + bad_sub)).key ==
        "merchants[0].subMerchants[0].merchantMCC");
  // A referenceMerchantId names one merchant: configured twice is refused.
  auto twice = subs;
  twice.replace(twice.find("M0001-A"), 7, "M0001");
  CHECK(error_of(replaced(R"("city": "Tokyo"})", R"("city": "Tokyo"})" + twice)).key ==
        "merchants[0].subMerchants[0].referenceMerchantId");
}

TEST_CASE("payment.consultCacheSeconds is bounded") {
  files f;
  auto r = parse_config(good(f, "", ",\"payment\": {\"consultCacheSeconds\": 0}"));
  REQUIRE(r.has_value());
  CHECK(r->payment.consult_cache_seconds == 0);
  CHECK(error_of(good(f, "", ",\"payment\": {\"consultCacheSeconds\": 3601}")).key == "payment.consultCacheSeconds");
}

TEST_CASE("is_loopback_host parses addresses: a DNS name that looks like one is not loopback") {
  for (auto h : {"localhost", "127.0.0.1", "127.1.2.3", "127.255.255.255", "::1", "[::1]"}) {
    CAPTURE(h);
    CHECK(is_loopback_host(h));
  }
  for (auto h : {"127.evil.example", "127.0.0.1.evil.example", "127.0.0.1x", "127.1", "128.0.0.1", "[127.0.0.1]",
                 "::2", "[::ffff:8.8.8.8]", "LOCALHOST.evil", "", "[]", "0.0.0.0"}) {
    CAPTURE(h);
    CHECK_FALSE(is_loopback_host(h));
  }
  files f;
  for (auto url : {"http://127.evil.example:9443", "http://127.0.0.1.evil.example/"}) {
    CAPTURE(url);
    auto text = good(f);
    text.replace(text.find("https://open-sea-global.alipayplus.com"), 38, url);
    CHECK(error_of(text).key == "alipayplus.gateway");
  }
}

TEST_CASE("notifySecret is whsec_ and strict Base64 of at least 24 bytes, checked at load") {
  files f;
  for (auto secret : {"whsec_c2VjcmV0a2V5", "whsec_!!!!", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La LaSw",
                      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=A", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"}) {
    CAPTURE(secret);
    auto text = good(f);
    text.replace(text.find("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), 38, secret);
    CHECK(error_of(text).key == "merchants[0].notifySecret");
  }
}

TEST_CASE("opsListen, the admin token and the connection limits") {
  files f;
  auto r = parse_config(good(f));
  REQUIRE(r.has_value());
  CHECK(r->ops_host == "127.0.0.1");
  CHECK(r->ops_port == 9464);
  CHECK(r->admin_token.empty());
  CHECK(r->max_connections == 1024);
  CHECK(r->max_connections_per_address == 64);
  CHECK(r->request_head_timeout_ms == 5000);
  r = parse_config(good(f, "", R"(, "opsListen": "[::1]:9000", "adminToken": "admin_0123456789abcdef",
                                   "maxConnectionsPerAddress": 8, "requestHeadTimeoutMs": 2000)"));
  REQUIRE_MESSAGE(r.has_value(), to_string(r.error()));
  CHECK(r->ops_host == "::1");
  CHECK(r->ops_port == 9000);
  CHECK(r->admin_token == "admin_0123456789abcdef");
  CHECK(r->max_connections_per_address == 8);
  CHECK(r->request_head_timeout_ms == 2000);
  CHECK(error_of(good(f, "", R"(, "adminToken": "short")")).key == "adminToken");
  CHECK(error_of(good(f, "", R"(, "adminToken": "has white space 0123456789")")).key == "adminToken");
  CHECK(error_of(good(f, "", R"(, "opsListen": "nowhere")")).key == "opsListen");
  CHECK(error_of(good(f, "", R"(, "maxConnectionsPerAddress": 0)")).key == "maxConnectionsPerAddress");
  const auto token_file = f.p("admin.token");
  std::ofstream(token_file) << "file_token_0123456789abcdef\n";
  r = parse_config(good(f, "", R"(, "adminTokenFile": ")" + token_file + R"(")"));
  REQUIRE_MESSAGE(r.has_value(), to_string(r.error()));
  CHECK(r->admin_token == "file_token_0123456789abcdef");
  CHECK(r->admin_token_file == token_file);
  CHECK(error_of(good(f, "", R"(, "adminTokenFile": ")" + token_file + R"(", "adminToken": "admin_0123456789abcdef")"))
            .key == "adminTokenFile");
  CHECK(error_of(good(f, "", R"(, "adminTokenFile": "/nonexistent/token")")).key == "adminTokenFile");
  std::ofstream(token_file) << "short\n";
  CHECK(error_of(good(f, "", R"(, "adminTokenFile": ")" + token_file + R"(")")).key == "adminTokenFile");
}

TEST_CASE("notifyHosts: default the host of notifyUrl, or a list of bare host names") {
  files f;
  auto r = parse_config(good(f));
  REQUIRE(r.has_value());
  CHECK(r->merchants[0].notify_hosts == std::vector<std::string>{"merchant.example.com"});
  CHECK_FALSE(r->merchants[0].allow_private_notify_addresses);
  auto text = good(f);
  text.replace(text.find(R"("notifyUrl": "https://merchant.example.com/hook")"), 48,
               R"("notifyUrl": "https://merchant.example.com/hook", "notifyHosts": ["Hooks.Example.com", "::1"],
                 "allowPrivateNotifyAddresses": true)");
  r = parse_config(text);
  REQUIRE_MESSAGE(r.has_value(), to_string(r.error()));
  CHECK(r->merchants[0].notify_hosts == std::vector<std::string>{"hooks.example.com", "::1"});
  CHECK(r->merchants[0].allow_private_notify_addresses);
  for (auto bad : {R"("notifyHosts": ["https://x.example"])", R"("notifyHosts": ["x.example:443"])",
                   R"("notifyHosts": ["x.example/path"])", R"("notifyHosts": "x.example")", R"("notifyHosts": [""])"}) {
    CAPTURE(bad);
    text = good(f);
    text.replace(text.find(R"("notifyUrl": "https://merchant.example.com/hook")"), 48,
                 std::string(R"("notifyUrl": "https://merchant.example.com/hook", )") + bad);
    CHECK(error_of(text).key == "merchants[0].notifyHosts");
  }
  text = good(f);
  text.replace(text.find(R"("notifyUrl": "https://merchant.example.com/hook")"), 48,
               R"("allowPrivateNotifyAddresses": "yes")");
  CHECK(error_of(text).key == "merchants[0].allowPrivateNotifyAddresses");
  // A loopback notifyUrl would be refused at every send: an error at load unless allowed.
  text = good(f);
  text.replace(text.find("https://merchant.example.com/hook"), 33, "http://127.0.0.1:9000/hook");
  CHECK(error_of(text).key == "merchants[0].notifyUrl");
  text.replace(text.find(R"("notifyUrl": "http://127.0.0.1)"), 11, R"("allowPrivateNotifyAddresses": true, "notifyUrl")");
  CHECK(parse_config(text).has_value());
}

TEST_CASE("refund.*: the refund machine's schedule, defaults from refund_params, validated naming the key") {
  files f;
  auto d = parse_config(good(f));
  REQUIRE(d.has_value());
  const cashier::refund_params machine;  // the defaults are the machine's, written once
  CHECK(d->refund.retry_base == machine.retry_base);
  CHECK(d->refund.retry_cap == machine.retry_cap);
  CHECK(d->refund.confirm_after == machine.confirm_after);
  auto r = parse_config(good(f, "", R"(, "refund": {"retryBaseMs": 500, "retryCapMs": 60000, "confirmAfterSends": 3})"));
  REQUIRE_MESSAGE(r.has_value(), to_string(r.error()));
  CHECK(r->refund.retry_base == std::chrono::milliseconds(500));
  CHECK(r->refund.retry_cap == std::chrono::minutes(1));
  CHECK(r->refund.confirm_after == 3);
  CHECK(error_of(good(f, "", R"(, "refund": {"retryBaseMs": 5000, "retryCapMs": 1000})")).key == "refund.retryCapMs");
  CHECK(error_of(good(f, "", R"(, "refund": {"retryBaseMs": 0})")).key == "refund.retryBaseMs");
  CHECK(error_of(good(f, "", R"(, "refund": {"confirmAfterSends": 0})")).key == "refund.confirmAfterSends");
  CHECK(error_of(good(f, "", R"(, "refund": {"confirmAfterSends": "5"})")).key == "refund.confirmAfterSends");
  CHECK(error_of(good(f, "", R"(, "refund": {"answerGuardMs": 1})")).key == "refund.answerGuardMs");
  CHECK(error_of(good(f, "", R"(, "refund": [])")).key == "refund");
}
