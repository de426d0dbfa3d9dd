// The merchant-visible name of the event a transition into a final status emits
// ("payment.succeeded", ...): one mapping for the engine's outbox, the simulation's checker and
// `cashierctl check`.
#pragma once

#include <string_view>

#include "state/machine/payment.hpp"

namespace cashier {

/// "payment.succeeded", "payment.failed" or "payment.cancelled" for a final status; "" otherwise.
constexpr std::string_view merchant_event_name(payment_status s) {
  switch (s) {
    case payment_status::success: return "payment.succeeded";
    case payment_status::fail: return "payment.failed";
    case payment_status::cancelled: return "payment.cancelled";
    case payment_status::init:
    case payment_status::in_process: return "";
  }
  return "";
}

}  // namespace cashier
