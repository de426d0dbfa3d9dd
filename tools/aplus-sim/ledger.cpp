// The simulated Alipay+'s business logic (see ledger.hpp).
#include "tools/aplus-sim/ledger.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/wire_time.hpp"
#include "state/machine/schedule.hpp"
#include "tools/aplus-sim/checkout_page.hpp"

namespace cashier::sim {
namespace {

namespace json = boost::json;

struct wallet_info {
  std::string_view name;
  std::string_view brand;
  std::string_view region;
};
constexpr std::array<wallet_info, 2> wallets{{{"GCash", "GCASH", "PH"}, {"KakaoPay", "KAKAOPAY", "KR"}}};

aplus::api_result param_illegal(std::string message) {
  if (message.size() > 512) message.resize(512);
  return make_result('F', "PARAM_ILLEGAL", std::move(message));
}

// An answer that carries only `result`.
template <class Answer>
Answer only(aplus::api_result result) {
  Answer a;
  a.result = std::move(result);
  return a;
}

// The fields whose difference under one paymentRequestId makes Alipay+ refuse the repeat.
bool consistent(const aplus::pay_request& first, const aplus::pay_request& again) {
  const money a = first.payment_amount;
  const money b = again.payment_amount;
  return a == b && first.payment_factor == again.payment_factor &&
         first.settlement_strategy == again.settlement_strategy &&
         first.payment_method.payment_method_type == again.payment_method.payment_method_type;
}

std::string_view reject_reason(const aplus::pay_request& r) {
  if (r.payment_method.payment_method_type != "CONNECT_WALLET") return "paymentMethodType must be CONNECT_WALLET";
  if (r.payment_amount.minor_units <= 0) return "paymentAmount.value must be positive";
  return "";
}

// paymentData: what the Alipay+ checkout shows, as a JSON document in a string.
std::string payment_data(const aplus::amount& amount) {
  json::array list;
  for (const auto& w : wallets) list.push_back(json::object{{"enabled", true}, {"walletName", w.name}});
  return json::serialize(json::object{{"displayPaymentAmount", format_display_amount(amount)},
                                      {"displayPaymentCurrency", amount.currency.str()},
                                      {"wallets", std::move(list)}});
}

aplus::support_wallet support_wallet_of(const wallet_info& w) {
  aplus::support_wallet s;
  s.wallet_name = std::string(w.name);
  s.wallet_brand_name = std::string(w.brand);
  s.wallet_region = std::string(w.region);
  s.wallet_logo = aplus::logo{std::string(w.brand), "https://sim.alipayplus.invalid/logos/" + std::string(w.brand) + ".svg", {}};
  return s;
}

// Counts a repeated pay body and keeps it when it differs from every one kept so far.
void record_body(truth& t, std::string_view body) {
  ++t.pay_bodies;
  if (body == t.first_body) return;
  t.pay_bodies_identical = false;
  const bool known = std::find(t.other_bodies.begin(), t.other_bodies.end(), body) != t.other_bodies.end();
  if (!known && t.other_bodies.size() < 10) t.other_bodies.emplace_back(body);
}

// A payment_lookup's paymentRequestId: given, or found through its paymentId.
std::string lookup_id(const aplus::payment_lookup& l, ledger& books) {
  if (l.payment_request_id) return *l.payment_request_id;
  if (const truth* t = books.find_by_payment_id(*l.payment_id)) return t->payment_request_id;
  return {};
}

}  // namespace

ledger::ledger(std::string checkout_base, std::string payment_id_prefix)
    : checkout_base_(std::move(checkout_base)), payment_id_prefix_(std::move(payment_id_prefix)) {
  if (payment_id_prefix_.size() > 40) payment_id_prefix_.resize(40);
}

pay_outcome ledger::pay(std::string_view body, time_point now) {
  auto decoded = aplus::decode_pay_request(body);
  if (!decoded) return {{only<aplus::pay_response>(param_illegal(aplus::to_string(decoded.errors()))), ""}, pay_effect::none};
  aplus::pay_request& request = *decoded;
  truth* t = find(request.payment_request_id);
  if (!t) return create(std::move(request), body, now);
  record_body(*t, body);
  pay_outcome out{{{}, t->payment_request_id}, pay_effect::none};
  if (consistent(t->request, request)) {
    out.answer = pay_answer(*t);
  } else {
    ++t->inconsistent_pays;
    out.answer.result = make_result('F', "REPEAT_REQ_INCONSISTENT", "The request is inconsistent with the previous one.");
  }
  return out;
}

pay_outcome ledger::create(aplus::pay_request request, std::string_view body, time_point now) {
  const std::string id = request.payment_request_id;
  pay_outcome out{{{}, id}, pay_effect::none};
  scenario tags;
  if (auto added = add_description_tags(tags, request.order.order_description); !added) {
    out.answer.result = param_illegal(added.error().message);
    return out;
  }
  if (const auto reason = reject_reason(request); !reason.empty()) {
    out.answer.result = param_illegal(std::string(reason));
    return out;
  }
  scenario& s = scenario_for(id);
  merge(s, tags);
  char sequence[24];
  std::snprintf(sequence, sizeof sequence, "%012lld", static_cast<long long>(next_sequence_++));
  truth t;
  t.payment_request_id = id;
  t.payment_id = payment_id_prefix_ + sequence;
  t.request = std::move(request);
  t.first_body = std::string(body);
  t.pay_bodies = 1;
  t.created_at = now;
  const std::uint64_t seed = payment_seed(id);
  t.wallet_brand_name = std::string(wallets[seed % wallets.size()].brand);
  t.customer_id = "2088" + std::to_string(100000000000ULL + seed % 900000000000ULL);
  by_payment_id_[t.payment_id] = id;
  truth& stored = truths_.emplace(id, std::move(t)).first->second;
  out.effect = pay_effect::created;
  if (s.pay_success_immediately) {
    finish(stored, order_status::paid, now);
    out.effect = pay_effect::settled;
  }
  out.answer = pay_answer(stored);
  return out;
}

aplus::pay_response ledger::pay_answer(const truth& t) const {
  aplus::pay_response r;
  r.result = payment_result_of(t);
  r.acquirer_id = std::string(sim_acquirer_id);
  r.psp_id = std::string(sim_psp_id);
  r.payment_id = t.payment_id;
  r.payment_amount = t.request.payment_amount;
  r.payment_amount->extra_fields.clear();
  if (t.status == order_status::in_process) {
    r.normal_url = checkout_base_ + "/checkout/" + t.payment_id;
    r.payment_data = payment_data(t.request.payment_amount);
  }
  if (t.status == order_status::paid) r.payment_time = aplus::format_wire_time(*t.finished_at, 480);
  return r;
}

api_outcome<aplus::inquiry_payment_response> ledger::inquire(std::string_view body) {
  auto decoded = aplus::decode_inquiry_payment_request(body);
  if (!decoded) return {only<aplus::inquiry_payment_response>(param_illegal(aplus::to_string(decoded.errors()))), ""};
  api_outcome<aplus::inquiry_payment_response> out{{}, lookup_id(*decoded, *this)};
  truth* t = find(out.payment_request_id);
  if (!t) {
    out.answer.result = make_result('F', "ORDER_NOT_EXIST", "The order does not exist.");
    return out;
  }
  ++t->inquiries;
  auto& a = out.answer;
  a.result = make_result('S', "SUCCESS", "success");
  a.payment_result = payment_result_of(*t);
  a.payment_request_id = t->payment_request_id;
  a.payment_id = t->payment_id;
  a.payment_amount = t->request.payment_amount;
  a.payment_amount->extra_fields.clear();
  a.acquirer_id = std::string(sim_acquirer_id);
  a.psp_id = std::string(sim_psp_id);
  if (t->paid) {
    a.payment_time = aplus::format_wire_time(*t->finished_at, 480);
    a.customer_id = t->customer_id;
    a.wallet_brand_name = t->wallet_brand_name;
  }
  if (t->refunded) {
    // A paid order that a cancel reversed: the payment stays paid, the cancel is listed among
    // its transactions (what cashierd needs as proof of the refund).
    a.payment_result = make_result('S', "SUCCESS", "success");
    aplus::transaction cancel;
    cancel.transaction_type = "CANCEL";
    cancel.transaction_request_id = t->payment_request_id;
    cancel.transaction_status = "SUCCESS";
    cancel.transaction_result = make_result('S', "SUCCESS", "success");
    cancel.transaction_amount = a.payment_amount;
    if (t->cancelled_at) cancel.transaction_time = aplus::format_wire_time(*t->cancelled_at, 480);
    a.transactions = std::vector<aplus::transaction>{std::move(cancel)};
  }
  // Refunds are listed as REFUND transactions (their requestId is the ACQP's refundRequestId).
  for (const sim_refund& r : t->refunds) {
    aplus::transaction x;
    x.transaction_type = "REFUND";
    x.transaction_request_id = r.refund_request_id;
    x.transaction_status = r.succeeded ? "SUCCESS" : "FAIL";
    x.transaction_result = make_result(r.succeeded ? 'S' : 'F', r.code, r.succeeded ? "success" : "refused");
    aplus::amount amount;
    amount.minor_units = r.amount;
    amount.currency = t->request.payment_amount.currency;
    x.transaction_amount = amount;
    if (!r.refund_id.empty()) x.transaction_id = r.refund_id;
    x.transaction_time = aplus::format_wire_time(r.at, 480);
    if (!a.transactions) a.transactions.emplace();
    a.transactions->push_back(std::move(x));
  }
  return out;
}

api_outcome<aplus::cancel_payment_response> ledger::cancel(std::string_view body, time_point now) {
  auto decoded = aplus::decode_cancel_payment_request(body);
  if (!decoded) return {only<aplus::cancel_payment_response>(param_illegal(aplus::to_string(decoded.errors()))), ""};
  api_outcome<aplus::cancel_payment_response> out{{}, lookup_id(*decoded, *this)};
  out.answer.acquirer_id = std::string(sim_acquirer_id);
  out.answer.psp_id = std::string(sim_psp_id);
  truth* t = find(out.payment_request_id);
  if (!t) {
    out.answer.result = make_result('F', "ORDER_NOT_EXIST", "The order does not exist.");
    return out;
  }
  ++t->cancels;
  if (scenario_for(t->payment_request_id).cancel_window_exceeded || now > cancel_window_end(t->created_at)) {
    out.answer.result = make_result('F', "CANCEL_WINDOW_EXCEED", "The cancellation window has passed.");
    return out;
  }
  if (t->status != order_status::cancelled) {
    t->refunded = t->paid;
    t->status = order_status::cancelled;
    t->cancelled_at = now;
    if (t->notify == notify_state::scheduled || t->notify == notify_state::not_due) t->notify = notify_state::stopped;
    t->next_notify_at.reset();
  }
  out.answer.result = make_result('S', "SUCCESS", "success");
  return out;
}

aplus::consult_payment_response ledger::consult(std::string_view body) const {
  aplus::consult_payment_response r;
  auto decoded = aplus::decode_consult_payment_request(body);
  if (!decoded) {
    r.result = param_illegal(aplus::to_string(decoded.errors()));
    return r;
  }
  aplus::payment_option option;
  option.payment_method_type = "CONNECT_WALLET";
  option.payment_method_category = "WALLET";
  option.enabled = consult_enabled;
  option.preferred = consult_enabled;
  if (!consult_enabled) option.disable_reason = "PAYMENT_METHOD_NOT_AVAILABLE";
  option.logo = aplus::logo{"ALIPAY_PLUS", "https://sim.alipayplus.invalid/logos/alipayplus.svg", {}};
  option.promo_names = std::vector<std::string>{R"({"en_US":"5% off with GCash","zh_CN":"使用 GCash 立减 5%","ko_KR":"GCash 결제 시 5% 할인"})"};
  aplus::connect_wallet connect;
  connect.support_wallets.emplace();
  for (const auto& w : wallets) connect.support_wallets->push_back(support_wallet_of(w));
  option.payment_option_detail = aplus::payment_option_detail{std::move(connect), {}};
  r.result = make_result('S', "SUCCESS", "success");
  r.payment_options = std::vector<aplus::payment_option>{std::move(option)};
  return r;
}

bool ledger::payer_acts(const std::string& payment_request_id, payer_action action, time_point now) {
  truth* t = find(payment_request_id);
  if (!t || t->status != order_status::in_process || t->abandoned) return false;
  switch (action) {
    case payer_action::pay: finish(*t, order_status::paid, now); break;
    case payer_action::fail: finish(*t, order_status::failed, now); break;
    case payer_action::abandon: t->abandoned = true; break;
  }
  return true;
}

void ledger::finish(truth& t, order_status status, time_point now) {
  t.status = status;
  t.paid = status == order_status::paid;
  t.finished_at = now;
  const bool silent = notify_plan(scenario_for(t.payment_request_id)).empty() || !t.request.payment_notify_url;
  t.notify = silent ? notify_state::none : notify_state::scheduled;
}

truth* ledger::find(std::string_view payment_request_id) {
  const auto it = truths_.find(payment_request_id);
  return it == truths_.end() ? nullptr : &it->second;
}

truth* ledger::find_by_payment_id(std::string_view payment_id) {
  const auto it = by_payment_id_.find(payment_id);
  return it == by_payment_id_.end() ? nullptr : find(it->second);
}

aplus::notify_payment_request ledger::notify_request(const truth& t) const {
  aplus::notify_payment_request n;
  n.payment_result = payment_result_of(t);
  n.payment_request_id = t.payment_request_id;
  n.payment_id = t.payment_id;
  n.payment_amount = t.request.payment_amount;
  n.payment_amount.extra_fields.clear();
  if (t.finished_at) n.payment_time = aplus::format_wire_time(*t.finished_at, 480);
  if (t.paid) {
    n.customer_id = t.customer_id;
    n.wallet_brand_name = t.wallet_brand_name;
  }
  n.acquirer_id = std::string(sim_acquirer_id);
  n.psp_id = std::string(sim_psp_id);
  return n;
}

std::optional<json::object> ledger::describe(std::string_view payment_request_id) {
  const truth* t = find(payment_request_id);
  if (!t) return std::nullopt;
  json::object out = to_json(*t);
  out["scenario"] = to_json(scenario_for(t->payment_request_id));
  return out;
}

}  // namespace cashier::sim
