// The Alipay+ HTTPS adapter: signing, sending, verifying and decoding one call, the events the
// answers amount to, and the call record (see aplus_gateway.hpp).
#include "orchestrator/daemon/aplus_gateway.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>
#include <algorithm>
#include <chrono>
#include <utility>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/refund_codec.hpp"
#include "orchestrator/alipayplus/signature_header.hpp"
#include "orchestrator/alipayplus/signer.hpp"
#include "orchestrator/alipayplus/wire_time.hpp"
#include "orchestrator/daemon/log.hpp"
#include "orchestrator/daemon/notify_inbound.hpp"
#include "orchestrator/daemon/thread_name.hpp"
#include "state/store/store.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;

std::string_view to_string(aplus_api api) {
  switch (api) {
    case aplus_api::pay:
      return "pay";
    case aplus_api::inquiry:
      return "inquiryPayment";
    case aplus_api::cancel:
      return "cancelPayment";
    case aplus_api::consult:
      return "consultPayment";
    case aplus_api::refund:
      return "refund";
  }
  return "unknown";  // unreachable: every enumerator is handled above
}

std::string_view path_of(aplus_api api) {
  switch (api) {
    case aplus_api::pay:
      return "/aps/api/v1/payments/pay";
    case aplus_api::inquiry:
      return "/aps/api/v1/payments/inquiryPayment";
    case aplus_api::cancel:
      return "/aps/api/v1/payments/cancelPayment";
    case aplus_api::consult:
      return "/aps/api/v1/payments/consultPayment";
    case aplus_api::refund:
      return "/aps/api/v1/payments/refund";
  }
  return "/";  // unreachable: every enumerator is handled above
}

std::string_view to_string(call_outcome outcome) {
  switch (outcome) {
    case call_outcome::s:
      return "S";
    case call_outcome::f:
      return "F";
    case call_outcome::u:
      return "U";
    case call_outcome::timeout:
      return "timeout";
    case call_outcome::transport_error:
      return "transport_error";
    case call_outcome::server_error:
      return "server_error";
    case call_outcome::unsigned_answer:
      return "unsigned_answer";
    case call_outcome::bad_signature:
      return "bad_signature";
    case call_outcome::garbled:
      return "garbled";
    case call_outcome::stale_answer:
      return "stale_answer";
    case call_outcome::mismatched_answer:
      return "mismatched_answer";
  }
  return "unknown";  // unreachable: every enumerator is handled above
}

