// The admin API's credential (PRODUCT.md, Operations): every request under /admin/ on the ops
// listener must carry `Authorization: Bearer <adminToken>`; the token is checked before routing,
// so an unknown /admin/ path without it is 401 as well and reveals nothing. Being on loopback is
// never enough: a same-host proxy, a sidecar or cashierd's own webhook sender all come from
// there. Without a configured token, admin actions are disabled (401 ADMIN_DISABLED).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "orchestrator/net/http_types.hpp"

namespace cashier::daemon {

/// True when `path` is under the admin API (`/admin` or `/admin/...`).
bool is_admin_path(std::string_view path);

/// Decides whether an admin request carries the admin token.
class admin_gate {
 public:
  /// A gate for `token` ("" = admin actions disabled).
  explicit admin_gate(std::string_view token);
  /// Nothing when `req` carries exactly one `Authorization: Bearer <token>` field with the
  /// configured token (compared in constant time); otherwise the 401 answer to send.
  std::optional<net::response> refuse(const net::request& req) const;

 private:
  bool enabled_ = false;
  std::array<unsigned char, 32> digest_{};  // SHA-256 of the token
};

}  // namespace cashier::daemon
