// Fuzzes the wire-time parser: any input must parse or fail cleanly; a parsed instant must lie in
// the accepted range and come back unchanged through format (at an offset taken from the input)
// and parse.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "orchestrator/alipayplus/wire_time.hpp"

using namespace cashier::aplus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto t = parse_wire_time(input);
  if (!t) {
    if (t.error().message.empty()) std::abort();
    return 0;
  }
  if (*t < min_wire_time || *t > max_wire_time) std::abort();
  const int offset = size == 0 ? 0 : static_cast<int>(data[0] * 11 % 2879) - 1439;  // ±23:59
  const auto utc = parse_wire_time(format_wire_time(*t));
  if (!utc || *utc != *t) std::abort();
  const auto shifted = parse_wire_time(format_wire_time(*t, offset));
  // At a non-zero offset the local year may leave 0000..9999 only for the first or last day.
  if (shifted ? *shifted != *t
              : (*t > min_wire_time + std::chrono::hours{24} &&
                 *t < max_wire_time - std::chrono::hours{24}))
    std::abort();
  return 0;
}
