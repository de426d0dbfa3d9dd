// Random identifiers (see random_id.hpp).
#include "orchestrator/engine/random_id.hpp"

#include <array>
#include <stdexcept>

#include <openssl/rand.h>

namespace cashier::engine {

std::array<unsigned char, 16> random_128_bits() {
  std::array<unsigned char, 16> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1)
    throw std::runtime_error("the random generator failed");
  return random;
}

std::string random_id(std::string_view prefix) {
  const auto random = random_128_bits();
  constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out(prefix);
  unsigned buffer = 0;
  int bits = 0;
  for (const unsigned char byte : random) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(buffer >> (bits - 5)) & 31u];
      bits -= 5;
    }
    buffer &= (1u << bits) - 1;  // keep only the bits not yet written
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31u];
  return out;
}

}  // namespace cashier::engine
