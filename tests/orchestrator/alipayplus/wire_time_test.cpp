// Tests of wire times: formatting with offsets, every accepted input shape, every rejected
// field, and round trips. Expected instants were computed independently (Python's datetime).
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "orchestrator/alipayplus/wire_time.hpp"

using namespace cashier::aplus;
using cashier::from_epoch_ms;
using cashier::to_epoch_ms;

namespace {

/// Epoch milliseconds of `text`, REQUIREd to parse.
std::int64_t ms_of(std::string_view text) {
  const auto t = parse_wire_time(text);
  REQUIRE_MESSAGE(t.has_value(),
                  (std::string(text) + ": " + (t ? std::string() : t.error().message)));
  return to_epoch_ms(*t);
}

bool rejected(std::string_view text) { return !parse_wire_time(text); }

constexpr std::int64_t sample_ms = 1795650154123;  // 2026-11-25T23:42:34.123Z

}  // namespace

TEST_CASE("wire time: formatting in UTC and at offsets") {
  CHECK(format_wire_time(from_epoch_ms(0)) == "1970-01-01T00:00:00.000+00:00");
  CHECK(format_wire_time(from_epoch_ms(sample_ms)) == "2026-11-25T23:42:34.123+00:00");
  CHECK(format_wire_time(from_epoch_ms(sample_ms), 510) == "2026-11-26T08:12:34.123+08:30");
  CHECK(format_wire_time(from_epoch_ms(sample_ms), -300) == "2026-11-25T18:42:34.123-05:00");
  CHECK(format_wire_time(from_epoch_ms(sample_ms), -30) == "2026-11-25T23:12:34.123-00:30");
  CHECK(format_wire_time(from_epoch_ms(0), -60) == "1969-12-31T23:00:00.000-01:00");
  CHECK(format_wire_time(from_epoch_ms(951782400000), 0) == "2000-02-29T00:00:00.000+00:00");
  CHECK(format_wire_time(max_wire_time) == "9999-12-31T23:59:59.999+00:00");
  CHECK(format_wire_time(from_epoch_ms(sample_ms), 24 * 60) == "2026-11-25T23:42:34.123+00:00");
  CHECK(format_wire_time(from_epoch_ms(sample_ms), -24 * 60) == "2026-11-25T23:42:34.123+00:00");
}

TEST_CASE("wire time: ISO 8601 with offsets, Z, and fractions") {
  CHECK(ms_of("2019-06-01T12:01:01+08:30") == 1559359861000);
  CHECK(ms_of("2019-06-01T12:01:01+0830") == 1559359861000);
  CHECK(ms_of("2019-06-01T03:31:01Z") == 1559359861000);
  CHECK(ms_of("2019-06-01t03:31:01z") == 1559359861000);
  CHECK(ms_of("2019-06-01T04:31:01+01") == 1559359861000);
  CHECK(ms_of("2019-05-31T22:31:01-05:00") == 1559359861000);
  CHECK(ms_of("2019-06-01T03:31:01-00:00") == 1559359861000);
  CHECK(ms_of("2026-11-25T23:42:34.123+00:00") == sample_ms);
  CHECK(ms_of("2026-11-25T23:42:34.1Z") == sample_ms - 23);
  CHECK(ms_of("2026-11-25T23:42:34.12Z") == sample_ms - 3);
  CHECK(ms_of("2026-11-25T23:42:34.123456789Z") == sample_ms);
  CHECK(ms_of("2026-11-25T23:42:34.1239999Z") == sample_ms);  // truncated, not rounded
  CHECK(ms_of("2024-02-29T23:59:59.999-05:00") == 1709269199999);
  CHECK(ms_of("2100-03-01T00:00:00Z") == 4107542400000);
  CHECK(ms_of("1970-01-01T08:00:00+08:00") == 0);
  CHECK(ms_of("9999-12-31T23:59:59.999Z") == to_epoch_ms(max_wire_time));
}

