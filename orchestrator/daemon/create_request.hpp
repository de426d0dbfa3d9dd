// The merchant API's request bodies, validated, and what the daemon builds from them: the create
// body (POST /v1/payments) becomes the Alipay+ pay request and the new payment record, the
// consult body (POST /v1/payments/consult) the consultPayment request, and the cancel body its
// reason. Pure functions over parsed JSON: no I/O, no clock reads, nothing thrown on bad input.
//
// Rules beyond the codec's (which checks the nested Alipay+ objects, see codec.cpp):
// - paymentRequestId: 1 to 64 characters from [A-Za-z0-9_.:-], and not only dots. It travels in
//   URL paths (/v1/payments/{id}) and to Alipay+ as is, so it holds no '/', '?', '#', '%',
//   white space or control characters, and cannot be a dot segment.
// - Unknown fields are refused at every level ("unknown field"), and the fields the daemon fills
//   (paymentNotifyUrl, paymentMethod, paymentFactor) are refused at the top level ("set by
//   cashierd"): a typo such as the `OsType` of Alipay+'s own sample must not silently vanish, and
//   nothing the merchant sends reaches Alipay+ unless a rule here has checked it.
// - paymentAmount.value > 0 for a create ("0" is allowed for consult); order.env.osType is
//   required when terminalType is APP or WAP.
// - paymentRedirectUrl: required, an absolute URI (app deep links allowed; javascript:, data:,
//   vbscript: and file: refused); merchantNotifyUrl: optional, an https:// URL with a host and no
//   user information, whose host is one of the merchant's notifyHosts (check_notify_host).
// - paymentExpiryTime: optional, `YYYY-MM-DDTHH:MM:SS[.fff]` with `Z` or `±HH:MM`, after `now`
//   and at most 30 days ahead (payment clock); it is forwarded to Alipay+ verbatim. When absent
//   the daemon sends now + defaultExpiryMinutes, rounded down to whole seconds, in UTC.
// - order.merchant (and consult's merchant) is bound to the authenticated merchant's config: it
//   may be left out (fill_merchant puts the merchant's own record in) or must equal one of the
//   merchant's configured records (its own or a sub-merchant's); anything else is a
//   merchant_mismatch naming the first field that differs.
// - The Alipay+ paymentRequestId is cashierd's own (create_context::alipay_payment_request_id),
//   never the merchant's, so two merchants may use the same paymentRequestId.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/daemon/config.hpp"
#include "state/machine/payment.hpp"

namespace cashier::daemon {

/// The longest a merchant may set paymentExpiryTime ahead of now.
inline constexpr duration max_expiry_ahead = std::chrono::days{30};

/// A validated create body.
struct create_request {
  std::string payment_request_id;                  ///< the idempotency key
  aplus::order order;                              ///< as in the pay API
  aplus::amount payment_amount;                    ///< > 0
  std::string payment_redirect_url;                ///< where the wallet sends the user back
  std::optional<std::string> payment_expiry_time;  ///< as the merchant wrote it
  std::optional<time_point> expiry_at;             ///< the same instant, parsed
  std::optional<std::string> user_region;          ///< ISO 3166 alpha-2
  std::optional<aplus::settlement_strategy> settlement_strategy;  ///< settlementCurrency
  std::optional<std::string> merchant_notify_url;                 ///< per-payment webhook URL
  aplus::extra_fields_t extra_fields;  ///< unknown keys (refused by the parser)
};

/// What the daemon adds to a create besides the merchant's fields.
struct create_context {
  std::string merchant_id;  ///< the authenticated merchant
  std::string notify_url;   ///< config alipayplus.notifyUrl, sent as paymentNotifyUrl
  duration default_expiry;  ///< config payment.defaultExpiryMinutes
  time_point now;           ///< payment clock
  /// cashierd's Alipay+ paymentRequestId for the new payment (new_alipay_payment_request_id);
  /// "" = the merchant's paymentRequestId (tools that seed payments for a simulator).
  std::string alipay_payment_request_id = {};
};

/// A merchant record in a body that is not one of the authenticated merchant's.
struct merchant_mismatch {
  std::string field;    ///< e.g. `order.merchant.referenceMerchantId`
  std::string message;  ///< what differs
};

/// The Alipay+ form of a configured merchant record.
aplus::merchant to_aplus(const merchant_identity& id);

/// `body` with the merchant's own record put in where the merchant left it out: at
/// `order.merchant` for a create (`consult` false), at `merchant` for a consult. A body of
/// another shape is returned unchanged (the parser reports it).
boost::json::value fill_merchant(boost::json::value body, const merchant_config& m, bool consult);

/// Nothing when `sent` equals one of `m`'s configured records (own or sub-merchant), else the
/// first field that differs, under `path` (e.g. `order.merchant`).
std::optional<merchant_mismatch> check_merchant(const aplus::merchant& sent,
                                                const merchant_config& m, std::string_view path);

/// A fresh Alipay+ paymentRequestId: "cp1" + 26 base32 characters of 128 random bits (the
/// OpenSSL generator); unguessable, and unique across merchants with overwhelming probability.
/// Throws std::runtime_error when the generator fails.
std::string new_alipay_payment_request_id();

/// Validates a parsed create body at payment-clock instant `now`; every error with its path.
aplus::decode_result<create_request> parse_create_request(const boost::json::value& body,
                                                          time_point now);

/// The merchantNotifyUrl rule that needs the merchant (PRODUCT.md): the URL's host, compared
/// case-insensitively, must be one of `notify_hosts` (lower case). The field error, or nothing.
std::optional<aplus::field_error> check_notify_host(const create_request& in,
                                                   std::span<const std::string> notify_hosts);

/// The pay request for `in`: the merchant's known fields, plus paymentNotifyUrl = `notify_url`,
/// paymentMethodType CONNECT_WALLET, the cashier paymentFactor and paymentExpiryTime (the
/// merchant's text, or `expiry_at` in UTC).
aplus::pay_request build_pay_request(const create_request& in, std::string_view notify_url,
                                     time_point expiry_at);

/// The new payment record (INIT, pending PAY) with its encoded pay request and `raw_body` kept
/// as the merchant_request.
payment build_payment(const create_request& in, std::string raw_body, const create_context& ctx);

/// `t` as `YYYY-MM-DDTHH:MM:SS+00:00` (whole seconds; any milliseconds are dropped).
std::string wire_seconds(time_point t);

/// The paymentFactor of a Cashier Payment: isInStorePayment "false", isCashierPayment "true",
/// presentmentMode UNIFIED.
aplus::payment_factor cashier_payment_factor();

/// Validates a parsed consult body (paymentAmount, optional userRegion, env,
/// settlementStrategy, merchant) and returns the consultPayment request with paymentFactor set.
aplus::decode_result<aplus::consult_payment_request> parse_consult_request(
    const boost::json::value& body);

/// The cancel reason in a cancel body: "" for an empty body or `{}`, else `reason` (a string of
/// at most 256 characters); any other field is refused.
aplus::decode_result<std::string> parse_cancel_reason(std::string_view body);

}  // namespace cashier::daemon
