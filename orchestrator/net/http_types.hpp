// Plain HTTP message types shared by the client and the server: header lists, requests and
// responses as value types with byte-exact string bodies. Nothing here includes Asio, Beast or
// OpenSSL, so domain code can build and inspect messages without paying their compile cost.
#pragma once

#include <boost/assert/source_location.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cashier::net {

/// One header field as it appears on the wire (names compare case-insensitively).
struct header {
  std::string name;   ///< field name, e.g. "Client-Id"
  std::string value;  ///< field value, without surrounding white space
};

/// Header fields in wire order; a name may repeat.
using header_list = std::vector<header>;

/// An HTTP/1.1 request. The body holds the exact bytes sent or received (no re-encoding), which
/// is what signatures are computed over.
struct request {
  std::string method = "GET";  ///< method token, e.g. "POST"
  std::string target = "/";    ///< origin-form target: path and optional query
  header_list headers;         ///< client: extra fields (it sets Host, Content-Length and
                               ///< Connection itself); server: every field received
  std::string body;            ///< body bytes exactly as on the wire (chunked framing removed)
};

/// An HTTP/1.1 response.
struct response {
  int status = 200;                       ///< status code, 100..999
  header_list headers;                    ///< client: every field received; server: fields to
                                          ///< send (it sets Content-Length and Connection itself)
  std::string body;                       ///< body bytes exactly as on the wire
  std::chrono::milliseconds latency{0};   ///< client only: time from send() to the full answer
  /// Server only: called on the server's thread once the answer's bytes are written (true) or
  /// the connection failed first (false); e.g. a notify ack releases the cancel it held back.
  std::function<void(bool written)> after_write{};
};

/// A handler's answer with this status is never sent: the server closes the connection
/// instead, as a peer that crashed mid-request would (aplus-sim's dropped answers).
inline constexpr int no_answer_status = 0;

/// A handler's answer with this status is not framed by the server: its body bytes are written
/// as they are (e.g. the first half of a real answer), then the connection is reset (TCP RST),
/// as a peer that crashed mid-answer would (aplus-sim's reset faults).
inline constexpr int reset_status = 1;

/// A set-up failure (bad address, unreadable certificate, ...), worded for the operator.
struct setup_error {
  std::string message;  ///< e.g. "cannot load certificate /etc/x.pem: No such file or directory"
};

/// Lets boost::system::result<T, setup_error>::value() throw a std::runtime_error.
[[noreturn]] void throw_exception_from_error(const setup_error& e, const boost::source_location& loc);

/// The value of the first field named `name` (case-insensitive), or nothing.
std::optional<std::string_view> find_header(const header_list& headers, std::string_view name);

/// True when `name` is a valid field-name token and `value` holds no CR, LF or NUL, i.e. the
/// pair can be written without corrupting the message framing.
bool is_valid_header(std::string_view name, std::string_view value);

/// A JSON error body `{"error":{"code":"...","message":"..."}}` with both strings escaped.
std::string json_error_body(std::string_view code, std::string_view message);

}  // namespace cashier::net
