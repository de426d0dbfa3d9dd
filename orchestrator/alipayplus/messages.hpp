// The Alipay+ Cashier Payment messages as plain structs: pay, inquiryPayment, cancelPayment,
// consultPayment and notifyPayment with its ack. Only the fields ALIPAYPLUS.md names are typed;
// every struct keeps the keys it does not know in `extra_fields`, so a decoded message
// re-encodes to the same JSON value. Optional fields are std::optional (absent, never ""),
// amounts are integer minor units, times stay the strings Alipay+ wrote (their shape is checked
// on decode). Encoding and decoding live in codec.hpp; no logic here.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "state/machine/money.hpp"
#include "state/machine/payment.hpp"

namespace cashier::aplus {

/// Keys a struct does not know, kept with their values in arrival order.
using extra_fields_t = boost::json::object;

/// An Amount: {"currency": "JPY", "value": "100"} as integer minor units.
struct amount : money {
  extra_fields_t extra_fields;
  friend bool operator==(const amount&, const amount&) = default;
};

/// A Result (`result`, `paymentResult`, `transactionResult`). An empty message is not sent.
struct api_result : aplus_result {
  extra_fields_t extra_fields;
  friend bool operator==(const api_result&, const api_result&) = default;
};

/// order.merchant.merchantAddress.
struct merchant_address {
  std::optional<std::string> region;  ///< ISO 3166 alpha-2
  std::optional<std::string> city;
  extra_fields_t extra_fields;
  friend bool operator==(const merchant_address&, const merchant_address&) = default;
};

/// order.merchant (also consultPayment's `merchant`).
struct merchant {
  std::string reference_merchant_id;  ///< ≤ 64
  std::string merchant_name;
  std::string merchant_mcc;
  std::optional<aplus::merchant_address> merchant_address;
  extra_fields_t extra_fields;
  friend bool operator==(const merchant&, const merchant&) = default;
};

/// order.env: where the user pays from (not the wallet's terminal).
struct env {
  std::string terminal_type;           ///< WEB, WAP, APP or MINI_APP
  std::optional<std::string> os_type;  ///< IOS or ANDROID
  extra_fields_t extra_fields;
  friend bool operator==(const env&, const env&) = default;
};

/// The merchant's order.
struct order {
  std::string reference_order_id;  ///< ≤ 64
  std::string order_description;   ///< ≤ 256
  amount order_amount;
  aplus::merchant merchant;
  aplus::env env;
  extra_fields_t extra_fields;
  friend bool operator==(const order&, const order&) = default;
};

/// paymentMethod.
struct payment_method {
  std::string payment_method_type;  ///< CONNECT_WALLET
  extra_fields_t extra_fields;
  friend bool operator==(const payment_method&, const payment_method&) = default;
};

/// paymentFactor; the flags travel as "true" / "false".
struct payment_factor {
  std::optional<bool> is_in_store_payment;
  std::optional<bool> is_cashier_payment;
  std::optional<std::string> presentment_mode;  ///< UNIFIED
  extra_fields_t extra_fields;
  friend bool operator==(const payment_factor&, const payment_factor&) = default;
};

/// settlementStrategy.
struct settlement_strategy {
  currency_code settlement_currency;
  extra_fields_t extra_fields;
  friend bool operator==(const settlement_strategy&, const settlement_strategy&) = default;
};

/// settlementQuote: the exchange rate applied; the price stays a decimal string.
struct settlement_quote {
  std::optional<std::string> quote_id;
  std::optional<std::string> quote_currency_pair;  ///< e.g. "JPY/USD"
  std::optional<std::string> quote_price;          ///< decimal, e.g. "0.9"
  std::optional<std::string> quote_start_time;
  std::optional<std::string> quote_expiry_time;
  extra_fields_t extra_fields;
  friend bool operator==(const settlement_quote&, const settlement_quote&) = default;
};

/// One entry of inquiryPayment's transactions[] (e.g. a refund).
struct transaction {
  std::optional<api_result> transaction_result;
  std::optional<std::string> transaction_id;
  std::optional<std::string> transaction_type;    ///< e.g. REFUND
  std::optional<std::string> transaction_status;  ///< e.g. SUCCESS
  std::optional<std::string> transaction_request_id;
  std::optional<amount> transaction_amount;
  std::optional<std::string> transaction_time;
  extra_fields_t extra_fields;
  friend bool operator==(const transaction&, const transaction&) = default;
};

/// pay request (ACQP → Alipay+).
struct pay_request {
  std::string payment_request_id;  ///< ≤ 64, the idempotency key
  aplus::order order;
  amount payment_amount;
  aplus::payment_method payment_method;
  std::optional<aplus::payment_factor> payment_factor;
  std::optional<std::string> payment_expiry_time;
  std::optional<std::string> payment_notify_url;
  std::optional<std::string> payment_redirect_url;
  std::optional<aplus::settlement_strategy> settlement_strategy;
  std::optional<std::string> user_region;  ///< ISO 3166 alpha-2
  extra_fields_t extra_fields;
  friend bool operator==(const pay_request&, const pay_request&) = default;
};

/// pay response. Only `result` is always there; the rest come with U/PAYMENT_IN_PROCESS or S.
struct pay_response {
  api_result result;
  std::optional<std::string> acquirer_id;
  std::optional<std::string> psp_id;
  std::optional<std::string> payment_id;
  std::optional<amount> payment_amount;
  std::optional<std::string> normal_url;    ///< where the user goes to pay
  std::optional<std::string> payment_data;  ///< a JSON document in a string, kept verbatim
  std::optional<std::string> payment_time;
  extra_fields_t extra_fields;
  friend bool operator==(const pay_response&, const pay_response&) = default;
};

/// inquiryPayment and cancelPayment requests: the payment by our id or by Alipay+'s (at least one).
struct payment_lookup {
  std::optional<std::string> payment_request_id;
  std::optional<std::string> payment_id;
  extra_fields_t extra_fields;
  friend bool operator==(const payment_lookup&, const payment_lookup&) = default;
};
/// inquiryPayment request.
using inquiry_payment_request = payment_lookup;
/// cancelPayment request.
using cancel_payment_request = payment_lookup;

/// inquiryPayment response: `result` says whether the call worked, `paymentResult` (when
/// result is S) what became of the payment.
struct inquiry_payment_response {
  api_result result;
  std::optional<api_result> payment_result;
  std::optional<std::string> payment_request_id;
  std::optional<std::string> payment_id;
  std::optional<amount> payment_amount;
  std::optional<std::string> payment_time;
  std::optional<std::string> customer_id;
  std::optional<std::string> wallet_brand_name;
  std::optional<std::vector<transaction>> transactions;
  std::optional<amount> settlement_amount;
  std::optional<aplus::settlement_quote> settlement_quote;
  std::optional<std::string> acquirer_id;
  std::optional<std::string> psp_id;
  extra_fields_t extra_fields;
  friend bool operator==(const inquiry_payment_response&, const inquiry_payment_response&) = default;
};

/// cancelPayment response.
struct cancel_payment_response {
  api_result result;
  std::optional<std::string> acquirer_id;
  std::optional<std::string> psp_id;
  extra_fields_t extra_fields;
  friend bool operator==(const cancel_payment_response&, const cancel_payment_response&) = default;
};

/// consultPayment request.
struct consult_payment_request {
  amount payment_amount;  ///< value may be "0"
  std::optional<aplus::payment_factor> payment_factor;
  std::optional<aplus::settlement_strategy> settlement_strategy;
  std::optional<std::string> user_region;
  std::optional<aplus::env> env;
  std::optional<aplus::merchant> merchant;
  extra_fields_t extra_fields;
  friend bool operator==(const consult_payment_request&, const consult_payment_request&) = default;
};

/// A logo: `logo` of a payment option, `walletLogo` of a wallet.
struct logo {
  std::optional<std::string> logo_name;
  std::optional<std::string> logo_url;
  extra_fields_t extra_fields;
  friend bool operator==(const logo&, const logo&) = default;
};

/// One wallet of connectWallet.supportWallets[].
struct support_wallet {
  std::optional<std::string> wallet_name;
  std::optional<std::string> wallet_brand_name;
  std::optional<logo> wallet_logo;
  std::optional<std::string> wallet_region;
  extra_fields_t extra_fields;
  friend bool operator==(const support_wallet&, const support_wallet&) = default;
};

/// paymentOptionDetail.connectWallet.
struct connect_wallet {
  std::optional<std::vector<support_wallet>> support_wallets;
  extra_fields_t extra_fields;
  friend bool operator==(const connect_wallet&, const connect_wallet&) = default;
};

/// paymentOptions[].paymentOptionDetail.
struct payment_option_detail {
  std::optional<aplus::connect_wallet> connect_wallet;
  extra_fields_t extra_fields;
  friend bool operator==(const payment_option_detail&, const payment_option_detail&) = default;
};

/// One entry of consultPayment's paymentOptions[].
struct payment_option {
  std::optional<std::string> payment_method_type;  ///< CONNECT_WALLET
  std::optional<std::string> payment_method_category;
  std::optional<bool> enabled;
  std::optional<bool> preferred;
  std::optional<std::string> disable_reason;
  std::optional<aplus::logo> logo;
  std::optional<std::vector<std::string>> promo_names;  ///< promotion texts, each as Alipay+ wrote it
  std::optional<aplus::payment_option_detail> payment_option_detail;
  extra_fields_t extra_fields;
  friend bool operator==(const payment_option&, const payment_option&) = default;
};

/// consultPayment response.
struct consult_payment_response {
  api_result result;
  std::optional<std::vector<payment_option>> payment_options;
  extra_fields_t extra_fields;
  friend bool operator==(const consult_payment_response&, const consult_payment_response&) = default;
};

/// notifyPayment request (Alipay+ → ACQP); paymentResult is S or F, never U.
struct notify_payment_request {
  api_result payment_result;
  std::string payment_request_id;
  std::string payment_id;
  amount payment_amount;
  std::optional<std::string> payment_time;
  std::optional<std::string> customer_id;
  std::optional<std::string> wallet_brand_name;
  std::optional<amount> settlement_amount;
  std::optional<aplus::settlement_quote> settlement_quote;
  std::optional<std::string> acquirer_id;
  std::optional<std::string> psp_id;
  extra_fields_t extra_fields;
  friend bool operator==(const notify_payment_request&, const notify_payment_request&) = default;
};

/// The notifyPayment ack (ACQP → Alipay+): a response with only `result`.
struct notify_payment_ack {
  api_result result;
  extra_fields_t extra_fields;
  friend bool operator==(const notify_payment_ack&, const notify_payment_ack&) = default;
};

}  // namespace cashier::aplus
