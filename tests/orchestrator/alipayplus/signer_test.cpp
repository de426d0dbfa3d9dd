// Tests of the string to sign and of RSA256 sign/verify, checked against the openssl CLI as an
// independent implementation: the CLI's signatures must verify here, ours must verify there and
// be byte-identical to the CLI's (PKCS#1 v1.5 is deterministic), and a change to any part of the
// signed content must break verification.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include <openssl/err.h>

#include "orchestrator/alipayplus/base64.hpp"
#include "orchestrator/alipayplus/signer.hpp"
#include "tests/orchestrator/alipayplus/openssl_cli.hpp"

using namespace cashier::aplus;
using cashier::test::cli_keys;
using cashier::test::read_bytes;

namespace {

const std::string pay_path = "/aps/api/v1/payments/pay";
const std::string client_id = "SANDBOX_5Y5K2N2Z7M0M01234";
const std::string request_time = "2026-11-25T23:42:34.123+08:00";
// A body with UTF-8, an escaped quote and a line break: signing covers the exact bytes.
const std::string body =
    "{\"paymentRequestId\":\"pay_1\",\"order\":{\"orderDescription\":\"\xe0\xb8\x84\xe0\xb8\xb9 "
    "\\\"coupon\\\"\"},\n\"paymentAmount\":{\"currency\":\"USD\",\"value\":\"100\"}}";

private_key our_key() {
  auto key = load_private_key_pem(read_bytes(cli_keys().pkcs8));
  REQUIRE(key.has_value());
  return *key;
}

public_key our_public_key() {
  auto key = load_public_key_pem(read_bytes(cli_keys().spki));
  REQUIRE(key.has_value());
  return *key;
}

}  // namespace

TEST_CASE("signer: request content is byte-exact") {
  CHECK(request_content("POST", pay_path, "C1", "T1", "{}") ==
        "POST /aps/api/v1/payments/pay\nC1.T1.{}");
  CHECK(request_content("POST", "aps/x?a=1&b=2", "C", "T", "") == "POST /aps/x?a=1&b=2\nC.T.");
  CHECK(request_content("POST", "", "C", "T", "b") == "POST /\nC.T.b");
  CHECK(request_content("POST", pay_path, client_id, request_time, body) ==
        "POST " + pay_path + "\n" + client_id + "." + request_time + "." + body);
}

TEST_CASE("signer: response content uses the request's method and path") {
  CHECK(
      response_content("POST", "/aps/api/v1/payments/inquiryPayment", "C2",
                       "2026-11-25T23:42:35.000+00:00", "{\"result\":{}}") ==
      "POST /aps/api/v1/payments/inquiryPayment\nC2.2026-11-25T23:42:35.000+00:00.{\"result\":{}}");
  CHECK(response_content("POST", "notify?x=1", "C", "T", "") == "POST /notify?x=1\nC.T.");
}

TEST_CASE("signer: signatures made by the openssl CLI verify, with either private key format") {
  const auto content = request_content("POST", pay_path, client_id, request_time, body);
  const auto pub = our_public_key();
  for (const auto* path : {&cli_keys().pkcs8, &cli_keys().pkcs1}) {
    const auto sig = cashier::test::cli_sign_b64(*path, content);
    REQUIRE(sig.size() == 344);  // 256 bytes in Base64
    CHECK(verify(pub, content, sig));
  }
}

TEST_CASE("signer: our signatures verify with the openssl CLI and equal its own") {
  const auto content = response_content("POST", "/notify", client_id, request_time, body);
  const auto sig = sign(our_key(), content);
  const auto raw = base64_decode(sig);
  REQUIRE(raw.has_value());
  CHECK(cashier::test::cli_verify(cli_keys().spki, content, *raw));
  CHECK(sig == cashier::test::cli_sign_b64(cli_keys().pkcs8, content));
  std::string forged = *raw;
  forged[17] = static_cast<char>(forged[17] ^ 0x01);
  CHECK_FALSE(cashier::test::cli_verify(cli_keys().spki, content, forged));
}

