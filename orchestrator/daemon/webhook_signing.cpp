// Standard Webhooks signing (see webhook_signing.hpp): Base64 and HMAC-SHA256 through OpenSSL.
#include "orchestrator/daemon/webhook_signing.hpp"

#include <array>
#include <optional>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace cashier::daemon {
namespace {

constexpr std::string_view secret_prefix = "whsec_";
constexpr std::string_view version_prefix = "v1,";

/// The 6-bit value of a standard Base64 character, or -1.
int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/// Decodes standard Base64 with or without `=` padding; nothing on any other character, a
/// dangling sixth bit group, or padding that is not at the end.
std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 == 0 && text.ends_with("==")) text.remove_suffix(2);
  else if (text.size() % 4 == 0 && text.ends_with('=')) text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  std::uint32_t bits = 0;
  int held = 0;
  for (char c : text) {
    const int v = base64_value(c);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    held += 6;
    if (held >= 8) {
      held -= 8;
      out.push_back(static_cast<char>((bits >> held) & 0xFF));
    }
  }
  return out;
}

/// Standard padded Base64 of `bytes`.
std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

/// Base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>").
std::string signature(std::string_view key, std::string_view id, std::int64_t timestamp_seconds,
                      std::string_view body) {
  std::string content;
  content.reserve(id.size() + body.size() + 24);
  content.append(id).append(".").append(std::to_string(timestamp_seconds)).append(".").append(body);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  // HMAC() only fails on an invalid digest or allocation failure; neither is an input error.
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac.data(),
           &mac_len) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return base64_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac_len));
}

/// True when `header` holds the entry "v1,<expected>".
bool header_has(std::string_view header, std::string_view expected) {
  while (!header.empty()) {
    const auto space = header.find(' ');
    std::string_view entry = header.substr(0, space);
    header = space == std::string_view::npos ? std::string_view{} : header.substr(space + 1);
    if (!entry.starts_with(version_prefix)) continue;
    entry.remove_prefix(version_prefix.size());
    if (entry.size() == expected.size() && CRYPTO_memcmp(entry.data(), expected.data(), entry.size()) == 0)
      return true;
  }
  return false;
}

}  // namespace

void throw_exception_from_error(const webhook_secret_error& e, const boost::source_location&) {
  throw std::invalid_argument(e.message);
}

boost::system::result<std::string, webhook_secret_error> webhook_key(std::string_view secret) {
  if (!secret.starts_with(secret_prefix)) return webhook_secret_error{"webhook secret must start with whsec_"};
  auto key = base64_decode(secret.substr(secret_prefix.size()));
  if (!key) return webhook_secret_error{"webhook secret is not whsec_<base64>"};
  if (key->empty()) return webhook_secret_error{"webhook secret has an empty key"};
  return {boost::system::in_place_value, std::move(*key)};
}

boost::system::result<std::string, webhook_secret_error> sign_webhook(std::span<const std::string> secrets,
                                                                      std::string_view id,
                                                                      std::int64_t timestamp_seconds,
                                                                      std::string_view body) {
  if (secrets.empty()) return webhook_secret_error{"no webhook secret to sign with"};
  std::string header;
  for (const auto& secret : secrets) {
    auto key = webhook_key(secret);
    if (!key) return key.error();
    if (!header.empty()) header.push_back(' ');
    header.append(version_prefix).append(signature(*key, id, timestamp_seconds, body));
  }
  return {boost::system::in_place_value, std::move(header)};
}

bool verify_webhook(std::span<const std::string> secrets, std::string_view id,
                    std::int64_t timestamp_seconds, std::string_view body,
                    std::string_view signature_header) {
  for (const auto& secret : secrets) {
    auto key = webhook_key(secret);
    if (key && header_has(signature_header, signature(*key, id, timestamp_seconds, body))) return true;
  }
  return false;
}

}  // namespace cashier::daemon
