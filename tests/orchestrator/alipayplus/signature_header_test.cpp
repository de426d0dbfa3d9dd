// Tests of the Signature header: the canonical format, every parsing tolerance ALIPAYPLUS.md
// asks for, every error case, and the percent-encoding helpers.
#include <doctest/doctest.h>

#include <string>

#include "orchestrator/alipayplus/signature_header.hpp"

using namespace cashier::aplus;

namespace {

const std::string sig_b64 = "ab+/cd==";  // the three characters that need encoding

/// The parsed header, REQUIREd to parse.
signature_header parsed(std::string_view value) {
  const auto h = parse_signature_header(value);
  REQUIRE_MESSAGE(h.has_value(), (h ? std::string() : h.error().message));
  return *h;
}

/// The error message of parsing `value` ("" if it parsed).
std::string error_of(std::string_view value) {
  const auto h = parse_signature_header(value);
  return h ? std::string() : h.error().message;
}

}  // namespace

TEST_CASE("signature header: canonical format") {
  CHECK(format_signature_header("1", sig_b64) ==
        "algorithm=RSA256,keyVersion=1,signature=ab%2B%2Fcd%3D%3D");
  CHECK(format_signature_header("", sig_b64) == "algorithm=RSA256,signature=ab%2B%2Fcd%3D%3D");
  CHECK(format_signature_header("v 2", "x") == "algorithm=RSA256,keyVersion=v%202,signature=x");
}

TEST_CASE("signature header: percent helpers") {
  CHECK(percent_encode("+/=") == "%2B%2F%3D");
  CHECK(percent_encode("AZaz09-._~") == "AZaz09-._~");
  CHECK(percent_encode(std::string("\0\xff", 2)) == "%00%FF");
  CHECK(percent_decode("%2B%2f%3d") == "+/=");
  CHECK(percent_decode("a+b") == "a+b");  // '+' never becomes a space
  CHECK(percent_decode("%00") == std::string(1, '\0'));
  CHECK_FALSE(percent_decode("%"));
  CHECK_FALSE(percent_decode("%2"));
  CHECK_FALSE(percent_decode("%G0"));
  CHECK_FALSE(percent_decode("abc%2"));
}

TEST_CASE("signature header: canonical form parses back") {
  const auto h = parsed(format_signature_header("1", sig_b64));
  CHECK(h.algorithm == "RSA256");
  CHECK(h.key_version == "1");
  CHECK(h.signature_b64 == sig_b64);
  CHECK(parsed(format_signature_header("", sig_b64)).key_version == std::nullopt);
}

TEST_CASE("signature header: tolerances") {
  SUBCASE("blanks after commas and around keys and values") {
    const auto h = parsed("algorithm=RSA256, keyVersion=1,\tsignature = ab%2B%2Fcd%3D%3D ");
    CHECK(h.key_version == "1");
    CHECK(h.signature_b64 == sig_b64);
  }
  SUBCASE("keys match case-insensitively, algorithm value too") {
    const auto h = parsed("ALGORITHM=rsa256,KeyVersion=2,SIGNATURE=ab%2B%2Fcd%3D%3D");
    CHECK(h.algorithm == "RSA256");
    CHECK(h.key_version == "2");
    CHECK(h.signature_b64 == sig_b64);
  }
  SUBCASE("lowercase percent escapes") {
    CHECK(parsed("algorithm=RSA256,signature=ab%2b%2fcd%3d%3d").signature_b64 == sig_b64);
  }
  SUBCASE("'+' stays '+' and unencoded '=' is kept: split at the first '='") {
    CHECK(parsed("algorithm=RSA256,signature=ab+/cd==").signature_b64 == sig_b64);
  }
  SUBCASE("any element order, unknown keys ignored, empty elements skipped") {
    const auto h = parsed("signature=xyz,,extra=1,keyVersion=7,algorithm=RSA256,");
    CHECK(h.signature_b64 == "xyz");
    CHECK(h.key_version == "7");
  }
  SUBCASE("no keyVersion, or an empty one, means none") {
    CHECK(parsed("algorithm=RSA256,signature=xyz").key_version == std::nullopt);
    CHECK(parsed("algorithm=RSA256,keyVersion=,signature=xyz").key_version == std::nullopt);
  }
  SUBCASE("percent-encoded keyVersion") {
    CHECK(parsed("algorithm=RSA256,keyVersion=a%2Cb,signature=xyz").key_version == "a,b");
  }
}

TEST_CASE("signature header: errors") {
  CHECK(error_of("") == "Signature header has no algorithm");
  CHECK(error_of("signature=xyz") == "Signature header has no algorithm");
  CHECK(error_of("algorithm=,signature=xyz") == "Signature header has no algorithm");
  CHECK(error_of("algorithm=RSA256") == "Signature header has no signature");
  CHECK(error_of("algorithm=RSA256,signature=") == "Signature header has no signature");
  CHECK(error_of("algorithm=RSA256,signature= ") == "Signature header has no signature");
  CHECK(error_of("algorithm=RSA,signature=xyz") ==
        "Signature header algorithm is \"RSA\", expected RSA256");
  CHECK(error_of("algorithm=RSA2048,signature=xyz") ==
        "Signature header algorithm is \"RSA2048\", expected RSA256");
  CHECK(error_of("algorithm=RSA256,signature=xyz,garbage") ==
        "Signature header element without '=': \"garbage\"");
  CHECK(error_of("algorithm=RSA256,signature=a,Signature=b") ==
        "Signature header repeats \"Signature\"");
  CHECK(error_of("algorithm=RSA256,signature=ab%2") ==
        "Signature header \"signature\" has a bad % escape");
  CHECK(error_of("algorithm=RSA256,keyVersion=%zz,signature=x") ==
        "Signature header \"keyVersion\" has a bad % escape");
  // Control characters from the wire never reach an error message.
  CHECK(error_of("algorithm=R%0ASA,signature=x") ==
        "Signature header algorithm is \"R?SA\", expected RSA256");
  CHECK(error_of("algorithm=" + std::string(40, 'A') + ",signature=x") ==
        "Signature header algorithm is \"" + std::string(32, 'A') + "...\", expected RSA256");
}
