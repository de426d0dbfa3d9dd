// The composition root (see app.hpp): builds the daemon's parts in dependency order and wires
// them: the store, clock, engine, gateway, driver, refunds, webhook sender, and the handlers
// behind the routes (notify_endpoint, merchant_api, checkout_pages, admin_api,
// metrics_endpoint), which request_router reaches through the one route table; plus the commit
// observer that logs transitions, the listeners, the threads and the signal-driven drain. No
// request is handled here.
//
// Threads (proto-docs/threads-and-owners.md): the reactor (the main thread, `cashierd`) owns all
// payment state, the read-write store, the driver, the Alipay+ client and the webhook sender.
// The HTTP server runs on `cashierd-net`: it parses and writes every request there, and for a
// notifyPayment it also verifies the signature, decodes the body and signs the ack there;
// everything that touches state is handed to the reactor (co_spawn on its executor) and the
// answer comes back. RSA request signatures run on the `cashierd-sign` pool, the store counts
// of /metrics on `cashierd-stats`, WAL checkpoints on `wal-checkpoint`.
#include "orchestrator/daemon/app.hpp"

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <deque>
#include <iostream>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <sys/stat.h>

#include "orchestrator/alipayplus/keys.hpp"
#include "orchestrator/daemon/admin_api.hpp"
#include "orchestrator/daemon/admin_auth.hpp"
#include "orchestrator/daemon/aplus_gateway.hpp"
#include "orchestrator/daemon/checkout_pages.hpp"
#include "orchestrator/daemon/cluster_member.hpp"
#include "orchestrator/daemon/create_request.hpp"
#include "orchestrator/daemon/crash_point.hpp"
#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/store_thread.hpp"
#include "orchestrator/daemon/inbox_listener.hpp"
#include "orchestrator/daemon/inbox_relay.hpp"
#include "orchestrator/daemon/log.hpp"
#include "orchestrator/daemon/merchant_answers.hpp"
#include "orchestrator/daemon/merchant_api.hpp"
#include "orchestrator/daemon/metrics.hpp"
#include "orchestrator/daemon/store_open.hpp"
#include "orchestrator/daemon/metrics_endpoint.hpp"
#include "orchestrator/daemon/notify_endpoint.hpp"
#include "orchestrator/daemon/notify_inbound.hpp"
#include "orchestrator/daemon/request_router.hpp"
#include "orchestrator/daemon/thread_name.hpp"
#include "orchestrator/daemon/serialized_store.hpp"
#include "orchestrator/daemon/webhook_sender.hpp"
#include "orchestrator/alipayplus/refund_codec.hpp"
#include "orchestrator/engine/payment_view.hpp"
#include "orchestrator/net/http_server.hpp"
#include "orchestrator/net/tls.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;
namespace json = boost::json;

std::optional<config_error> check_resources(const config& cfg) {
  // Secrets readable by every user are refused, naming the file: a key or token that leaked
  // through a careless chmod must be noticed at start, not after the fact.
  for (const auto& [key, path] : secret_files(cfg)) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) continue;  // unreadable files are reported below or at load
    if ((st.st_mode & 0007) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return config_error{key, "file '" + path + "' is accessible by every user (mode " + mode +
                                   "): it holds a secret; chmod o-rwx it"};
    }
  }
  if (auto k = aplus::load_private_key_file(cfg.alipayplus.private_key); !k)
    return config_error{"alipayplus.privateKey", k.error().message};
  for (const auto& pk : cfg.alipayplus.public_keys)
    if (auto k = aplus::load_public_key_file(pk.path); !k)
      return config_error{"alipayplus.alipayplusPublicKey", k.error().message};
  if (cfg.tls_cert)
    if (auto c = net::make_server_context(*cfg.tls_cert, *cfg.tls_key); !c)
      return config_error{"tls", c.error().message};
  if (!cfg.alipayplus.ca_file.empty())
    if (auto c = net::make_client_context(cfg.alipayplus.ca_file); !c)
      return config_error{"alipayplus.caFile", c.error().message};
  return std::nullopt;
}

