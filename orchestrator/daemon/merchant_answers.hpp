// The building blocks of the merchant API's answers: JSON responses, the error shape
// {"error":{"code","message","field"?}}, the checks every POST body passes (413, 415), the
// query string, and the JSON views of store records (event log, events feed). Plain functions
// over net::request/response and Boost.JSON; no Asio, no store access.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "orchestrator/alipayplus/json_guard.hpp"
#include "orchestrator/net/http_types.hpp"
#include "state/store/records.hpp"

namespace cashier::daemon::answers {

/// The largest request body accepted (the server's default limit is the same).
inline constexpr std::size_t max_body_bytes = 64 * 1024;

/// `body` as JSON with status `status` and Content-Type application/json.
net::response json_response(int status, const boost::json::value& body);
/// `text` (already JSON) with status `status` and Content-Type application/json.
net::response json_text_response(int status, std::string text);
/// {"error":{"code","message","field"}} (field left out when empty).
net::response error_response(int status, std::string_view code, std::string_view message,
                             std::string_view field = {});
/// 503 STORE_UNAVAILABLE with `message` and Retry-After: 1 (nothing was recorded, or what was
/// recorded is answered to a retry).
net::response retry_later(std::string_view message);
/// {"error":{"code","message"}} as the HTTP server writes its own refusals (net::json_error_body):
/// the daemon's answers outside the merchant API (notify, admin, health, routing).
net::response server_error_response(int status, std::string_view code, std::string_view message);
/// 400 INVALID_REQUEST naming the first of `errors` (not empty); `details` lists every error
/// when there are several.
net::response invalid_request(const std::vector<aplus::field_error>& errors);
/// 400 INVALID_REQUEST for query parameter `name`.
net::response bad_query(std::string_view name, std::string_view problem);
/// 405 METHOD_NOT_ALLOWED with `Allow: allow`.
net::response method_not_allowed(std::string_view allow);
/// 413 for a body over max_body_bytes, 415 for a non-empty body whose Content-Type is not
/// application/json (parameters such as charset are allowed), or nothing when it may be read.
std::optional<net::response> check_json_body(const net::request& req);

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive), or nothing when the
/// header is missing, repeated (ambiguous credentials), of another scheme or empty.
std::optional<std::string_view> bearer_token(const net::request& req);

/// The percent-decoded query parameters of `target`, in order (none when it does not parse).
std::vector<std::pair<std::string, std::string>> query_params(std::string_view target);
/// A non-negative decimal integer (digits only, fits std::int64_t), or nothing.
std::optional<std::int64_t> parse_count(std::string_view text);

/// A payment's event log: [{"at","from":{status,pendingAction}|null,"to","cause","detail"?}].
boost::json::array event_log_json(const std::vector<store::event_record>& records);
/// One entry of the events feed: eventId, type, sequence, paymentRequestId, createdAt and the
/// `data` of the stored webhook payload.
boost::json::object feed_entry_json(const store::outbox_record& record);

}  // namespace cashier::daemon::answers
