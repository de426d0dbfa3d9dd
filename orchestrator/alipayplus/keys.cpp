// Loading RSA keys from PEM (see keys.hpp). The first PEM block is located by hand so that a
// wrong kind of file (certificate, encrypted key, public instead of private) is named by its
// label before OpenSSL sees it; the block is then decoded with PEM_read_bio_PrivateKey_ex or
// PEM_read_bio_PUBKEY_ex, whose password callback always refuses, so OpenSSL never prompts on
// a terminal. Every failure leaves the thread's OpenSSL error queue empty: a stale entry would
// confuse later TLS calls on the same thread.
#include "orchestrator/alipayplus/keys.hpp"

#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <system_error>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace cashier::aplus {

pkey_ref::pkey_ref(const pkey_ref& other) : key_(other.key_) {
  if (key_ != nullptr) EVP_PKEY_up_ref(key_);
}

pkey_ref::pkey_ref(pkey_ref&& other) noexcept : key_(std::exchange(other.key_, nullptr)) {}

pkey_ref& pkey_ref::operator=(const pkey_ref& other) {
  if (this != &other) *this = pkey_ref(other);
  return *this;
}

pkey_ref& pkey_ref::operator=(pkey_ref&& other) noexcept {
  std::swap(key_, other.key_);
  return *this;
}

pkey_ref::~pkey_ref() { EVP_PKEY_free(key_); }

int private_key::bits() const { return EVP_PKEY_get_bits(native()); }
int public_key::bits() const { return EVP_PKEY_get_bits(native()); }

