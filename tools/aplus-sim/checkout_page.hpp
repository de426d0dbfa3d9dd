// The simulated Alipay+ checkout as a user would see it: a small HTML page per payment with the
// amount and, while the payer can still act, Pay / Fail / Abandon buttons (forms POSTing to
// /checkout/<paymentId>/pay|fail|abandon). Plus the display form of an amount, which the pay
// answer's paymentData also uses. Pure text building; every value shown is HTML-escaped.
#pragma once

#include <string>
#include <string_view>

#include "state/machine/money.hpp"
#include "tools/aplus-sim/truth.hpp"

namespace cashier::sim {

/// The number of decimals of `currency` (ISO 4217 minor unit): 0 for JPY, KRW and the like,
/// 3 for BHD, KWD, OMR, JOD, TND, IQD, LYD, 2 for everything else.
int minor_unit_digits(const currency_code& currency);

/// `m` as a decimal for people: USD 450 → "4.50", JPY 100 → "100", BHD 1500 → "1.500".
std::string format_display_amount(const money& m);

/// `text` with &, <, >, " and ' replaced by HTML entities.
std::string html_escape(std::string_view text);

/// The checkout page of `t`: merchant, order description, amount, the order's state and, while
/// it is in process and not abandoned, the three payer buttons.
std::string checkout_page(const truth& t);

/// The page shown after a payer action (or a refused one): `message` and, when the pay request
/// had a paymentRedirectUrl, a link back to the merchant.
/// With `send_back`, the page also sends the browser to paymentRedirectUrl after a moment (as
/// a wallet's checkout does); without it (scenario redirect-lost) it offers no way back.
std::string checkout_result_page(const truth& t, std::string_view message, bool send_back = true);

}  // namespace cashier::sim
