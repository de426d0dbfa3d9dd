// The assembled daemon (see app.hpp): construction in dependency order, the HTTP routes
// (notifyPayment, merchant API, admin), the observers that log every transition and feed the
// metrics, and the signal-driven drain.
//
// Two threads. The reactor (the main thread) owns all payment state, the store, the driver,
// the Alipay+ client and the webhook sender, as before. The HTTP server runs on a network
// thread of its own: it parses and writes every request there, and for a notifyPayment it also
// verifies the signature, decodes the body and signs the ack there; everything that touches
// state is handed to the reactor (co_spawn on its executor) and the answer comes back.
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
#include "orchestrator/daemon/admin_auth.hpp"
#include "orchestrator/daemon/aplus_gateway.hpp"
#include "orchestrator/daemon/checkout_pages.hpp"
#include "orchestrator/daemon/crash_point.hpp"
#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/log.hpp"
#include "orchestrator/daemon/merchant_answers.hpp"
#include "orchestrator/daemon/merchant_api.hpp"
#include "orchestrator/daemon/metrics.hpp"
#include "orchestrator/daemon/notify_inbound.hpp"
#include "orchestrator/daemon/routes.hpp"
#include "orchestrator/daemon/thread_name.hpp"
#include "orchestrator/daemon/webhook_sender.hpp"
#include "orchestrator/daemon/refund_driver.hpp"
#include "orchestrator/alipayplus/refund_codec.hpp"
#include "orchestrator/engine/payment_view.hpp"
#include "orchestrator/net/http_server.hpp"
#include "orchestrator/net/tls.hpp"
#include "state/store/sqlite_store.hpp"

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

