// The admin token check (see admin_auth.hpp). Both sides are hashed first, so the comparison
// takes the same time whatever the length or content of the token presented.
#include "orchestrator/daemon/admin_auth.hpp"

#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "orchestrator/daemon/merchant_answers.hpp"

namespace cashier::daemon {
namespace {

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> out{};
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), out.data(), &size, EVP_sha256(), nullptr) != 1 || size != out.size())
    throw std::runtime_error("SHA-256 failed");
  return out;
}

net::response unauthorized(std::string_view code, std::string_view message) {
  net::response r;
  r.status = 401;
  r.headers.push_back({"Content-Type", "application/json"});
  r.headers.push_back({"WWW-Authenticate", "Bearer"});
  r.body = net::json_error_body(code, message);
  return r;
}

}  // namespace

bool is_admin_path(std::string_view path) { return path == "/admin" || path.starts_with("/admin/"); }

admin_gate::admin_gate(std::string_view token) : enabled_(!token.empty()) {
  if (enabled_) digest_ = sha256(token);
}

std::optional<net::response> admin_gate::refuse(const net::request& req) const {
  if (!enabled_)
    return unauthorized("ADMIN_DISABLED", "admin actions are disabled: no adminToken or adminTokenFile is configured");
  const auto token = answers::bearer_token(req);
  if (!token) return unauthorized("UNAUTHORIZED", "missing or invalid admin Bearer token");
  const auto digest = sha256(*token);
  if (CRYPTO_memcmp(digest.data(), digest_.data(), digest_.size()) != 0)
    return unauthorized("UNAUTHORIZED", "missing or invalid admin Bearer token");
  return std::nullopt;
}

}  // namespace cashier::daemon
