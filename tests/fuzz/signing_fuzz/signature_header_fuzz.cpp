// Fuzzes the Signature header parser: any input must parse or fail cleanly, and whatever parses
// must survive format + parse unchanged. Also checks that percent-encoding round-trips and that
// strict Base64 decoding accepts only canonical text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "orchestrator/alipayplus/base64.hpp"
#include "orchestrator/alipayplus/signature_header.hpp"

using namespace cashier::aplus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto header = parse_signature_header(input);
  if (header) {
    if (header->algorithm != rsa256 || header->signature_b64.empty()) std::abort();
    if (header->key_version && header->key_version->empty()) std::abort();
    const auto again = parse_signature_header(
        format_signature_header(header->key_version.value_or(""), header->signature_b64));
    if (!again || *again != *header) std::abort();
  } else if (header.error().message.empty()) {
    std::abort();
  }
  if (percent_decode(percent_encode(input)) != input) std::abort();
  if (const auto bytes = base64_decode(input); bytes && base64_encode(*bytes) != input)
    std::abort();
  return 0;
}
