// Names of statuses, pending actions and settle tracks (see payment.hpp).
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

std::string_view to_string(settle_track t) {
  switch (t) {
    case settle_track::normal: return "normal";
    case settle_track::last_look: return "last_look";
    case settle_track::confirm_cancel: return "confirm_cancel";
    case settle_track::slow_path: return "slow_path";
    case settle_track::parked: return "parked";
  }
  return "?";
}

std::optional<settle_track> parse_settle_track(std::string_view text) {
  for (auto t : {settle_track::normal, settle_track::last_look, settle_track::confirm_cancel,
                 settle_track::slow_path, settle_track::parked}) {
    if (to_string(t) == text) return t;
  }
  return std::nullopt;
}

}  // namespace cashier
