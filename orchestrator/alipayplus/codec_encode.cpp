// Encoding of the Alipay+ messages (see codec.hpp): one tag_invoke per struct, written with a
// small object_writer so every optional is omitted when absent and the extra fields follow the
// known ones. A known key always wins over an extra field of the same name.
#include "orchestrator/alipayplus/codec.hpp"

namespace cashier::aplus {
namespace {

namespace json = boost::json;

/// Builds one JSON object: known fields in call order, then the extra fields.
class object_writer {
 public:
  object_writer& text(std::string_view key, const std::string& v) {
    object_.emplace(key, v);
    return *this;
  }
  object_writer& text(std::string_view key, const std::optional<std::string>& v) {
    if (v) object_.emplace(key, *v);
    return *this;
  }
  object_writer& flag(std::string_view key, const std::optional<bool>& v) {
    if (v) object_.emplace(key, *v ? "true" : "false");
    return *this;
  }
  template <class T>
  object_writer& object(std::string_view key, const T& v) {
    object_.emplace(key, json::value_from(v));
    return *this;
  }
  template <class T>
  object_writer& object(std::string_view key, const std::optional<T>& v) {
    if (v) object(key, *v);
    return *this;
  }
  /// Stores the object into `jv`, extra fields last.
  void finish(json::value& jv, const extra_fields_t& extra) {
    for (const auto& field : extra) object_.emplace(field.key(), field.value());
    jv = std::move(object_);
  }