namespace {

/// The first PEM block of a text: its label and its bytes from BEGIN to the end of END.
struct pem_block {
  std::string_view label;  ///< e.g. "RSA PRIVATE KEY"
  std::string_view text;   ///< the whole block, BEGIN and END lines included
};

signing_result<pem_block> first_pem_block(std::string_view pem) {
  constexpr std::string_view begin = "-----BEGIN ";
  constexpr std::string_view dashes = "-----";
  const auto start = pem.find(begin);
  if (start == std::string_view::npos) return signing_error{"no PEM block (-----BEGIN ...) found"};
  const auto label_at = start + begin.size();
  const auto label_end = pem.find(dashes, label_at);
  const auto line_end = pem.find('\n', label_at);
  if (label_end == std::string_view::npos || label_end > line_end)
    return signing_error{"malformed PEM BEGIN line"};
  const auto label = pem.substr(label_at, label_end - label_at);
  const std::string end_line = "-----END " + std::string(label) + std::string(dashes);
  const auto end_at = pem.find(end_line, label_end);
  if (end_at == std::string_view::npos)
    return signing_error{"PEM block " + std::string(label) + " has no matching END line"};
  return pem_block{label, pem.substr(start, end_at + end_line.size() - start)};
}

/// What a PEM label denotes, in words, for error messages.
std::string describe(std::string_view label) {
  const std::string found = "found -----BEGIN " + std::string(label) + "-----";
  if (label == "CERTIFICATE" || label == "X509 CERTIFICATE" || label == "TRUSTED CERTIFICATE")
    return found + " (a certificate)";
  if (label == "PUBLIC KEY") return found + " (a public key)";
  if (label == "RSA PUBLIC KEY") return found + " (a PKCS#1 public key)";
  if (label == "PRIVATE KEY" || label == "RSA PRIVATE KEY") return found + " (a private key)";
  if (label == "ENCRYPTED PRIVATE KEY") return found + " (an encrypted private key)";
  if (label == "EC PRIVATE KEY") return found + " (an EC private key)";
  if (label == "CERTIFICATE REQUEST") return found + " (a certificate signing request)";
  return found;
}

/// The reason of the earliest (root-cause) error on the OpenSSL queue; empties the queue.
std::string take_openssl_error() {
  const unsigned long code = ERR_peek_error();
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  ERR_clear_error();
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

/// A password callback that refuses, so an encrypted key fails instead of prompting.
int refuse_password(char*, int, int, void*) { return -1; }

struct bio_deleter {
  void operator()(BIO* b) const { BIO_free(b); }
};

/// Reads one key from `block` with `read` (PEM_read_bio_PrivateKey_ex or PEM_read_bio_PUBKEY_ex).
template <class Reader>
signing_result<pkey_ref> decode(const pem_block& block, Reader read) {
  const std::unique_ptr<BIO, bio_deleter> bio(
      BIO_new_mem_buf(block.text.data(), static_cast<int>(block.text.size())));
  if (!bio) return signing_error{"out of memory reading a PEM key"};
  pkey_ref key(read(bio.get(), nullptr, refuse_password, nullptr, nullptr, nullptr));
  if (key.get() == nullptr)
    return signing_error{"cannot decode the " + std::string(block.label) +
                         " PEM block (damaged, or not a key): " + take_openssl_error()};
  ERR_clear_error();
  return key;
}

/// Checks that `key` is RSA with at least min_rsa_bits bits.
signing_result<pkey_ref> require_rsa(pkey_ref key) {
  if (EVP_PKEY_is_a(key.get(), "RSA") != 1) {
    const char* type = EVP_PKEY_get0_type_name(key.get());
    return signing_error{"expected an RSA key, found key type " +
                         std::string(type != nullptr ? type : "unknown")};
  }
  const int bits = EVP_PKEY_get_bits(key.get());
  if (bits < min_rsa_bits)
    return signing_error{"RSA key has " + std::to_string(bits) + " bits; at least " +
                         std::to_string(min_rsa_bits) + " are required"};
  return key;
}

signing_result<pkey_ref> load_private(std::string_view pem) {
  auto block = first_pem_block(pem);
  if (!block) return block.error();
  const auto label = block->label;
  if (label == "ENCRYPTED PRIVATE KEY" ||
      (label == "RSA PRIVATE KEY" &&
       block->text.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos))
    return signing_error{
        "the private key is encrypted; cashierd needs an unencrypted PEM key "
        "(openssl pkey -in KEY -out PLAIN.pem)"};
  if (label != "RSA PRIVATE KEY" && label != "PRIVATE KEY")
    return signing_error{
        "expected an RSA private key (-----BEGIN RSA PRIVATE KEY----- or "
        "-----BEGIN PRIVATE KEY-----), " +
        describe(label)};
  auto key = decode(*block, PEM_read_bio_PrivateKey_ex);
  if (!key) return key.error();
  return require_rsa(std::move(*key));
}

signing_result<pkey_ref> load_public(std::string_view pem) {
  auto block = first_pem_block(pem);
  if (!block) return block.error();
  if (block->label != "PUBLIC KEY")
    return signing_error{"expected an RSA public key (-----BEGIN PUBLIC KEY-----), " +
                         describe(block->label)};
  auto key = decode(*block, PEM_read_bio_PUBKEY_ex);
  if (!key) return key.error();
  return require_rsa(std::move(*key));
}

/// The contents of the file at `path` (at most 1 MiB: no key is larger).
signing_result<std::string> read_small_file(const std::string& path) {
  constexpr std::size_t limit = 1 << 20;
  const auto fail = [&](std::string why) {
    return signing_error{"cannot read " + path + ": " + why};
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!file) return fail(std::generic_category().message(errno));
  std::string text(limit + 1, '\0');
  const std::size_t n = std::fread(text.data(), 1, text.size(), file.get());
  if (std::ferror(file.get())) return fail(std::generic_category().message(errno));
  if (n > limit) return fail("larger than 1 MiB, not a PEM key");
  text.resize(n);
  // Tagged: signing_error is constructible from a string too.
  return {boost::system::in_place_value, std::move(text)};
}

/// Runs `load` on the contents of `path`, prefixing its errors with the path.
template <class Key, class Loader>
signing_result<Key> load_file(const std::string& path, Loader load) {
  auto text = read_small_file(path);
  if (!text) return text.error();
  auto key = load(*text);
  if (!key) return signing_error{path + ": " + key.error().message};
  return std::move(*key);
}

}  // namespace

signing_result<private_key> load_private_key_pem(std::string_view pem) {
  auto key = load_private(pem);
  if (!key) return key.error();
  return private_key(std::move(*key));
}

signing_result<public_key> load_public_key_pem(std::string_view pem) {
  auto key = load_public(pem);
  if (!key) return key.error();
  return public_key(std::move(*key));
}

signing_result<private_key> load_private_key_file(const std::string& path) {
  return load_file<private_key>(path, load_private_key_pem);
}

signing_result<public_key> load_public_key_file(const std::string& path) {
  return load_file<public_key>(path, load_public_key_pem);
}

}  // namespace cashier::aplus