namespace {

/// The base of checkoutUrl: config publicUrl, else the listener itself (a wildcard host becomes
/// loopback; the bound port, so that port 0 works).
std::string public_url_of(const config& cfg, std::uint16_t port) {
  if (!cfg.public_url.empty()) return cfg.public_url;
  std::string host = cfg.listen_host;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(cfg.tls_cert ? "https" : "http") + "://" + host + ":" + std::to_string(port);
}

/// The Alipay+ refund request for refund `r` of payment `p`, built once (issue 16): cashierd's
/// own paymentRequestId and refundRequestId, Alipay+'s paymentId when known.
std::string refund_request_body(const payment& p, const refund& r) {
  aplus::refund_request req;
  req.payment_request_id = std::string(store::alipay_request_id(p));
  if (!p.payment_id.empty()) req.payment_id = p.payment_id;
  req.refund_request_id = r.alipay_refund_request_id;
  req.refund_amount.minor_units = r.amount.minor_units;
  req.refund_amount.currency = r.amount.currency;
  if (!r.reason.empty()) req.refund_reason = r.reason;
  return aplus::encode_refund_request(req);
}

/// The running daemon's parts, in construction order (destroyed in reverse, after both
/// io_contexts have stopped: nothing is destroyed while a handler may still run).
struct daemon_parts {
  explicit daemon_parts(const config& c) : cfg(c) {}
  const config& cfg;
  asio::io_context io{1};
  asio::io_context net_io{1};  // the HTTP server's thread; outlives the server (declared first)
  std::unique_ptr<store::payment_store> store;
  store::cluster_store* cluster = nullptr;  // the cluster half of `store` (proto-docs/cluster.md)
  std::unique_ptr<store::payment_store> stats_reader;  // read-only, used on stats_thread only
  std::unique_ptr<asio::thread_pool> stats_thread;
  std::unique_ptr<payment_clock> clock;
  std::unique_ptr<engine::engine> eng;
  // The one thread that calls `store` once the reactor runs (store_thread.hpp): destroyed before
  // the store and the engines its jobs use, after everything that hands it jobs.
  std::unique_ptr<store_thread> db;
  std::unique_ptr<aplus_gateway> gateway;
  std::unique_ptr<driver> drv;
  std::unique_ptr<engine::refund_engine> refund_eng;  // refunds (issue 16), executed by the driver
  std::unique_ptr<cluster_member> member;  // store.cluster: one instance of several (cluster.md)
  std::unique_ptr<inbox_relay> relay;       // store.cluster: inputs for another instance's shards
  std::unique_ptr<inbox_listener> listener;  // store.cluster: LISTEN cashierd_inbox (PostgreSQL)
  std::unique_ptr<webhook_sender> webhooks;
  std::unique_ptr<merchant_api> api;
  std::unique_ptr<checkout_pages> checkout;  // the hosted payment page, /pay/
  metrics stats;
  std::unique_ptr<notify_endpoint> notify;
  std::unique_ptr<admin_api> admin;
  std::unique_ptr<metrics_endpoint> metrics_page;
  std::optional<admin_gate> admin_token;
  std::unique_ptr<request_router> router;
  std::optional<net::http_server> server;
  std::optional<net::http_server> ops_server;  // /healthz, /readyz, /metrics, /admin/ (opsListen)
  bool ready = false;

  std::string webhook_url_of(const payment& p) const {
    if (!p.merchant_notify_url.empty()) return p.merchant_notify_url;
    for (const auto& m : cfg.merchants)
      if (m.id == p.merchant_id) return m.notify_url;
    return {};
  }

  /// Ready once recovery is done, and only while the store commits (not while it is full,
  /// read-only or failing: creates would get 503).
  net::response readiness() const {
    if (!ready) return answers::server_error_response(503, "NOT_READY", "recovery not finished");
    if (!drv->stats().store_writable)
      return answers::server_error_response(503, "STORE_UNAVAILABLE", "the database cannot commit (disk full, read-only or I/O error); retrying");
    return answers::json_response(200, json::object{{"status", "ready"}});
  }