TEST_CASE("signer: a changed byte in any signed part fails verification") {
  const auto pub = our_public_key();
  const auto sig =
      sign(our_key(), request_content("POST", pay_path, client_id, request_time, body));
  CHECK(verify(pub, request_content("POST", pay_path, client_id, request_time, body), sig));
  const auto flip = [](std::string s, std::size_t at) {
    s[at] = static_cast<char>(s[at] ^ 0x20);
    return s;
  };
  CHECK_FALSE(
      verify(pub, request_content(flip("POST", 1), pay_path, client_id, request_time, body), sig));
  CHECK_FALSE(
      verify(pub, request_content("POST", flip(pay_path, 9), client_id, request_time, body), sig));
  CHECK_FALSE(
      verify(pub, request_content("POST", pay_path + "?", client_id, request_time, body), sig));
  CHECK_FALSE(
      verify(pub, request_content("POST", pay_path, flip(client_id, 0), request_time, body), sig));
  CHECK_FALSE(
      verify(pub, request_content("POST", pay_path, client_id, flip(request_time, 5), body), sig));
  CHECK_FALSE(
      verify(pub, request_content("POST", pay_path, client_id, request_time, flip(body, 40)), sig));
  CHECK_FALSE(
      verify(pub, request_content("POST", pay_path, client_id, request_time, body + " "), sig));
  // CRLF instead of LF in the string to sign is a different string.
  auto crlf = request_content("POST", pay_path, client_id, request_time, body);
  crlf.insert(crlf.find('\n'), "\r");
  CHECK_FALSE(verify(pub, crlf, sig));
}

TEST_CASE("signer: malformed or foreign signatures give false") {
  const auto pub = our_public_key();
  const std::string content = "POST /x\nC.T.{}";
  const auto sig = sign(our_key(), content);
  CHECK(verify(pub, content, sig));
  std::string url = sig;
  for (char& c : url) c = c == '+' ? '-' : c == '/' ? '_' : c;
  if (url != sig) CHECK_FALSE(verify(pub, content, url));  // base64url is not accepted
  CHECK_FALSE(verify(pub, content, ""));
  CHECK_FALSE(verify(pub, content, "!!!!"));
  CHECK_FALSE(verify(pub, content, sig.substr(0, sig.size() - 4)));  // short
  CHECK_FALSE(verify(pub, content, sig + "AAAA"));                   // long
  CHECK_FALSE(verify(pub, content, sig + "\n"));
  auto raw = *base64_decode(sig);
  raw.back() = static_cast<char>(raw.back() ^ 0x01);
  CHECK_FALSE(verify(pub, content, base64_encode(raw)));
  auto other = load_public_key_pem(read_bytes(cli_keys(1).spki));
  REQUIRE(other.has_value());
  CHECK_FALSE(verify(*other, content, sig));
  CHECK(ERR_peek_error() == 0);  // a failed verify leaves no stale OpenSSL error
}

TEST_CASE("signer: concurrent signing and verifying with shared keys") {
  const auto key = our_key();
  const auto pub = our_public_key();
  auto other = load_public_key_pem(read_bytes(cli_keys(1).spki));
  REQUIRE(other.has_value());
  std::vector<std::string> contents, expected;
  for (int i = 0; i < 8; ++i) {
    contents.push_back(request_content("POST", pay_path, client_id, request_time,
                                       "{\"n\":" + std::to_string(i) + "}"));
    expected.push_back(sign(key, contents.back()));
  }
  constexpr int threads = 4;
  std::vector<int> failures(threads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (std::size_t i = 0; i < contents.size(); ++i) {
          if (sign(key, contents[i]) != expected[i]) ++failures[t];
          if (!verify(pub, contents[i], expected[i])) ++failures[t];
          if (verify(pub, contents[(i + 1) % contents.size()], expected[i])) ++failures[t];
          if (verify(*other, contents[i], expected[i])) ++failures[t];
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  for (int t = 0; t < threads; ++t) CHECK(failures[t] == 0);
}

TEST_CASE("signer: more keys than a thread's context cache holds, used in turn") {
  const std::string content = "POST /x\nC.T.{}";
  const auto sig = sign(our_key(), content);
  std::vector<public_key> keys;
  for (int i = 0; i < 6; ++i) {  // distinct EVP_PKEYs for the same public key, plus a foreign one
    auto k = load_public_key_pem(read_bytes(cli_keys(i == 5 ? 1 : 0).spki));
    REQUIRE(k.has_value());
    keys.push_back(*k);
  }
  for (int round = 0; round < 3; ++round)
    for (int i = 0; i < 6; ++i)
      CHECK(verify(keys[static_cast<std::size_t>(i)], content, sig) == (i != 5));
}