TEST_CASE("wire time: epoch milliseconds") {
  CHECK(ms_of("0") == 0);
  CHECK(ms_of("1795650154123") == sample_ms);
  CHECK(ms_of("0001795650154123") == sample_ms);
  CHECK(ms_of("253402300799999") == to_epoch_ms(max_wire_time));
  CHECK(rejected("253402300800000"));       // year 10000
  CHECK(rejected("99999999999999999999"));  // overflows int64
  CHECK(rejected("-1"));
  CHECK(rejected("+1795650154123"));
  CHECK(rejected("1795650154123 "));
}

TEST_CASE("wire time: out-of-range fields are rejected") {
  CHECK(rejected("2026-13-01T00:00:00Z"));
  CHECK(rejected("2026-00-01T00:00:00Z"));
  CHECK(rejected("2026-01-00T00:00:00Z"));
  CHECK(rejected("2026-01-32T00:00:00Z"));
  CHECK(rejected("2026-04-31T00:00:00Z"));
  CHECK(rejected("2023-02-29T00:00:00Z"));
  CHECK(rejected("1900-02-29T00:00:00Z"));
  CHECK(rejected("2026-01-01T24:00:00Z"));
  CHECK(rejected("2026-01-01T25:00:00Z"));
  CHECK(rejected("2026-01-01T00:60:00Z"));
  CHECK(rejected("2026-01-01T00:00:60Z"));
  CHECK(rejected("2026-01-01T00:00:00+24:00"));
  CHECK(rejected("2026-01-01T00:00:00+08:60"));
  CHECK(rejected("1969-12-31T23:59:59.999Z"));       // before the epoch
  CHECK(rejected("1970-01-01T00:00:00+00:01"));      // before the epoch after the offset
  CHECK(rejected("9999-12-31T23:59:59.999-00:01"));  // after 9999 after the offset
}

TEST_CASE("wire time: malformed shapes are rejected") {
  const char* bad[] = {
      "",
      "2026-11-25",
      "2026-11-25T23:42:34",  // no offset: local time is ambiguous
      "2026-11-25 23:42:34Z",
      "26-11-25T23:42:34Z",
      "2026-1-25T23:42:34Z",
      "2026-11-25T23:42Z",
      "2026-11-25T23:42:34.Z",
      "2026-11-25T23:42:34,123Z",
      "2026-11-25T23:42:34Zjunk",
      "2026-11-25T23:42:34+08:30 ",
      "2026-11-25T23:42:34+8:30",
      "2026-11-25T23:42:34+08:3",
      "2026-11-25T23:42:34+08:",
      "2026-11-25T23:42:34+083",
      "2026-11-25T23:42:34+08:30:00",
      "2026-11-25T23:42:34GMT",
      "-2026-11-25T23:42:34Z",
      " 2026-11-25T23:42:34Z",
  };
  for (const char* text : bad) CHECK_MESSAGE(rejected(text), text);
  const auto e = parse_wire_time("2026-11-25T23:42:34");
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().message.rfind("bad wire time: ", 0) == 0);
}

TEST_CASE("wire time: format then parse gives the same instant at every offset") {
  // A deterministic sweep over 1970..9999 with a 64-bit LCG.
  std::uint64_t x = 42;
  const int offsets[] = {0, 1, -1, 330, 510, 525, -210, -300, 840, -720, 1439, -1439};
  for (int i = 0; i < 2000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto t = from_epoch_ms(
        static_cast<std::int64_t>(x % static_cast<std::uint64_t>(to_epoch_ms(max_wire_time) + 1)));
    const int offset = offsets[static_cast<std::size_t>(i) % std::size(offsets)];
    const auto text = format_wire_time(t, offset);
    const auto back = parse_wire_time(text);
    if (t < min_wire_time + std::chrono::hours{24} || t > max_wire_time - std::chrono::hours{24})
      continue;
    REQUIRE_MESSAGE(back.has_value(), text);
    CHECK_MESSAGE(*back == t, text);
  }
}
