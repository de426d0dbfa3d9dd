// Tests of standard Base64: RFC 4648 vectors and the strictness of the decoder.
#include <doctest/doctest.h>

#include <string>

#include "orchestrator/alipayplus/base64.hpp"

using cashier::aplus::base64_decode;
using cashier::aplus::base64_encode;

TEST_CASE("base64: RFC 4648 test vectors encode and decode") {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    CHECK(base64_encode(plain) == encoded);
    CHECK(base64_decode(encoded) == plain);
  }
}

TEST_CASE("base64: the standard alphabet, not base64url") {
  const std::string bytes = "\xfb\xff\xbf";
  CHECK(base64_encode(bytes) == "+/+/");
  CHECK(base64_decode("+/+/") == bytes);
  CHECK_FALSE(base64_decode("-_-_"));
}

TEST_CASE("base64: every byte value round-trips") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= all.size(); n += 37)
    CHECK(base64_decode(base64_encode(all.substr(0, n))) == all.substr(0, n));
}

TEST_CASE("base64: non-canonical or malformed text is rejected") {
  CHECK_FALSE(base64_decode("Zg"));     // missing padding
  CHECK_FALSE(base64_decode("Zg="));    // length not a multiple of 4
  CHECK_FALSE(base64_decode("Zh=="));   // non-zero bits under the padding
  CHECK_FALSE(base64_decode("Zm9=="));  // length 5
  CHECK_FALSE(base64_decode("Z==="));   // three padding characters
  CHECK_FALSE(base64_decode("===="));
  CHECK_FALSE(base64_decode("Zg==Zg=="));  // padding in the middle
  CHECK_FALSE(base64_decode("Zm 9"));      // blank
  CHECK_FALSE(base64_decode("Zm9\n"));     // line break
  CHECK_FALSE(base64_decode("Zm9%"));      // foreign character
}
