// Tests of the plain HTTP message helpers: header lookup, header validation, JSON error bodies.
#include "orchestrator/net/http_types.hpp"

#include <doctest/doctest.h>

using namespace cashier::net;

TEST_CASE("find_header matches names case-insensitively and returns the first") {
  const header_list headers{{"Client-Id", "A"}, {"signature", "s1"}, {"SIGNATURE", "s2"}};
  CHECK(find_header(headers, "client-id") == "A");
  CHECK(find_header(headers, "Signature") == "s1");
  CHECK_FALSE(find_header(headers, "Client-I").has_value());
  CHECK_FALSE(find_header({}, "x").has_value());
}

TEST_CASE("is_valid_header refuses what would break message framing") {
  CHECK(is_valid_header("Response-Time", "2024-01-01T00:00:00Z"));
  CHECK(is_valid_header("X-Empty", ""));
  CHECK_FALSE(is_valid_header("", "v"));
  CHECK_FALSE(is_valid_header("Bad Name", "v"));
  CHECK_FALSE(is_valid_header("Bad:Name", "v"));
  CHECK_FALSE(is_valid_header("X", "a\r\nInjected: yes"));
  CHECK_FALSE(is_valid_header("X", "a\nb"));
  CHECK_FALSE(is_valid_header("X", std::string_view("a\0b", 3)));
}

TEST_CASE("json_error_body escapes quotes, backslashes and control characters") {
  CHECK(json_error_body("BODY_TOO_LARGE", "too big") ==
        R"({"error":{"code":"BODY_TOO_LARGE","message":"too big"}})");
  CHECK(json_error_body("X", "a\"b\\c\nd") == R"({"error":{"code":"X","message":"a\"b\\c\u000ad"}})");
}
