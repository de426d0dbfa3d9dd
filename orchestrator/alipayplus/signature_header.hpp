// The Alipay+ `Signature` header: `algorithm=RSA256,keyVersion=1,signature=<value>`, where the
// value is the standard-Base64 signature percent-encoded. Formatting writes that canonical
// form; parsing accepts what the various Alipay+ SDKs send (ALIPAYPLUS.md "Robust parsing").
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "orchestrator/alipayplus/signing_error.hpp"

namespace cashier::aplus {

/// The only algorithm Alipay+ uses and cashierd accepts.
inline constexpr std::string_view rsa256 = "RSA256";

/// A parsed Signature header.
struct signature_header {
  std::string algorithm;                   ///< always "RSA256" once parsed
  std::optional<std::string> key_version;  ///< keyVersion, percent-decoded; absent or empty → none
  std::string signature_b64;               ///< the signature, percent-decoded (standard Base64)
  friend bool operator==(const signature_header&, const signature_header&) = default;
};

/// Percent-encodes every byte except the RFC 3986 unreserved characters `A-Z a-z 0-9 - . _ ~`,
/// with uppercase hex: `+` → `%2B`, `/` → `%2F`, `=` → `%3D`.
std::string percent_encode(std::string_view text);

/// Decodes `%XX` escapes (hex digits of either case); `+` stays `+`. Nothing when a `%` is not
/// followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text);

/// `algorithm=RSA256,keyVersion=<key_version>,signature=<percent-encoded signature_b64>`;
/// the keyVersion element is left out when `key_version` is empty.
std::string format_signature_header(std::string_view key_version, std::string_view signature_b64);

/// Parses a Signature header value. Elements are separated by commas, with optional blanks
/// around elements, keys and values; each splits at its first `=`; keys match case-insensitively;
/// values are percent-decoded. Unknown keys are ignored. Errors: an element without `=`, a
/// repeated key, a bad `%` escape, a missing or empty algorithm or signature, and an algorithm
/// other than RSA256 (matched case-insensitively).
signing_result<signature_header> parse_signature_header(std::string_view value);

}  // namespace cashier::aplus
