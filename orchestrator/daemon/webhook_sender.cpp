// The webhook sender (see webhook_sender.hpp). Everything here runs on the reactor thread.
#include "orchestrator/daemon/webhook_sender.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <queue>
#include <unordered_map>
#include <unordered_set>
#include <utility>

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
#include "state/machine/schedule.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;

std::string_view to_string(delivery_result r) {
  switch (r) {
    case delivery_result::delivered: return "delivered";
    case delivery_result::retry: return "retry";
    case delivery_result::dead: return "dead";
  }
  return "retry";
}

namespace {

/// Clients cached at most; beyond, the cache starts afresh (requests under way keep theirs).
constexpr std::size_t max_cached_clients = 1024;

/// The answer to one attempt.
struct attempt_outcome {
  std::int32_t http_status = 0;         // 0 = no HTTP answer
  std::string error;                    // empty on a 2xx
  std::chrono::microseconds latency{0};  // wall time
  bool ok() const { return http_status >= 200 && http_status < 300; }
};

/// An attempt that ended and waits for the group commit.
struct finished_attempt {
  store::outbox_record row;  // as read when the attempt started
  time_point started_at;     // payment clock
  attempt_outcome outcome;
};

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
      : executor(ex), store(s), clock(c), options(o), timer(ex), idle(ex) {
    for (auto& m : ms) merchants.emplace(m.id, std::move(m));
  }

  asio::any_io_executor executor;
  store::payment_store& store;
  const payment_clock& clock;
  webhook_options options;
  std::unordered_map<std::string, merchant_config> merchants;  // by id
  std::unordered_map<std::string, net::http_client> clients;   // by origin and CA file
  std::unordered_map<std::string, net::tls_context> tls_by_ca;  // by CA file ("" = system)
  std::unordered_map<std::string, bool> in_flight;  // event id -> redelivered while under way
  std::unordered_map<std::string, std::string> merchant_of_event;  // in flight: event id -> merchant id
  std::unordered_map<std::string, std::size_t> busy;  // merchant id -> attempts under way
  std::unordered_set<std::string> stalled;  // commit failed: skipped until the next timer tick
  // Future next_attempt_at values this process wrote: the timer wakes at the earliest.
  std::priority_queue<time_point, std::vector<time_point>, std::greater<>> known;
  std::vector<finished_attempt> finished;
  std::vector<delivery_observer> observers;
  asio::steady_timer timer;
  asio::steady_timer idle;  // drain() waits on it; cancelled when nothing is under way
  bool started = false;
  bool draining = false;
  bool closed = false;  // the sender object is gone: never touch the store again
  bool pump_posted = false;
  bool flush_posted = false;

  void post_pump() {
    if (pump_posted || !started || draining || closed) return;
    pump_posted = true;
    asio::post(executor, [self = shared_from_this()] { self->pump(); });
  }

  void pump() {
    pump_posted = false;
    if (draining || closed) return;
    try {
      poll(clock.now());
    } catch (const store::store_error& e) {
      log_line(log_level::error, "webhook poll failed", {{"error", e.what()}});
    }
    arm_timer();
  }

