// TLS contexts for the HTTP client and server. The context type is only forward-declared here
// so that code which merely passes contexts around does not include OpenSSL or Asio SSL.
#pragma once

#include "orchestrator/net/http_types.hpp"

#include <boost/system/result.hpp>

#include <memory>
#include <optional>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace cashier::net {

/// A shared TLS context; null means plain TCP.
using tls_context = std::shared_ptr<boost::asio::ssl::context>;

/// A server context (TLS 1.2+) presenting the PEM certificate chain at `cert_pem_path` with
/// the PEM private key at `key_pem_path`; or "cannot load certificate <path>: <reason>" (or
/// "... private key ...") when a file is missing, unreadable, invalid or the two do not match.
boost::system::result<tls_context, setup_error> make_server_context(const std::string& cert_pem_path,
                                                                    const std::string& key_pem_path);

/// A client context (TLS 1.2+, verify_peer) trusting the PEM CA bundle `ca_file`, or the
/// system's default trust store when none is given; or "cannot load CA file <path>: <reason>".
boost::system::result<tls_context, setup_error> make_client_context(const std::optional<std::string>& ca_file);

}  // namespace cashier::net
