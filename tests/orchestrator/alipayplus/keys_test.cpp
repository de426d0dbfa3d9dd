// Tests of key loading: every accepted PEM format, every rejected one with the words its error
// must contain, the file variants, and the sharing semantics of the key handles. Keys come from
// the openssl CLI (openssl_cli.hpp).
#include <doctest/doctest.h>

#include <string>

#include <openssl/err.h>

#include "orchestrator/alipayplus/keys.hpp"
#include "orchestrator/alipayplus/signer.hpp"
#include "tests/orchestrator/alipayplus/openssl_cli.hpp"

using namespace cashier::aplus;
using cashier::test::cli_keys;
using cashier::test::read_bytes;
using cashier::test::run_shell;
using cashier::test::work_path;

namespace {

/// The error message of loading `pem` as a private key ("" if it loaded).
std::string private_error(const std::string& pem) {
  const auto key = load_private_key_pem(pem);
  return key ? std::string() : key.error().message;
}

/// The error message of loading `pem` as a public key ("" if it loaded).
std::string public_error(const std::string& pem) {
  const auto key = load_public_key_pem(pem);
  return key ? std::string() : key.error().message;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

/// A key made by the CLI with `command` (which must write to `path`), as PEM text.
std::string cli_pem(const std::string& path, const std::string& command) {
  REQUIRE_MESSAGE(run_shell(command) == 0, command);
  return read_bytes(path);
}

}  // namespace

TEST_CASE("keys: PKCS#1 and PKCS#8 private keys load and are the same key") {
  const auto& k = cli_keys();
  const auto p8 = load_private_key_pem(read_bytes(k.pkcs8));
  const auto p1 = load_private_key_pem(read_bytes(k.pkcs1));
  REQUIRE(p8.has_value());
  REQUIRE(p1.has_value());
  CHECK(read_bytes(k.pkcs1).find("BEGIN RSA PRIVATE KEY") != std::string::npos);
  CHECK(p8->bits() == 2048);
  CHECK(p1->bits() == 2048);
  // PKCS#1 v1.5 signatures are deterministic: the same key gives the same signature.
  CHECK(sign(*p8, "content") == sign(*p1, "content"));
}

TEST_CASE("keys: a SubjectPublicKeyInfo public key loads, with text before the block") {
  const auto pub = load_public_key_pem("comment line\n" + read_bytes(cli_keys().spki));
  REQUIRE(pub.has_value());
  CHECK(pub->bits() == 2048);
}

TEST_CASE("keys: encrypted private keys are refused without prompting") {
  const auto& k = cli_keys();
  CHECK(contains(private_error(read_bytes(k.enc_pkcs8)), "encrypted"));
  CHECK(contains(read_bytes(k.enc_pkcs1), "Proc-Type: 4,ENCRYPTED"));
  CHECK(contains(private_error(read_bytes(k.enc_pkcs1)), "encrypted"));
}

TEST_CASE("keys: the wrong kind of PEM is named in the error") {
  const auto& k = cli_keys();
  CHECK(contains(private_error(read_bytes(k.cert)), "(a certificate)"));
  CHECK(contains(public_error(read_bytes(k.cert)), "(a certificate)"));
  CHECK(contains(private_error(read_bytes(k.spki)), "expected an RSA private key"));
  CHECK(contains(private_error(read_bytes(k.spki)), "(a public key)"));
  CHECK(contains(public_error(read_bytes(k.pkcs8)), "expected an RSA public key"));
  CHECK(contains(public_error(read_bytes(k.pkcs8)), "(a private key)"));
  CHECK(contains(public_error(read_bytes(k.pkcs1)), "(a private key)"));
  CHECK(contains(public_error(read_bytes(k.pkcs1_pub)), "PKCS#1 public key"));
}

TEST_CASE("keys: EC keys are refused in both encodings") {
  const auto ec = work_path("ec.pem");
  const auto ec_pem = cli_pem(
      ec, "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '" + ec + "'");
  CHECK(contains(private_error(ec_pem), "expected an RSA key, found key type EC"));
  const auto ec1 = work_path("ec1.pem");
  const auto ec1_pem =
      cli_pem(ec1, "openssl pkey -in '" + ec + "' -traditional -out '" + ec1 + "'");
  CHECK(contains(private_error(ec1_pem), "(an EC private key)"));
  const auto ec_pub = work_path("ec.pub.pem");
  const auto ec_pub_pem =
      cli_pem(ec_pub, "openssl pkey -in '" + ec + "' -pubout -out '" + ec_pub + "'");
  CHECK(contains(public_error(ec_pub_pem), "found key type EC"));
}

TEST_CASE("keys: RSA keys under 2048 bits are refused") {
  const auto small = work_path("rsa1024.pem");
  const auto pem = cli_pem(
      small, "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out '" + small + "'");
  CHECK(contains(private_error(pem), "RSA key has 1024 bits; at least 2048 are required"));
  const auto pub = work_path("rsa1024.pub.pem");
  const auto pub_pem = cli_pem(pub, "openssl pkey -in '" + small + "' -pubout -out '" + pub + "'");
  CHECK(contains(public_error(pub_pem), "1024 bits"));
}

TEST_CASE("keys: garbage and damaged PEM give errors, never exceptions") {
  CHECK(contains(private_error(""), "no PEM block"));
  CHECK(contains(public_error("hello"), "no PEM block"));
  CHECK(contains(private_error("-----BEGIN PRIVATE KEY\n"), "malformed PEM BEGIN line"));
  CHECK(contains(private_error("-----BEGIN PRIVATE KEY-----\nMIIB\n"), "no matching END line"));
  CHECK(contains(private_error("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n"),
                 "cannot decode the PRIVATE KEY PEM block"));
  CHECK(contains(public_error("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
                 "cannot decode the PUBLIC KEY PEM block"));
  std::string pem = read_bytes(cli_keys().pkcs8);
  pem[pem.size() / 2] = pem[pem.size() / 2] == 'A' ? 'B' : 'A';  // damage the DER inside
  const auto damaged = load_private_key_pem(pem);
  if (damaged) CHECK(damaged->bits() == 2048);  // a flipped bit may still decode; never a crash
  CHECK(ERR_peek_error() == 0);                 // failures leave no stale OpenSSL errors behind
}

TEST_CASE("keys: file variants report unreadable paths and prefix content errors") {
  const auto& k = cli_keys();
  CHECK(load_private_key_file(k.pkcs8).has_value());
  CHECK(load_public_key_file(k.spki).has_value());
  const std::string missing = work_path("missing.pem");
  const auto m = load_private_key_file(missing);
  REQUIRE_FALSE(m.has_value());
  CHECK(m.error().message == "cannot read " + missing + ": No such file or directory");
  const auto d = load_public_key_file(work_path(""));
  REQUIRE_FALSE(d.has_value());
  CHECK(contains(d.error().message, "cannot read "));
  CHECK(contains(d.error().message, ": Is a directory"));
  const auto wrong = load_public_key_file(k.pkcs8);
  REQUIRE_FALSE(wrong.has_value());
  CHECK(wrong.error().message.rfind(k.pkcs8 + ": expected an RSA public key", 0) == 0);
}

TEST_CASE("keys: copies share the EVP_PKEY, moves leave the source empty") {
  auto key = load_private_key_pem(read_bytes(cli_keys().pkcs8));
  REQUIRE(key.has_value());
  private_key copy = *key;
  CHECK(copy.native() == key->native());
  private_key moved = std::move(*key);
  CHECK(key->native() == nullptr);
  CHECK(moved.native() == copy.native());
  CHECK(sign(moved, "x") == sign(copy, "x"));
  CHECK_THROWS_AS(sign(*key, "x"), std::logic_error);
  copy = moved;
  CHECK(copy.native() == moved.native());

  auto pub = load_public_key_pem(read_bytes(cli_keys().spki));
  REQUIRE(pub.has_value());
  public_key pub_copy = *pub;
  public_key pub_moved = std::move(*pub);
  CHECK(pub_copy.native() == pub_moved.native());
  CHECK(verify(pub_copy, "x", sign(copy, "x")));
  CHECK_FALSE(verify(*pub, "x", sign(copy, "x")));  // moved-from: false, not a crash
}