 private:
  json::object object_;
};

}  // namespace

void tag_invoke(const json::value_from_tag&, json::value& jv, const amount& v) {
  object_writer()
      .text("currency", v.currency.str())
      .text("value", format_minor_units(v.minor_units))
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const api_result& v) {
  object_writer w;
  w.text("resultCode", v.code).text("resultStatus", std::string(1, v.status));
  if (!v.message.empty()) w.text("resultMessage", v.message);
  w.finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const merchant_address& v) {
  object_writer().text("region", v.region).text("city", v.city).finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const merchant& v) {
  object_writer()
      .text("referenceMerchantId", v.reference_merchant_id)
      .text("merchantName", v.merchant_name)
      .text("merchantMCC", v.merchant_mcc)
      .object("merchantAddress", v.merchant_address)
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const env& v) {
  object_writer().text("terminalType", v.terminal_type).text("osType", v.os_type).finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const order& v) {
  object_writer()
      .text("referenceOrderId", v.reference_order_id)
      .text("orderDescription", v.order_description)
      .object("orderAmount", v.order_amount)
      .object("merchant", v.merchant)
      .object("env", v.env)
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const payment_method& v) {
  object_writer().text("paymentMethodType", v.payment_method_type).finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const payment_factor& v) {
  object_writer()
      .flag("isInStorePayment", v.is_in_store_payment)
      .flag("isCashierPayment", v.is_cashier_payment)
      .text("presentmentMode", v.presentment_mode)
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const settlement_strategy& v) {
  object_writer().text("settlementCurrency", v.settlement_currency.str()).finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const settlement_quote& v) {
  object_writer()
      .text("quoteId", v.quote_id)
      .text("quoteCurrencyPair", v.quote_currency_pair)
      .text("quotePrice", v.quote_price)
      .text("quoteStartTime", v.quote_start_time)
      .text("quoteExpiryTime", v.quote_expiry_time)
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const transaction& v) {
  object_writer()
      .object("transactionResult", v.transaction_result)
      .text("transactionId", v.transaction_id)
      .text("transactionType", v.transaction_type)
      .text("transactionStatus", v.transaction_status)
      .text("transactionRequestId", v.transaction_request_id)
      .object("transactionAmount", v.transaction_amount)
      .text("transactionTime", v.transaction_time)
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const logo& v) {
  object_writer().text("logoName", v.logo_name).text("logoUrl", v.logo_url).finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const support_wallet& v) {
  object_writer()
      .text("walletName", v.wallet_name)
      .text("walletBrandName", v.wallet_brand_name)
      .object("walletLogo", v.wallet_logo)
      .text("walletRegion", v.wallet_region)
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const connect_wallet& v) {
  object_writer().object("supportWallets", v.support_wallets).finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const payment_option_detail& v) {
  object_writer().object("connectWallet", v.connect_wallet).finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const payment_option& v) {
  object_writer()
      .text("paymentMethodType", v.payment_method_type)
      .text("paymentMethodCategory", v.payment_method_category)
      .flag("enabled", v.enabled)
      .flag("preferred", v.preferred)
      .text("disableReason", v.disable_reason)
      .object("logo", v.logo)
      .object("promoNames", v.promo_names)
      .object("paymentOptionDetail", v.payment_option_detail)
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const pay_request& v) {
  object_writer()
      .text("paymentRequestId", v.payment_request_id)
      .object("order", v.order)
      .object("paymentAmount", v.payment_amount)
      .object("paymentMethod", v.payment_method)
      .object("paymentFactor", v.payment_factor)
      .text("paymentExpiryTime", v.payment_expiry_time)
      .text("paymentNotifyUrl", v.payment_notify_url)
      .text("paymentRedirectUrl", v.payment_redirect_url)
      .object("settlementStrategy", v.settlement_strategy)
      .text("userRegion", v.user_region)
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const pay_response& v) {
  object_writer()
      .object("result", v.result)
      .text("acquirerId", v.acquirer_id)
      .text("pspId", v.psp_id)
      .text("paymentId", v.payment_id)
      .object("paymentAmount", v.payment_amount)
      .text("normalUrl", v.normal_url)
      .text("paymentData", v.payment_data)
      .text("paymentTime", v.payment_time)
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const payment_lookup& v) {
  object_writer()
      .text("paymentRequestId", v.payment_request_id)
      .text("paymentId", v.payment_id)
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const inquiry_payment_response& v) {
  object_writer()
      .object("result", v.result)
      .object("paymentResult", v.payment_result)
      .text("paymentRequestId", v.payment_request_id)
      .text("paymentId", v.payment_id)
      .object("paymentAmount", v.payment_amount)
      .text("paymentTime", v.payment_time)
      .text("customerId", v.customer_id)
      .text("walletBrandName", v.wallet_brand_name)
      .object("transactions", v.transactions)
      .object("settlementAmount", v.settlement_amount)
      .object("settlementQuote", v.settlement_quote)
      .text("acquirerId", v.acquirer_id)
      .text("pspId", v.psp_id)
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const cancel_payment_response& v) {
  object_writer()
      .object("result", v.result)
      .text("acquirerId", v.acquirer_id)
      .text("pspId", v.psp_id)
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const consult_payment_request& v) {
  object_writer()
      .object("paymentAmount", v.payment_amount)
      .object("paymentFactor", v.payment_factor)
      .object("settlementStrategy", v.settlement_strategy)
      .text("userRegion", v.user_region)
      .object("env", v.env)
      .object("merchant", v.merchant)
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const consult_payment_response& v) {
  object_writer().object("result", v.result).object("paymentOptions", v.payment_options).finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const notify_payment_request& v) {
  object_writer()
      .object("paymentResult", v.payment_result)
      .text("paymentRequestId", v.payment_request_id)
      .text("paymentId", v.payment_id)
      .object("paymentAmount", v.payment_amount)
      .text("paymentTime", v.payment_time)
      .text("customerId", v.customer_id)
      .text("walletBrandName", v.wallet_brand_name)
      .object("settlementAmount", v.settlement_amount)
      .object("settlementQuote", v.settlement_quote)
      .text("acquirerId", v.acquirer_id)
      .text("pspId", v.psp_id)
      .finish(jv, v.extra_fields);
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const notify_payment_ack& v) {
  object_writer().object("result", v.result).finish(jv, v.extra_fields);
}

notify_payment_ack success_ack() {
  notify_payment_ack ack;
  ack.result.code = "SUCCESS";
  ack.result.status = 'S';
  ack.result.message = "success";
  return ack;
}

}  // namespace cashier::aplus
