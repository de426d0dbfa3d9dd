// The webhook sender (see webhook_sender.hpp): the executor of engine::webhook_policy. Everything
// here runs on the reactor thread; no delivery rule lives here.
#include "orchestrator/daemon/webhook_sender.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <unordered_map>
#include <utility>
#include <variant>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>

#include "orchestrator/daemon/crash_point.hpp"
#include "orchestrator/daemon/log.hpp"
#include "orchestrator/daemon/webhook_signing.hpp"
#include "orchestrator/net/address_class.hpp"
#include "orchestrator/net/http_client.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;
using engine::attempt_outcome;

namespace {

/// Clients cached at most; beyond, the cache starts afresh (requests under way keep theirs).
constexpr std::size_t max_cached_clients = 1024;

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

/// Where a webhook URL points: the client's origin and the request target.
struct url_parts {
  std::string origin;  // scheme://host[:port]
  std::string target;  // path and query
  bool tls = false;
};

std::optional<url_parts> split_url(std::string_view text) {
  auto url = boost::urls::parse_uri(text);
  if (!url || url->encoded_host().empty()) return std::nullopt;
  // A path after a host starts with '/' (Boost.URL 1.81 reads "https://127.0.0.1.x/" as host
  // 127.0.0.1 and path ".x/").
  if (!url->encoded_path().empty() && !url->encoded_path().starts_with('/')) return std::nullopt;
  const auto scheme = url->scheme_id();
  if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https) return std::nullopt;
  url_parts p;
  p.tls = scheme == boost::urls::scheme::https;
  p.origin = std::string(url->scheme()) + "://" + std::string(url->encoded_host_and_port());
  p.target = url->encoded_path().empty() ? "/" : std::string(url->encoded_path());
  if (url->has_query()) p.target += "?" + std::string(url->encoded_query());
  return p;
}

/// Sends one prepared request and classifies the answer.
asio::awaitable<attempt_outcome> send(net::http_client client, net::request req) {
  const auto started = std::chrono::steady_clock::now();
  auto res = co_await client.send(std::move(req));
  attempt_outcome out;
  out.latency = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
  if (!res) {
    out.error = std::string(net::to_string(res.error().kind)) + ": " + res.error().message;
  } else {
    out.http_status = res->status;
    if (!out.ok()) out.error = "HTTP " + std::to_string(res->status);
  }
  co_return out;
}

/// A request ready to go, with the client of its origin.
struct prepared_request {
  net::http_client client;
  net::request req;
};

/// Refuses every address but ordinary global unicast (the SSRF guard, see webhook_sender.hpp).
std::optional<std::string> public_addresses_only(const asio::ip::address& a) {
  const auto c = net::classify(a);
  if (c == net::address_class::global) return std::nullopt;
  return std::string(net::to_string(c));
}

}  // namespace

struct webhook_sender_core : std::enable_shared_from_this<webhook_sender_core> {
  webhook_sender_core(asio::any_io_executor ex, store::payment_store& s, const payment_clock& c,
                      std::vector<merchant_config> ms, webhook_options o)
      : executor(ex), store(s), clock(c), options(o),
        policy(engine::webhook_limits{o.max_in_flight, o.max_in_flight_per_merchant,
                                      std::chrono::duration_cast<duration>(o.timeout)}),
        timer(ex), idle(ex) {
    for (auto& m : ms) merchants.emplace(m.id, std::move(m));
  }

  asio::any_io_executor executor;
  store::payment_store& store;
  const payment_clock& clock;
  webhook_options options;
  engine::webhook_policy policy;  // every delivery decision
  std::unordered_map<std::string, merchant_config> merchants;  // by id
  std::unordered_map<std::string, net::http_client> clients;   // by origin and CA file
  std::unordered_map<std::string, net::tls_context> tls_by_ca;  // by CA file ("" = system)
  std::vector<delivery_observer> observers;
  asio::steady_timer timer;
  asio::steady_timer idle;  // drain() waits on it; cancelled when nothing is under way
  bool started = false;
  bool closed = false;  // the sender object is gone: never touch the store again
  bool pump_posted = false;
  bool settle_posted = false;

  void post_pump() {
    if (pump_posted || !started || policy.draining() || closed) return;
    pump_posted = true;
    asio::post(executor, [self = shared_from_this()] { self->pump(); });
  }

  void pump() {
    pump_posted = false;
    if (policy.draining() || closed) return;
    try {
      poll(clock.now());
    } catch (const store::store_error& e) {
      log_line(log_level::error, "webhook poll failed", {{"error", e.what()}});
    }
    arm_timer();
  }