/// "host:port" for the HTTP server, with brackets around an IPv6 host.
std::string host_port(const std::string& host, std::uint16_t port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

/// The machine's schedules from the config.
machine_params params_of(const config& cfg) {
  machine_params p;
  p.inquiry_intervals.clear();
  for (auto s : cfg.payment.poll_intervals_seconds) p.inquiry_intervals.push_back(std::chrono::seconds(s));
  p.poll_grace = std::chrono::minutes(cfg.payment.poll_grace_minutes);
  p.default_expiry = std::chrono::minutes(cfg.payment.default_expiry_minutes);
  // Wait a little longer than a request may take before treating the call as lost.
  p.answer_guard = std::chrono::milliseconds(cfg.alipayplus.request_timeout_ms) + std::chrono::seconds(5);
  return p;
}

net::response json_response(int status, const json::value& body) {
  net::response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = json::serialize(body);
  return r;
}

net::response error_response(int status, std::string_view code, std::string_view message) {
  net::response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = net::json_error_body(code, message);
  return r;
}

/// The store's counters for /metrics, read on `reader` wherever this is resumed (its own
/// thread): with a million open payments they scan the recovery index for a good part of a
/// second, which on the reactor would hold up every timer and request. A named coroutine, not a
/// lambda inside co_await (GCC 12, see aplus_gateway.cpp).
asio::awaitable<store::store_stats> read_store_stats(store::payment_store& reader, time_point now) {
  co_return reader.stats(now);
}

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
/// This process's name in the shard table (owner column): host and pid, enough to tell who
/// holds a shard when an operator looks.
std::string cluster_instance_id() {
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  return std::string(host.data()) + ":" + std::to_string(::getpid());
}

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

/// Everything the running daemon holds, in construction order.
struct daemon {
  explicit daemon(const config& c) : cfg(c) {}
  const config& cfg;
  asio::io_context io{1};
  asio::io_context net_io{1};  // the HTTP server's thread; outlives the server (declared first)
  std::unique_ptr<store::payment_store> store;
  store::cluster_store* cluster = nullptr;  // the cluster half of `store` (proto-docs/cluster.md)
  std::unique_ptr<store::payment_store> stats_reader;  // read-only, used on stats_thread only
  std::unique_ptr<asio::thread_pool> stats_thread;
  std::unique_ptr<payment_clock> clock;
  std::unique_ptr<engine::engine> eng;
  std::unique_ptr<aplus_gateway> gateway;
  std::unique_ptr<driver> drv;
  std::unique_ptr<engine::refund_engine> refund_eng;  // refunds (issue 16), beside the payments' driver
  std::unique_ptr<refund_driver> refunds;
  std::unique_ptr<webhook_sender> webhooks;
  std::unique_ptr<merchant_api> api;
  std::unique_ptr<checkout_pages> checkout;  // the hosted payment page, /pay/
  std::optional<net::http_server> server;
  std::optional<net::http_server> ops_server;  // /healthz, /readyz, /metrics, /admin/ (opsListen)
  std::optional<admin_gate> admin;
  notify_settings notify;
  std::optional<ack_builder> acks;
  metrics stats;
  bool ready = false;

  std::string webhook_url_of(const payment& p) const {
    if (!p.merchant_notify_url.empty()) return p.merchant_notify_url;
    for (const auto& m : cfg.merchants)
      if (m.id == p.merchant_id) return m.notify_url;
    return {};
  }

  // notifyPayment: verify on the raw bytes → commit → signed ack (PRODUCT.md, ALIPAYPLUS.md).
  // On the network thread: the Client-Id (a notify that is not addressed to us is refused there,
  // before anything is written), authentication and decoding (an RSA verify, the JSON), then
  // the commit on the reactor, then the signed ack (one RSA signature per second, see
  // ack_builder). Calls the committed decision asks for (the cancel of an amount mismatch) are
  // held by the driver until the ack is on the wire.
  asio::awaitable<net::response> on_notify(net::request req) {
    if (!client_id_ok(req, notify)) co_return refuse_foreign_notify(req);
    auto check = check_notify(req, notify, wall_now());
    // A named coroutine, not a lambda inside the co_await (GCC 12 destroys those twice).
    auto task = record_notify(std::move(req), std::move(check));
    auto answer = co_await asio::co_spawn(io, std::move(task), asio::use_awaitable);
    if (answer.refusal) co_return std::move(*answer.refusal);
    auto res = ack();
    if (answer.hold != 0)  // written or not, the held calls start (on the reactor)
      res.after_write = [this, hold = answer.hold](bool) { asio::post(io, [this, hold] { drv->release(hold); }); };
    co_return res;
  }

  /// A notify whose Client-Id is not ours, on the network thread: counted, logged at most once
  /// per 10 s (with how many were not), answered 401, nothing written.
  net::response refuse_foreign_notify(const net::request& req) {
    asio::post(io, [this] { stats.count(metric::notifies, {{"outcome", "wrong_client_id"}}); });
    if (const auto dropped = foreign_notify_log.admit(std::chrono::steady_clock::now()))
      log_line(log_level::warn, "notify refused: Client-Id is not ours (nothing recorded)",
               {{"clientId", log_safe(net::find_header(req.headers, "Client-Id").value_or(""))},
                {"notLoggedSinceLastLine", *dropped}});
    return reject_response(notify_verification::wrong_client_id);
  }

  /// The signed ack; network thread only (the ack builder is not shared).
  net::response ack() {
    const auto signed_before = acks->signatures();
    auto answer = acks->build_ack(wall_now());
    if (acks->signatures() != signed_before)
      asio::post(io, [this] { stats.count(metric::ack_signatures); });  // metrics live on the reactor
    return answer;
  }

  /// What record_notify decided: an answer instead of the ack, or the ticket of calls held.
  struct notify_answer {
    std::optional<net::response> refusal;  ///< send this instead of the ack
    std::uint64_t hold = 0;                ///< calls held until the ack is written (driver)
  };

  // On the reactor: records the notify (and applies it when authentic) in one commit.
  asio::awaitable<notify_answer> record_notify(net::request req, notify_check check) {
    const auto verdict = std::string(to_string(check.verification));
    stats.count("cashierd_notifies_total", {{"outcome", verdict}});
    store::notify_record rec;
    rec.payment_request_id = check.payment_request_id;
    rec.body = std::move(req.body);
    rec.headers = format_headers(req.headers);
    rec.verification = verdict;
    rec.received_at = clock->now();
    rec.digest = std::move(check.digest);
    try {
      // Only the id: the engine reads the payment itself when the batch is applied.
      std::optional<std::int64_t> id;
      if (!check.payment_request_id.empty()) id = store->id_of(check.payment_request_id);
      engine::input in;
      if (check.verification != notify_verification::ok) {
        // Changes nothing, but may prompt an inquiry (at most one per payment per 10 s, wall
        // clock); otherwise it is only kept, within the rejected-notify budget, unattributed.
        if (id && hint_allowed(*id)) {
          in.payment_id = *id;
          in.ev = notify_unverified{};
        }
        in.notifies.push_back(std::move(rec));
        if (const auto dropped = rejected_notify_log.admit(std::chrono::steady_clock::now()))
          log_line(log_level::warn, "notify rejected",
                   {{"paymentRequestId", log_safe(check.payment_request_id)}, {"verification", verdict},
                    {"detail", log_safe(check.detail, 256)}, {"notLoggedSinceLastLine", *dropped}});
        drv->post(std::move(in));
        co_return notify_answer{reject_response(check.verification)};
      }
      const auto digest = rec.digest;
      in.payment_id = id.value_or(0);
      in.notifies.push_back(std::move(rec));
      if (id)
        in.ev = notify_event(*check.message);
      else if (first_anomaly_of("orphan_notify", digest))
        in.anomalies.push_back({0, 0, "orphan_notify",
                                "notify for unknown paymentRequestId " + check.message->payment_request_id, clock->now()});
      if (!check.set_aside.empty()) {
        json::array fields;
        for (const auto& f : check.set_aside) fields.emplace_back(f);
        log_line(log_level::warn, "notify: malformed informational fields kept raw, not applied",
                 {{"paymentRequestId", log_safe(check.payment_request_id)}, {"fields", std::move(fields)}});
      }
      if (check.skew && first_anomaly_of("clock_skew", digest)) {
        stats.count(metric::notify_clock_skew);
        in.anomalies.push_back({0, 0, "clock_skew",
                                "authentic notify acked with Request-Time " + std::to_string(check.skew->count()) +
                                    " s from now, beyond maxClockSkewSeconds (a clock skew or a replay)",
                                clock->now()});
      }
      auto out = co_await drv->submit_and_hold(std::move(in));
      if (out.out.result == engine::outcome::conflict || out.out.result == engine::outcome::rejected) {
        drv->release(out.hold);
        co_return notify_answer{error_response(503, "RETRY", "could not record the notify; please retry")};
      }
      co_return notify_answer{std::nullopt, out.hold};
    } catch (const store::store_error& e) {
      ++store_failures;
      stats.count("cashierd_store_failures_total");
      log_line(log_level::error, "notify not recorded: the store failed", {{"error", e.what()}});
      co_return notify_answer{error_response(503, "STORE_UNAVAILABLE", "the notify could not be recorded; retry later")};
    }
  }

  /// Whether a rejected notify naming payment `id` may prompt an inquiry now: at most one per
  /// payment per 10 s of WALL time (Contract 2; a scaled payment clock must not multiply them).
  /// The memory is bounded: when full, entries older than the interval are dropped, and if it
  /// is still full the hint is skipped (polling covers the payment anyway).
  bool hint_allowed(std::int64_t id) {
    const auto now = std::chrono::steady_clock::now();
    if (const auto it = last_hint.find(id); it != last_hint.end()) {
      if (now - it->second < hint_interval) {
        stats.count(metric::notify_hints_limited);
        return false;
      }
      it->second = now;
      return true;
    }
    if (last_hint.size() >= max_hint_entries)
      std::erase_if(last_hint, [&](const auto& e) { return now - e.second >= hint_interval; });
    if (last_hint.size() >= max_hint_entries) {
      stats.count(metric::notify_hints_limited);
      return false;
    }
    last_hint.emplace(id, now);
    return true;
  }
  static constexpr auto hint_interval = std::chrono::seconds(10);
  static constexpr std::size_t max_hint_entries = 10000;
  std::unordered_map<std::int64_t, std::chrono::steady_clock::time_point> last_hint;  // reactor

  /// True the first time (of the last 10,000) an anomaly of `kind` is raised by a notify with
  /// `digest`: a replayed copy is counted on its notify row, never recorded as another anomaly
  /// (anomalies page someone; replays must not).
  bool first_anomaly_of(std::string_view kind, const std::string& digest) {
    if (digest.empty()) return true;
    auto key = std::string(kind) + '\0' + digest;
    if (!anomaly_digests.insert(key).second) return false;
    anomaly_order.push_back(std::move(key));
    if (anomaly_order.size() > max_hint_entries) {
      anomaly_digests.erase(anomaly_order.front());
      anomaly_order.pop_front();
    }
    return true;
  }
  std::unordered_set<std::string> anomaly_digests;  // reactor: kind NUL digest
  std::deque<std::string> anomaly_order;
  log_limiter rejected_notify_log{std::chrono::seconds(10)};  // reactor
  log_limiter foreign_notify_log{std::chrono::seconds(10)};   // network thread

  /// The machine event of a verified notify.
  static event notify_event(const aplus::notify_payment_request& n) {
    notify_verified ev;
    ev.payment_result = n.payment_result;
    ev.amount = n.payment_amount;
    ev.facts.payment_id = n.payment_id;
    ev.facts.payment_time = n.payment_time.value_or("");
    ev.facts.customer_id = n.customer_id.value_or("");
    ev.facts.wallet_brand_name = n.wallet_brand_name.value_or("");
    if (n.settlement_amount) ev.facts.settlement_amount = money(*n.settlement_amount);
    return ev;
  }

  /// The payment an admin action names (issue 14, item 5): `name` is an alipayPaymentRequestId,
  /// or a merchant's paymentRequestId with `?merchant=ID` (or alone when no other merchant uses
  /// it); else the answer to send: 404, 409 AMBIGUOUS_PAYMENT_ID, or 400 for a bad query.
  std::variant<payment, net::response> admin_payment(const std::string& name, std::string_view target) {
    std::optional<std::string> merchant;
    for (auto& [key, value] : answers::query_params(target)) {
      if (key != "merchant" || value.empty())
        return error_response(400, "INVALID_REQUEST", "only ?merchant=<merchant id> is accepted here");
      merchant = std::move(value);
    }
    auto named = store::resolve_payment_name(*store, name, merchant);
    switch (named.resolution) {
      case store::name_resolution::found: return std::move(*named.p);
      case store::name_resolution::not_found: break;
      case store::name_resolution::ambiguous:
        return error_response(409, "AMBIGUOUS_PAYMENT_ID",
                              "several merchants use paymentRequestId " + name + "; add ?merchant=<merchant id>");
    }
    return error_response(404, "NOT_FOUND", "no payment " + name);
  }

  /// An admin action on payment or event `id` (already percent-decoded by the matcher).
  asio::awaitable<net::response> on_admin(route_id action, const std::string& id, std::string_view target) {
    if (action == route_id::admin_redeliver) {
      if (webhooks->redeliver(id) == redeliver_result::not_found)
        co_return error_response(404, "NOT_FOUND", "no merchant event " + id);
      co_return json_response(202, json::object{{"eventId", id}, {"status", "queued"}});
    }
    auto named = admin_payment(id, target);
    if (auto* refusal = std::get_if<net::response>(&named)) co_return std::move(*refusal);
    const auto p = std::get<payment>(std::move(named));
    engine::input in;
    in.payment_id = p.id;
    if (action == route_id::admin_cancel) in.ev = cancel_requested{requester::operator_, "operator"};
    else in.ev = inquiry_requested{};
    const auto out = co_await drv->submit(std::move(in));
    if (out.made.rejected)
      co_return error_response(409, "PAYMENT_FINAL", "payment is final: " + std::string(to_string(*out.made.rejected)));
    co_return json_response(202, engine::payment_to_json(out.after.id ? out.after : p));
  }

  /// POST /admin/payments/{id}/refund {"value", "refundRequestId"?, "reason"?}: an operator's
  /// refund in the payment's currency (cashierctl refund), through the refund driver like a
  /// merchant's; without refundRequestId one is made ("operator-<n>").
  asio::awaitable<net::response> on_admin_refund(const std::string& id, const net::request& req) {
    auto named = admin_payment(id, req.target);
    if (auto* refusal = std::get_if<net::response>(&named)) co_return std::move(*refusal);
    const auto p = std::get<payment>(std::move(named));
    const auto body = aplus::parse_untrusted(req.body);
    const json::object* o = body && body->is_object() ? &body->get_object() : nullptr;
    const auto text = [o](std::string_view key) -> std::optional<std::string> {
      const auto* v = o ? o->if_contains(key) : nullptr;
      if (v == nullptr || !v->is_string()) return std::nullopt;
      return std::string(v->get_string());
    };
    const auto value = text("value");
    const auto minor = value ? parse_minor_units(*value) : std::nullopt;
    if (!minor || *minor <= 0)
      co_return answers::error_response(400, "INVALID_REQUEST", "value: a positive integer in minor units, as a string", "value");
    engine::refund_order order;
    order.payment_id = p.id;
    order.refund_request_id =
        text("refundRequestId").value_or("operator-" + std::to_string(store->refunds_of(p.id).size() + 1));
    if (order.refund_request_id.empty() || order.refund_request_id.size() > 64)
      co_return answers::error_response(400, "INVALID_REQUEST", "1 to 64 characters", "refundRequestId");
    order.amount = money{*minor, p.amount.currency};
    order.reason = text("reason").value_or("operator").substr(0, 256);
    order.origin = refund_origin::operator_;
    order.merchant_request = json::serialize(json::object{{"value", *value}, {"reason", order.reason}});
    const auto res = co_await refunds->create(order, std::chrono::milliseconds(cfg.payment.create_wait_ms));
    switch (res.status) {
      case engine::refund_order_status::created:
        co_return json_response(is_final(res.r.status) ? 201 : 202, engine::refund_to_json(res.r));
      case engine::refund_order_status::repeat: co_return json_response(200, engine::refund_to_json(res.r));
      case engine::refund_order_status::inconsistent:
        co_return answers::error_response(409, "REPEAT_REQ_INCONSISTENT", "refundRequestId is already used by a different request", "refundRequestId");
      case engine::refund_order_status::amount_exceed:
        co_return answers::error_response(400, "REFUND_AMOUNT_EXCEED", "the payment's refunds would exceed its amount", "value");
      case engine::refund_order_status::not_refundable:
        co_return answers::error_response(400, "PAYMENT_NOT_REFUNDABLE", "only a SUCCESS payment with no cancel pending can be refunded");
      case engine::refund_order_status::not_found: co_return answers::error_response(404, "NOT_FOUND", "no payment " + id);
      case engine::refund_order_status::conflict: break;
    }
    co_return answers::error_response(503, "STORE_UNAVAILABLE", "the payment kept changing; retry");
  }

  /// Every request of the public listener, on the network thread: a notifyPayment is served
  /// there (see on_notify), everything else on the reactor.
  asio::awaitable<net::response> serve(net::request req, net::peer_info peer) {
    const std::string_view target = req.target;
    const bool notify_post = target.substr(0, target.find('?')) == cfg.alipayplus.notify_path && req.method == "POST";
    if (notify_post) co_return co_await on_notify(std::move(req));
    auto task = route(std::move(req), std::move(peer), listener::public_api);
    co_return co_await asio::co_spawn(io, std::move(task), asio::use_awaitable);
  }

  /// Every request of the ops listener: the admin token is checked here, on the network thread,
  /// before anything is routed (an /admin/ path without it is 401 whatever it names).
  asio::awaitable<net::response> serve_ops(net::request req, net::peer_info peer) {
    const std::string_view target = req.target;
    if (is_admin_path(target.substr(0, target.find('?'))))
      if (auto refusal = admin->refuse(req)) co_return std::move(*refusal);
    auto task = route(std::move(req), std::move(peer), listener::ops);
    co_return co_await asio::co_spawn(io, std::move(task), asio::use_awaitable);
  }

  /// Ready once recovery is done, and only while the store commits (not while it is full,
  /// read-only or failing: creates would get 503).
  net::response readiness() const {
    if (!ready) return error_response(503, "NOT_READY", "recovery not finished");
    if (!drv->stats().store_writable)
      return error_response(503, "STORE_UNAVAILABLE", "the database cannot commit (disk full, read-only or I/O error); retrying");
    return json_response(200, json::object{{"status", "ready"}});
  }

  /// The /metrics page, with the store-derived gauges counted now on the stats thread (a count
  /// over a million open payments must not stall the reactor).
  asio::awaitable<net::response> on_metrics() {
    auto counting = read_store_stats(*stats_reader, clock->now());
    const auto counts =
        co_await asio::co_spawn(stats_thread->get_executor(), std::move(counting), asio::use_awaitable);
    stats.set_store_stats(counts);
    set_driver_metrics();
    net::response r;
    r.headers.push_back({"Content-Type", "text/plain; version=0.0.4"});
    r.body = stats.render();
    co_return r;
  }

  /// Dispatches one request of listener `on` through the route table (routes.hpp); a path that
  /// belongs to the other listener is 404 here.
  asio::awaitable<net::response> dispatch(const net::request& req, const net::peer_info&, listener on) {
    const std::string_view target = req.target;
    const auto path = target.substr(0, target.find('?'));
    const auto& notify_path = cfg.alipayplus.notify_path;
    if (listener_of_path(path, notify_path) != on) co_return error_response(404, "NOT_FOUND", "no route for this path");
    // The merchant API authenticates before it routes: an unknown /v1/ path is 401 without a token.
    if (path != notify_path && path.starts_with("/v1/")) co_return co_await api->handle(req);
    if (path != notify_path && path.starts_with("/pay/")) co_return co_await checkout->handle(req);
    const auto match = match_route(req.method, req.target, notify_path);
    if (const auto* wrong = std::get_if<method_mismatch>(&match)) {
      auto r = error_response(405, "METHOD_NOT_ALLOWED", "allowed here: " + wrong->allow);
      r.headers.push_back({"Allow", wrong->allow});
      co_return r;
    }
    if (const auto* bad = std::get_if<bad_parameter>(&match))
      co_return error_response(400, "INVALID_REQUEST", bad->message);
    const auto* found = std::get_if<route_match>(&match);
    if (found == nullptr) co_return error_response(404, "NOT_FOUND", "no route for this path");
    switch (found->matched->id) {
      case route_id::notify:  // a POST never gets here: serve() answers it on the network thread
        co_return error_response(405, "METHOD_NOT_ALLOWED", "notifyPayment is POST");
      case route_id::healthz: co_return json_response(200, json::object{{"status", "ok"}});
      case route_id::readyz: co_return readiness();
      case route_id::metrics: co_return co_await on_metrics();
      case route_id::admin_cancel:
      case route_id::admin_inquire:
      case route_id::admin_redeliver: co_return co_await on_admin(found->matched->id, found->params[0], req.target);
      case route_id::admin_refund: co_return co_await on_admin_refund(found->params[0], req);
      case route_id::create_payment:
      case route_id::consult:
      case route_id::get_payment:
      case route_id::cancel_payment:
      case route_id::create_refund:
      case route_id::get_refund:
      case route_id::events_feed: co_return co_await api->handle(req);
    }
    co_return error_response(404, "NOT_FOUND", "no route for this path");
  }

  /// Every request but a notifyPayment POST, on the reactor: dispatch, with store failures
  /// answered 503 and counted. The store's message (SQL text, file paths) goes to the log only.
  asio::awaitable<net::response> route(net::request req, net::peer_info peer, listener on) {
    try {
      co_return co_await dispatch(req, peer, on);
    } catch (const store::store_error& e) {
      ++store_failures;
      stats.count("cashierd_store_failures_total");
      // The detail (which statement, which file) is for the operator's log, never the caller.
      log_line(log_level::error, "request failed: the store failed", {{"error", e.what()}});
      co_return error_response(503, "STORE_UNAVAILABLE", "the database is unavailable; retry later");
    }
  }
  std::uint64_t store_failures = 0;

  void set_driver_metrics() {
    const auto s = drv->stats();
    stats.set_gauge(metric::deadlines_armed, {}, static_cast<double>(s.armed_deadlines));
    stats.set_gauge(metric::calls_in_flight, {}, static_cast<double>(s.calls_in_flight));
    stats.set_gauge(metric::timer_lateness_max, {{"lane", std::string(to_string(call_lane::urgent))}}, s.worst_urgent_lateness_s);
    stats.set_gauge(metric::timer_lateness_max, {{"lane", std::string(to_string(call_lane::polling))}}, s.worst_polling_lateness_s);
    stats.set_gauge(metric::budget_rate, {}, drv->budget().rate());
    stats.set_counter(metric::calls_deferred, {{"reason", "budget"}}, static_cast<double>(s.budget_deferred));
    stats.set_counter(metric::calls_deferred, {{"reason", "hint"}}, static_cast<double>(s.hints_skipped));
    stats.set_counter(metric::traffic_limited, {}, static_cast<double>(drv->budget().throttles()));
  }

  /// consultPayment for the merchant API; the call is logged like every other.
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
    for (const auto& c : in.calls) {
      stats.count("cashierd_alipayplus_calls_total", {{"api", c.api}, {"result", c.outcome}});
      stats.observe("cashierd_alipayplus_call_seconds", {{"api", c.api}}, static_cast<double>(c.latency_us) / 1e6);
    }
    if (out.result != engine::outcome::applied) return;
    checkout->on_commit(out.after);
    const auto& d = out.made;
    bool events = false;
    for (const auto& e : d.effects) {
      if (std::holds_alternative<emit_merchant_event>(e)) events = true;
      if (const auto* a = std::get_if<record_anomaly>(&e)) {
        stats.count("cashierd_anomalies_total");
        log_line(log_level::warn, "anomaly", {{"paymentRequestId", out.after.payment_request_id},
                                              {"kind", to_string(a->kind)}, {"detail", a->detail}});
      }
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
  daemon d(cfg);
  try {
    auto clustered = store::open_sqlite_clustered(
        cfg.database, {.synchronous = cfg.synchronous_full ? store::sync_mode::full : store::sync_mode::normal});
    d.cluster = clustered.get();
    d.store = std::move(clustered);
    d.stats_reader = store::open_sqlite_store(cfg.database, {.read_only = true});
    d.stats_thread = std::make_unique<asio::thread_pool>(1);
    name_pool_threads(*d.stats_thread, 1, "cashierd-stats");
  } catch (const store::store_error& e) {
    log_line(log_level::error, "cannot open the database", {{"database", cfg.database}, {"error", e.what()}});
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
  const auto params = params_of(cfg);
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
  d.notify = std::move(*ns);
  d.acks.emplace(std::move(*ab));
  d.drv = std::make_unique<driver>(d.io, *d.eng, *d.clock, *d.gateway);
  d.drv->observe([&d](const engine::input& in, const engine::output& out) { d.observe(in, out); });
  d.drv->on_group_commit([&d](double seconds) { d.stats.observe("cashierd_commit_seconds", {}, seconds); });
  d.drv->budget() = rate_budget(cfg.alipayplus.max_requests_per_second);
  d.drv->on_deadline_fired([&d](call_lane lane, double late) {
    d.stats.observe(metric::timer_lateness, {{"lane", std::string(to_string(lane))}}, late);
  });
  d.webhooks = std::make_unique<webhook_sender>(d.io.get_executor(), *d.store, *d.clock, cfg.merchants);
  d.webhooks->observe([&d](const delivery_report& r) {
    d.stats.count("cashierd_webhooks_total", {{"result", std::string(to_string(r.result))}});
  });
  d.api = std::make_unique<merchant_api>(merchant_api_deps{cfg, *d.drv, *d.eng, *d.clock,
      [&d](std::string body) { return d.consult(std::move(body)); }});
  d.checkout = std::make_unique<checkout_pages>(checkout_deps{*d.drv, *d.store, *d.clock,
      [&d](std::string body) { return d.consult(std::move(body)); }});

  // Refunds: their request bytes are built once, with cashierd's own refundRequestId.
  d.refund_eng = std::make_unique<engine::refund_engine>(*d.store, engine::refund_engine_config{
      .params = {},
      .build_request = refund_request_body,
      .new_request_id = {},
      .webhook_url = [&d](const payment& p) { return d.webhook_url_of(p); },
      .new_event_id = {}});
  d.refunds = std::make_unique<refund_driver>(d.io, *d.refund_eng, *d.store, *d.clock, *d.gateway, *d.gateway);
  d.refunds->on_commit([&d] { d.webhooks->poke(); });
  d.api->set_refunds(*d.refunds);
  // A cancel of a SUCCESS after the window became a refund row in the payment's commit: arm it.
  d.drv->observe([&d](const engine::input&, const engine::output& out) {
    for (const auto& e : out.made.effects)
      if (std::holds_alternative<start_refund>(e)) d.refunds->recover();
  });

  // One instance owns every shard (proto-docs/cluster.md): it claims them all with an epoch bump
  // before reading what to re-arm, and fences its commits with those epochs, so a second process
  // started on the same file takes over and this one's writes are refused from then on.
  try {
    const auto claimed = d.cluster->claim(cluster_instance_id(), 0, std::chrono::seconds(10), true);
    std::vector<store::shard_epoch> held;
    for (const auto& row : claimed.changed) held.push_back({row.shard, row.epoch});
    log_line(log_level::info, "claimed every shard", {{"shards", held.size()},
                                                       {"epoch", held.empty() ? std::int64_t{0} : held.front().epoch}});
    d.drv->fence_with(*d.cluster, std::move(held));
  } catch (const store::store_error& e) {
    log_line(log_level::error, "cannot claim the shards", {{"database", cfg.database}, {"error", e.what()}});
    return 1;
  }
  // Every open payment and refund is re-armed before the listener opens.
  const auto recovered = d.drv->recover();
  log_line(log_level::info, "recovered open payments", {{"count", recovered}});
  log_line(log_level::info, "recovered open refunds", {{"count", d.refunds->recover()}});

  net::server_options so;
  if (cfg.tls_cert) so.tls = net::make_server_context(*cfg.tls_cert, *cfg.tls_key).value();
  so.log = [](std::string_view line) { log_line(log_level::warn, "http", {{"detail", line}}); };
  so.limits.max_connections = cfg.max_connections;
  so.limits.max_connections_per_address = cfg.max_connections_per_address;
  so.limits.first_request_timeout = std::chrono::milliseconds(cfg.request_head_timeout_ms);
  const auto where = host_port(cfg.listen_host, cfg.listen_port);
  auto server = net::http_server::listen(
      d.net_io.get_executor(), where,
      [&d](net::request req, const net::peer_info& peer) { return d.serve(std::move(req), peer); }, so);
  if (!server) {
    log_line(log_level::error, "cannot listen", {{"listen", where}, {"error", server.error().message}});
    return 1;
  }
  d.server.emplace(std::move(*server));
  // The ops listener is plain HTTP, meant for loopback or a private network (PRODUCT.md).
  d.admin.emplace(cfg.admin_token);
  if (cfg.admin_token.empty())
    log_line(log_level::warn, "admin actions disabled: no adminToken or adminTokenFile configured");
  net::server_options ops = so;
  ops.tls = nullptr;
  const auto ops_where = host_port(cfg.ops_host, cfg.ops_port);
  auto ops_server = net::http_server::listen(
      d.net_io.get_executor(), ops_where,
      [&d](net::request req, const net::peer_info& peer) { return d.serve_ops(std::move(req), peer); }, ops);
  if (!ops_server) {
    log_line(log_level::error, "cannot listen", {{"opsListen", ops_where}, {"error", ops_server.error().message}});
    return 1;
  }
  d.ops_server.emplace(std::move(*ops_server));
  engine::set_checkout_base(public_url_of(cfg, d.server->port()));
  d.store->set_meta("public_url", public_url_of(cfg, d.server->port()));  // for cashierctl's checkoutUrl
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
            {"database", cfg.database}, {"gateway", cfg.alipayplus.gateway}});

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
      co_await d.webhooks->drain(std::chrono::seconds(10));
      d.io.stop();
    }, asio::detached);
  });
  d.io.run();
  net_work.reset();
  d.net_io.stop();
  net_thread.join();
  log_line(log_level::info, "cashierd stopped");
  return 0;
}

}  // namespace cashier::daemon
