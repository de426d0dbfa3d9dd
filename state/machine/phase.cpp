// Phase of a payment record and phase names (see phase.hpp).
#include "state/machine/phase.hpp"

namespace cashier {

namespace {

std::optional<phase> open_phase(const payment& p) {
  const bool init = p.status == payment_status::init;
  switch (p.pending) {
    case pending_action::pay:
      if (init) return phase::init_pay;
      return std::nullopt;
    case pending_action::inquiry:
      if (p.cancel_abandoned) return phase::inquiry_abandoned;
      if (!init) return phase::in_process_inquiry;
      return std::nullopt;
    case pending_action::cancel:
      return init ? phase::init_cancel : phase::in_process_cancel;
    case pending_action::none:
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<phase> final_phase(pending_action pending, phase settled, phase cancelling) {
  switch (pending) {
    case pending_action::none: return settled;
    case pending_action::cancel: return cancelling;
    case pending_action::pay:
    case pending_action::inquiry: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::optional<phase> phase_of(const payment& p) {
  switch (p.status) {
    case payment_status::init:
    case payment_status::in_process: return open_phase(p);
    case payment_status::success:
      return final_phase(p.pending, phase::success, phase::success_cancel);
    case payment_status::fail: return final_phase(p.pending, phase::fail, phase::fail_cancel);
    case payment_status::cancelled:
      if (p.pending == pending_action::none) return phase::cancelled;
      return std::nullopt;
  }
  return std::nullopt;
}

std::string_view to_string(phase ph) {
  switch (ph) {
    case phase::init_pay: return "INIT/PAY";
    case phase::in_process_inquiry: return "IN_PROCESS/INQUIRY";
    case phase::inquiry_abandoned: return "INQUIRY abandoned";
    case phase::init_cancel: return "INIT/CANCEL";
    case phase::in_process_cancel: return "IN_PROCESS/CANCEL";
    case phase::success_cancel: return "SUCCESS/CANCEL";
    case phase::fail_cancel: return "FAIL/CANCEL";
    case phase::success: return "SUCCESS";
    case phase::fail: return "FAIL";
    case phase::cancelled: return "CANCELLED";
  }
  return "?";
}

bool is_cancel_pending(phase ph) {
  switch (ph) {
    case phase::init_cancel:
    case phase::in_process_cancel:
    case phase::success_cancel:
    case phase::fail_cancel: return true;
    case phase::init_pay:
    case phase::in_process_inquiry:
    case phase::inquiry_abandoned:
    case phase::success:
    case phase::fail:
    case phase::cancelled: return false;
  }
  return false;
}

}  // namespace cashier
