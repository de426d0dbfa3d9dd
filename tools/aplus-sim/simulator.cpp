// The simulator's life cycle and request router: the Alipay+ API endpoints (signature check,
// business logic from the ledger, then the scenario's answer fault), the checkout pages and
// the loopback-only control endpoints. The payer and notify loops are in sim_notify.cpp.
#include "tools/aplus-sim/sim_core.hpp"

#include <unistd.h>

#include <array>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/signature_header.hpp"
#include "orchestrator/alipayplus/wire_time.hpp"
#include "tools/aplus-sim/checkout_page.hpp"

namespace cashier::sim {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
constexpr std::string_view api_prefix = "/aps/api/v1/payments/";

net::response html_response(int status, std::string body) {
  return net::response{status, {{"Content-Type", "text/html; charset=utf-8"}}, std::move(body), {}};
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::string decoded_segment(std::string_view segment) {
  auto decoded = aplus::percent_decode(segment);
  return decoded ? *decoded : std::string(segment);
}

json::value result_json(const aplus::api_result& r) {
  return json::object{{"resultStatus", std::string(1, r.status)}, {"resultCode", r.code}};
}

// Where normalUrl points when --public-url is not given: the listen host (a wildcard address
// becomes loopback) and the bound port.
std::string derive_base_url(const sim_options& o, std::uint16_t port) {
  std::string host = o.listen.substr(0, o.listen.rfind(':'));
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "[::]") host = "[::1]";
  return std::string(o.tls ? "https" : "http") + "://" + host + ":" + std::to_string(port);
}

// The paymentId prefix: distinct per start, so ids from two runs never collide.
std::string payment_id_prefix() { return "SIM" + std::to_string(to_epoch_ms(wall_now())) + "-"; }

std::optional<payer_action> payer_action_named(std::string_view name) {
  if (name == "pay") return payer_action::pay;
  if (name == "fail") return payer_action::fail;
  if (name == "abandon") return payer_action::abandon;
  return std::nullopt;
}

}  // namespace

net::response json_response(int status, const json::value& body) {
  return net::response{status, {{"Content-Type", "application/json"}}, json::serialize(body), {}};
}

net::response error_response(int status, std::string_view code, std::string_view message) {
  return net::response{status, {{"Content-Type", "application/json"}}, net::json_error_body(code, message), {}};
}

void log_event(std::string_view event, json::object fields) {
  json::object line{{"ts", aplus::format_wire_time(wall_now())}, {"event", event}};
  for (auto& kv : fields) line[kv.key()] = std::move(kv.value());
  std::string text = json::serialize(line);
  text.push_back('\n');
  // One write per line, so lines from several processes sharing stderr never interleave.
  [[maybe_unused]] const auto n = ::write(2, text.data(), text.size());
}

sim_core::sim_core(asio::any_io_executor ex, sim_options opts, signing_setup signing)
    : executor(std::move(ex)),
      options(std::move(opts)),
      keys(std::move(signing)),
      clock(wall_now(), options.time_scale),
      books("", payment_id_prefix()) {
  books.set_refund_window(options.refund_window);
}

asio::awaitable<bool> sim_core::sleep_wall(std::chrono::steady_clock::duration wait) {
  if (stopping) co_return false;
  asio::steady_timer timer(executor, wait);
  const auto listed = timers.insert(timers.end(), &timer);
  auto self = shared_from_this();  // keeps the list alive while this coroutine waits
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  timers.erase(listed);
  co_return !stopping;
}

asio::awaitable<bool> sim_core::sleep_until(time_point at) { co_return co_await sleep_wall(clock.wall_wait_until(at)); }

void sim_core::abort() {
  stopping = true;
  for (auto* timer : timers) timer->cancel();
  server.reset();
  notify_clients.clear();
}

asio::awaitable<net::response> sim_core::handle(net::request req, const net::peer_info& peer) {
  const std::string path(path_of(req.target));
  if (starts_with(path, api_prefix)) {
    if (req.method != "POST") co_return error_response(405, "METHOD_NOT_ALLOWED", "Alipay+ APIs take POST");
    co_return co_await on_api(std::move(req), std::string_view(path).substr(api_prefix.size()));
  }
  if (starts_with(path, "/checkout/")) co_return on_checkout(req, std::string_view(path).substr(10));
  if (starts_with(path, "/sim/")) {
    if (!peer.is_loopback) co_return error_response(403, "FORBIDDEN", "the control endpoints answer loopback only");
    if (path == "/sim/notify" && req.method == "POST") co_return co_await on_crafted_notify(req);
    co_return on_control(req, path);
  }
  co_return error_response(404, "NOT_FOUND", "no such endpoint: " + path);
}

