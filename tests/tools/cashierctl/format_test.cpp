// Tests of cashierctl's pure helpers: relative times and spans, terminal-safe text, aligned
// tables, UTF-8 repair for JSON, time arguments and the scaled payment clock.
#include <doctest/doctest.h>

#include <sstream>

#include "tools/cashierctl/format.hpp"
#include "tools/cashierctl/records_json.hpp"
#include "tools/cashierctl/session.hpp"

using namespace cashier;
using namespace cashier::ctl;
using namespace std::chrono_literals;

namespace {
const time_point now = from_epoch_ms(1'700'000'000'000);
}

TEST_CASE("relative times name the largest unit, past and future, and '-' when unset") {
  CHECK(relative_time(now, now) == "now");
  CHECK(relative_time(now - 999ms, now) == "now");
  CHECK(relative_time(now - 12s, now) == "12s ago");
  CHECK(relative_time(now - 5min, now) == "5m ago");
  CHECK(relative_time(now - 3h, now) == "3h ago");
  CHECK(relative_time(now - 72h, now) == "3d ago");
  CHECK(relative_time(now + 5min, now) == "in 5m");
  CHECK(relative_time(never, now) == "-");
  CHECK(relative_time(time_point{}, now) == "-");
}

TEST_CASE("spans, offsets and latencies are compact") {
  CHECK(span_text(850ms) == "850ms");
  CHECK(span_text(12s) == "12s");
  CHECK(span_text(5min + 3s) == "5m03s");
  CHECK(span_text(3h + 5min) == "3h05m");
  CHECK(span_text(50h) == "2d02h");
  CHECK(span_text(-5s) == "-5s");
  CHECK(offset_text(0ms) == "+0ms");
  CHECK(offset_text(1234ms) == "+1.234s");
  CHECK(offset_text(5min + 3s) == "+5m03s");
  CHECK(latency_text(500) == "<1ms");
  CHECK(latency_text(152'000) == "152ms");
  CHECK(latency_text(15'000'000) == "15.0s");
}

TEST_CASE("amounts and states read as the operator expects") {
  CHECK(amount_text({1234, *currency_code::parse("USD")}) == "1234 USD");
  CHECK(state_text(payment_status::success, pending_action::none) == "SUCCESS");
  CHECK(state_text(payment_status::success, pending_action::cancel) == "SUCCESS/CANCEL");
  CHECK(state_tint(payment_status::init, pending_action::cancel) == tint::yellow);
  CHECK(time_text(from_epoch_ms(1'700'000'000'123)) == "2023-11-14T22:13:20.123Z");
  CHECK(time_text(never) == "-");
}

TEST_CASE("control bytes from the database never reach the terminal raw") {
  CHECK(printable("a\x1b[31mb\n") == "a\\x1b[31mb\\x0a");
  CHECK(printable("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(display_width("caf\xc3\xa9") == 4);
}

TEST_CASE("colour only when asked") {
  CHECK(paint("x", tint::red, false) == "x");
  CHECK(paint("x", tint::red, true) == "\x1b[31mx\x1b[0m");
  CHECK(paint("x", tint::none, true) == "x");
}

TEST_CASE("tables align columns on the widest cell, colour does not shift them") {
  text_table t({"ID", "STATE"});
  t.add({{"a"}, {"SUCCESS", tint::green}});
  t.add({{"longer-id"}, {"FAIL", tint::red}});
  for (const bool color : {false, true}) {
    std::ostringstream out;
    t.print(out, color);
    const auto text = out.str();
    CHECK(text.find("longer-id  ") != std::string::npos);
    if (!color)
      CHECK(text == "ID         STATE\na          SUCCESS\nlonger-id  FAIL\n");
    else
      CHECK(text.find("a          \x1b[32mSUCCESS") != std::string::npos);
  }
}

TEST_CASE("JSON strings are valid UTF-8: bad bytes become U+FFFD, good ones stay") {
  CHECK(valid_utf8("ok \xc3\xa9 \xf0\x9f\x98\x80") == "ok \xc3\xa9 \xf0\x9f\x98\x80");
  CHECK(valid_utf8("a\xff"
                   "b") ==
        "a\xef\xbf\xbd"
        "b");
  CHECK(valid_utf8("\xc0\xaf") == "\xef\xbf\xbd\xef\xbf\xbd");                  // overlong
  CHECK(valid_utf8("\xed\xa0\x80") == "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
  CHECK(valid_utf8("\xe2\x82") == "\xef\xbf\xbd\xef\xbf\xbd");                  // truncated
  CHECK(valid_utf8(std::string("a\0b", 3)) == std::string("a\0b", 3));
}

TEST_CASE("time arguments: ISO 8601 UTC or offset, dates, spans back from now") {
  CHECK(parse_time_arg("2023-11-14T22:13:20Z", now) == now);
  CHECK(parse_time_arg("2023-11-14T22:13:20.500Z", now) == now + 500ms);
  CHECK(parse_time_arg("2023-11-15T06:13:20+08:00", now) == now);
  CHECK(parse_time_arg("2023-11-14T22:13Z", now) == now - 20s);
  CHECK(parse_time_arg("2023-11-14", now) == now - 22h - 13min - 20s);
  CHECK(parse_time_arg("15m", now) == now - 15min);
  CHECK(parse_time_arg("7d", now) == now - std::chrono::days(7));
  CHECK_FALSE(parse_time_arg("", now));
  CHECK_FALSE(parse_time_arg("yesterday", now));
  CHECK_FALSE(parse_time_arg("2023-02-30", now));
  CHECK_FALSE(parse_time_arg("2023-11-14T25:00Z", now));
  CHECK_FALSE(parse_time_arg("2023-11-14T10:00", now));
  CHECK_FALSE(parse_time_arg("-5m", now));
  CHECK_FALSE(parse_time_arg("5w", now));
}

TEST_CASE("the payment clock is scaled from the database's origin only when timeScale is not 1") {
  const auto origin = now - 10s;
  const auto origin_text = std::to_string(to_epoch_ms(origin));
  CHECK(payment_now(origin_text, 60, now) == origin + 600s);
  CHECK(payment_now(origin_text, 1, now) == now);
  CHECK(payment_now(std::nullopt, 60, now) == now);
  CHECK(payment_now("garbage", 60, now) == now);
}
