// The fake Alipay+ (see fake_aplus.hpp). Answers follow ALIPAYPLUS.md: pay is idempotent by
// paymentRequestId, inquiry reports the payer's side, cancel is idempotent, refunds a paid order
// and is refused after the cancel window.
#include "tests/sim/fake_aplus.hpp"

#include <cstdio>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/engine/payment_view.hpp"
#include "state/machine/schedule.hpp"

namespace cashier::sim {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

/// The fields of a pay body the fake needs.
struct pay_fields {
  std::string id;
  money amount;
  time_point expiry{};
};

std::optional<time_point> parse_iso8601(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0, ms = 0;
  const std::string text(s);
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &y, &mo, &d, &h, &mi, &se, &ms) != 7) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return time_point{std::chrono::sys_days{ymd}} + std::chrono::hours{h} + std::chrono::minutes{mi} +
         std::chrono::seconds{se} + std::chrono::milliseconds{ms};
}

std::optional<pay_fields> parse_pay(std::string_view body) {
  boost::system::error_code ec;
  const json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.get_object();
  const auto* id = o.if_contains("paymentRequestId");
  const auto* amount = o.if_contains("paymentAmount");
  const auto* expiry = o.if_contains("paymentExpiryTime");
  if (!id || !id->is_string() || !amount || !amount->is_object() || !expiry || !expiry->is_string()) {
    return std::nullopt;
  }
  const auto* cur = amount->get_object().if_contains("currency");
  const auto* val = amount->get_object().if_contains("value");
  if (!cur || !cur->is_string() || !val || !val->is_string()) return std::nullopt;
  const auto code = currency_code::parse(cur->get_string());
  const auto minor = parse_minor_units(val->get_string());
  const auto at = parse_iso8601(expiry->get_string());
  if (!code || !minor || !at) return std::nullopt;
  return pay_fields{std::string(id->get_string()), money{*minor, *code}, *at};
}

aplus_result result(char status, std::string code) {
  std::string message = status == 'S' ? "success" : code;
  return {std::move(code), status, std::move(message)};
}

}  // namespace

std::string make_pay_body(std::string_view payment_request_id, const money& amount,
                          time_point expiry, std::string_view order_ref) {
  json::object body;
  body["paymentRequestId"] = payment_request_id;
  body["order"] = {{"referenceOrderId", order_ref},
                   {"orderDescription", "simulated order"},
                   {"orderAmount", engine::money_to_json(amount)}};
  body["paymentAmount"] = engine::money_to_json(amount);
  body["paymentMethod"] = {{"paymentMethodType", "CONNECT_WALLET"}};
  body["paymentFactor"] = {{"isInStorePayment", "false"}, {"isCashierPayment", "true"},
                           {"presentmentMode", "UNIFIED"}};
  body["paymentExpiryTime"] = engine::iso8601(expiry);
  body["paymentNotifyUrl"] = "https://cashierd.example/alipayplus/notify";
  return json::serialize(body);
}

time_point usual_cancel_window_end(time_point created) {
  const auto local = created + 8h;
  const auto day = std::chrono::floor<std::chrono::days>(local);
  return day + 24h + 15min - 8h;
}

fake_aplus::fake_aplus(event_queue& queue, rng& random, const fault_rates& rates,
                       fault_counts& faults, violation_log& violations)
    : queue_(queue), rng_(random), rates_(rates), faults_(faults), violations_(violations) {}

void fake_aplus::script(std::string payment_request_id, payer_plan plan) {
  scripted_[std::move(payment_request_id)] = plan;
}

const order_truth* fake_aplus::truth(std::string_view payment_request_id) const {
  const auto it = orders_.find(payment_request_id);
  return it == orders_.end() ? nullptr : &it->second;
}

payer_plan fake_aplus::draw_plan() {
  payer_plan p;
  const double r = rng_.unit();
  p.action = r < 0.7 ? payer_action::pay : r < 0.9 ? payer_action::fail : payer_action::abandon;
  // Most payers act within 40 s; some take until (or past) the expiry.
  p.after = rng_.chance(0.85) ? rng_.between(3s, 40s) : rng_.between(40s, 16min);
  p.close_lag = rng_.between(0s, 60min);
  if (rng_.chance(rates_.short_cancel_window)) p.cancel_window = rng_.between(5min, 60min);
  if (rng_.chance(rates_.no_notify)) {
    p.notify = false;
    faults_.add(fault::no_notify);
  }
  p.wrong_amount = rng_.chance(rates_.wrong_amount);
  return p;
}

