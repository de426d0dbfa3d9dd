// TLS context construction: protocol floor, certificate and key loading, trust anchors. Only
// this file and the transport files see OpenSSL; errors come back as text naming the file.
#include "orchestrator/net/tls.hpp"

#include <boost/asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace cashier::net {
namespace ssl = boost::asio::ssl;
namespace {

// OpenSSL reports a missing file as a generic "system lib" failure, so check readability first
// to give the operator the real reason.
std::optional<std::string> unreadable(const std::string& path) {
  std::ifstream file(path);
  if (file) return std::nullopt;
  return std::string(std::strerror(errno));
}

// "<what> <path>: <reason>", taking the reason from the file system or from OpenSSL.
setup_error load_error(const char* what, const std::string& path, const boost::system::error_code& ec) {
  std::string reason = unreadable(path).value_or(ec.message());
  ERR_clear_error();
  return setup_error{std::string("cannot load ") + what + " " + path + ": " + reason};
}

tls_context new_context(ssl::context::method method) {
  auto ctx = std::make_shared<ssl::context>(method);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  return ctx;
}

}  // namespace

boost::system::result<tls_context, setup_error> make_server_context(const std::string& cert_pem_path,
                                                                    const std::string& key_pem_path) {
  auto ctx = new_context(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_pem_path, ec);
  if (ec) return load_error("certificate", cert_pem_path, ec);
  ctx->use_private_key_file(key_pem_path, ssl::context::pem, ec);
  if (ec) return load_error("private key", key_pem_path, ec);
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    return setup_error{"cannot load private key " + key_pem_path + ": it does not match certificate " + cert_pem_path};
  }
  return ctx;
}

boost::system::result<tls_context, setup_error> make_client_context(const std::optional<std::string>& ca_file) {
  auto ctx = new_context(ssl::context::tls_client);
  boost::system::error_code ec;
  if (ca_file) {
    ctx->load_verify_file(*ca_file, ec);
    if (ec) return load_error("CA file", *ca_file, ec);
  } else {
    ctx->set_default_verify_paths(ec);
    if (ec) return setup_error{"cannot load the system CA store: " + ec.message()};
  }
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

}  // namespace cashier::net
