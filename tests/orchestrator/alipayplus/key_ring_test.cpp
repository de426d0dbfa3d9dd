// Tests of the Alipay+ key ring: adding and removing keys, choosing the key by keyVersion with
// the documented fallback, each verification outcome, and keyVersion from config JSON.
#include <doctest/doctest.h>

#include <string>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "orchestrator/alipayplus/key_ring.hpp"
#include "orchestrator/alipayplus/signature_header.hpp"
#include "orchestrator/alipayplus/signer.hpp"
#include "tests/orchestrator/alipayplus/openssl_cli.hpp"

using namespace cashier::aplus;
using cashier::test::cli_keys;
using cashier::test::read_bytes;

namespace {

private_key private_n(int n) {
  auto key = load_private_key_pem(read_bytes(cli_keys(n).pkcs8));
  REQUIRE(key.has_value());
  return *key;
}

public_key public_n(int n) {
  auto key = load_public_key_pem(read_bytes(cli_keys(n).spki));
  REQUIRE(key.has_value());
  return *key;
}

const std::string content = response_content("POST", "/aps/api/v1/payments/pay", "C", "T", "{}");

/// A Signature header over `content` made with key pair `n`, naming `version`.
std::string header_by(int n, std::string_view version) {
  return format_signature_header(version, sign(private_n(n), content));
}

/// Keys "1" (pair 0) and "2" (pair 1).
verifier_keys both_keys() {
  verifier_keys keys;
  REQUIRE(keys.add("1", public_n(0)).has_value());
  REQUIRE(keys.add("2", public_n(1)).has_value());
  return keys;
}

}  // namespace

TEST_CASE("key ring: at most two keys, distinct versions, removable") {
  verifier_keys keys = both_keys();
  CHECK(keys.entries().size() == 2);
  CHECK(keys.entries()[0].key_version == "1");
  const auto third = keys.add("3", public_n(0));
  REQUIRE_FALSE(third.has_value());
  CHECK(third.error().message == "at most 2 Alipay+ public keys may be active");
  CHECK(keys.find("2") != nullptr);
  CHECK(keys.find("3") == nullptr);
  CHECK(keys.remove("1"));
  CHECK_FALSE(keys.remove("1"));
  const auto dup = keys.add("2", public_n(0));
  REQUIRE_FALSE(dup.has_value());
  CHECK(dup.error().message == "an Alipay+ public key with keyVersion \"2\" is already active");
  CHECK(keys.add("3", public_n(0)).has_value());
}

TEST_CASE("key ring: a named, active keyVersion selects that key only") {
  const auto keys = both_keys();
  CHECK(verify_with(keys, header_by(0, "1"), content) == verify_outcome::ok);
  CHECK(verify_with(keys, header_by(1, "2"), content) == verify_outcome::ok);
  // Signed by key 1 but claiming version 2: only key 2 is tried.
  CHECK(verify_with(keys, header_by(0, "2"), content) == verify_outcome::bad_signature);
}

TEST_CASE("key ring: no keyVersion or an unknown one tries every active key") {
  const auto keys = both_keys();
  CHECK(verify_with(keys, header_by(0, ""), content) == verify_outcome::ok);
  CHECK(verify_with(keys, header_by(1, ""), content) == verify_outcome::ok);
  CHECK(verify_with(keys, header_by(1, "9"), content) == verify_outcome::ok);
  verifier_keys only_first;
  REQUIRE(only_first.add("1", public_n(0)).has_value());
  CHECK(verify_with(only_first, header_by(1, ""), content) == verify_outcome::bad_signature);
  CHECK(verify_with(only_first, header_by(1, "9"), content) == verify_outcome::bad_signature);
}

TEST_CASE("key ring: each failure has its own outcome") {
  const auto keys = both_keys();
  CHECK(verify_with(keys, "", content) == verify_outcome::missing_header);
  CHECK(verify_with(keys, "  ", content) == verify_outcome::missing_header);
  CHECK(verify_with(keys, "signature=abc", content) == verify_outcome::bad_header);
  CHECK(verify_with(keys, "algorithm=SHA1withRSA,signature=abc", content) ==
        verify_outcome::bad_header);
  CHECK(verify_with(keys, "algorithm=RSA256,signature=not-base64", content) ==
        verify_outcome::bad_signature);
  CHECK(verify_with(keys, header_by(0, "1"), content + "x") == verify_outcome::bad_signature);
  CHECK(verify_with(verifier_keys{}, header_by(0, "1"), content) == verify_outcome::no_key);
}

TEST_CASE("key ring: outcome names for metrics") {
  CHECK(to_string(verify_outcome::ok) == "ok");
  CHECK(to_string(verify_outcome::missing_header) == "missing_header");
  CHECK(to_string(verify_outcome::bad_header) == "bad_header");
  CHECK(to_string(verify_outcome::no_key) == "no_key");
  CHECK(to_string(verify_outcome::bad_signature) == "bad_signature");
}

TEST_CASE("key ring: keyVersion from config, a number or a string") {
  const auto version = [](std::string_view json) {
    const auto v = key_version_from_json(boost::json::parse(json));
    return v ? *v : "error: " + v.error().message;
  };
  CHECK(version("1") == "1");
  CHECK(version("\"1\"") == "1");
  CHECK(version("\"v2\"") == "v2");
  CHECK(version("0") == "0");
  CHECK(version("18446744073709551615") == "18446744073709551615");
  const std::string bad =
      "error: keyVersion must be a non-negative whole number or a non-empty string";
  CHECK(version("-1") == bad);
  CHECK(version("1.5") == bad);
  CHECK(version("\"\"") == bad);
  CHECK(version("true") == bad);
  CHECK(version("null") == bad);
  CHECK(version("[1]") == bad);
}