order_truth& fake_aplus::create(std::string_view id, std::string_view body, money amount,
                                time_point expiry) {
  auto& o = orders_[std::string(id)];
  if (o.not_exist_told) {
    violations_.add(queue_.now(), std::string(id) +
                                      ": a pay reached Alipay+ after a cancel was answered "
                                      "ORDER_NOT_EXIST (the cancel overtook the pay)");
  }
  o.exists = true;
  o.pay_body = std::string(body);
  o.amount = amount;
  o.created_at = queue_.now();
  o.expiry_at = expiry;
  o.payment_id = "2026" + std::to_string(1000000 + ++next_payment_id_);
  const auto s = scripted_.find(id);
  o.plan = s != scripted_.end() ? s->second : draw_plan();
  const std::string key(id);
  if (o.plan.action != payer_action::abandon) {
    queue_.after(o.plan.after, [this, key] { payer_acts(key); });
  }
  queue_.at(expiry + o.plan.close_lag, [this, key] { close_if_unpaid(key); });
  return o;
}

payment_facts fake_aplus::facts_of(const order_truth& o) const {
  payment_facts f;
  f.payment_id = o.payment_id;
  if (o.state == order_state::paid) {
    f.payment_time = engine::iso8601(o.created_at + o.plan.after);
    f.customer_id = "cust-" + o.payment_id;
    f.wallet_brand_name = "SimWallet";
  }
  return f;
}

pay_answer fake_aplus::pay(std::string_view body) {
  pay_answer a;
  const auto fields = parse_pay(body);
  if (!fields) {
    a.result = result('F', "PARAM_ILLEGAL");
    return a;
  }
  auto it = orders_.find(fields->id);
  if (it == orders_.end() || !it->second.exists) {
    if (rng_.chance(rates_.pay_throttled)) {
      faults_.add(fault::pay_throttled);
      a.result = result('U', "REQUEST_TRAFFIC_EXCEED_LIMIT");
      return a;
    }
    create(fields->id, body, fields->amount, fields->expiry);
    it = orders_.find(fields->id);
  } else if (it->second.pay_body != body) {
    violations_.add(queue_.now(), fields->id + ": a pay retry differs from the first pay body");
  }
  const order_truth& o = it->second;
  a.facts = facts_of(o);
  if (o.cancelled) {
    a.result = result('F', "ORDER_IS_CLOSED");
    return a;
  }
  switch (o.state) {
    case order_state::paid: a.result = result('S', "SUCCESS"); return a;
    case order_state::failed: a.result = result('F', o.fail_code); return a;
    case order_state::closed: a.result = result('F', "ORDER_IS_CLOSED"); return a;
    case order_state::pending: break;
  }
  if (rng_.chance(rates_.pay_u_other)) {
    faults_.add(fault::pay_u_other);
    a.result = result('U', "UNKNOWN_EXCEPTION");
    return a;
  }
  a.result = result('U', "PAYMENT_IN_PROCESS");
  a.normal_url = "https://checkout.sim/" + o.payment_id;
  a.payment_data = R"({"displayAmount":")" + format_minor_units(o.amount.minor_units) + R"("})";
  return a;
}

inquiry_answer fake_aplus::inquiry(std::string_view payment_request_id) {
  inquiry_answer a;
  const auto it = orders_.find(payment_request_id);
  if (it == orders_.end() || !it->second.exists) {
    a.result = result('F', "ORDER_NOT_EXIST");
    return a;
  }
  const order_truth& o = it->second;
  if (queue_.now() - o.created_at < 10s && rng_.chance(rates_.early_order_not_exist)) {
    faults_.add(fault::early_order_not_exist);
    a.result = result('F', "ORDER_NOT_EXIST");
    return a;
  }
  if (rng_.chance(rates_.inquiry_u)) {
    faults_.add(fault::inquiry_u);
    a.result = result('U', "UNKNOWN_EXCEPTION");
    return a;
  }
  a.result = result('S', "SUCCESS");
  a.facts = facts_of(o);
  a.amount = o.amount;
  if (o.plan.wrong_amount && rng_.chance(0.3)) {
    faults_.add(fault::inquiry_wrong_amount);
    a.amount->minor_units += 1;
  }
  if (o.cancelled && o.state != order_state::paid) {
    a.payment_result = result('F', "ORDER_CLOSED");
    return a;
  }
  if (o.cancelled) {
    // A paid order that a cancel reversed: still paid, with the cancel among its transactions.
    a.payment_result = result('S', "SUCCESS");
    a.transactions.push_back({"CANCEL", std::string(payment_request_id), "SUCCESS", result('S', "SUCCESS")});
    return a;
  }
  switch (o.state) {
    case order_state::pending: a.payment_result = result('U', "PAYMENT_IN_PROCESS"); break;
    case order_state::paid: a.payment_result = result('S', "SUCCESS"); break;
    case order_state::failed: a.payment_result = result('F', o.fail_code); break;
    case order_state::closed: a.payment_result = result('F', "ORDER_CLOSED"); break;
  }
  return a;
}

