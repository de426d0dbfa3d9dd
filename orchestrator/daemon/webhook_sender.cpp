// The webhook sender (see webhook_sender.hpp): the executor of engine::webhook_policy. Everything
// here runs on the reactor thread but the jobs handed to the store thread (store_thread.hpp):
// the poll's read, the deferral and settlement commits and the redeliver, each capturing by
// value what it needs (the fence's epochs are taken on the reactor). No delivery rule lives here.
#include "orchestrator/daemon/webhook_sender.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <span>
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

/// A due row as a poll read it: what the policy needs, and in cluster mode its shard.
struct polled_row {
  engine::webhook_candidate c;
  std::optional<store::shard_id> shard;
};

struct webhook_sender_core : std::enable_shared_from_this<webhook_sender_core> {
  webhook_sender_core(asio::any_io_executor ex, store_thread& d, const payment_clock& c,
                      std::vector<merchant_config> ms, webhook_options o)
      : executor(ex), db(d), clock(c), options(o),
        policy(engine::webhook_limits{o.max_in_flight, o.max_in_flight_per_merchant,
                                      std::chrono::duration_cast<duration>(o.timeout)}),
        timer(ex), idle(ex) {
    for (auto& m : ms) merchants.emplace(m.id, std::move(m));
  }

  asio::any_io_executor executor;
  store_thread& db;  // every store call is a job there; the completions come back here
  store::cluster_store* cluster = nullptr;                  // fence_with(), or unfenced (used in jobs only)
  std::function<std::vector<store::shard_epoch>()> held;  // the shards (and epochs) to act for (reactor)
  // (shard, epoch) pairs held() still lists but the store's fence refused: not delivered until
  // held() drops or renews them (the lease manager learns of a loss only at its next renewal).
  std::set<std::pair<store::shard_id, std::int64_t>> refused;
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
  bool closed = false;  // the sender object is gone: hand the store no more jobs
  bool pump_posted = false;
  bool settle_posted = false;
  bool polling = false;      // a poll's read is out on the store thread
  bool poll_again = false;   // poked while polling: poll once more when it is back
  bool settling = false;     // a settlement's commit is out on the store thread
  bool settle_again = false; // attempts ended meanwhile: settle once it is back
  std::set<std::string> settling_ids;  // the event ids of that settlement (redeliver)

  void post_pump() {
    if (pump_posted || !started || policy.draining() || closed) return;
    pump_posted = true;
    asio::post(executor, [self = shared_from_this()] { self->pump(); });
  }

