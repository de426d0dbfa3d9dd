// The --json shapes of the store's records, as documented in proto-docs/cashierctl.md: the
// transition log, Alipay+ calls, inbound notifies, merchant events with their delivery
// attempts, and anomalies. The payment itself is engine::payment_to_json (the one public
// payment object). Keys are camelCase, times ISO 8601 UTC (null when unset), bodies and headers
// are the stored bytes as JSON strings (invalid UTF-8 replaced by U+FFFD: the database keeps
// the exact bytes, this is a view).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "state/store/records.hpp"

namespace cashier::ctl {

/// `text` as valid UTF-8: every byte that does not belong to a well-formed sequence becomes U+FFFD.
std::string valid_utf8(std::string_view text);

/// A time as ISO 8601 UTC, or null for `never` and the zero instant.
boost::json::value time_json(time_point t);

/// One transition-log row: at, version, fromStatus, fromPendingAction, toStatus, toPendingAction,
/// cause, detail.
boost::json::object event_json(const store::event_record& e);

/// One Alipay+ call: api, startedAt, latencyUs, httpStatus, outcome, requestHeaders,
/// requestBody, responseHeaders, responseBody.
boost::json::object call_json(const store::call_record& c);

/// One inbound notify: receivedAt, verification, headers, body.
boost::json::object notify_json(const store::notify_record& n);

/// One merchant event with its delivery attempts: eventId, seq, type, state, targetUrl,
/// attemptCount, nextAttemptAt, lastStatus, lastError, createdAt, attempts[{at, httpStatus,
/// error, latencyUs}] (only the attempts of this event are taken from `attempts`).
boost::json::object webhook_json(const store::outbox_record& o,
                                 const std::vector<store::webhook_attempt_record>& attempts);

/// One anomaly: at, kind, detail, paymentRequestId (null when tied to no payment).
boost::json::object anomaly_json(const store::anomaly_record& a,
                                 std::string_view payment_request_id);

}  // namespace cashier::ctl