  void arm_timer() {
    std::chrono::steady_clock::duration wait = options.recheck;
    if (!known.empty()) wait = std::min(wait, clock.wall_wait_until(known.top()));
    timer.expires_after(wait);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;  // re-armed or cancelled
      self->stalled.clear();
      self->post_pump();
    });
  }

  void poll(time_point now) {
    while (!known.empty() && known.top() <= now) known.pop();
    if (in_flight.size() >= options.max_in_flight) return;
    std::vector<store::transition> deferrals;
    for (auto& row : store.due_outbox(now, options.batch)) {
      if (in_flight.size() >= options.max_in_flight) break;
      if (in_flight.contains(row.event_id) || stalled.contains(row.event_id)) continue;
      const auto merchant = merchant_id_of(row);
      const auto share = merchant ? busy.find(*merchant) : busy.end();
      if (share != busy.end() && share->second >= options.max_in_flight_per_merchant) {
        // Its share is taken: look again after an attempt's timeout, and meanwhile let the due
        // query return other merchants' rows.
        deferrals.push_back(deferral(row, now + options.timeout));
        continue;
      }
      const auto blocker = blocker_of(row);
      if (!blocker) start_attempt(std::move(row), now, merchant.value_or(""));
      else if (!in_flight.contains(blocker->event_id) && blocker->next_attempt_at > now)
        deferrals.push_back(deferral(row, blocker->next_attempt_at));
      // Otherwise the blocker is under way or due now: look again after its attempt.
    }
    if (!deferrals.empty()) store.commit(deferrals);
  }

  /// The lowest-sequence pending event of the same payment before `row`, if any.
  std::optional<store::outbox_record> blocker_of(const store::outbox_record& row) {
    if (row.seq <= 1) return std::nullopt;  // sequences start at 1
    for (auto& r : store.outbox_of(row.payment_id))
      if (r.seq < row.seq && r.state == store::outbox_state::pending) return std::move(r);
    return std::nullopt;
  }

  /// Moves a held row's next attempt to its blocker's, so it is not due before then.
  store::transition deferral(const store::outbox_record& row, time_point until) {
    known.push(until);
    store::transition t;
    t.deliveries.push_back({row.event_id, row.attempts, until, store::outbox_state::pending,
                            row.last_status, row.last_error});
    return t;
  }

  /// The merchant of `row`'s payment, or nothing when the payment is gone.
  std::optional<std::string> merchant_id_of(const store::outbox_record& row) {
    auto p = store.load(row.payment_id);
    if (!p) return std::nullopt;
    return std::move(p->merchant_id);
  }

  void start_attempt(store::outbox_record row, time_point now, const std::string& merchant) {
    auto prepared = prepare(row);
    in_flight.emplace(row.event_id, false);
    merchant_of_event.emplace(row.event_id, merchant);
    ++busy[merchant];
    if (!prepared) {
      record(std::move(row), now, {0, prepared.error(), {}});
      return;
    }
    auto self = shared_from_this();
    auto id = row.event_id;
    asio::co_spawn(executor, attempt(self, std::move(row), now, std::move(*prepared)),
                   [self, id](std::exception_ptr e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       log_line(log_level::error, "webhook attempt failed", {{"eventId", id}, {"error", ex.what()}});
                     }
                     self->release(id);
                     self->stalled.insert(id);
                     self->check_idle();
                   });
  }

  static asio::awaitable<void> attempt(std::shared_ptr<webhook_sender_core> self, store::outbox_record row,
                                       time_point started_at, prepared_request p) {
    auto outcome = co_await send(std::move(p.client), std::move(p.req));
    reach(crash_point::webhook_answered);
    self->record(std::move(row), started_at, std::move(outcome));
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

  void record(store::outbox_record row, time_point started_at, attempt_outcome outcome) {
    finished.push_back({std::move(row), started_at, std::move(outcome)});
    if (flush_posted) return;
    flush_posted = true;
    asio::post(executor, [self = shared_from_this()] { self->flush(); });
  }

  /// The outbox change and attempt log of a finished attempt, and its report.
  std::pair<store::transition, delivery_report> settle(const finished_attempt& f, time_point now) {
    const bool redelivered = in_flight[f.row.event_id];
    const auto& o = f.outcome;
    store::outbox_progress p{f.row.event_id, (redelivered ? 0 : f.row.attempts) + 1, f.row.next_attempt_at,
                             store::outbox_state::delivered, o.http_status, o.error};
    delivery_report r{f.row.event_id, delivery_result::delivered, o.http_status, o.error, o.latency};
    if (!o.ok()) {
      const auto delay = redelivered ? std::optional<duration>(duration{0}) : webhook_delay(p.attempts);
      // An operator redelivered it while this attempt was under way: keep the fresh schedule.
      if (redelivered) p.attempts = 0;
      p.state = delay ? store::outbox_state::pending : store::outbox_state::dead;
      if (delay) p.next_attempt_at = now + *delay;
      r.result = delay ? delivery_result::retry : delivery_result::dead;
    }
    store::transition t;
    t.deliveries.push_back(std::move(p));
    t.webhook_attempts.push_back({0, f.row.event_id, f.started_at, o.http_status, o.error, o.latency.count()});
    return {std::move(t), std::move(r)};
  }

  void flush() {
    flush_posted = false;
    if (closed) return;
    auto batch = std::exchange(finished, {});
    const auto now = clock.now();
    std::vector<store::transition> transitions;
    std::vector<delivery_report> reports;
    for (const auto& f : batch) {
      auto [t, r] = settle(f, now);
      transitions.push_back(std::move(t));
      reports.push_back(std::move(r));
    }
    std::vector<store::commit_outcome> outcomes;
    try {
      outcomes = store.commit(transitions);
    } catch (const store::store_error& e) {
      // Nothing was written: the rows stay due and are tried again after the next timer tick.
      log_line(log_level::error, "webhook commit failed", {{"error", e.what()}, {"attempts", batch.size()}});
      for (const auto& f : batch) {
        release(f.row.event_id);
        stalled.insert(f.row.event_id);
      }
      check_idle();
      return;
    }
    for (std::size_t i = 0; i < batch.size(); ++i) committed(transitions[i], outcomes[i], reports[i]);
    check_idle();
    post_pump();
  }

  /// Forgets an attempt that is no longer under way.
  void release(const std::string& event_id) {
    in_flight.erase(event_id);
    const auto it = merchant_of_event.find(event_id);
    if (it == merchant_of_event.end()) return;
    if (auto b = busy.find(it->second); b != busy.end() && --b->second == 0) busy.erase(b);
    merchant_of_event.erase(it);
  }

  void committed(const store::transition& t, const store::commit_outcome& o, const delivery_report& r) {
    release(r.event_id);
    if (o.status != store::commit_status::committed) {
      log_line(log_level::error, "webhook attempt not recorded", {{"eventId", r.event_id}, {"detail", o.detail}});
      return;
    }
    const auto& p = t.deliveries.front();
    if (p.state == store::outbox_state::pending) known.push(p.next_attempt_at);
    if (r.result != delivery_result::delivered) {
      log_line(r.result == delivery_result::dead ? log_level::warn : log_level::info,
               r.result == delivery_result::dead ? "webhook dead" : "webhook attempt failed",
               {{"eventId", r.event_id}, {"attempts", p.attempts}, {"error", r.error}});
    }
    for (const auto& observer : observers) observer(r);
  }

  void check_idle() {
    if (draining && in_flight.empty() && finished.empty()) idle.cancel();
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
  store::transition t;
  t.deliveries.push_back({row->event_id, 0, c.clock.now(), store::outbox_state::pending, row->last_status,
                          row->last_error});
  if (c.store.commit_one(t).status != store::commit_status::committed) return redeliver_result::not_found;
  if (const auto it = c.in_flight.find(row->event_id); it != c.in_flight.end()) it->second = true;
  log_line(log_level::info, "webhook redeliver", {{"eventId", row->event_id}});
  c.post_pump();
  return redeliver_result::queued;
}

void webhook_sender::observe(delivery_observer observer) { core_->observers.push_back(std::move(observer)); }

asio::awaitable<void> webhook_sender::drain(std::chrono::milliseconds timeout) {
  const auto core = core_;
  core->draining = true;
  core->timer.cancel();
  if (core->in_flight.empty() && core->finished.empty()) co_return;
  core->idle.expires_after(timeout);
  boost::system::error_code ec;
  co_await core->idle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

std::size_t webhook_sender::in_flight() const { return core_->in_flight.size(); }

}  // namespace cashier::daemon
