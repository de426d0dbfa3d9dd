// Fuzz target: the merchant API's JSON bodies (POST /v1/payments, /v1/payments/consult and the
// cancel body) on arbitrary bytes. Properties: nothing crashes; a rejected body carries at
// least one error; an accepted create becomes a payment whose stored pay request decodes with
// our own Alipay+ decoder to the same id and amount (what goes to Alipay+ is always well formed);
// an accepted consult encodes to a consultPayment request that decodes again; a cancel reason is
// at most 256 characters. A broken property traps, which libFuzzer reports as a crash.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/json_guard.hpp"
#include "orchestrator/daemon/create_request.hpp"

namespace {

using namespace cashier;

// A fixed payment-clock instant (2026-01-01T00:00:00Z): the target must be deterministic.
constexpr time_point fuzz_now{std::chrono::milliseconds{1767225600000}};

void check_create(const boost::json::value& body, std::string_view raw) {
  const auto parsed = daemon::parse_create_request(body, fuzz_now);
  if (!parsed) {
    if (parsed.errors().empty()) __builtin_trap();
    return;
  }
  const daemon::create_context ctx{"m1", "https://acqp.example/notify", std::chrono::minutes(30), fuzz_now};
  const payment p = daemon::build_payment(*parsed, std::string(raw), ctx);
  const auto pay = aplus::decode_pay_request(p.pay_request, aplus::json_limits{p.pay_request.size() + 1, 64});
  if (!pay) __builtin_trap();
  if (pay->payment_request_id != p.payment_request_id) __builtin_trap();
  if (p.amount.minor_units <= 0) __builtin_trap();
}

void check_consult(const boost::json::value& body) {
  const auto parsed = daemon::parse_consult_request(body);
  if (!parsed) {
    if (parsed.errors().empty()) __builtin_trap();
    return;
  }
  const std::string encoded = aplus::encode(*parsed);
  if (!aplus::decode_consult_payment_request(encoded, aplus::json_limits{encoded.size() + 1, 64})) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  if (const auto reason = daemon::parse_cancel_reason(raw); reason && reason->size() > 256) __builtin_trap();
  const auto body = aplus::parse_untrusted(raw);
  if (!body) return 0;
  check_create(*body, raw);
  check_consult(*body);
  return 0;
}
