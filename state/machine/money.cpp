// Parsing and printing of Alipay+ amounts and currency codes (see money.hpp).
#include "state/machine/money.hpp"

#include <charconv>
#include <limits>

namespace cashier {

std::optional<currency_code> currency_code::parse(std::string_view text) {
  if (text.size() != 3) return std::nullopt;
  currency_code code;
  for (std::size_t i = 0; i < 3; ++i) {
    const char c = text[i];
    if (c < 'A' || c > 'Z') return std::nullopt;
    code.letters_[i] = c;
  }
  return code;
}

std::optional<std::int64_t> parse_minor_units(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const int digit = c - '0';
    if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

std::string format_minor_units(std::int64_t minor_units) {
  std::array<char, 24> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), minor_units);
  return std::string(buf.data(), r.ptr);
}

}  // namespace cashier
