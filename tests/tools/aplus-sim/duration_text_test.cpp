// Tests of the command-line durations: units, "off", and refusals.
#include <doctest/doctest.h>

#include "tools/aplus-sim/duration_text.hpp"

namespace cashier::sim {

using namespace std::chrono_literals;

TEST_CASE("duration text: whole numbers with ms, s, m or h") {
  CHECK(parse_duration("500ms").value() == 500ms);
  CHECK(parse_duration("2s").value() == 2s);
  CHECK(parse_duration("5m").value() == 5min);
  CHECK(parse_duration("1h").value() == 1h);
  CHECK(parse_duration("0s").value() == 0s);
}

TEST_CASE("duration text: off, and what is refused") {
  CHECK_FALSE(parse_optional_duration("off").value().has_value());
  CHECK(parse_optional_duration("3s").value() == std::optional<duration>(3s));
  for (const char* bad : {"", "2", "s", "-1s", "1.5s", "2 s", "2sec", "9999999h", "off2"}) {
    CAPTURE(bad);
    CHECK(parse_duration(bad).error().message.find("invalid duration") == 0);
  }
}

}  // namespace cashier::sim
