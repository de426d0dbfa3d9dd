// The Alipay+ public keys cashierd trusts, and the one call that decides whether an inbound
// message (a response to our request, or a notify) is authentic. Up to two keys are active at a
// time so that Alipay+ can rotate keys without downtime; each carries the keyVersion that the
// Signature header may name.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/alipayplus/keys.hpp"
#include "orchestrator/alipayplus/signing_error.hpp"

namespace boost::json {
class value;
}

namespace cashier::aplus {

/// Why an inbound message was or was not accepted as authentic; each is a metrics label.
enum class verify_outcome {
  ok,              ///< the signature verifies under an active Alipay+ key
  missing_header,  ///< no Signature header, or an empty one
  bad_header,      ///< the Signature header is malformed or names an algorithm other than RSA256
  no_key,          ///< no Alipay+ public key is configured, so nothing can be verified
  bad_signature,   ///< the header is well formed but its signature verifies under no tried key
};

/// The snake_case name of `outcome` ("bad_signature"), for logs and metrics.
std::string_view to_string(verify_outcome outcome);

/// The active Alipay+ public keys (at most two), each with its keyVersion.
class verifier_keys {
 public:
  /// An active key and the keyVersion it is published under.
  struct entry {
    std::string key_version;  ///< as configured; may be empty when none was given
    public_key key;           ///< the Alipay+ public key
  };
  /// How many keys may be active at once: the current one and its successor.
  static constexpr std::size_t capacity = 2;

  /// Makes `key` active under `key_version`. Errors when `capacity` keys are already active or
  /// one already has this version.
  signing_result<void> add(std::string key_version, public_key key);
  /// Deactivates the key with `key_version`; false when there is none.
  bool remove(std::string_view key_version);
  /// The key published under `key_version`, or nullptr.
  const public_key* find(std::string_view key_version) const;
  /// The active keys, in the order they were added.
  std::span<const entry> entries() const { return entries_; }

 private:
  std::vector<entry> entries_;
};

/// Checks the `Signature` header value `signature_header` over `content` (the string built by
/// request_content or response_content). An empty value means the header was absent. When the
/// header names a keyVersion that is active, only that key is tried. When it names none, or one
/// that is not active, every active key is tried: the keyVersion is only a hint, every active key
/// is Alipay+'s, and rejecting a genuine message would be worse than one extra verification.
verify_outcome verify_with(const verifier_keys& keys, std::string_view signature_header,
                           std::string_view content);

/// The keyVersion a config gives as a JSON number (a non-negative integer) or a non-empty
/// string, as a string: `1` and `"1"` both give "1".
signing_result<std::string> key_version_from_json(const boost::json::value& value);

}  // namespace cashier::aplus