  void arm_timer() {
    std::chrono::steady_clock::duration wait = options.recheck;
    if (const auto at = policy.next_wake()) wait = std::min(wait, clock.wall_wait_until(*at));
    timer.expires_after(wait);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;  // re-armed or cancelled
      self->policy.timer_ticked();
      self->post_pump();
    });
  }

  /// Reads the due rows and what the policy needs about each, and carries out its admissions.
  void poll(time_point now) {
    if (!policy.begin_poll(now)) return;
    std::vector<store::transition> deferrals;
    for (auto& row : store.due_outbox(now, options.batch)) {
      if (!policy.has_room()) break;
      if (!policy.worth_reading(row)) continue;
      if (options.delivers_for && !options.delivers_for(row.payment_id)) continue;  // its shard's owner sends it
      engine::webhook_candidate c{std::move(row), std::nullopt, {}};
      c.merchant = merchant_id_of(c.row);
      if (engine::webhook_policy::needs_siblings(c.row)) c.siblings = store.outbox_of(c.row.payment_id);
      auto decided = policy.admit(std::move(c), now);
      std::visit(overloaded{[&](engine::start_delivery& d) { start_attempt(std::move(d.row)); },
                            [&](engine::defer_delivery& d) { deferrals.push_back(std::move(d.t)); },
                            [](engine::leave_delivery&) {}},
                 decided);
    }
    if (!deferrals.empty()) store.commit(deferrals);
  }

  /// The merchant of `row`'s payment, or nothing when the payment is gone.
  std::optional<std::string> merchant_id_of(const store::outbox_record& row) {
    auto p = store.load(row.payment_id);
    if (!p) return std::nullopt;
    return std::move(p->merchant_id);
  }

  void start_attempt(store::outbox_record row) {
    auto prepared = prepare(row);
    if (!prepared) {
      ended(row.event_id, {0, prepared.error(), {}});
      return;
    }
    auto self = shared_from_this();
    auto id = row.event_id;
    asio::co_spawn(executor, attempt(self, id, std::move(*prepared)), [self, id](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log_line(log_level::error, "webhook attempt failed", {{"eventId", id}, {"error", ex.what()}});
      }
      self->policy.attempt_lost(id);
      self->check_idle();
    });
  }

  static asio::awaitable<void> attempt(std::shared_ptr<webhook_sender_core> self, std::string event_id,
                                       prepared_request p) {
    auto outcome = co_await send(std::move(p.client), std::move(p.req));
    reach(crash_point::webhook_answered);
    self->ended(event_id, std::move(outcome));
  }

  /// The signed POST of `row` and the client to send it with, or why it cannot be sent.
  boost::system::result<prepared_request, std::string> prepare(const store::outbox_record& row) {
    auto url = split_url(row.target_url);
    if (!url) return "webhook URL is not http(s)://host/...: '" + row.target_url + "'";
    auto merchant = merchant_of(row);
    if (!merchant) return merchant.error();
    auto client = client_for(*url, **merchant);
    if (!client) return client.error();
    // webhook-timestamp is transport time: the wall clock, even when timeScale speeds up payments.
    const std::int64_t ts = to_epoch_ms(wall_now()) / 1000;
    auto signature = sign_webhook((*merchant)->notify_secrets, row.event_id, ts, row.payload);
    if (!signature) return "merchant '" + (*merchant)->id + "': " + signature.error().message;
    net::request req;
    req.method = "POST";
    req.target = url->target;
    req.headers = {{"Content-Type", "application/json"}, {"User-Agent", "cashierd"},
                   {"webhook-id", row.event_id}, {"webhook-timestamp", std::to_string(ts)},
                   {"webhook-signature", std::move(*signature)}};
    req.body = row.payload;
    return prepared_request{std::move(*client), std::move(req)};
  }

  boost::system::result<const merchant_config*, std::string> merchant_of(const store::outbox_record& row) {
    auto p = store.load(row.payment_id);
    if (!p) return "payment " + std::to_string(row.payment_id) + " not found";
    const auto it = merchants.find(p->merchant_id);
    if (it == merchants.end()) return "merchant '" + p->merchant_id + "' is not configured";
    return &it->second;
  }

  boost::system::result<net::http_client, std::string> client_for(const url_parts& url, const merchant_config& m) {
    const auto& ca_file = m.ca_file;
    const bool guarded = !m.allow_private_notify_addresses;
    const auto key = url.origin + '\n' + (url.tls ? ca_file : std::string()) + (guarded ? "\n1" : "\n0");
    if (const auto it = clients.find(key); it != clients.end()) return it->second;
    net::client_options o;
    o.timeout = options.timeout;
    if (guarded) o.allow_address = public_addresses_only;
    if (url.tls) {
      auto tls = tls_for(ca_file);
      if (!tls) return tls.error();
      o.tls = *tls;
    }
    auto c = net::http_client::create(executor, url.origin, std::move(o));
    if (!c) return c.error().message;
    if (clients.size() >= max_cached_clients) clients.clear();
    return clients.emplace(key, std::move(*c)).first->second;
  }

  boost::system::result<net::tls_context, std::string> tls_for(const std::string& ca_file) {
    if (const auto it = tls_by_ca.find(ca_file); it != tls_by_ca.end()) return it->second;
    auto ctx = net::make_client_context(ca_file.empty() ? std::nullopt : std::optional<std::string>(ca_file));
    if (!ctx) return ctx.error().message;
    return tls_by_ca.emplace(ca_file, *ctx).first->second;
  }

  /// An attempt ended: the policy keeps it until the settle posted for this reactor turn.
  void ended(const std::string& event_id, attempt_outcome outcome) {
    if (closed) return;
    if (!policy.attempt_ended(event_id, std::move(outcome)) || settle_posted) return;
    settle_posted = true;
    asio::post(executor, [self = shared_from_this()] { self->settle(); });
  }

  /// Commits the attempts that ended (one transaction for all), then tells the observers.
  void settle() {
    settle_posted = false;
    if (closed) return;
    const auto s = policy.settle(clock.now());
    std::vector<store::commit_outcome> outcomes;
    try {
      if (!s.transitions.empty()) outcomes = store.commit(s.transitions);
    } catch (const store::store_error& e) {
      // Nothing was written: the rows stay due and are tried again after the next timer tick.
      log_line(log_level::error, "webhook commit failed", {{"error", e.what()}, {"attempts", s.reports.size()}});
      policy.settle_failed(s);
      check_idle();
      return;
    }
    for (std::size_t i = 0; i < outcomes.size(); ++i)
      if (outcomes[i].status != store::commit_status::committed)
        log_line(log_level::error, "webhook attempt not recorded",
                 {{"eventId", s.reports[i].event_id}, {"detail", outcomes[i].detail}});
    for (const auto& r : policy.settled(s, outcomes)) {
      if (r.result != delivery_result::delivered)
        log_line(r.result == delivery_result::dead ? log_level::warn : log_level::info,
                 r.result == delivery_result::dead ? "webhook dead" : "webhook attempt failed",
                 {{"eventId", r.event_id}, {"attempts", r.attempts}, {"error", r.error}});
      for (const auto& observer : observers) observer(r);
    }
    check_idle();
    post_pump();
  }

  void check_idle() {
    if (policy.draining() && policy.idle()) idle.cancel();
  }
};

