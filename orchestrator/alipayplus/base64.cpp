// Standard Base64 encoding and strict decoding (see base64.hpp). Hand-written rather than
// EVP_EncodeBlock/EVP_DecodeBlock because the latter skips blanks and keeps padding bytes in
// its output, and because a table lookup is all this needs.
#include "orchestrator/alipayplus/base64.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace cashier::aplus {
namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The 6-bit value of an alphabet character, or -1.
int sextet(char c) {
  static const std::array<std::int8_t, 256> table = [] {
    std::array<std::int8_t, 256> t{};
    t.fill(-1);
    for (std::size_t i = 0; i < alphabet.size(); ++i)
      t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    return t;
  }();
  return table[static_cast<unsigned char>(c)];
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t group = 0;
    for (std::size_t j = 0; j < 3; ++j)
      group = (group << 8) | (j < n ? static_cast<unsigned char>(bytes[i + j]) : 0U);
    for (std::size_t j = 0; j < 4; ++j)
      out.push_back(j <= n ? alphabet[(group >> (18 - 6 * j)) & 0x3F] : '=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t group = 0;
  for (std::size_t i = 0; i < text.size() - pad; ++i) {
    const int v = sextet(text[i]);
    if (v < 0) return std::nullopt;
    group = (group << 6) | static_cast<std::uint32_t>(v);
    if (i % 4 == 3) {
      for (int shift = 16; shift >= 0; shift -= 8) out.push_back(static_cast<char>(group >> shift));
      group = 0;
    }
  }
  if (pad == 0) return out;
  // The last group holds 4 - pad sextets: 3 sextets carry 2 bytes (2 spare bits), 2 carry 1.
  const int spare_bits = pad == 1 ? 2 : 4;
  if ((group & ((1U << spare_bits) - 1)) != 0) return std::nullopt;
  group >>= spare_bits;
  if (pad == 1) out.push_back(static_cast<char>(group >> 8));
  out.push_back(static_cast<char>(group & 0xFF));
  return out;
}

}  // namespace cashier::aplus
