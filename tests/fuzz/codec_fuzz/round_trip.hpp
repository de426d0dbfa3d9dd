// The property every codec fuzz target checks: decoding any bytes never crashes; a failure
// carries at least one error and at most error_list::max_errors; a success encodes to JSON
// that decodes again to the same message and encodes to the same bytes. A broken property
// traps, which libFuzzer reports as a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "orchestrator/alipayplus/codec.hpp"

namespace cashier::aplus::fuzz {

/// Runs the property for `decode` on one fuzz input; always returns 0.
template <class T>
int round_trip(decode_result<T> (*decode)(std::string_view, const json_limits&), const std::uint8_t* data,
               std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto first = decode(body, {});
  if (!first) {
    if (first.errors().empty() || first.errors().size() > error_list::max_errors) __builtin_trap();
    return 0;
  }
  const std::string encoded = encode(*first);
  // Re-encoding may outgrow the input (a number 0.5 in an extra field is written 5E-1), so the
  // second decode is not held to the body limit; the nesting depth cannot change.
  const auto second = decode(encoded, json_limits{encoded.size(), json_limits{}.max_depth});
  if (!second || !(*second == *first)) __builtin_trap();
  if (encode(*second) != encoded) __builtin_trap();
  return 0;
}

}  // namespace cashier::aplus::fuzz