  void pump() {
    pump_posted = false;
    if (policy.draining() || closed) return;
    if (polling) {
      poll_again = true;
      return;
    }
    if (!poll(clock.now())) arm_timer();
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

  /// The shards whose rows this instance delivers, taken from the lease manager here on the
  /// reactor (a job never asks it); nothing when unfenced (every row).
  std::optional<std::vector<store::shard_id>> fenced_shards() {
    if (cluster == nullptr) return std::nullopt;
    const auto fence = held();
    std::erase_if(refused, [&](const auto& r) {
      return std::none_of(fence.begin(), fence.end(),
                          [&](const store::shard_epoch& h) { return h.shard == r.first && h.epoch == r.second; });
    });
    std::vector<store::shard_id> shards;
    for (const auto& h : fence)
      if (!refused.contains({h.shard, h.epoch})) shards.push_back(h.shard);
    return shards;
  }

  /// The epochs to commit with (cluster mode), taken on the reactor and captured by the job.
  std::optional<std::vector<store::shard_epoch>> fence() {
    if (cluster == nullptr) return std::nullopt;
    return held();
  }

  /// Commits `batch` on `s`, fenced when `fence` is given: a row of a shard no longer held is
  /// not_owner. Runs on the store thread.
  static std::vector<store::commit_outcome> commit(store::payment_store& s, store::cluster_store* cluster,
                                                   std::span<const store::transition> batch,
                                                   const std::optional<std::vector<store::shard_epoch>>& fence) {
    if (cluster == nullptr || !fence) return s.commit(batch);
    return cluster->commit_fenced(batch, *fence);
  }

  /// Starts a poll at `now`: one job reads the due rows and, for each, what the policy needs
  /// (its merchant, its siblings); the policy's admissions run when it is back. False when
  /// nothing was handed over (the caller arms the timer).
  bool poll(time_point now) {
    if (!policy.begin_poll(now)) return false;
    auto shards = fenced_shards();
    if (shards && shards->empty()) return false;
    polling = true;
    db.run(
        executor,
        [cluster = cluster, shards = std::move(shards), now, batch = options.batch](store::payment_store& s) {
          // Every due row is read with its merchant and siblings: which of them the policy
          // leaves alone (under way, stalled) is the reactor's to say, after the read.
          auto rows = shards ? cluster->due_outbox_of(*shards, now, batch) : s.due_outbox(now, batch);
          std::vector<polled_row> out;
          out.reserve(rows.size());
          for (auto& row : rows) {
            polled_row r{{std::move(row), std::nullopt, {}}, std::nullopt};
            if (auto p = s.load(r.c.row.payment_id)) {
              if (shards) r.shard = store::shard_of(*p, cluster->shard_count());
              r.c.merchant = std::move(p->merchant_id);
            }
            if (engine::webhook_policy::needs_siblings(r.c.row)) r.c.siblings = s.outbox_of(r.c.row.payment_id);
            out.push_back(std::move(r));
          }
          return out;
        },
        [self = shared_from_this(), now](std::exception_ptr e, std::optional<std::vector<polled_row>> read) {
          self->polled(now, e, std::move(read));
        });
    return true;
  }

  /// The poll's read is back: carries out the policy's admissions (deferrals in one commit).
  void polled(time_point now, std::exception_ptr e, std::optional<std::vector<polled_row>> read) {
    polling = false;
    if (closed) return;
    if (e) {
      log_store_error("webhook poll failed", e);
    } else if (!policy.draining()) {
      std::vector<store::transition> deferrals;
      for (auto& [c, shard] : *read) {
        if (!policy.has_room()) break;
        if (!policy.worth_reading(c.row)) continue;
        // Its shard was found lost (a settlement refused) after the read was handed over.
        if (shard && std::any_of(refused.begin(), refused.end(), [&](const auto& r) { return r.first == *shard; }))
          continue;
        auto merchant = c.merchant;
        auto decided = policy.admit(std::move(c), now);
        std::visit(overloaded{[&](engine::start_delivery& d) { start_attempt(std::move(d.row), merchant); },
                              [&](engine::defer_delivery& d) { deferrals.push_back(std::move(d.t)); },
                              [](engine::leave_delivery&) {}},
                   decided);
      }
      if (!deferrals.empty()) {
        db.run(
            executor,
            [cluster = cluster, fence = fence(), deferrals = std::move(deferrals)](store::payment_store& s) {
              return commit(s, cluster, deferrals, fence);
            },
            [](std::exception_ptr e, std::optional<std::vector<store::commit_outcome>>) {
              if (e) log_store_error("webhook poll failed", e);
            });
      }
    }
    if (policy.draining()) return;  // drain() cancelled the timer for good
    arm_timer();
    if (std::exchange(poll_again, false)) post_pump();
  }

  /// Logs the store_error in `e`; anything else is rethrown (a bug: let it surface).
  static void log_store_error(std::string_view what, std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const store::store_error& error) {
      log_line(log_level::error, what, {{"error", error.what()}});
    }
  }