asio::awaitable<net::response> sim_core::on_api(net::request req, std::string_view name) {
  if (auto refusal = check_request(keys, req)) {
    log_event("api", {{"api", name}, {"httpStatus", refusal->http_status}, {"result", result_json(refusal->result)}});
    co_return signed_answer(keys, req.target, refusal->http_status, result_body(refusal->result), wall_now());
  }
  auto call = run_api(name, req.body);
  if (!call) co_return error_response(404, "NO_INTERFACE_DEF", "no such API: " + std::string(name));
  std::optional<fault_step> fault;
  if (call->api && !call->payment_request_id.empty())
    fault = take_answer_fault(books.scenario_for(call->payment_request_id), *call->api);
  json::value fault_name = nullptr;
  if (fault) fault_name = std::string(to_string(*call->api)) + "-" + std::string(to_string(fault->fault));
  log_event("api", {{"api", name},
                    {"paymentRequestId", call->payment_request_id},
                    {"result", result_json(call->result)},
                    {"fault", fault_name}});
  if (!fault) co_return faulted_answer(keys, req.target, std::move(call->body), std::nullopt, wall_now());
  if (fault->fault == answer_fault::timeout) co_await sleep_wall(options.timeout_hold);
  if (fault->fault == answer_fault::delay) co_await sleep_wall(fault->hold);
  if (fault->fault == answer_fault::drop) co_return net::response{net::no_answer_status, {}, {}, {}};
  co_return faulted_answer(keys, req.target, std::move(call->body), fault->fault, wall_now());
}

std::optional<api_call> sim_core::run_api(std::string_view name, std::string_view body) {
  if (name == "pay") {
    auto out = books.pay(body, now());
    switch (out.effect) {
      case pay_effect::none: break;
      case pay_effect::created: start_payer(out.payment_request_id); break;
      case pay_effect::settled: start_notify(out.payment_request_id); break;
    }
    return api_call{aplus::encode(out.answer), out.payment_request_id, sim_api::pay, out.answer.result};
  }
  if (name == "inquiryPayment") {
    auto out = books.inquire(body);
    return api_call{aplus::encode(out.answer), out.payment_request_id, sim_api::inquiry, out.answer.result};
  }
  if (name == "cancelPayment") {
    auto out = books.cancel(body, now());
    return api_call{aplus::encode(out.answer), out.payment_request_id, sim_api::cancel, out.answer.result};
  }
  if (name == "refund") {
    auto out = books.refund(body, now());
    return api_call{aplus::encode(out.answer), out.payment_request_id, sim_api::refund, out.answer.result};
  }
  if (name == "consultPayment") {
    auto answer = books.consult(body);
    return api_call{aplus::encode(answer), "", std::nullopt, answer.result};
  }
  return std::nullopt;
}

net::response sim_core::on_checkout(const net::request& req, std::string_view rest) {
  const auto slash = rest.find('/');
  const truth* t = books.find_by_payment_id(decoded_segment(rest.substr(0, slash)));
  if (!t) return html_response(404, "<!DOCTYPE html>\n<p>No such payment.</p>\n");
  if (slash == std::string_view::npos) {
    if (req.method != "GET") return error_response(405, "METHOD_NOT_ALLOWED", "use GET");
    return html_response(200, checkout_page(*t));
  }
  const auto action = payer_action_named(rest.substr(slash + 1));
  if (!action || req.method != "POST") return error_response(404, "NOT_FOUND", "POST .../pay, .../fail or .../abandon");
  const std::string id = t->payment_request_id;
  if (!act_for_payer(id, *action, "checkout"))
    return html_response(409, checkout_result_page(*t, "This payment can no longer be changed: " +
                                                           std::string(to_string(t->status)) +
                                                           (t->abandoned ? " (abandoned)" : "") + "."));
  const bool send_back = !books.scenario_for(id).redirect_lost;
  return html_response(200, checkout_result_page(*books.find(id), "Done: " + std::string(rest.substr(slash + 1)) + ".", send_back));
}

