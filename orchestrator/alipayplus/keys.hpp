// RSA keys for Alipay+ signing: `private_key` (ours, signs requests and notify acks) and
// `public_key` (Alipay+'s, verifies responses and notifies), each a shared, immutable
// OpenSSL 3 EVP_PKEY. Loading accepts exactly what the wire facts allow (PKCS#1 or PKCS#8
// private keys, SubjectPublicKeyInfo public keys, RSA of at least 2048 bits, unencrypted PEM)
// and says precisely what it found otherwise. Signing itself lives in signer.hpp.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <openssl/types.h>

#include "orchestrator/alipayplus/signing_error.hpp"

namespace cashier::aplus {

/// The smallest RSA modulus accepted, in bits (Alipay+ uses 2048-bit keys).
inline constexpr int min_rsa_bits = 2048;

/// Owns one reference to an EVP_PKEY; copies share the key (EVP_PKEY_up_ref). An EVP_PKEY is
/// never modified after loading, so several threads may use one concurrently.
class pkey_ref {
 public:
  /// Empty.
  pkey_ref() = default;
  /// Takes over the caller's reference to `key`.
  explicit pkey_ref(EVP_PKEY* key) : key_(key) {}
  /// Shares `other`'s key.
  pkey_ref(const pkey_ref& other);
  /// Takes `other`'s key, leaving it empty.
  pkey_ref(pkey_ref&& other) noexcept;
  /// Shares `other`'s key, dropping this one's.
  pkey_ref& operator=(const pkey_ref& other);
  /// Takes `other`'s key, dropping this one's.
  pkey_ref& operator=(pkey_ref&& other) noexcept;
  /// Drops the reference.
  ~pkey_ref();
  /// The key, or nullptr when empty (moved from).
  EVP_PKEY* get() const { return key_; }

 private:
  EVP_PKEY* key_ = nullptr;
};

/// An RSA private key of at least 2048 bits; empty only after being moved from.
class private_key {
 public:
  /// The EVP_PKEY, for the signer; nullptr when moved from.
  EVP_PKEY* native() const { return key_.get(); }
  /// The modulus size in bits.
  int bits() const;

 private:
  explicit private_key(pkey_ref key) : key_(std::move(key)) {}
  friend signing_result<private_key> load_private_key_pem(std::string_view pem);
  pkey_ref key_;
};

/// An RSA public key of at least 2048 bits; empty only after being moved from.
class public_key {
 public:
  /// The EVP_PKEY, for the verifier; nullptr when moved from.
  EVP_PKEY* native() const { return key_.get(); }
  /// The modulus size in bits.
  int bits() const;

 private:
  explicit public_key(pkey_ref key) : key_(std::move(key)) {}
  friend signing_result<public_key> load_public_key_pem(std::string_view pem);
  pkey_ref key_;
};

/// Loads an unencrypted RSA private key from PEM text: PKCS#1 (`BEGIN RSA PRIVATE KEY`) or
/// PKCS#8 (`BEGIN PRIVATE KEY`). Text before the first PEM block is ignored; only the first
/// block is read. Anything else is an error naming what was found.
signing_result<private_key> load_private_key_pem(std::string_view pem);

/// Loads an RSA public key from PEM SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`); anything else
/// (certificate, PKCS#1 public key, private key, other algorithm) is an error naming it.
signing_result<public_key> load_public_key_pem(std::string_view pem);

/// load_private_key_pem on the contents of the file at `path`; errors start with the path.
signing_result<private_key> load_private_key_file(const std::string& path);

/// load_public_key_pem on the contents of the file at `path`; errors start with the path.
signing_result<public_key> load_public_key_file(const std::string& path);

}  // namespace cashier::aplus
