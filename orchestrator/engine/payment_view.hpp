// The public payment object of PRODUCT.md as JSON: what create and GET answer at the top level,
// what webhooks carry as data.payment and what `cashierctl show --json` prints as `payment`.
// One function builds it, so the three never drift apart.
#pragma once

#include <string>

#include <boost/json/object.hpp>

#include "state/machine/payment.hpp"

namespace cashier::engine {

/// ISO 8601 UTC with milliseconds (`2026-11-25T23:42:34.123Z`), or null JSON for `never`.
std::string iso8601(time_point t);

/// Sets the base of `checkoutUrl` (config `publicUrl`, e.g. "https://pay.example.com"): once, at
/// start-up, before any payment is shown. Unset (cashierctl), checkoutUrl is the path alone.
void set_checkout_base(std::string base);

/// The hosted payment page of `p` (`<base>/pay/<checkoutId>`), or "" without a checkoutId.
std::string checkout_url(const payment& p);

/// The public payment object.
boost::json::object payment_to_json(const payment& p);

/// The public payment object as JSON text: byte for byte json::serialize(payment_to_json(p)),
/// written straight into a string without building the tree (webhook payloads and create
/// answers are written for every payment; the tree cost more than the rest of the commit).
std::string payment_json(const payment& p);

/// Appends `s` to `out` as a JSON string, escaped exactly as Boost.JSON's serializer does.
void append_json_string(std::string& out, std::string_view s);

/// `{"currency": "USD", "value": "100"}`.
boost::json::object money_to_json(const money& m);

}  // namespace cashier::engine
