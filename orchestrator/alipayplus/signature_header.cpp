// Formatting and tolerant parsing of the Signature header (see signature_header.hpp).
#include "orchestrator/alipayplus/signature_header.hpp"

#include <array>

namespace cashier::aplus {
namespace {

bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

/// The value of a hex digit of either case, or -1.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

/// At most 32 bytes of untrusted `s` for an error message, with anything but printable ASCII
/// shown as `?`, so that a hostile header cannot forge log lines.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (const char c : s.substr(0, 32)) out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  out.append(s.size() > 32 ? "...\"" : "\"");
  return out;
}

/// The elements the parser keeps, in the order of `element_names`.
enum class element {
  algorithm,    ///< algorithm=
  key_version,  ///< keyVersion=
  signature,    ///< signature=
};
constexpr std::array<std::string_view, 3> element_names = {"algorithm", "keyVersion", "signature"};

/// The element a key names, or nothing for an unknown key.
std::optional<element> element_of(std::string_view key) {
  for (std::size_t i = 0; i < element_names.size(); ++i)
    if (iequals(key, element_names[i])) return static_cast<element>(i);
  return std::nullopt;
}

/// The decoded values of the known elements, as found in the header.
using element_values = std::array<std::optional<std::string>, element_names.size()>;

/// Splits the header into its known elements, decoding their values.
signing_result<element_values> split_elements(std::string_view value) {
  element_values found;
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto part = trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    if (eq == std::string_view::npos)
      return signing_error{"Signature header element without '=': " + quoted(part)};
    const auto key = trim(part.substr(0, eq));
    const auto which = element_of(key);
    if (!which) continue;
    auto& slot = found[static_cast<std::size_t>(*which)];
    if (slot) return signing_error{"Signature header repeats " + quoted(key)};
    slot = percent_decode(trim(part.substr(eq + 1)));
    if (!slot) return signing_error{"Signature header " + quoted(key) + " has a bad % escape"};
  }
  return found;
}

}  // namespace

std::string percent_encode(std::string_view text) {
  constexpr std::string_view hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() + text.size() / 8 * 2);
  for (const char c : text) {
    if (is_unreserved(c)) {
      out.push_back(c);
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    out.push_back('%');
    out.push_back(hex[byte >> 4]);
    out.push_back(hex[byte & 0x0F]);
  }
  return out;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (text.size() - i < 3) return std::nullopt;
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string format_signature_header(std::string_view key_version, std::string_view signature_b64) {
  std::string out = "algorithm=";
  out.append(rsa256);
  if (!key_version.empty()) out.append(",keyVersion=").append(percent_encode(key_version));
  out.append(",signature=").append(percent_encode(signature_b64));
  return out;
}

signing_result<signature_header> parse_signature_header(std::string_view value) {
  auto found = split_elements(value);
  if (!found) return found.error();
  auto& [algorithm, key_version, signature] = *found;
  if (!algorithm || algorithm->empty()) return signing_error{"Signature header has no algorithm"};
  if (!iequals(*algorithm, rsa256))
    return signing_error{"Signature header algorithm is " + quoted(*algorithm) +
                         ", expected RSA256"};
  if (!signature || signature->empty()) return signing_error{"Signature header has no signature"};
  if (key_version && key_version->empty()) key_version.reset();
  return signature_header{std::string(rsa256), std::move(key_version), std::move(*signature)};
}

}  // namespace cashier::aplus
