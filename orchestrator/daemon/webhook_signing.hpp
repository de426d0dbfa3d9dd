// Standard Webhooks signing of merchant webhooks (PRODUCT.md): the `webhook-signature` header is
// `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, one entry per merchant secret
// (two during a rotation), space-separated; a secret is `whsec_<standard base64 key>`. Pure
// functions over bytes: no Asio, no clock (the caller passes the wall-clock timestamp), no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

namespace cashier::daemon {

/// A webhook secret that cannot be used, worded for the operator (never shows the key).
struct webhook_secret_error {
  std::string message;  ///< e.g. "webhook secret must start with whsec_"
};

/// Lets boost::system::result<T, webhook_secret_error>::value() throw std::invalid_argument.
[[noreturn]] void throw_exception_from_error(const webhook_secret_error& e, const boost::source_location& loc);

/// The raw HMAC key of `secret` (`whsec_` then standard Base64, padding optional), or why it
/// cannot be used (no prefix, not Base64, empty key).
boost::system::result<std::string, webhook_secret_error> webhook_key(std::string_view secret);

/// The `webhook-signature` value for message `id` sent at unix second `timestamp_seconds` with
/// `body`: "v1,<sig>" per secret in the order given, space-separated; an error when `secrets`
/// is empty or one of them is unusable.
boost::system::result<std::string, webhook_secret_error> sign_webhook(std::span<const std::string> secrets,
                                                                      std::string_view id,
                                                                      std::int64_t timestamp_seconds,
                                                                      std::string_view body);

/// True when some `v1,` entry of the space-separated `signature_header` is the signature of
/// (id, timestamp, body) under some usable secret of `secrets` (constant-time comparison).
/// Checks no timestamp tolerance: that is the receiver's policy.
bool verify_webhook(std::span<const std::string> secrets, std::string_view id,
                    std::int64_t timestamp_seconds, std::string_view body,
                    std::string_view signature_header);

}  // namespace cashier::daemon
