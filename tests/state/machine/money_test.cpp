// Tests for money.hpp: the Alipay+ amount string form and currency codes.
#include <doctest/doctest.h>

#include "state/machine/money.hpp"

using namespace cashier;

TEST_CASE("parse_minor_units accepts digits only, without overflow") {
  CHECK(parse_minor_units("0") == 0);
  CHECK(parse_minor_units("100") == 100);
  CHECK(parse_minor_units("007") == 7);
  CHECK(parse_minor_units("9223372036854775807") == INT64_MAX);
  CHECK_FALSE(parse_minor_units("9223372036854775808"));
  CHECK_FALSE(parse_minor_units("99999999999999999999999"));
  CHECK_FALSE(parse_minor_units(""));
  CHECK_FALSE(parse_minor_units("-1"));
  CHECK_FALSE(parse_minor_units("+1"));
  CHECK_FALSE(parse_minor_units("1.00"));
  CHECK_FALSE(parse_minor_units("1e3"));
  CHECK_FALSE(parse_minor_units(" 1"));
  CHECK_FALSE(parse_minor_units("1 "));
}

TEST_CASE("format_minor_units round-trips") {
  CHECK(format_minor_units(0) == "0");
  CHECK(format_minor_units(100) == "100");
  CHECK(format_minor_units(INT64_MAX) == "9223372036854775807");
  CHECK(parse_minor_units(format_minor_units(123456789)) == 123456789);
}

TEST_CASE("currency_code is three uppercase ASCII letters") {
  CHECK(currency_code::parse("USD"));
  CHECK(currency_code::parse("JPY")->view() == "JPY");
  CHECK_FALSE(currency_code::parse("usd"));
  CHECK_FALSE(currency_code::parse("US"));
  CHECK_FALSE(currency_code::parse("USDT"));
  CHECK_FALSE(currency_code::parse("U$D"));
  CHECK_FALSE(currency_code::parse(""));
  CHECK(money{100, *currency_code::parse("USD")} == money{100, *currency_code::parse("USD")});
  CHECK_FALSE(money{100, *currency_code::parse("USD")} == money{100, *currency_code::parse("JPY")});
}
