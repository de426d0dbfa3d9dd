// RSA256 signing as Alipay+ defines it: the byte-exact string to sign for a request or a
// response, and RSASSA-PKCS1-v1_5 / SHA-256 signatures in standard Base64. Every function here
// may be called from several threads at once, with the same keys. The Signature header that
// carries a signature is in signature_header.hpp; choosing among Alipay+'s keys is in
// key_ring.hpp.
#pragma once

#include <string>
#include <string_view>

#include "orchestrator/alipayplus/keys.hpp"

namespace cashier::aplus {

/// The string signed for a request: "<method> <path>\n<client_id>.<request_time>.<body>", with
/// one space, one LF, and a `/` put in front of `path_with_query` when it lacks one. `body` is
/// the exact bytes on the wire.
std::string request_content(std::string_view method, std::string_view path_with_query,
                            std::string_view client_id, std::string_view request_time,
                            std::string_view body);

/// The string signed for a response: as request_content, with the request's method and path,
/// the responder's Client-Id, the Response-Time header and the response body.
std::string response_content(std::string_view request_method, std::string_view request_path,
                             std::string_view client_id, std::string_view response_time,
                             std::string_view body);

/// The RSASSA-PKCS1-v1_5 SHA-256 signature of `content`, in padded standard Base64. Throws
/// std::logic_error on a moved-from key and std::runtime_error if OpenSSL fails internally
/// (out of memory); a loaded key never fails otherwise.
std::string sign(const private_key& key, std::string_view content);

/// Whether `signature_b64` (padded standard Base64) is a valid RSASSA-PKCS1-v1_5 SHA-256
/// signature of `content` under `key`. Malformed Base64, a wrong length, a wrong signature or
/// a moved-from key all give false.
bool verify(const public_key& key, std::string_view content, std::string_view signature_b64);

}  // namespace cashier::aplus