  /// consultPayment for the merchant API and the hosted page; the call is logged like every other.
  asio::awaitable<consult_outcome> consult(std::string body) {
    consult_outcome out;
    // The consult lane: its own share of the budget, never borrowing (rate_budget.hpp).
    if (!drv->budget().take_consult(std::chrono::steady_clock::now())) {
      out.error = "over maxRequestsPerSecond";
      co_return out;
    }
    auto r = co_await gateway->consult(std::move(body));
    if (const auto* a = std::get_if<aplus::consult_payment_response>(&r.answer);
        a && a->result.code == "REQUEST_TRAFFIC_EXCEED_LIMIT")
      drv->budget().throttled(std::chrono::steady_clock::now());
    if (std::holds_alternative<aplus::consult_payment_response>(r.answer)) out.verified_body = r.call.response_body;
    else out.error = std::string(to_string(std::get<no_answer_reason>(r.answer)));
    engine::input in;
    in.calls.push_back(std::move(r.call));
    drv->post(std::move(in));
    co_return out;
  }

  /// Logs every transition and feeds the metrics; pokes the webhook sender on new events.
  void observe(const engine::input& in, const engine::output& out) {
    metrics_page->count_commit(in, out);
    if (out.result != engine::outcome::applied) return;
    checkout->on_commit(out.after);
    const auto& d = out.made;
    bool events = false;
    for (const auto& e : d.effects) {
      if (std::holds_alternative<emit_merchant_event>(e)) events = true;
      if (const auto* a = std::get_if<record_anomaly>(&e))
        log_line(log_level::warn, "anomaly", {{"paymentRequestId", out.after.payment_request_id},
                                              {"kind", to_string(a->kind)}, {"detail", a->detail}});
    }
    if (d.from != d.to || in.create)
      log_line(log_level::info, "transition",
               {{"paymentRequestId", out.after.payment_request_id},
                {"from", in.create ? "" : std::string(to_string(d.from.status)) + "/" + std::string(to_string(d.from.pending))},
                {"to", std::string(to_string(d.to.status)) + "/" + std::string(to_string(d.to.pending))},
                {"cause", d.cause}});
    if (events) webhooks->poke();
  }
};

}  // namespace

