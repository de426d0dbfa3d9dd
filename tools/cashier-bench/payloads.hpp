// The messages cashier-bench sends, shaped like real traffic: the merchant's create body (the
// quickstart's order, ~700 bytes) and Alipay+'s notifyPayment body for a payment the bench
// seeded. Every bench payment is USD 10.00 and is named `<prefix><index>`. No Asio here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cashier::bench {

/// The amount of every bench payment, in minor units of USD.
inline constexpr std::int64_t bench_amount_minor = 1000;

/// The paymentRequestId of bench payment `index` under `prefix`.
std::string payment_request_id(std::string_view prefix, std::int64_t index);

/// A merchant create body (POST /v1/payments) for `payment_request_id`.
std::string create_body(std::string_view payment_request_id);

/// The paymentId the seeded payment `payment_request_id` got from its (simulated) pay answer.
std::string seeded_payment_id(std::string_view payment_request_id);

/// A notifyPayment body: `payment_request_id` paid (S SUCCESS) with the bench amount.
std::string notify_body(std::string_view payment_request_id);

}  // namespace cashier::bench
