// The simulator's timed behaviour: the scripted payer (auto-pay, payer-fail, payer-abandon) and
// notifyPayment delivery on Alipay+'s retry schedule (payment clock), with the notify faults
// (duplicate, late, after, none, badly signed). Each is one coroutine per payment that re-reads
// the truth after every wait, so a cancel or an ack in between is always seen. Also the crafted
// notifies of POST /sim/notify, sent at once with the deviations the caller asks for.
#include <boost/asio/co_spawn.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/net/http_client.hpp"
#include "tools/aplus-sim/sim_core.hpp"

namespace cashier::sim {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

// Where a notify goes: the origin for the client and the target that is signed.
struct notify_address {
  std::string origin;  // scheme://host[:port]
  std::string target;  // path[?query], "/" at least
};

std::optional<notify_address> address_of(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed || !parsed->has_authority()) return std::nullopt;
  notify_address a;
  a.origin = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_host_and_port());
  a.target = parsed->encoded_path().empty() ? "/" : std::string(parsed->encoded_path());
  if (parsed->has_query()) a.target += "?" + std::string(parsed->encoded_query());
  return a;
}

void log_failure(const std::exception_ptr& e, std::string_view what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    log_event("error", {{"in", what}, {"message", x.what()}});
  }
}

// One notify request sent and judged: the answer's status and body, and whether it is an ack.
struct notify_exchange {
  std::int32_t http_status = 0;  // 0 when no answer came
  bool acked = false;
  std::string detail;            // why it is no ack, or "acked"
  std::string answer_body;
};

asio::awaitable<notify_exchange> exchange(std::shared_ptr<sim_core> self, const notify_address& where,
                                          net::request req) {
  notify_exchange x;
  auto client = self->notify_client(where.origin);
  if (!client) {
    x.detail = client.error().message;
    co_return x;
  }
  auto res = co_await client->send(std::move(req));
  if (!res) {
    x.detail = "no answer: " + std::string(net::to_string(res.error().kind)) + ": " + res.error().message;
    co_return x;
  }
  x.http_status = res->status;
  const auto problem = ack_problem(self->keys, where.target, *res);
  x.acked = !problem;
  x.detail = problem ? *problem : "acked";
  x.answer_body = std::move(res->body);
  co_return x;
}

// Sends one copy of a notify and says whether it was acked.
asio::awaitable<notify_delivery> send_copy(std::shared_ptr<sim_core> self, const notify_address& where,
                                           const std::string& body, std::int32_t attempt, bool bad) {
  notify_delivery d{attempt, self->now(), 0, false, bad, ""};
  notify_signing how;
  how.bad_signature = bad;
  const auto request = signed_notify(self->keys, where.target, body, how, wall_now());
  const auto x = co_await exchange(self, where, request);
  d.http_status = x.http_status;
  d.acked = x.acked;
  d.detail = x.detail;
  co_return d;
}

// Sends attempt number `attempt` (three copies with notify-duplicate); true when one was acked.
asio::awaitable<bool> deliver(std::shared_ptr<sim_core> self, std::string id, std::int32_t attempt) {
  truth* t = self->books.find(id);
  const scenario& s = self->books.scenario_for(id);
  const int copies = s.notify_copies;
  const bool bad = notify_badly_signed(s, attempt);
  const std::string body = aplus::encode(self->books.notify_request(*t));
  const auto where = address_of(t->request.payment_notify_url.value_or(""));
  bool acked = false;
  for (int copy = 0; copy < copies; ++copy) {
    notify_delivery d{attempt, self->now(), 0, false, bad, "invalid paymentNotifyUrl"};
    if (where) d = co_await send_copy(self, *where, body, attempt, bad);
    acked = acked || d.acked;
    log_event("notify", {{"paymentRequestId", id},      {"attempt", attempt},   {"copy", copy},
                         {"httpStatus", d.http_status}, {"acked", d.acked},     {"badlySigned", bad},
                         {"detail", d.detail}});
    if (truth* now = self->books.find(id)) now->deliveries.push_back(std::move(d));
  }
  co_return acked;
}

// True while `id` still wants notifies.
bool still_scheduled(sim_core& core, const std::string& id) {
  const truth* t = core.books.find(id);
  return t && t->notify == notify_state::scheduled;
}

asio::awaitable<void> notify_loop(std::shared_ptr<sim_core> self, std::string id) {
  if (!still_scheduled(*self, id)) co_return;
  const auto plan = notify_plan(self->books.scenario_for(id));
  const time_point base = *self->books.find(id)->finished_at;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    if (!still_scheduled(*self, id)) co_return;
    self->books.find(id)->next_notify_at = base + plan[i];
    // Not `if (co_await ...)`: GCC 12 miscompiles a co_await inside an if condition here.
    const bool woke = co_await self->sleep_until(base + plan[i]);
    if (!woke || !still_scheduled(*self, id)) co_return;
    self->books.find(id)->next_notify_at.reset();
    const bool acked = co_await deliver(self, id, static_cast<std::int32_t>(i));
    if (acked && still_scheduled(*self, id)) {
      self->books.find(id)->notify = notify_state::acked;
      co_return;
    }
  }
  if (still_scheduled(*self, id)) self->books.find(id)->notify = notify_state::exhausted;
}

