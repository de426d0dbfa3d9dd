// Tests for json_guard.hpp: every way parse_untrusted() refuses a body, and what it accepts.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/alipayplus/json_guard.hpp"

using namespace cashier::aplus;
namespace json = boost::json;

namespace {

/// The single error of a refused body, as "path: message".
std::string refusal(std::string_view body, const json_limits& limits = {}) {
  const auto r = parse_untrusted(body, limits);
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.errors().size() == 1);
  return to_string(r.errors().front());
}

std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

}  // namespace

TEST_CASE("parse_untrusted accepts a plain document and keeps its value") {
  const auto r = parse_untrusted(R"( {"a":"x","b":[1,2.5,true,null,{"c":"é"}]} )" "\n");
  REQUIRE(r.has_value());
  CHECK(*r == json::parse(R"({"a":"x","b":[1,2.5,true,null,{"c":"é"}]})"));
  CHECK(r.errors().empty());
}

TEST_CASE("parse_untrusted accepts keys and strings split by escapes") {
  const auto r = parse_untrusted(R"({"k\u0065y":"v\u00e9","key2":"\"q\""})");
  REQUIRE(r.has_value());
  CHECK(r->at("key").as_string() == "vé");
  CHECK(r->at("key2").as_string() == "\"q\"");
}

TEST_CASE("parse_untrusted refuses a body over the size limit") {
  const std::string at_limit = "\"" + std::string(64 * 1024 - 2, 'a') + "\"";
  CHECK(parse_untrusted(at_limit).has_value());
  CHECK(refusal(at_limit + " ") == "body larger than 65536 bytes");
  CHECK(refusal("[1, 2]", json_limits{5, 32}) == "body larger than 5 bytes");
}

TEST_CASE("parse_untrusted bounds the nesting depth at 32") {
  CHECK(parse_untrusted(nested_arrays(32)).has_value());
  CHECK(refusal(nested_arrays(33)) == "nested deeper than 32 levels");
  std::string objects;
  for (int i = 0; i < 33; ++i) objects += "{\"a\":";
  objects += "1" + std::string(33, '}');
  CHECK(refusal(objects) == "nested deeper than 32 levels");
  CHECK(refusal(nested_arrays(3), json_limits{1024, 2}) == "nested deeper than 2 levels");
}

TEST_CASE("parse_untrusted refuses invalid UTF-8, in strings and out of them") {
  CHECK(refusal("{\"a\":\"\xff\"}") == "not valid UTF-8 at byte 6");
  CHECK(refusal("{\"a\":\"\xc3\x28\"}") == "not valid UTF-8 at byte 6");      // bad continuation
  CHECK(refusal("{\"a\":\"\xc0\xaf\"}") == "not valid UTF-8 at byte 6");      // overlong
  CHECK(refusal("{\"\xed\xa0\x80\":1}") == "not valid UTF-8 at byte 2");      // surrogate
  CHECK(refusal("{\"a\":\"\xf4\x90\x80\x80\"}") == "not valid UTF-8 at byte 6");  // above U+10FFFF
  CHECK(refusal("{\"a\":\"\xe2\x82\"}") == "not valid UTF-8 at byte 6");      // truncated
  CHECK(refusal("\"\xe2\x82") == "not valid UTF-8 at byte 1");                // truncated at the end
  CHECK(parse_untrusted("[\"\xf0\x9f\x92\xb3 \xe2\x82\xac \xc3\xa9\"]").has_value());
}

TEST_CASE("Boost.JSON itself refuses invalid UTF-8 and lone surrogate escapes") {
  // parse_untrusted checks UTF-8 first for a clear message; Boost.JSON is the second line.
  boost::system::error_code ec;
  json::parse("{\"a\":\"\xff\"}", ec);
  CHECK(ec);
  CHECK(refusal(R"({"a":"\ud800"})").rfind("invalid JSON: ", 0) == 0);
}

