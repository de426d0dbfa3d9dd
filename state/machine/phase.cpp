// Phase of a payment record and phase names (see phase.hpp).
#include "state/machine/phase.hpp"

namespace cashier {

namespace {

std::optional<phase> open_inquiry(const payment& p) {
  switch (p.track) {
    case settle_track::normal:
      if (p.status == payment_status::in_process) return phase::in_process_inquiry;
      return std::nullopt;
    case settle_track::last_look: return phase::last_look;
    case settle_track::slow_path: return phase::slow_path;
    case settle_track::parked: return phase::parked;
    case settle_track::confirm_cancel: return std::nullopt;
  }
  return std::nullopt;
}

std::optional<phase> open_phase(const payment& p) {
  const bool init = p.status == payment_status::init;
  switch (p.pending) {
    case pending_action::pay:
      if (init && p.track == settle_track::normal) return phase::init_pay;
      return std::nullopt;
    case pending_action::inquiry: return open_inquiry(p);
    case pending_action::cancel:
      if (p.track == settle_track::confirm_cancel) return phase::open_confirm;
      if (p.track != settle_track::normal) return std::nullopt;
      return init ? phase::init_cancel : phase::in_process_cancel;
    case pending_action::none: return std::nullopt;
  }
  return std::nullopt;
}

std::optional<phase> success_phase(const payment& p) {
  switch (p.pending) {
    case pending_action::none:
      return p.track == settle_track::normal ? std::optional(phase::success) : std::nullopt;
    case pending_action::cancel:
      if (p.track == settle_track::normal) return phase::success_cancel;
      if (p.track == settle_track::confirm_cancel) return phase::success_confirm;
      return std::nullopt;
    case pending_action::pay:
    case pending_action::inquiry: return std::nullopt;
  }
  return std::nullopt;
}

std::optional<phase> fail_phase(const payment& p) {
  if (p.track != settle_track::normal) return std::nullopt;
  switch (p.pending) {
    case pending_action::none: return phase::fail;
    case pending_action::cancel: return phase::fail_cancel;
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
    case payment_status::success: return success_phase(p);
    case payment_status::fail: return fail_phase(p);
    case payment_status::cancelled:
      if (p.pending == pending_action::none && p.track == settle_track::normal) return phase::cancelled;
      return std::nullopt;
  }
  return std::nullopt;
}

std::string_view to_string(phase ph) {
  switch (ph) {
    case phase::init_pay: return "INIT/PAY";
    case phase::in_process_inquiry: return "IN_PROCESS/INQUIRY";
    case phase::last_look: return "LAST LOOK";
    case phase::slow_path: return "SLOW PATH";
    case phase::parked: return "PARKED";
    case phase::init_cancel: return "INIT/CANCEL";
    case phase::in_process_cancel: return "IN_PROCESS/CANCEL";
    case phase::open_confirm: return "OPEN/CONFIRM";
    case phase::success_cancel: return "SUCCESS/CANCEL";
    case phase::success_confirm: return "SUCCESS/CONFIRM";
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
    case phase::last_look:
    case phase::slow_path:
    case phase::parked:
    case phase::open_confirm:
    case phase::success_confirm:
    case phase::success:
    case phase::fail:
    case phase::cancelled: return false;
  }
  return false;
}

bool is_confirming(phase ph) { return ph == phase::open_confirm || ph == phase::success_confirm; }

bool is_open(phase ph) {
  switch (ph) {
    case phase::init_pay:
    case phase::in_process_inquiry:
    case phase::last_look:
    case phase::slow_path:
    case phase::parked: return true;
    case phase::init_cancel:
    case phase::in_process_cancel:
    case phase::open_confirm:
    case phase::success_cancel:
    case phase::success_confirm:
    case phase::fail_cancel:
    case phase::success:
    case phase::fail:
    case phase::cancelled: return false;
  }
  return false;
}

}  // namespace cashier