asio::awaitable<void> payer_loop(std::shared_ptr<sim_core> self, std::string id, payer_action action, time_point at) {
  const bool woke = co_await self->sleep_until(at);  // see notify_loop on `if (co_await ...)`
  if (woke) self->act_for_payer(id, action, "script");
}

// What POST /sim/notify asks for besides the payment: fields to replace, signing deviations and
// how often the same signed bytes are sent.
struct crafted_request {
  json::object set;
  notify_signing how;
  int copies = 1;
};

constexpr int max_crafted_copies = 10;

sim_result<crafted_request> parse_crafted(const json::object& o) {
  crafted_request c;
  const auto text = [&](std::string_view key, std::string& out) {
    const json::value* v = o.if_contains(key);
    if (v && v->is_string()) out = std::string(v->get_string());
    return !v || v->is_string();
  };
  if (!text("clientId", c.how.client_id) || !text("requestTime", c.how.request_time))
    return sim_error{"clientId and requestTime must be strings"};
  if (const json::value* v = o.if_contains("set")) {
    if (!v->is_object()) return sim_error{"set must be an object of notify fields"};
    c.set = v->get_object();
  }
  if (const json::value* v = o.if_contains("badSignature")) {
    if (!v->is_bool()) return sim_error{"badSignature must be true or false"};
    c.how.bad_signature = v->get_bool();
  }
  if (const json::value* v = o.if_contains("copies")) {
    if (!v->is_int64() || v->get_int64() < 1 || v->get_int64() > max_crafted_copies)
      return sim_error{"copies must be an integer from 1 to " + std::to_string(max_crafted_copies)};
    c.copies = static_cast<int>(v->get_int64());
  }
  return c;
}

}  // namespace

asio::awaitable<net::response> sim_core::on_crafted_notify(const net::request& req) {
  auto parsed = aplus::parse_untrusted(req.body);
  const json::object* o = parsed ? parsed->if_object() : nullptr;
  const json::value* id = o ? o->if_contains("paymentRequestId") : nullptr;
  if (!id || !id->is_string())
    co_return error_response(400, "BAD_REQUEST", R"(expected {"paymentRequestId": "...", "set": {...}, ...})");
  auto crafted = parse_crafted(*o);
  if (!crafted) co_return error_response(400, "BAD_REQUEST", crafted.error().message);
  const std::string key(id->get_string());
  const truth* t = books.find(key);
  if (!t) co_return error_response(404, "ORDER_NOT_EXIST", "no pay has been received for this paymentRequestId");
  const auto where = address_of(t->request.payment_notify_url.value_or(""));
  if (!where) co_return error_response(409, "NO_NOTIFY_URL", "the payment has no usable paymentNotifyUrl");
  json::object body = json::parse(aplus::encode(books.notify_request(*t))).as_object();
  for (const auto& kv : crafted->set) body[kv.key()] = kv.value();
  const std::string text = json::serialize(body);
  const auto request = signed_notify(keys, where->target, text, crafted->how, wall_now());
  json::array deliveries;
  for (int copy = 0; copy < crafted->copies; ++copy) {
    const auto x = co_await exchange(shared_from_this(), *where, request);
    log_event("notify", {{"paymentRequestId", key}, {"crafted", true}, {"copy", copy},
                         {"httpStatus", x.http_status}, {"acked", x.acked}, {"detail", x.detail}});
    deliveries.push_back(json::object{{"httpStatus", x.http_status}, {"acked", x.acked},
                                      {"detail", x.detail}, {"answer", x.answer_body}});
  }
  co_return json_response(200, json::object{{"body", text}, {"deliveries", std::move(deliveries)}});
}

void sim_core::start_payer(const std::string& payment_request_id) {
  const truth* t = books.find(payment_request_id);
  if (!t) return;
  payer_action action = payer_action::pay;
  switch (books.scenario_for(payment_request_id).payer) {
    case payer_script::automatic:
      if (!options.auto_pay_after) return;
      break;
    case payer_script::fail: action = payer_action::fail; break;
    case payer_script::abandon: action = payer_action::abandon; break;
  }
  const time_point at = t->created_at + options.auto_pay_after.value_or(default_payer_delay);
  asio::co_spawn(executor, payer_loop(shared_from_this(), payment_request_id, action, at),
                 [](std::exception_ptr e) { log_failure(e, "payer"); });
}

boost::system::result<net::http_client, net::setup_error> sim_core::notify_client(const std::string& origin) {
  if (const auto it = notify_clients.find(origin); it != notify_clients.end()) return it->second;
  net::client_options options;
  options.timeout = this->options.notify_timeout;
  options.tls = this->options.notify_tls;
  options.max_connections = 64;  // notifies of many payments go out at once under load
  auto client = net::http_client::create(executor, origin, options);
  if (client) notify_clients.emplace(origin, *client);
  return client;
}

void sim_core::start_notify(const std::string& payment_request_id) {
  asio::co_spawn(executor, notify_loop(shared_from_this(), payment_request_id),
                 [](std::exception_ptr e) { log_failure(e, "notify"); });
}

}  // namespace cashier::sim