namespace {

// The machine's reason for a call that ended with `o` and no usable answer. A stale answer is
// treated as one whose signature cannot be trusted (it may be a replay); a mismatched one as an
// answer that is not the expected message. s, f and u are answers, never passed here.
no_answer_reason reason_of(call_outcome o) {
  switch (o) {
    case call_outcome::timeout:
      return no_answer_reason::timeout;
    case call_outcome::transport_error:
      return no_answer_reason::transport_error;
    case call_outcome::server_error:
      return no_answer_reason::server_error;
    case call_outcome::unsigned_answer:
      return no_answer_reason::unsigned_answer;
    case call_outcome::bad_signature:
    case call_outcome::stale_answer:
      return no_answer_reason::bad_signature;
    case call_outcome::s:
    case call_outcome::f:
    case call_outcome::u:
    case call_outcome::garbled:
    case call_outcome::mismatched_answer:
      return no_answer_reason::garbled;
  }
  return no_answer_reason::garbled;  // unreachable: every enumerator is handled above
}

// The paymentRequestId and paymentId a message names, where it names them.
struct payment_ids {
  std::optional<std::string> request_id;
  std::optional<std::string> payment_id;
};

std::optional<std::string> string_field(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

// The ids every request about `p` names: cashierd's own paymentRequestId (the one its stored pay,
// lookup and refund bodies were built with) and Alipay+'s paymentId once known. Taken from the
// record rather than by parsing the request bytes again on every call.
payment_ids ids_sent(const payment& p) {
  payment_ids out;
  out.request_id = std::string(store::alipay_request_id(p));
  if (!p.payment_id.empty()) out.payment_id = p.payment_id;
  return out;
}

// True when `got` names no other payment than `sent` (an id absent on either side says nothing);
// with `must_name`, `got` must carry at least one id.
bool echoes(const payment_ids& sent, const payment_ids& got, bool must_name) {
  if (must_name && !got.request_id && !got.payment_id) return false;
  if (got.request_id && sent.request_id && *got.request_id != *sent.request_id) return false;
  if (got.payment_id && sent.payment_id && *got.payment_id != *sent.payment_id) return false;
  return true;
}

// Logs the informational fields a lenient decode set aside (kept raw in the call record).
void log_set_aside(aplus_api api, const std::vector<std::string>& fields) {
  if (fields.empty()) return;
  boost::json::array names;
  for (const auto& f : fields) names.emplace_back(f);
  log_line(log_level::warn, "Alipay+ answer: malformed informational fields kept raw, not applied",
           {{"api", to_string(api)}, {"fields", std::move(names)}});
}

// "S/SUCCESS": the call record's outcome for an answer.
std::string outcome_text(const aplus_result& r) { return std::string(1, r.status) + "/" + r.code; }

std::optional<money> money_of(const std::optional<aplus::amount>& a) {
  if (!a) return std::nullopt;
  return static_cast<const money&>(*a);
}

pay_answer pay_event(const aplus::pay_response& r) {
  pay_answer ev;
  ev.result = r.result;
  ev.facts.payment_id = r.payment_id.value_or("");
  ev.facts.payment_time = r.payment_time.value_or("");
  ev.normal_url = r.normal_url.value_or("");
  ev.payment_data = r.payment_data.value_or("");
  return ev;
}

inquiry_answer inquiry_event(const aplus::inquiry_payment_response& r) {
  inquiry_answer ev;
  ev.result = r.result;
  if (r.payment_result) ev.payment_result = *r.payment_result;
  ev.facts.payment_id = r.payment_id.value_or("");
  ev.facts.payment_time = r.payment_time.value_or("");
  ev.facts.customer_id = r.customer_id.value_or("");
  ev.facts.wallet_brand_name = r.wallet_brand_name.value_or("");
  ev.facts.settlement_amount = money_of(r.settlement_amount);
  ev.amount = money_of(r.payment_amount);
  // transactions[] (cancels, refunds): what the machine needs to tell "refunded" from "paid".
  for (const auto& t : r.transactions ? *r.transactions : std::vector<aplus::transaction>{}) {
    payment_transaction pt;
    pt.type = t.transaction_type.value_or("");
    pt.request_id = t.transaction_request_id.value_or("");
    pt.status = t.transaction_status.value_or("");
    if (t.transaction_result) pt.result = static_cast<const aplus_result&>(*t.transaction_result);
    pt.id = t.transaction_id.value_or("");
    pt.amount = money_of(t.transaction_amount);
    ev.transactions.push_back(std::move(pt));
  }
  return ev;
}

// {"paymentRequestId":"..."}, the body of inquiryPayment and cancelPayment.
std::string lookup_body(const payment& p) {
  aplus::payment_lookup lookup;
  lookup.payment_request_id = std::string(store::alipay_request_id(p));  // cashierd's own id
  return aplus::encode(lookup);
}

// Signs `content` with `key` wherever it is resumed (the signing pool); both are owned by the
// coroutine frame.
asio::awaitable<std::string> sign_task(aplus::private_key key, std::string content) {
  co_return aplus::sign(key, content);
}

std::int64_t micros_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

// The origin ("https://host:port") and the path prefix of the gateway URL.
boost::system::result<std::pair<std::string, std::string>, net::setup_error> split_gateway_url(
    std::string_view gateway) {
  const auto url = boost::urls::parse_absolute_uri(gateway);
  if (!url || url->host().empty())
    return net::setup_error{"alipayplus.gateway: not an absolute URL"};
  if (url->has_query() || url->has_fragment())
    return net::setup_error{"alipayplus.gateway: must not have a query or a fragment"};
  if (url->scheme() != "https" && !(url->scheme() == "http" && is_loopback_host(url->host())))
    return net::setup_error{
        "alipayplus.gateway: must be https:// unless the host is a loopback address"};
  std::string prefix(url->encoded_path());
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return std::pair{std::string(url->scheme()) + "://" + std::string(url->encoded_host_and_port()),
                   std::move(prefix)};
}

boost::system::result<net::client_options, net::setup_error> client_options_of(
    const config::alipayplus_config& cfg, const gateway_options& options, bool tls) {
  net::client_options co;
  co.timeout = std::chrono::milliseconds(cfg.request_timeout_ms);
  co.max_connections = options.max_connections;
  if (!tls) return co;
  auto ctx =
      net::make_client_context(cfg.ca_file.empty() ? std::nullopt : std::optional(cfg.ca_file));
  if (!ctx) return net::setup_error{"alipayplus.caFile: " + ctx.error().message};
  co.tls = std::move(*ctx);
  return co;
}

}  // namespace

boost::system::result<std::unique_ptr<aplus_gateway>, net::setup_error> aplus_gateway::create(
    asio::any_io_executor executor, const config::alipayplus_config& cfg,
    const payment_clock& clock, gateway_options options) {
  auto where = split_gateway_url(cfg.gateway);
  if (!where) return where.error();
  auto co = client_options_of(cfg, options, where->first.starts_with("https:"));
  if (!co) return co.error();
  auto client = net::http_client::create(std::move(executor), where->first, std::move(*co));
  if (!client) return net::setup_error{"alipayplus.gateway: " + client.error().message};
  auto key = aplus::load_private_key_file(cfg.private_key);
  if (!key) return net::setup_error{"alipayplus.privateKey: " + key.error().message};
  auto keys = load_verifier_keys(cfg.public_keys);
  if (!keys) return keys.error();
  settings s{std::move(where->second), cfg.client_id, cfg.key_version, std::move(*key),
             std::move(*keys), std::chrono::seconds(cfg.max_clock_skew_seconds)};
  return std::unique_ptr<aplus_gateway>(
      new aplus_gateway(std::move(*client), std::move(s), clock, options.sign_threads));
}

aplus_gateway::aplus_gateway(net::http_client client, settings s, const payment_clock& clock,
                             std::size_t sign_threads)
    : client_(std::move(client)),
      s_(std::move(s)),
      clock_(clock),
      signers_(sign_threads > 0 ? std::make_unique<asio::thread_pool>(sign_threads) : nullptr) {
  if (signers_) name_pool_threads(*signers_, sign_threads, "cashierd-sign");
}

aplus_gateway::~aplus_gateway() {
  if (signers_) signers_->join();
}

asio::awaitable<call_result> aplus_gateway::pay(const payment& p) {
  call_result out{pay_no_answer{no_answer_reason::garbled}, {}};
  out.call.payment_id = p.id;
  const auto sent = ids_sent(p);  // `p` is not used after the first suspension
  auto got = co_await call(aplus_api::pay, p.pay_request, &aplus::decode_pay_response, out.call);
  if (const auto* r = std::get_if<aplus::pay_response>(&got);
      r && !echoes(sent, {string_field(r->extra_fields, "paymentRequestId"), r->payment_id}, false))
    got = call_outcome::mismatched_answer;
  if (const auto* r = std::get_if<aplus::pay_response>(&got)) {
    log_set_aside(aplus_api::pay, aplus::informational_set_aside(*r));
    out.ev = pay_event(*r);
    finish(aplus_api::pay, out.call, r->result, outcome_text(r->result));
  } else {
    out.ev = pay_no_answer{reason_of(std::get<call_outcome>(got))};
    finish(aplus_api::pay, out.call, std::get<call_outcome>(got));
  }
  co_return out;
}

asio::awaitable<call_result> aplus_gateway::inquiry(const payment& p) {
  call_result out{inquiry_no_answer{no_answer_reason::garbled}, {}};
  out.call.payment_id = p.id;
  auto body = lookup_body(p);
  const auto sent = ids_sent(p);  // `p` is not used after the first suspension
  auto got = co_await call(aplus_api::inquiry, std::move(body),
                           &aplus::decode_inquiry_payment_response, out.call);
  // A verified answer about another payment cannot be applied to this one, and a payment's
  // status (S answer with paymentResult) must say which payment it is about.
  if (const auto* r = std::get_if<aplus::inquiry_payment_response>(&got);
      r && !echoes(sent, {r->payment_request_id, r->payment_id}, r->payment_result.has_value()))
    got = call_outcome::mismatched_answer;
  if (const auto* r = std::get_if<aplus::inquiry_payment_response>(&got)) {
    log_set_aside(aplus_api::inquiry, aplus::informational_set_aside(*r));
    out.ev = inquiry_event(*r);
    auto text = outcome_text(r->result);
    if (r->payment_result) text += " paymentResult=" + outcome_text(*r->payment_result);
    finish(aplus_api::inquiry, out.call, r->result, std::move(text));
  } else {
    out.ev = inquiry_no_answer{reason_of(std::get<call_outcome>(got))};
    finish(aplus_api::inquiry, out.call, std::get<call_outcome>(got));
  }
  co_return out;
}

asio::awaitable<call_result> aplus_gateway::cancel(const payment& p) {
  call_result out{cancel_no_answer{no_answer_reason::garbled}, {}};
  out.call.payment_id = p.id;
  auto body = lookup_body(p);
  const auto sent = ids_sent(p);  // `p` is not used after the first suspension
  auto got = co_await call(aplus_api::cancel, std::move(body),
                           &aplus::decode_cancel_payment_response, out.call);
  if (const auto* r = std::get_if<aplus::cancel_payment_response>(&got);
      r && !echoes(sent, {string_field(r->extra_fields, "paymentRequestId"),
                          string_field(r->extra_fields, "paymentId")}, false))
    got = call_outcome::mismatched_answer;
  if (const auto* r = std::get_if<aplus::cancel_payment_response>(&got)) {
    out.ev = cancel_answer{r->result};
    finish(aplus_api::cancel, out.call, r->result, outcome_text(r->result));
  } else {
    out.ev = cancel_no_answer{reason_of(std::get<call_outcome>(got))};
    finish(aplus_api::cancel, out.call, std::get<call_outcome>(got));
  }
  co_return out;
}

asio::awaitable<refund_call_result> aplus_gateway::refund(const payment& p, const cashier::refund& r) {
  refund_call_result out{refund_no_answer{no_answer_reason::garbled}, {}};
  out.call.payment_id = p.id;
  out.call.refund_id = r.id;
  const auto sent = ids_sent(p);  // `p` and `r` are not used after the first suspension
  auto got = co_await call(aplus_api::refund, r.request, &aplus::decode_refund_response, out.call);
  if (const auto* a = std::get_if<aplus::refund_response>(&got);
      a && !echoes(sent, {string_field(a->extra_fields, "paymentRequestId"),
                          string_field(a->extra_fields, "paymentId")}, false))
    got = call_outcome::mismatched_answer;
  if (const auto* a = std::get_if<aplus::refund_response>(&got)) {
    log_set_aside(aplus_api::refund, aplus::informational_set_aside(*a));
    out.ev = refund_answer{a->result, a->refund_id.value_or(""), a->refund_time.value_or(""),
                           money_of(a->refund_amount)};
    finish(aplus_api::refund, out.call, a->result, outcome_text(a->result));
  } else {
    out.ev = refund_no_answer{reason_of(std::get<call_outcome>(got))};
    finish(aplus_api::refund, out.call, std::get<call_outcome>(got));
  }
  co_return out;
}

asio::awaitable<consult_result> aplus_gateway::consult(std::string body) {
  consult_result out{no_answer_reason::garbled, {}};
  auto got = co_await call(aplus_api::consult, std::move(body),
                           &aplus::decode_consult_payment_response, out.call);
  if (auto* r = std::get_if<aplus::consult_payment_response>(&got)) {
    finish(aplus_api::consult, out.call, r->result, outcome_text(r->result));
    out.answer = std::move(*r);
  } else {
    finish(aplus_api::consult, out.call, std::get<call_outcome>(got));
    out.answer = reason_of(std::get<call_outcome>(got));
  }
  co_return out;
}

template <class T>
asio::awaitable<aplus_gateway::answer_or<T>> aplus_gateway::call(aplus_api api, std::string body,
                                                                 decoder<T> decode,
                                                                 store::call_record& rec) {
  const auto failure = co_await exchange(api, std::move(body), rec);  // not in the if (coding-rules.md)
  if (failure) co_return answer_or<T>(*failure);
  auto decoded = decode(rec.response_body, aplus::json_limits{});
  if (!decoded) co_return answer_or<T>(call_outcome::garbled);
  co_return answer_or<T>(std::move(*decoded));
}

// Signs and sends one request and checks the answer's HTTP status and signature, writing
// everything into `rec`; nothing when a verified 200 answer is in rec.response_body.
asio::awaitable<std::optional<call_outcome>> aplus_gateway::exchange(aplus_api api,
                                                                     std::string body,
                                                                     store::call_record& rec) {
  const std::string path = s_.path_prefix + std::string(path_of(api));
  rec.api = to_string(api);
  rec.request_body = body;
  rec.started_at = clock_.now();
  // Request-Time is transport time: the wall clock, whatever the payment clock's timeScale.
  const auto request_time = aplus::format_wire_time(wall_now());
  const auto signature =
      co_await sign(aplus::request_content("POST", path, s_.client_id, request_time, body));
  net::request req{"POST",
                   path,
                   {{"Content-Type", "application/json; charset=UTF-8"},
                    {"Client-Id", s_.client_id},
                    {"Request-Time", request_time},
                    {"Signature", aplus::format_signature_header(s_.key_version, signature)}},
                   std::move(body)};
  rec.request_headers = format_headers(req.headers);
  const auto start = std::chrono::steady_clock::now();
  auto res = co_await client_.send(std::move(req));
  rec.latency_us = micros_since(start);
  if (!res)
    co_return res.error().kind == net::error_kind::timeout ? call_outcome::timeout
                                                           : call_outcome::transport_error;
  rec.http_status = res->status;
  rec.response_body = std::move(res->body);
  rec.response_headers = format_headers(res->headers);
  if (res->status != 200) co_return call_outcome::server_error;
  co_return verify_answer(path, res->headers, rec.response_body);
}

// The answer must be signed by Alipay+ over the request's method and path, its Response-Time
// and its exact body. Decision: the answer's Client-Id must be ours or absent (Alipay+ echoes
// the caller's); the content is always built with ours, and an answer naming another client is
// not an answer to us, so it counts as bad_signature. A missing Response-Time leaves the signed
// content undefined, which is bad_signature too. A verified answer whose Response-Time is
// unreadable or further than maxClockSkewSeconds from the wall clock is stale: an old signed
// answer replayed (or a clock far off) must not settle a payment.
std::optional<call_outcome> aplus_gateway::verify_answer(std::string_view path,
                                                         const net::header_list& headers,
                                                         std::string_view body) const {
  const auto signature = net::find_header(headers, "Signature");
  if (!signature || signature->find_first_not_of(" \t") == std::string_view::npos)
    return call_outcome::unsigned_answer;
  const auto client_id = net::find_header(headers, "Client-Id");
  if (client_id && *client_id != s_.client_id) return call_outcome::bad_signature;
  const auto response_time = net::find_header(headers, "Response-Time");
  if (!response_time) return call_outcome::bad_signature;
  const auto content = aplus::response_content("POST", path, s_.client_id, *response_time, body);
  switch (aplus::verify_with(s_.alipayplus_keys, *signature, content)) {
    case aplus::verify_outcome::ok:
      break;
    case aplus::verify_outcome::missing_header:
      return call_outcome::unsigned_answer;
    case aplus::verify_outcome::bad_header:
    case aplus::verify_outcome::no_key:
    case aplus::verify_outcome::bad_signature:
      return call_outcome::bad_signature;
  }
  const auto at = aplus::parse_wire_time(*response_time);
  if (!at) return call_outcome::stale_answer;
  const auto now = wall_now();
  if ((now > *at ? now - *at : *at - now) > s_.max_clock_skew) return call_outcome::stale_answer;
  return std::nullopt;
}

// On the worker pool when there is one: co_spawn's completion resumes this coroutine through
// its own executor (the caller's), so the call continues on the reactor thread. The task is a
// named coroutine and the executor a local, never a capturing lambda inside the co_await
// expression: GCC 12 destroys such a temporary twice, which freed the captured key twice.
asio::awaitable<std::string> aplus_gateway::sign(std::string content) {
  if (!signers_) co_return aplus::sign(s_.key, content);
  auto pool = signers_->get_executor();
  auto task = sign_task(s_.key, std::move(content));
  co_return co_await asio::co_spawn(pool, std::move(task), asio::use_awaitable);
}

void aplus_gateway::finish(aplus_api, store::call_record& rec, call_outcome no_answer) {
  rec.outcome = to_string(no_answer);
}

void aplus_gateway::finish(aplus_api, store::call_record& rec, const aplus_result&,
                           std::string outcome) {
  rec.outcome = std::move(outcome);
}

}  // namespace cashier::daemon