  void start_attempt(store::outbox_record row, const std::optional<std::string>& merchant_id) {
    auto prepared = prepare(row, merchant_id);
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

  /// The signed POST of `row` (whose payment's merchant the poll read: `merchant_id`) and the
  /// client to send it with, or why it cannot be sent.
  boost::system::result<prepared_request, std::string> prepare(const store::outbox_record& row,
                                                               const std::optional<std::string>& merchant_id) {
    auto url = split_url(row.target_url);
    if (!url) return "webhook URL is not http(s)://host/...: '" + row.target_url + "'";
    auto merchant = merchant_of(row, merchant_id);
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

  boost::system::result<const merchant_config*, std::string> merchant_of(const store::outbox_record& row,
                                                                         const std::optional<std::string>& merchant_id) {
    if (!merchant_id) return "payment " + std::to_string(row.payment_id) + " not found";
    const auto it = merchants.find(*merchant_id);
    if (it == merchants.end()) return "merchant '" + *merchant_id + "' is not configured";
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

  /// Hands the attempts that ended to the store thread (one transaction for all); settled()
  /// tells the observers when it is back. One settlement is out at a time: attempts ending
  /// meanwhile wait for the next.
  void settle() {
    settle_posted = false;
    if (closed) return;
    if (settling) {
      settle_again = true;  // settled() posts it
      return;
    }
    auto s = policy.settle(clock.now());
    if (s.transitions.empty()) {
      settled(std::move(s), nullptr, std::vector<store::commit_outcome>{}, {});
      return;
    }
    settling = true;
    for (const auto& r : s.reports) settling_ids.insert(r.event_id);
    auto transitions = s.transitions;
    std::vector<std::string> events;  // in transitions' order (a copy: `s` moves into the completion)
    for (const auto& r : s.reports) events.push_back(r.event_id);
    /// What the commit job gives back: the outcomes, and for each not_owner outcome the shard of
    /// its row's payment (read in the same job), else nothing.
    using result = std::pair<std::vector<store::commit_outcome>, std::vector<std::optional<store::shard_id>>>;
    db.run(
        executor,
        [cluster = cluster, fence = fence(), transitions = std::move(transitions),
         events = std::move(events)](store::payment_store& st) {
          result out{commit(st, cluster, transitions, fence), {}};
          for (std::size_t i = 0; i < out.first.size(); ++i) {
            std::optional<store::shard_id> lost;
            if (cluster != nullptr && out.first[i].status == store::commit_status::not_owner && i < events.size()) {
              const auto row = st.outbox_by_event_id(events[i]);
              if (const auto p = row ? st.load(row->payment_id) : std::nullopt)
                lost = store::shard_of(*p, cluster->shard_count());
            }
            out.second.push_back(lost);
          }
          return out;
        },
        [self = shared_from_this(), s = std::move(s)](std::exception_ptr e, std::optional<result> r) mutable {
          self->settling = false;
          self->settling_ids.clear();
          if (r) self->settled(std::move(s), nullptr, std::move(r->first), std::move(r->second));
          else self->settled(std::move(s), e, {}, {});
        });
  }

  /// A settlement's commit is back: `error` when it failed (nothing was written).
  void settled(engine::settlement s, std::exception_ptr error, std::vector<store::commit_outcome> outcomes,
               std::vector<std::optional<store::shard_id>> lost) {
    if (closed) return;
    if (error) {
      // Nothing was written: the rows stay due and are tried again after the next timer tick.
      try {
        std::rethrow_exception(error);
      } catch (const store::store_error& e) {
        log_line(log_level::error, "webhook commit failed", {{"error", e.what()}, {"attempts", s.reports.size()}});
      }
      policy.settle_failed(s);
      check_idle();
      next_settle();
      return;
    }
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      if (outcomes[i].status == store::commit_status::not_owner) {
        // The shard was claimed by another instance during the attempt: the row stays pending
        // for its new owner, which sends it again with the same webhook-id (at-least-once).
        log_line(log_level::info, "webhook attempt left to the shard's new owner", {{"eventId", s.reports[i].event_id}});
        if (i < lost.size() && lost[i] && cluster != nullptr)
          for (const auto& h : held())
            if (h.shard == *lost[i]) refused.insert({h.shard, h.epoch});
      } else if (outcomes[i].status != store::commit_status::committed) {
        log_line(log_level::error, "webhook attempt not recorded",
                 {{"eventId", s.reports[i].event_id}, {"detail", outcomes[i].detail}});
      }
    }
    for (const auto& r : policy.settled(s, outcomes)) {
      if (r.result != delivery_result::delivered)
        log_line(r.result == delivery_result::dead ? log_level::warn : log_level::info,
                 r.result == delivery_result::dead ? "webhook dead" : "webhook attempt failed",
                 {{"eventId", r.event_id}, {"attempts", r.attempts}, {"error", r.error}});
      for (const auto& observer : observers) observer(r);
    }
    check_idle();
    post_pump();
    next_settle();
  }

  /// Attempts that ended while a settlement was out: settle them now.
  void next_settle() {
    if (closed || !std::exchange(settle_again, false) || settle_posted) return;
    settle_posted = true;
    asio::post(executor, [self = shared_from_this()] { self->settle(); });
  }

  void check_idle() {
    if (policy.draining() && policy.idle()) idle.cancel();
  }
};

webhook_sender::webhook_sender(asio::any_io_executor executor, store_thread& db, const payment_clock& clock,
                               std::vector<merchant_config> merchants, webhook_options options)
    : core_(std::make_shared<webhook_sender_core>(executor, db, clock, std::move(merchants), options)) {}

webhook_sender::~webhook_sender() {
  core_->closed = true;
  core_->timer.cancel();
  core_->idle.cancel();
}

void webhook_sender::fence_with(store::cluster_store& cluster, std::function<std::vector<store::shard_epoch>()> held) {
  core_->cluster = held ? &cluster : nullptr;
  core_->held = std::move(held);
}

void webhook_sender::start() {
  core_->started = true;
  core_->post_pump();
}

void webhook_sender::poke() { core_->post_pump(); }

asio::awaitable<redeliver_result> webhook_sender::redeliver(std::string event_id) {
  const auto core = core_;  // the sender may be destroyed while the job is out
  const auto now = core->clock.now();
  const auto job = [event_id, now](store::payment_store& s) -> std::optional<std::string> {
    const auto row = s.outbox_by_event_id(event_id);
    if (!row) return std::nullopt;
    if (s.commit_one(engine::webhook_policy::redeliver(*row, now)).status != store::commit_status::committed)
      return std::nullopt;
    return row->event_id;
  };
  auto committed = co_await core->db.call(job);
  if (!committed) co_return redeliver_result::not_found;
  // A settlement of this row's attempt, computed before the redeliver's policy.redelivered()
  // could mark it, may be committing right behind it and would overwrite the fresh schedule:
  // once more, queued behind that commit.
  if (core->settling_ids.contains(*committed)) committed = co_await core->db.call(job);
  if (!committed) co_return redeliver_result::not_found;
  if (core->closed) co_return redeliver_result::queued;
  core->policy.redelivered(*committed);
  log_line(log_level::info, "webhook redeliver", {{"eventId", *committed}});
  core->post_pump();
  co_return redeliver_result::queued;
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