net::response sim_core::on_control(const net::request& req, std::string_view path) {
  constexpr std::string_view payments = "/sim/payments/";
  if (starts_with(path, payments) && req.method == "GET") {
    auto found = books.describe(decoded_segment(path.substr(payments.size())));
    if (!found) return error_response(404, "ORDER_NOT_EXIST", "no pay has been received for this paymentRequestId");
    return json_response(200, *found);
  }
  if (path == "/sim/consult" && req.method == "POST") return on_consult_control(req);
  if (path != "/sim/scenario" || req.method != "POST")
    return error_response(404, "NOT_FOUND", "GET /sim/payments/<id>, POST /sim/scenario, /sim/consult or /sim/notify");
  auto parsed = aplus::parse_untrusted(req.body);
  const json::object* body = parsed ? parsed->if_object() : nullptr;
  const json::value* id = body ? body->if_contains("paymentRequestId") : nullptr;
  const json::value* faults = body ? body->if_contains("faults") : nullptr;
  if (!id || !id->is_string() || id->get_string().empty() || !faults || !faults->is_array())
    return error_response(400, "BAD_REQUEST", R"(expected {"paymentRequestId": "...", "faults": ["...", ...]})");
  std::vector<std::string> specs;
  for (const auto& f : faults->get_array()) {
    if (!f.is_string()) return error_response(400, "BAD_REQUEST", "every fault must be a string");
    specs.emplace_back(f.get_string());
  }
  auto chosen = parse_faults(specs);
  if (!chosen) return error_response(400, "UNKNOWN_FAULT", chosen.error().message);
  const std::string key(id->get_string());
  merge(books.scenario_for(key), *chosen);
  log_event("scenario", {{"paymentRequestId", key}, {"faults", json::value_from(specs)}});
  return json_response(200, json::object{{"paymentRequestId", key}, {"scenario", to_json(books.scenario_for(key))}});
}

net::response sim_core::on_consult_control(const net::request& req) {
  auto parsed = aplus::parse_untrusted(req.body);
  const json::object* body = parsed ? parsed->if_object() : nullptr;
  const json::value* enabled = body ? body->if_contains("enabled") : nullptr;
  if (!enabled || !enabled->is_bool()) return error_response(400, "BAD_REQUEST", R"(expected {"enabled": true|false})");
  books.consult_enabled = enabled->get_bool();
  log_event("consult", {{"enabled", books.consult_enabled}});
  return json_response(200, json::object{{"enabled", books.consult_enabled}});
}

bool sim_core::act_for_payer(const std::string& payment_request_id, payer_action action, std::string_view by) {
  constexpr std::array<std::string_view, 3> names{"pay", "fail", "abandon"};
  const bool done = books.payer_acts(payment_request_id, action, now());
  log_event("payer", {{"paymentRequestId", payment_request_id},
                      {"action", names[static_cast<std::size_t>(action)]},
                      {"by", by},
                      {"applied", done}});
  if (done && action != payer_action::abandon) start_notify(payment_request_id);
  return done;
}

simulator::simulator(std::shared_ptr<sim_core> core) : core_(std::move(core)) {}
simulator::simulator(simulator&&) noexcept = default;
simulator& simulator::operator=(simulator&& other) noexcept {
  if (core_ && core_ != other.core_) core_->abort();
  core_ = std::move(other.core_);
  return *this;
}
simulator::~simulator() {
  if (core_) core_->abort();
}

boost::system::result<simulator, net::setup_error> simulator::start(asio::any_io_executor executor,
                                                                     sim_options options, signing_setup keys) {
  if (!(options.time_scale >= 1.0)) return net::setup_error{"--time-scale must be at least 1"};
  auto core = std::make_shared<sim_core>(executor, std::move(options), std::move(keys));
  net::server_options server_options;
  server_options.tls = core->options.tls;
  server_options.log = [](std::string_view line) { log_event("server", {{"message", line}}); };
  std::weak_ptr<sim_core> weak = core;
  auto handler = [weak](net::request req, const net::peer_info& peer) -> asio::awaitable<net::response> {
    auto self = weak.lock();
    if (!self) co_return error_response(503, "STOPPING", "the simulator is stopping");
    co_return co_await self->handle(std::move(req), peer);
  };
  auto server = net::http_server::listen(executor, core->options.listen, std::move(handler), std::move(server_options));
  if (!server) return server.error();
  core->server.emplace(std::move(*server));
  core->base_url = core->options.public_url.empty() ? derive_base_url(core->options, core->server->port())
                                                    : core->options.public_url;
  core->books.set_checkout_base(core->base_url);
  return simulator{std::move(core)};
}

std::uint16_t simulator::port() const { return core_->server->port(); }

const std::string& simulator::base_url() const { return core_->base_url; }

asio::awaitable<void> simulator::stop() {
  auto core = core_;
  core->stopping = true;
  for (auto* timer : core->timers) timer->cancel();
  if (core->server) co_await core->server->stop(std::chrono::seconds(2));
}

}  // namespace cashier::sim
