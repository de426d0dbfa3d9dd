// Fuzz target: parse_untrusted() on arbitrary bytes. It must never crash; a refusal carries
// exactly one error; an accepted value serializes to JSON that parse_untrusted() accepts again
// as the same value (so nothing it lets through is unrepresentable, e.g. an infinite number).
#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/json/serialize.hpp>

#include "orchestrator/alipayplus/json_guard.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace cashier::aplus;
  const auto first = parse_untrusted({reinterpret_cast<const char*>(data), size});
  if (!first) {
    if (first.errors().size() != 1) __builtin_trap();
    return 0;
  }
  const std::string text = boost::json::serialize(*first);
  const auto second = parse_untrusted(text, json_limits{text.size(), json_limits{}.max_depth});
  if (!second || *second != *first) __builtin_trap();
  return 0;
}
