// Standard Base64 (RFC 4648 section 4: alphabet `A-Z a-z 0-9 + /`, `=` padding), the encoding
// of Alipay+ signatures. Not base64url, no line breaks. Decoding is strict so that one
// signature has exactly one accepted spelling.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cashier::aplus {

/// The padded standard Base64 encoding of `bytes`.
std::string base64_encode(std::string_view bytes);

/// The bytes encoded by `text`, or nothing unless `text` is canonical padded standard Base64:
/// length a multiple of 4, only alphabet characters, `=` only as the last one or two
/// characters, and zero bits where padding drops them. Blanks are not skipped.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace cashier::aplus