webhook_sender::webhook_sender(asio::any_io_executor executor, store::payment_store& store,
                               const payment_clock& clock, std::vector<merchant_config> merchants,
                               webhook_options options)
    : core_(std::make_shared<webhook_sender_core>(executor, store, clock, std::move(merchants), options)) {}

webhook_sender::~webhook_sender() {
  core_->closed = true;
  core_->timer.cancel();
  core_->idle.cancel();
}

void webhook_sender::start() {
  core_->started = true;
  core_->post_pump();
}

void webhook_sender::poke() { core_->post_pump(); }

redeliver_result webhook_sender::redeliver(std::string_view event_id) {
  auto& c = *core_;
  const auto row = c.store.outbox_by_event_id(event_id);
  if (!row) return redeliver_result::not_found;
  if (c.store.commit_one(engine::webhook_policy::redeliver(*row, c.clock.now())).status !=
      store::commit_status::committed)
    return redeliver_result::not_found;
  c.policy.redelivered(row->event_id);
  log_line(log_level::info, "webhook redeliver", {{"eventId", row->event_id}});
  c.post_pump();
  return redeliver_result::queued;
}

void webhook_sender::observe(delivery_observer observer) { core_->observers.push_back(std::move(observer)); }

asio::awaitable<void> webhook_sender::drain(std::chrono::milliseconds timeout) {
  const auto core = core_;
  core->policy.drain();
  core->timer.cancel();
  if (core->policy.idle()) co_return;
  core->idle.expires_after(timeout);
  boost::system::error_code ec;
  co_await core->idle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

std::size_t webhook_sender::in_flight() const { return core_->policy.in_flight(); }

}  // namespace cashier::daemon
