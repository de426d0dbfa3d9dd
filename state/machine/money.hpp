// Money as integers: an amount in minor units (std::int64_t) with its ISO 4217 alpha-3 code.
// The Alipay+ string form ("100" for USD 1.00 or JPY 100) is parsed and printed here, at the
// edge, and nowhere else; floating point never touches an amount.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cashier {

/// An ISO 4217 alpha-3 currency code: exactly three uppercase ASCII letters.
class currency_code {
 public:
  /// The code for `text`, or nothing when it is not three uppercase ASCII letters.
  static std::optional<currency_code> parse(std::string_view text);
  /// The three letters.
  std::string_view view() const { return {letters_.data(), letters_.size()}; }
  /// The three letters as a string.
  std::string str() const { return std::string(view()); }
  friend bool operator==(const currency_code&, const currency_code&) = default;

 private:
  std::array<char, 3> letters_{};
};

/// An amount of money: integer minor units and a currency.
struct money {
  std::int64_t minor_units = 0;  ///< value in the currency's minor unit (cents for USD, yen for JPY)
  currency_code currency;        ///< ISO 4217 alpha-3
  friend bool operator==(const money&, const money&) = default;
};

/// Parses Alipay+'s amount value: decimal digits only (no sign, no point, no exponent, no
/// blanks), at least one digit, and no overflow of std::int64_t. Leading zeros are accepted.
std::optional<std::int64_t> parse_minor_units(std::string_view text);
/// The Alipay+ string form of a minor-unit value ("100").
std::string format_minor_units(std::int64_t minor_units);

}  // namespace cashier
