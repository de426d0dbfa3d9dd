// Names of statuses and pending actions (see payment.hpp).
#include "state/machine/payment.hpp"

namespace cashier {

std::string_view to_string(payment_status s) {
  switch (s) {
    case payment_status::init: return "INIT";
    case payment_status::in_process: return "IN_PROCESS";
    case payment_status::success: return "SUCCESS";
    case payment_status::fail: return "FAIL";
    case payment_status::cancelled: return "CANCELLED";
  }
  return "?";
}

std::optional<payment_status> parse_payment_status(std::string_view text) {
  for (auto s : {payment_status::init, payment_status::in_process, payment_status::success,
                 payment_status::fail, payment_status::cancelled}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::string_view to_string(pending_action a) {
  switch (a) {
    case pending_action::none: return "";
    case pending_action::pay: return "PAY";
    case pending_action::inquiry: return "INQUIRY";
    case pending_action::cancel: return "CANCEL";
  }
  return "?";
}

std::optional<pending_action> parse_pending_action(std::string_view text) {
  for (auto a : {pending_action::none, pending_action::pay, pending_action::inquiry,
                 pending_action::cancel}) {
    if (to_string(a) == text) return a;
  }
  return std::nullopt;
}

}  // namespace cashier
