// The actions of cashierctl (cancel, inquire, redeliver, refund): one POST to the daemon's admin API on
// its ops listener, never a write to the database. Where it listens comes from --admin-url, or
// from the config's `opsListen` (plain HTTP; a wildcard host becomes loopback); --ca names the CA
// of an https --admin-url (e.g. a TLS proxy in front; else the system trust store). The admin
// token comes from --admin-token-file, else $CASHIER_ADMIN_TOKEN, else the config's adminToken /
// adminTokenFile, and is sent as `Authorization: Bearer`. Ids are percent-encoded into the path.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/system/result.hpp>

#include "orchestrator/daemon/config.hpp"
#include "tools/cashierctl/session.hpp"

namespace cashier::ctl {

/// An admin action.
enum class admin_action {
  cancel,     ///< POST /admin/payments/{paymentRequestId}/cancel
  inquire,    ///< POST /admin/payments/{paymentRequestId}/inquire
  redeliver,  ///< POST /admin/events/{eventId}/redeliver
  refund,     ///< POST /admin/payments/{paymentRequestId}/refund, body {"value"[, "refundRequestId"]}
};

/// "cancel", "inquire", "redeliver" or "refund".
std::string_view to_string(admin_action a);

/// Where the daemon's admin API is.
struct admin_target {
  std::string origin{};                  ///< "http://127.0.0.1:8080" or "https://host:port"
  std::optional<std::string> ca_file{};  ///< CA bundle for https ("" = system trust store)
  std::string token{};                   ///< the admin token (Authorization: Bearer)
};

/// The target from `--admin-url` (an origin: scheme http or https, host, optional port, no
/// path beyond "/"), else from the config's opsListen (a wildcard host becomes loopback), with
/// `token` when given, else the config's admin token; or a message for the operator when no
/// origin or no token is known.
boost::system::result<admin_target, std::string> resolve_admin_target(
    const std::optional<daemon::config>& cfg, const std::optional<std::string>& admin_url,
    const std::optional<std::string>& ca_file, const std::optional<std::string>& token = std::nullopt);

/// The request path of `action` on `id`, the id percent-encoded (everything but RFC 3986
/// unreserved characters); with `merchant`, `?merchant=<merchant id>` (the id is that
/// merchant's paymentRequestId, issue 14).
std::string admin_path(admin_action action, std::string_view id,
                       std::optional<std::string_view> merchant = std::nullopt);

/// Sends the action (with `body`, a JSON object; "{}" when empty) and reports the answer: 202
/// (and, for a refund, 200 repeat and 201 settled) → ok; 404 (unknown id), 409 (final payment),
/// any other answer, or no answer within `timeout` → failed with the daemon's message.
exit_status cmd_admin(const console& io, const admin_target& target, admin_action action,
                      std::string_view id,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30),
                      std::optional<std::string_view> merchant = std::nullopt,
                      std::string body = {});

}  // namespace cashier::ctl
