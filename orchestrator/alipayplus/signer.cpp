// Signing and verification through EVP_DigestSign / EVP_DigestVerify (see signer.hpp).
//
// Setting up a digest-sign context (fetching the RSA signature and SHA-256 implementations,
// binding the key) costs a noticeable share of a verify. So each thread keeps, for the last few
// keys it used, a context initialised once, and each call copies it (EVP_MD_CTX_copy_ex) into a
// per-thread scratch context instead of initialising from scratch. Nothing is shared between
// threads except the EVP_PKEY, which OpenSSL allows to be used concurrently. A primed context
// holds a reference to its key, so a cached key pointer can never be reused by another key.
#include "orchestrator/alipayplus/signer.hpp"

#include <array>
#include <memory>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "orchestrator/alipayplus/base64.hpp"

namespace cashier::aplus {
namespace {

std::string content_to_sign(std::string_view method, std::string_view path,
                            std::string_view client_id, std::string_view time,
                            std::string_view body) {
  const bool slash = path.empty() || path.front() != '/';
  std::string out;
  out.reserve(method.size() + path.size() + client_id.size() + time.size() + body.size() + 6);
  out.append(method).append(" ");
  if (slash) out.append("/");
  out.append(path).append("\n");
  out.append(client_id).append(".").append(time).append(".").append(body);
  return out;
}

struct md_ctx_deleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_deleter>;

/// What a context is primed for.
enum class direction {
  sign,    ///< EVP_DigestSignInit
  verify,  ///< EVP_DigestVerifyInit
};

/// A new context initialised for RSASSA-PKCS1-v1_5 with SHA-256 over `key`, or null.
md_ctx_ptr prime(EVP_PKEY* key, direction dir) {
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  if (!ctx) return nullptr;
  EVP_PKEY_CTX* pctx = nullptr;
  int ok = 0;
  switch (dir) {
    case direction::sign:
      ok = EVP_DigestSignInit_ex(ctx.get(), &pctx, "SHA256", nullptr, nullptr, key, nullptr);
      break;
    case direction::verify:
      ok = EVP_DigestVerifyInit_ex(ctx.get(), &pctx, "SHA256", nullptr, nullptr, key, nullptr);
      break;
  }
  if (ok != 1 || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return nullptr;
  return ctx;
}

/// One thread's primed contexts for the last few (key, direction) pairs, plus a scratch context
/// each call copies a primed one into. Four entries cover our key and two Alipay+ keys.
class primed_contexts {
 public:
  /// A context ready for one EVP_DigestSign / EVP_DigestVerify with `key`, or null on failure.
  /// Valid until the next call on this thread.
  EVP_MD_CTX* ready(EVP_PKEY* key, direction dir) {
    const EVP_MD_CTX* primed = find_or_prime(key, dir);
    if (primed == nullptr || !scratch_ || EVP_MD_CTX_copy_ex(scratch_.get(), primed) != 1)
      return nullptr;
    return scratch_.get();
  }

 private:
  struct entry {
    EVP_PKEY* key = nullptr;
    direction dir = direction::sign;
    md_ctx_ptr primed;
  };

  const EVP_MD_CTX* find_or_prime(EVP_PKEY* key, direction dir) {
    for (const entry& e : entries_)
      if (e.key == key && e.dir == dir && e.primed) return e.primed.get();
    md_ctx_ptr ctx = prime(key, dir);
    if (!ctx) return nullptr;
    entry& slot = entries_[next_++ % entries_.size()];
    slot = entry{key, dir, std::move(ctx)};
    return slot.primed.get();
  }

  std::array<entry, 4> entries_;
  std::size_t next_ = 0;
  md_ctx_ptr scratch_{EVP_MD_CTX_new()};
};

thread_local primed_contexts contexts;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

std::string request_content(std::string_view method, std::string_view path_with_query,
                            std::string_view client_id, std::string_view request_time,
                            std::string_view body) {
  return content_to_sign(method, path_with_query, client_id, request_time, body);
}

std::string response_content(std::string_view request_method, std::string_view request_path,
                             std::string_view client_id, std::string_view response_time,
                             std::string_view body) {
  return content_to_sign(request_method, request_path, client_id, response_time, body);
}

std::string sign(const private_key& key, std::string_view content) {
  if (key.native() == nullptr) throw std::logic_error("sign: the private key was moved from");
  EVP_MD_CTX* ctx = contexts.ready(key.native(), direction::sign);
  std::string sig(static_cast<std::size_t>(EVP_PKEY_get_size(key.native())), '\0');
  std::size_t len = sig.size();
  if (ctx == nullptr || EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                                       bytes(content), content.size()) != 1) {
    ERR_clear_error();
    throw std::runtime_error("RSA256 signing failed inside OpenSSL");
  }
  sig.resize(len);
  return base64_encode(sig);
}

bool verify(const public_key& key, std::string_view content, std::string_view signature_b64) {
  if (key.native() == nullptr) return false;
  const auto sig = base64_decode(signature_b64);
  if (!sig || sig->size() != static_cast<std::size_t>(EVP_PKEY_get_size(key.native())))
    return false;
  EVP_MD_CTX* ctx = contexts.ready(key.native(), direction::verify);
  const bool ok = ctx != nullptr && EVP_DigestVerify(ctx, bytes(*sig), sig->size(), bytes(content),
                                                     content.size()) == 1;
  // A failed verification leaves an entry on the thread's error queue; TLS code on the same
  // thread must not see it.
  ERR_clear_error();
  return ok;
}

}  // namespace cashier::aplus