TEST_CASE("find_invalid_utf8 finds the first bad byte") {
  CHECK(find_invalid_utf8("") == 0);
  CHECK(find_invalid_utf8("abc") == 3);
  CHECK(find_invalid_utf8("a\x80") == 1);
  CHECK(find_invalid_utf8("\xe0\x80\x80") == 0);  // overlong 3-byte
  CHECK(find_invalid_utf8("\xf0\x80\x80\x80") == 0);  // overlong 4-byte
  CHECK(find_invalid_utf8("\xf5\x80\x80\x80") == 0);
  CHECK(find_invalid_utf8("\xef\xbf\xbf") == 3);  // U+FFFF is valid UTF-8
  CHECK(find_invalid_utf8("\xf4\x8f\xbf\xbf") == 4);  // U+10FFFF
}

TEST_CASE("parse_untrusted refuses duplicate keys and names them") {
  CHECK(refusal(R"({"a":1,"a":2})") == "a: duplicate key");
  CHECK(refusal(R"({"a":1,"b":{"c":1,"d":2,"c":3}})") == "b.c: duplicate key");
  CHECK(refusal(R"({"list":[{"x":1},{"y":1,"y":1}]})") == "list[1].y: duplicate key");
  CHECK(refusal(R"([[],[1,{"k":{},"k":[]}]])") == "[1][1].k: duplicate key");
  CHECK(refusal(R"({"k\u0065y":1,"key":2})") == "key: duplicate key");  // the same key, spelled twice
  CHECK(parse_untrusted(R"({"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]})").has_value());
}

TEST_CASE("parse_untrusted refuses characters after the value") {
  CHECK(refusal(R"({"a":1} x)") == "characters after the JSON value at byte 8");
  CHECK(refusal(R"({"a":1}{})") == "characters after the JSON value at byte 7");
  CHECK(refusal("1 2") == "characters after the JSON value at byte 2");
}

TEST_CASE("parse_untrusted refuses syntax errors, comments and a byte order mark") {
  CHECK(refusal("").rfind("invalid JSON: ", 0) == 0);
  CHECK(refusal("   ").rfind("invalid JSON: ", 0) == 0);
  CHECK(refusal(R"({"a":1,})").rfind("invalid JSON: ", 0) == 0);
  CHECK(refusal(R"({"a":1 /* c */})").rfind("invalid JSON: ", 0) == 0);
  CHECK(refusal("\xef\xbb\xbf{}").rfind("invalid JSON: ", 0) == 0);
  CHECK(refusal("{'a':1}").rfind("invalid JSON: ", 0) == 0);
  CHECK(refusal(R"({"a":01})").rfind("invalid JSON: ", 0) == 0);
}

TEST_CASE("parse_untrusted refuses numbers beyond a double") {
  CHECK(refusal(R"({"a":[1,1e999]})") == "a[1]: number out of range");
  CHECK(refusal("-1e400") == "number out of range");
  CHECK(refusal("[1e-400]") == "[0]: number out of range");
  CHECK(parse_untrusted("[18446744073709551615, -9223372036854775808, 1e308]").has_value());
}

TEST_CASE("to_string joins path and message") {
  CHECK(to_string(field_error{"order.orderAmount.value", "not a non-negative integer"}) ==
        "order.orderAmount.value: not a non-negative integer");
  CHECK(to_string(field_error{"", "not a JSON object"}) == "not a JSON object");
  CHECK(to_string(std::vector<field_error>{{"a", "missing"}, {"b", "empty"}}) == "a: missing; b: empty");
}

TEST_CASE("parse_untrusted reads doubles exactly, so they survive a write and a read") {
  // Boost.JSON 1.81 alone reads this one an ulp off, and its own output back differently again.
  const char* long_mantissa = "-1444444444644444444444444444444444444444494";
  const auto r = parse_untrusted(std::string("[0.1,") + long_mantissa + "]");
  REQUIRE(r.has_value());
  CHECK(r->as_array()[0].as_double() == 0.1);
  CHECK(r->as_array()[1].as_double() == std::strtod(long_mantissa, nullptr));
  const auto again = parse_untrusted(json::serialize(*r));
  REQUIRE(again.has_value());
  CHECK(*again == *r);
}
