// The outbound call budget and call lanes (see rate_budget.hpp).
#include "orchestrator/engine/rate_budget.hpp"

#include <algorithm>
#include <cmath>
#include <variant>

namespace cashier {
namespace {

constexpr std::string_view traffic_limit_code = "REQUEST_TRAFFIC_EXCEED_LIMIT";
/// After a throttle the rate stays down this long before it grows again.
constexpr auto throttle_hold = std::chrono::seconds{1};
/// Growth factor of a throttled rate per second.
constexpr double recovery_per_second = 1.05;
/// The highest rate the config accepts; a recovering unlimited budget is unlimited again here.
constexpr double max_rate = 1e6;

double seconds_between(rate_budget::instant from, rate_budget::instant to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

std::string_view to_string(call_lane lane) {
  switch (lane) {
    case call_lane::urgent: return "urgent";
    case call_lane::polling: return "polling";
  }
  return "polling";
}

call_lane lane_of(pending_action pending, time_point at, time_point poll_deadline) {
  switch (pending) {
    case pending_action::pay:
    case pending_action::cancel: return call_lane::urgent;
    case pending_action::none: return call_lane::polling;
    case pending_action::inquiry: break;
  }
  if (at == never || poll_deadline == never) return call_lane::polling;
  const auto apart = at > poll_deadline ? at - poll_deadline : poll_deadline - at;
  return apart <= near_poll_deadline ? call_lane::urgent : call_lane::polling;
}

call_lane lane_of(const payment& p) {
  return lane_of(p.pending, p.next_action_at, p.poll_deadline_at);
}

bool is_traffic_limit(const event& ev) {
  if (const auto* a = std::get_if<pay_answer>(&ev)) return a->result.code == traffic_limit_code;
  if (const auto* a = std::get_if<inquiry_answer>(&ev)) return a->result.code == traffic_limit_code;
  if (const auto* a = std::get_if<cancel_answer>(&ev)) return a->result.code == traffic_limit_code;
  return false;
}

rate_budget::rate_budget(double per_second)
    : ceiling_(per_second > 0 ? per_second : unlimited), rate_(ceiling_) {}

double rate_budget::burst() const { return std::max(1.0, rate_ / 50); }

void rate_budget::refill(instant now) {
  if (!started_) {
    started_ = true;
    last_ = second_start_ = now;
    tokens_ = is_unlimited(rate_) ? 0 : burst();
    return;
  }
  if (now <= last_) return;
  const double elapsed = seconds_between(last_, now);
  if (recovering_) {
    const double growing = seconds_between(std::max(last_, throttled_at_ + throttle_hold), now);
    if (growing > 0) rate_ *= std::pow(recovery_per_second, growing);
    if (rate_ >= ceiling_ || rate_ >= max_rate) {
      rate_ = ceiling_;
      recovering_ = false;
    }
  }
  last_ = now;
  if (!is_unlimited(rate_)) tokens_ = std::min(burst(), tokens_ + rate_ * elapsed);
}

void rate_budget::count(instant now) {
  if (now - second_start_ >= std::chrono::seconds{1}) {
    last_second_ = now - second_start_ < std::chrono::seconds{2} ? this_second_ : 0;
    this_second_ = 0;
    second_start_ = now;
  }
}

bool rate_budget::take_now(instant now) {
  refill(now);
  count(now);
  if (!is_unlimited(rate_)) {
    if (tokens_ - 1 < -burst()) {
      ++refused_;
      return false;
    }
    tokens_ -= 1;
  }
  ++this_second_;
  ++taken_;
  return true;
}

bool rate_budget::take_queued(instant now) {
  refill(now);
  count(now);
  if (!is_unlimited(rate_)) {
    if (tokens_ < 1) return false;
    tokens_ -= 1;
  }
  ++this_second_;
  ++taken_;
  return true;
}

bool rate_budget::take_consult(instant now) {
  refill(now);
  count(now);
  if (!is_unlimited(rate_)) {
    const double share = rate_ * consult_share;
    if (now > consult_last_)
      consult_tokens_ = std::min(std::max(1.0, share / 50),
                                 consult_tokens_ + share * seconds_between(consult_last_, now));
    consult_last_ = std::max(consult_last_, now);
    if (tokens_ < 1 || consult_tokens_ < 1) {
      ++refused_;
      return false;
    }
    tokens_ -= 1;
    consult_tokens_ -= 1;
  }
  ++this_second_;
  ++taken_;
  return true;
}

void rate_budget::refund() {
  if (taken_ > 0) --taken_;
  if (this_second_ > 0) --this_second_;
  if (!is_unlimited(rate_)) tokens_ = std::min(burst(), tokens_ + 1);
}

std::chrono::nanoseconds rate_budget::wait(instant now) {
  refill(now);
  if (is_unlimited(rate_) || tokens_ >= 1) return std::chrono::nanoseconds{0};
  const double missing = std::max(1.0, burst() / 2) - tokens_;
  return std::chrono::nanoseconds{static_cast<std::int64_t>(std::ceil(missing * 1e9 / rate_))};
}

void rate_budget::throttled(instant now) {
  refill(now);
  count(now);
  if (throttles_ > 0 && now - throttled_at_ < throttle_hold) return;
  // What actually went out lately is the best guess of what Alipay+ found too much.
  const double sent = static_cast<double>(std::max(last_second_, this_second_));
  rate_ = std::max(1.0, std::min(rate_, std::max(1.0, sent)) / 2);
  recovering_ = true;
  tokens_ = std::min(tokens_, 0.0);
  throttled_at_ = now;
  ++throttles_;
}

}  // namespace cashier