int run_daemon(const config& cfg) {
  if (auto e = check_resources(cfg)) {
    std::cerr << "cashierd: " << to_string(*e) << "\n";
    return 2;
  }
  // Past a file-size limit (ulimit -f) a write must fail with EFBIG, which fails the commit
  // like a full disk, instead of SIGXFSZ killing the daemon.
  std::signal(SIGXFSZ, SIG_IGN);
  daemon_parts d(cfg);
  serialized_store* guard = nullptr;  // d.store, armed before the reactor runs (serialized_store.hpp)
  try {
    auto guarded = std::make_unique<serialized_store>(open_configured_store(cfg, false));
    guard = guarded.get();
    d.store = std::move(guarded);
    // The cluster half of the store, when the engine has one (SQLite's: the single owner fences).
    d.cluster = dynamic_cast<store::cluster_store*>(d.store.get());
    d.stats_reader = open_configured_store(cfg, true);
    d.stats_thread = std::make_unique<asio::thread_pool>(1);
    name_pool_threads(*d.stats_thread, 1, "cashierd-stats");
  } catch (const store::store_error& e) {
    log_line(log_level::error, "cannot open the database", {{"database", store_name(cfg)}, {"error", e.what()}});
    return 1;
  }
  const auto origin_ms = std::stoll(d.store->meta_or_set("clock_origin_ms", std::to_string(to_epoch_ms(wall_now()))));
  if (cfg.time_scale != 1) {
    d.clock = std::make_unique<scaled_clock>(from_epoch_ms(origin_ms), cfg.time_scale);
    log_line(log_level::warn, "TIME SCALE ACTIVE: the payment clock runs faster than the wall clock; for demos and tests only",
             {{"timeScale", cfg.time_scale}, {"origin", engine::iso8601(from_epoch_ms(origin_ms))}});
  } else {
    d.clock = std::make_unique<real_clock>();
  }
  if (const auto crash = armed_crash_point(); !crash.empty())
    log_line(log_level::warn, "CRASH POINT ARMED: this process kills itself there; for tests only", {{"point", crash}});
  const auto params = machine_params_of(cfg);
  if (auto problem = params.validate()) {
    std::cerr << "cashierd: payment: " << *problem << "\n";
    return 2;
  }
  d.eng = std::make_unique<engine::engine>(*d.store, engine::engine_config{
      .params = params,
      .webhook_url = [&d](const payment& p) { return d.webhook_url_of(p); },
      .new_event_id = {},
      .build_refund_request = refund_request_body,
      .new_refund_request_id = {}});
  // From here on, once the reactor runs, the store is called on its own thread only; the start
  // (above and below: the clock origin, the shard claim, recover) runs before any job exists.
  d.db = std::make_unique<store_thread>(*d.store);
  // Request signatures (~0.2 ms each) leave the reactor for a pool with a thread per core.
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  auto gw = aplus_gateway::create(d.io.get_executor(), cfg.alipayplus, *d.clock, {.sign_threads = cores});
  if (!gw) {
    std::cerr << "cashierd: " << gw.error().message << "\n";
    return 2;
  }
  d.gateway = std::move(*gw);
  auto ns = make_notify_settings(cfg.alipayplus);
  auto ab = ack_builder::create(cfg.alipayplus);
  if (!ns || !ab) {
    std::cerr << "cashierd: " << (!ns ? ns.error().message : ab.error().message) << "\n";
    return 2;
  }
  d.drv = std::make_unique<driver>(d.io, *d.eng, *d.clock, *d.gateway, *d.db);
  d.notify = std::make_unique<notify_endpoint>(notify_endpoint_deps{d.io, *d.drv, *d.db, *d.clock, d.stats},
                                               std::move(*ns), std::move(*ab));
  d.metrics_page = std::make_unique<metrics_endpoint>(
      metrics_endpoint_deps{d.stats, *d.drv, *d.clock, *d.stats_reader, *d.stats_thread});
  d.drv->observe([&d](const engine::input& in, const engine::output& out) { d.observe(in, out); });
  d.drv->on_group_commit([&d](double seconds) { d.stats.observe(metric::commit_seconds, {}, seconds); });
  d.drv->budget() = rate_budget(cfg.alipayplus.max_requests_per_second);
  d.drv->on_deadline_fired([&d](call_lane lane, double late) {
    d.stats.observe(metric::timer_lateness, {{"lane", std::string(to_string(lane))}}, late);
  });
  d.webhooks = std::make_unique<webhook_sender>(d.io.get_executor(), *d.db, *d.clock, cfg.merchants, webhook_options{});
  d.webhooks->observe([&d](const delivery_report& r) {
    d.stats.count(metric::webhooks, {{"result", std::string(to_string(r.result))}});
  });
  d.api = std::make_unique<merchant_api>(merchant_api_deps{cfg, *d.drv, *d.db, *d.clock,
      [&d](std::string body) { return d.consult(std::move(body)); }, {}});
  if (cfg.store.cluster) {
    d.api = std::make_unique<merchant_api>(merchant_api_deps{cfg, *d.drv, *d.db, *d.clock,
        [&d](std::string body) { return d.consult(std::move(body)); },
        [&d]() -> std::optional<std::string> {
          if (!d.member) return std::nullopt;
          return d.member->draw_payment_request_id(new_alipay_payment_request_id);
        }});
  }
  d.checkout = std::make_unique<checkout_pages>(checkout_deps{*d.drv, *d.db, *d.clock,
      [&d](std::string body) { return d.consult(std::move(body)); }});

  // Refunds: their request bytes are built once, with cashierd's own refundRequestId.
  // The refund's answer guard is the payment's: a request may take requestTimeoutMs.
  auto refund_params = cfg.refund;
  refund_params.answer_guard = params.answer_guard;
  d.refund_eng = std::make_unique<engine::refund_engine>(*d.store, engine::refund_engine_config{
      .params = refund_params,
      .build_request = refund_request_body,
      .new_request_id = {},
      .webhook_url = [&d](const payment& p) { return d.webhook_url_of(p); },
      .new_event_id = {}});
  d.drv->serve_refunds(*d.refund_eng, *d.gateway);
  d.drv->on_refund_commit([&d] { d.webhooks->poke(); });

  d.admin = std::make_unique<admin_api>(admin_api_deps{*d.db, *d.drv, *d.webhooks,
                                                       std::chrono::milliseconds(cfg.payment.create_wait_ms)});
  d.admin_token.emplace(cfg.admin_token);
  if (cfg.admin_token.empty())
    log_line(log_level::warn, "admin actions disabled: no adminToken or adminTokenFile configured");
  d.router = std::make_unique<request_router>(route_handlers{
      .notify_path = cfg.alipayplus.notify_path,
      .reactor = d.io,
      .notify = *d.notify,
      .api = *d.api,
      .checkout = *d.checkout,
      .admin_token = *d.admin_token,
      .admin = *d.admin,
      .metrics_page = *d.metrics_page,
      .stats = d.stats,
      .readiness = [&d] { return d.readiness(); }});

  // One instance owns every shard (proto-docs/cluster.md): it claims them all with an epoch bump
  // before reading what to re-arm, and fences its commits with those epochs, so a second process
  // started on the same database takes over and this one's writes are refused from then on
  // (SQLite and PostgreSQL alike: both engines' stores are clustered_store).
  if (d.cluster && cfg.store.cluster) {
    // Cluster mode: the lease manager claims a share of the shards and takes each over (its open
    // payments and refunds armed) as the claims commit, instead of recover() below.
    auto lc = lease_timing(std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(cfg.store.cluster->lease_seconds)));
    lc.instance = cfg.store.cluster->instance_id.empty() ? default_instance_id() : cfg.store.cluster->instance_id;
    lc.budget = cfg.alipayplus.max_requests_per_second;
    try {
      lc.shards = d.cluster->shard_count();
    } catch (const store::store_error& e) {
      log_line(log_level::error, "cannot read the shard table", {{"database", store_name(cfg)}, {"error", e.what()}});
      return 1;
    }
    const auto lc_shards = lc.shards;
    d.member = std::make_unique<cluster_member>(
        cluster_member_deps{d.io, *d.store, *d.cluster, *d.db, *d.drv, d.refund_eng.get(), d.stats}, std::move(lc));
    // Refund writes and webhook attempts are fenced like the payments' commits, and a payment's
    // events are sent by its shard's owner alone (in order): both ask the lease manager.
    const auto held = [&d] { return d.member->leases().fence(); };
    d.refund_eng->fence_with(*d.cluster, held);
    d.webhooks->fence_with(*d.cluster, held);
    // Inputs for a payment another instance owns go through the inbox; this instance applies
    // its own shards' rows on each claim tick, after each takeover and on each NOTIFY.
    d.relay = std::make_unique<inbox_relay>(inbox_relay_deps{
        d.io, *d.cluster, *d.db, *d.eng, *d.drv, *d.clock, lc_shards,
        [&d](store::shard_id shard) { return d.member->acts_for(shard); }, &d.stats});
    d.notify->use_inbox(d.relay.get());
    d.api->use_inbox(d.relay.get());
    d.admin->use_inbox(d.relay.get());
    d.relay->use_webhooks(*d.webhooks);  // the owner's half of an operator's redeliver
    d.member->on_tick([&d] { d.relay->poll_held(); });
    if (cfg.store.engine == store_engine::postgres) {
      d.listener = std::make_unique<inbox_listener>(d.io, cfg.store.postgres_conninfo, [&d] { d.relay->poll_held(); },
                                                    &d.stats);
      d.listener->start();
    }
    d.member->start();
  } else if (d.cluster) {
    try {
      const auto claimed = d.cluster->claim(default_instance_id(), 0, std::chrono::seconds(10), true);
      std::vector<store::shard_epoch> held;
      for (const auto& row : claimed.changed) held.push_back({row.shard, row.epoch});
      log_line(log_level::info, "claimed every shard", {{"shards", held.size()},
                                                         {"epoch", held.empty() ? std::int64_t{0} : held.front().epoch}});
      const auto fixed = [held] { return held; };
      d.refund_eng->fence_with(*d.cluster, fixed);
      d.webhooks->fence_with(*d.cluster, fixed);
      d.drv->fence_with(*d.cluster, std::move(held));
    } catch (const store::store_error& e) {
      log_line(log_level::error, "cannot claim the shards", {{"database", store_name(cfg)}, {"error", e.what()}});
      return 1;
    }
  }
  // Every open payment and refund is re-armed before the listener opens (cluster mode: those of
  // the shards claimed, as each is taken over).
  if (!d.member) {
    const auto recovered = d.drv->recover();
    log_line(log_level::info, "recovered open payments", {{"count", recovered}});
    log_line(log_level::info, "recovered open refunds", {{"count", d.drv->recover_refunds()}});
  }

  net::server_options so;
  if (cfg.tls_cert) so.tls = net::make_server_context(*cfg.tls_cert, *cfg.tls_key).value();
  so.log = [](std::string_view line) { log_line(log_level::warn, "http", {{"detail", line}}); };
  so.limits.max_connections = cfg.max_connections;
  so.limits.max_connections_per_address = cfg.max_connections_per_address;
  so.limits.first_request_timeout = std::chrono::milliseconds(cfg.request_head_timeout_ms);
  const auto where = host_port(cfg.listen_host, cfg.listen_port);
  auto server = net::http_server::listen(
      d.net_io.get_executor(), where,
      [&d](net::request req, const net::peer_info& peer) { return d.router->serve_public(std::move(req), peer); }, so);
  if (!server) {
    log_line(log_level::error, "cannot listen", {{"listen", where}, {"error", server.error().message}});
    return 1;
  }
  d.server.emplace(std::move(*server));
  // The ops listener is plain HTTP, meant for loopback or a private network (PRODUCT.md).
  net::server_options ops = so;
  ops.tls = nullptr;
  const auto ops_where = host_port(cfg.ops_host, cfg.ops_port);
  auto ops_server = net::http_server::listen(
      d.net_io.get_executor(), ops_where,
      [&d](net::request req, const net::peer_info& peer) { return d.router->serve_ops(std::move(req), peer); }, ops);
  if (!ops_server) {
    log_line(log_level::error, "cannot listen", {{"opsListen", ops_where}, {"error", ops_server.error().message}});
    return 1;
  }
  d.ops_server.emplace(std::move(*ops_server));
  engine::set_checkout_base(public_url_of(cfg, d.server->port()));
  // For cashierctl's checkoutUrl; on the store thread, as the cluster executor may have handed it
  // its first claim already.
  d.db->run(d.io.get_executor(),
            [url = public_url_of(cfg, d.server->port())](store::payment_store& s) { s.set_meta("public_url", url); },
            [](std::exception_ptr e, std::optional<std::monostate>) {
              if (e) log_line(log_level::warn, "cannot store the public URL", {{"error", what_of(e)}});
            });
  auto net_work = asio::make_work_guard(d.net_io);
  std::thread net_thread([&d] {
    name_this_thread("cashierd-net");
    d.net_io.run();
  });
  d.webhooks->start();
  d.ready = true;
  log_line(log_level::info, "cashierd ready",
           {{"listen", where}, {"tls", cfg.tls_cert.has_value()}, {"port", d.server->port()},
            {"opsListen", ops_where}, {"opsPort", d.ops_server->port()},
            {"database", store_name(cfg)}, {"gateway", cfg.alipayplus.gateway}});

  asio::signal_set signals(d.io, SIGTERM, SIGINT);
  signals.async_wait([&d](boost::system::error_code ec, int sig) {
    if (ec) return;
    log_line(log_level::info, "draining", {{"signal", sig}});
    d.ready = false;
    d.checkout->stop();  // open long polls answer now instead of holding the drain
    asio::co_spawn(d.io, [&d]() -> asio::awaitable<void> {
      // The server lives on the network thread: stop it there.
      auto stop = d.server->stop(std::chrono::seconds(10));
      co_await asio::co_spawn(d.net_io, std::move(stop), asio::use_awaitable);
      auto stop_ops = d.ops_server->stop(std::chrono::seconds(2));
      co_await asio::co_spawn(d.net_io, std::move(stop_ops), asio::use_awaitable);
      co_await d.drv->drain(std::chrono::milliseconds(d.cfg.alipayplus.request_timeout_ms + 1000));
      if (d.listener) d.listener->stop();
      if (d.member) co_await d.member->drain();  // the answers are committed: let the shards go
      co_await d.webhooks->drain(std::chrono::seconds(10));
      d.io.stop();
    }, asio::detached);
  });
  // From here only the store thread may call the store (the guard reports any other caller).
  guard->only_from([&d] { return d.db->on_this_thread(); });
  d.io.run();
  // The jobs still handed to the store thread end now, while everything they use is alive.
  guard->only_from({});
  d.db.reset();
  net_work.reset();
  d.net_io.stop();
  net_thread.join();
  log_line(log_level::info, "cashierd stopped");
  return 0;
}

}  // namespace cashier::daemon
