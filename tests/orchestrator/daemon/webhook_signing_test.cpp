// Tests of Standard Webhooks signing: the specification's published vector, a cross-check
// against the openssl CLI as an independent HMAC implementation, secret rotation (two
// signatures), tampering, and the secret formats accepted and refused.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "orchestrator/daemon/webhook_signing.hpp"

using namespace cashier::daemon;

namespace {

/// The openssl CLI's Base64 HMAC-SHA256 of `content` under the raw key with hex `key_hex`.
std::string cli_hmac_b64(const std::string& key_hex, const std::string& content) {
  std::string dir = (std::filesystem::temp_directory_path() / "webhook-sign-XXXXXX").string();
  REQUIRE(mkdtemp(dir.data()) != nullptr);
  const std::string in = dir + "/content";
  const std::string out = dir + "/mac";
  std::ofstream(in, std::ios::binary) << content;
  const std::string cmd = "openssl dgst -sha256 -mac HMAC -macopt hexkey:" + key_hex + " -binary '" + in +
                          "' | openssl base64 -A > '" + out + "'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream result(out, std::ios::binary);
  std::string mac{std::istreambuf_iterator<char>(result), std::istreambuf_iterator<char>()};
  std::filesystem::remove_all(dir);
  while (!mac.empty() && (mac.back() == '\n' || mac.back() == '\r')) mac.pop_back();
  return mac;
}

// The Standard Webhooks specification's test vector (also used by the svix libraries).
const std::string spec_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const std::string spec_id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::int64_t spec_ts = 1614265330;
const std::string spec_body = R"({"test": 2432232314})";

// Two more keys: 32 bytes 0x00..0x1f and the ASCII text "another key for rotation".
const std::string key_a_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const std::string secret_a = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const std::string key_b_hex = "616e6f74686572206b657920666f7220726f746174696f6e";
const std::string secret_b = "whsec_YW5vdGhlciBrZXkgZm9yIHJvdGF0aW9u";

}  // namespace

TEST_CASE("the Standard Webhooks reference vector is reproduced and verifies") {
  const std::vector<std::string> secrets{spec_secret};
  const auto header = sign_webhook(secrets, spec_id, spec_ts, spec_body);
  REQUIRE(header.has_value());
  CHECK(*header == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  CHECK(verify_webhook(secrets, spec_id, spec_ts, spec_body, *header));
}

TEST_CASE("signatures match the openssl CLI over exact bytes, NUL and UTF-8 included") {
  const std::string body = std::string(R"({"type":"payment.succeeded","note":"caf\u00e9 ☕ \"q\""})") +
                           std::string("\0tail\n", 6);
  const std::string id = "evt_42_3";
  const std::int64_t ts = 1700000123;
  const std::vector<std::string> secrets{secret_a};
  const auto header = sign_webhook(secrets, id, ts, body);
  REQUIRE(header.has_value());
  CHECK(*header == "v1," + cli_hmac_b64(key_a_hex, id + "." + std::to_string(ts) + "." + body));
}

TEST_CASE("during a rotation both signatures are sent, space-separated, each verifiable alone") {
  const std::vector<std::string> both{secret_a, secret_b};
  const std::string id = "evt_7_1";
  const std::string body = R"({"type":"payment.failed"})";
  const auto header = sign_webhook(both, id, 1700000000, body);
  REQUIRE(header.has_value());
  const std::string content = id + ".1700000000." + body;
  CHECK(*header == "v1," + cli_hmac_b64(key_a_hex, content) + " v1," + cli_hmac_b64(key_b_hex, content));
  CHECK(verify_webhook(std::vector<std::string>{secret_a}, id, 1700000000, body, *header));
  CHECK(verify_webhook(std::vector<std::string>{secret_b}, id, 1700000000, body, *header));
  CHECK_FALSE(verify_webhook(std::vector<std::string>{spec_secret}, id, 1700000000, body, *header));
}

TEST_CASE("verification fails when the body, id, timestamp or signature changes") {
  const std::vector<std::string> secrets{secret_a};
  const auto header = sign_webhook(secrets, "evt_1_1", 1700000000, "{}").value();
  CHECK(verify_webhook(secrets, "evt_1_1", 1700000000, "{}", header));
  CHECK_FALSE(verify_webhook(secrets, "evt_1_1", 1700000000, "{ }", header));
  CHECK_FALSE(verify_webhook(secrets, "evt_1_2", 1700000000, "{}", header));
  CHECK_FALSE(verify_webhook(secrets, "evt_1_1", 1700000001, "{}", header));
  std::string flipped = header;
  flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
  CHECK_FALSE(verify_webhook(secrets, "evt_1_1", 1700000000, "{}", flipped));
  CHECK_FALSE(verify_webhook(secrets, "evt_1_1", 1700000000, "{}", header.substr(3)));  // no "v1,"
  CHECK_FALSE(verify_webhook(secrets, "evt_1_1", 1700000000, "{}", ""));
  // Unknown versions and junk entries are skipped, not fatal.
  CHECK(verify_webhook(secrets, "evt_1_1", 1700000000, "{}", "v2,abc v1a,xyz " + header));
}

TEST_CASE("secrets: whsec_ prefix and standard Base64 with or without padding") {
  CHECK(webhook_key("whsec_QQ==").value() == "A");
  CHECK(webhook_key("whsec_QQ").value() == "A");
  CHECK(webhook_key("whsec_QUI=").value() == "AB");
  CHECK(webhook_key("whsec_QUJD").value() == "ABC");
  CHECK(webhook_key("whsec_+/+/").value() == "\xfb\xff\xbf");
  CHECK(webhook_key(spec_secret).value().size() == 24);
  CHECK(webhook_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").has_error());  // no prefix
  CHECK(webhook_key("whsec_").has_error());                           // empty key
  CHECK(webhook_key("whsec_Q").has_error());                          // dangling 6 bits
  CHECK(webhook_key("whsec_QQ=").has_error());                        // bad padding
  CHECK(webhook_key("whsec_Q=Q=").has_error());                       // padding inside
  CHECK(webhook_key("whsec_QUJD-_").has_error());                     // base64url alphabet
  CHECK(webhook_key("whsec_QU JD").has_error());                      // blanks
}

TEST_CASE("signing refuses no secrets or an unusable one, without showing the key") {
  CHECK(sign_webhook(std::vector<std::string>{}, "evt", 1, "{}").has_error());
  const auto bad = sign_webhook(std::vector<std::string>{secret_a, "whsec_not base64!"}, "evt", 1, "{}");
  REQUIRE(bad.has_error());
  CHECK(bad.error().message.find("not base64") == std::string::npos);
  CHECK(bad.error().message.find("whsec_<base64>") != std::string::npos);
  // An unusable secret among the verifying ones does not stop a good one from matching.
  const auto header = sign_webhook(std::vector<std::string>{secret_b}, "evt", 1, "{}").value();
  CHECK(verify_webhook(std::vector<std::string>{"junk", secret_b}, "evt", 1, "{}", header));
}
