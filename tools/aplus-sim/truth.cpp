// The truth record's names, JSON and rules (see truth.hpp).
#include "tools/aplus-sim/truth.hpp"

#include <boost/json/array.hpp>
#include <boost/json/value_from.hpp>

#include "orchestrator/alipayplus/wire_time.hpp"
#include "state/machine/money.hpp"
#include "state/machine/schedule.hpp"

namespace cashier::sim {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

json::value time_json(const std::optional<time_point>& t) {
  if (!t) return nullptr;
  return json::value(aplus::format_wire_time(*t));
}

json::object delivery_json(const notify_delivery& d) {
  return {{"attempt", d.attempt},          {"at", aplus::format_wire_time(d.at)},
          {"httpStatus", d.http_status},   {"acked", d.acked},
          {"badlySigned", d.badly_signed}, {"detail", d.detail}};
}

json::object notify_json(const truth& t) {
  json::array deliveries;
  std::int32_t acks = 0;
  std::int32_t attempts = 0;
  for (const auto& d : t.deliveries) {
    deliveries.push_back(delivery_json(d));
    acks += d.acked ? 1 : 0;
    attempts = std::max(attempts, d.attempt + 1);
  }
  return {{"state", to_string(t.notify)},
          {"attempts", attempts},
          {"sent", static_cast<std::int64_t>(t.deliveries.size())},
          {"acks", acks},
          {"acked", t.notify == notify_state::acked},
          {"nextAt", time_json(t.next_notify_at)},
          {"deliveries", std::move(deliveries)}};
}

}  // namespace

aplus::api_result make_result(char status, std::string code, std::string message) {
  aplus::api_result r;
  r.status = status;
  r.code = std::move(code);
  r.message = std::move(message);
  return r;
}

std::string_view to_string(order_status s) {
  switch (s) {
    case order_status::in_process: return "in_process";
    case order_status::paid: return "paid";
    case order_status::failed: return "failed";
    case order_status::cancelled: return "cancelled";
  }
  return "?";
}

std::string_view to_string(notify_state s) {
  switch (s) {
    case notify_state::not_due: return "not_due";
    case notify_state::scheduled: return "scheduled";
    case notify_state::acked: return "acked";
    case notify_state::exhausted: return "exhausted";
    case notify_state::stopped: return "stopped";
    case notify_state::none: return "none";
  }
  return "?";
}

aplus::api_result payment_result_of(const truth& t) {
  switch (t.status) {
    case order_status::in_process: return make_result('U', "PAYMENT_IN_PROCESS", "The payment is in process.");
    case order_status::paid: return make_result('S', "SUCCESS", "success");
    case order_status::failed: return make_result('F', "USER_BALANCE_NOT_ENOUGH", "The user balance is not enough.");
    case order_status::cancelled: return make_result('F', "ORDER_IS_CLOSED", "The order is closed.");
  }
  return make_result('U', "UNKNOWN_EXCEPTION", "unknown order status");
}

time_point cancel_window_end(time_point created) {
  constexpr auto utc8 = std::chrono::hours{8};
  const auto local_day = std::chrono::floor<std::chrono::days>(created + utc8);
  return time_point{local_day} + std::chrono::days{1} + 15min - utc8;
}

std::vector<duration> notify_plan(const scenario& s) {
  if (s.notify_none) return {};
  std::vector<duration> plan{duration{0}};
  for (const duration retry : notify_retry_schedule()) plan.push_back(plan.back() + retry);
  // notify-late: the first, second, third and fourth sends (0, 2 m, 12 m, 22 m) are lost; the
  // first to arrive is the one after the 1 h retry.
  if (s.notify_late) plan.erase(plan.begin(), plan.begin() + 4);
  // notify-after: the whole schedule starts that much later.
  if (s.notify_after)
    for (auto& at : plan) at += *s.notify_after;
  return plan;
}

std::int64_t refunded_minor(const truth& t) {
  std::int64_t sum = 0;
  for (const auto& r : t.refunds) sum += r.succeeded ? r.amount : 0;
  return sum;
}

json::object to_json(const truth& t) {
  const auto& amount = t.request.payment_amount;
  json::array refunds;
  for (const auto& r : t.refunds) {
    refunds.push_back({{"refundRequestId", r.refund_request_id},
                       {"value", format_minor_units(r.amount)},
                       {"status", r.succeeded ? "SUCCESS" : "FAIL"},
                       {"resultCode", r.code},
                       {"refundId", r.refund_id},
                       {"at", aplus::format_wire_time(r.at)},
                       {"calls", r.calls}});
  }
  return {
      {"paymentRequestId", t.payment_request_id},
      {"paymentId", t.payment_id},
      {"status", to_string(t.status)},
      {"paid", t.paid},
      {"cancelled", t.status == order_status::cancelled},
      {"refunded", t.refunded},
      {"abandoned", t.abandoned},
      {"paymentAmount", {{"currency", amount.currency.str()}, {"value", format_minor_units(amount.minor_units)}}},
      {"createdAt", aplus::format_wire_time(t.created_at)},
      {"paymentTime", time_json(t.finished_at)},
      {"cancelledAt", time_json(t.cancelled_at)},
      {"customerId", t.customer_id},
      {"walletBrandName", t.wallet_brand_name},
      {"payBodies", {{"count", t.pay_bodies}, {"identical", t.pay_bodies_identical}, {"first", t.first_body},
                     {"others", json::value_from(t.other_bodies)}}},
      {"inconsistentPays", t.inconsistent_pays},
      {"inquiries", t.inquiries},
      {"cancels", t.cancels},
      {"refunds", std::move(refunds)},
      {"refundedAmount", {{"currency", amount.currency.str()}, {"value", format_minor_units(refunded_minor(t))}}},
      {"inconsistentRefunds", t.inconsistent_refunds},
      {"notify", notify_json(t)},
  };
}

}  // namespace cashier::sim