cancel_answer fake_aplus::cancel(std::string_view payment_request_id) {
  auto it = orders_.find(payment_request_id);
  if (it == orders_.end() || !it->second.exists) {
    auto& o = orders_[std::string(payment_request_id)];
    o.not_exist_told = true;
    o.cancel_gone = true;
    return {result('F', "ORDER_NOT_EXIST")};
  }
  return cancel_order(it->second);
}

cancel_answer fake_aplus::cancel_order(order_truth& o) {
  if (o.cancelled) return {result('S', "SUCCESS")};
  const time_point window_end =
      o.plan.cancel_window ? o.created_at + *o.plan.cancel_window : usual_cancel_window_end(o.created_at);
  if (queue_.now() > window_end) {
    faults_.add(fault::cancel_window_exceed);
    o.window_exceeded = true;
    return {result('F', "CANCEL_WINDOW_EXCEED")};
  }
  if (!o.refused_once && rng_.chance(rates_.cancel_refused)) {
    faults_.add(fault::cancel_refused);
    o.refused_once = true;
    return {result('F', "PROCESS_FAIL")};
  }
  if (rng_.chance(rates_.cancel_u)) {
    faults_.add(fault::cancel_u);
    if (rng_.chance(0.5)) o.cancelled = true;  // processed, but the answer does not say so
    return {result('U', "UNKNOWN_EXCEPTION")};
  }
  if (o.state == order_state::closed && rng_.chance(rates_.order_is_closed)) {
    faults_.add(fault::order_is_closed);
    o.cancel_gone = true;
    return {result('F', "ORDER_IS_CLOSED")};
  }
  // Seen in the field: a paid order answered ORDER_IS_CLOSED, the money not returned. Only an
  // inquiry tells the two cases apart ("refunded" only on proof).
  if (o.state == order_state::paid && rng_.chance(rates_.order_is_closed * 0.1)) {
    faults_.add(fault::order_is_closed);
    o.cancel_gone = true;
    o.closed_told_paid = true;
    return {result('F', "ORDER_IS_CLOSED")};
  }
  o.cancelled = true;
  return {result('S', "SUCCESS")};
}

void fake_aplus::payer_acts(const std::string& id) {
  auto& o = orders_.at(id);
  if (o.state != order_state::pending || o.cancelled || queue_.now() >= o.expiry_at) return;
  if (o.plan.action == payer_action::pay) {
    o.state = order_state::paid;
  } else {
    o.state = order_state::failed;
    o.fail_code = rng_.chance(0.5) ? "USER_BALANCE_NOT_ENOUGH" : "RISK_REJECT";
  }
  if (o.plan.notify) queue_.after(rng_.between(0ms, 2s), [this, id] { notify_attempt(id, 0); });
}

void fake_aplus::close_if_unpaid(const std::string& id) {
  auto& o = orders_.at(id);
  if (o.state == order_state::pending && !o.cancelled) o.state = order_state::closed;
}

void fake_aplus::notify_attempt(const std::string& id, int attempt) {
  const auto& o = orders_.at(id);
  if (o.notify_acked) return;
  notify_message m;
  m.payment_request_id = id;
  m.payment_result = o.state == order_state::paid ? result('S', "SUCCESS") : result('F', o.fail_code);
  m.amount = o.amount;
  if (o.plan.wrong_amount) {
    faults_.add(fault::notify_wrong_amount);
    m.amount.minor_units += 1;
  }
  m.facts = facts_of(o);
  m.attempt = attempt;
  if (send_notify) send_notify(std::move(m));
  const auto retries = notify_retry_schedule();
  if (static_cast<std::size_t>(attempt) < retries.size()) {
    queue_.after(retries[static_cast<std::size_t>(attempt)],
                 [this, id, attempt] { notify_attempt(id, attempt + 1); });
  }
}

void fake_aplus::ack(std::string_view payment_request_id) {
  const auto it = orders_.find(payment_request_id);
  if (it != orders_.end()) it->second.notify_acked = true;
}

}  // namespace cashier::sim
