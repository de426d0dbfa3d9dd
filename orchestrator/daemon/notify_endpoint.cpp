// The notifyPayment endpoint (see notify_endpoint.hpp).
#include "orchestrator/daemon/notify_endpoint.hpp"

#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>

#include "orchestrator/daemon/log.hpp"
#include "orchestrator/daemon/merchant_answers.hpp"
#include "orchestrator/net/http_types.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;
namespace json = boost::json;

using answers::server_error_response;

event notify_event(const aplus::notify_payment_request& n) {
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

notify_endpoint::notify_endpoint(notify_endpoint_deps deps, notify_settings settings, ack_builder acks)
    : deps_(deps), settings_(std::move(settings)), acks_(std::move(acks)) {}

// On the network thread: the Client-Id (a notify that is not addressed to us is refused there,
// before anything is written), authentication and decoding (an RSA verify, the JSON), then the
// commit on the reactor, then the signed ack (one RSA signature per second, see ack_builder).
asio::awaitable<net::response> notify_endpoint::serve(net::request req) {
  if (!client_id_ok(req, settings_)) co_return refuse_foreign(req);
  auto check = check_notify(req, settings_, wall_now());
  // A named coroutine, not a lambda inside the co_await (GCC 12 destroys those twice).
  auto task = record(std::move(req), std::move(check));
  auto answer = co_await asio::co_spawn(deps_.reactor, std::move(task), asio::use_awaitable);
  if (answer.refusal) co_return std::move(*answer.refusal);
  auto res = ack();
  if (answer.hold != 0)  // written or not, the held calls start (on the reactor)
    res.after_write = [this, hold = answer.hold](bool) {
      asio::post(deps_.reactor, [this, hold] { deps_.drv.release(hold); });
    };
  co_return res;
}

/// A notify whose Client-Id is not ours: counted, logged at most once per 10 s (with how many
/// were not), answered 401, nothing written.
net::response notify_endpoint::refuse_foreign(const net::request& req) {
  asio::post(deps_.reactor, [this] { deps_.stats.count(metric::notifies, {{"outcome", "wrong_client_id"}}); });
  if (const auto dropped = foreign_log_.admit(std::chrono::steady_clock::now()))
    log_line(log_level::warn, "notify refused: Client-Id is not ours (nothing recorded)",
             {{"clientId", log_safe(net::find_header(req.headers, "Client-Id").value_or(""))},
              {"notLoggedSinceLastLine", *dropped}});
  return reject_response(notify_verification::wrong_client_id);
}

/// The signed ack (the ack builder is the network thread's alone).
net::response notify_endpoint::ack() {
  const auto signed_before = acks_.signatures();
  auto answer = acks_.build_ack(wall_now());
  if (acks_.signatures() != signed_before)
    asio::post(deps_.reactor, [this] { deps_.stats.count(metric::ack_signatures); });  // metrics live on the reactor
  return answer;
}

// On the reactor: records the notify (and applies it when authentic) in one commit.
asio::awaitable<notify_endpoint::notify_answer> notify_endpoint::record(net::request req, notify_check check) {
  const auto verdict = std::string(to_string(check.verification));
  deps_.stats.count(metric::notifies, {{"outcome", verdict}});
  store::notify_record rec;
  rec.payment_request_id = check.payment_request_id;
  rec.body = std::move(req.body);
  rec.headers = format_headers(req.headers);
  rec.verification = verdict;
  rec.received_at = deps_.clock.now();
  rec.digest = std::move(check.digest);
  try {
    // Only the id: the engine reads the payment itself when the batch is applied. Read on the
    // store thread; the reactor serves other requests meanwhile.
    std::optional<std::int64_t> id;
    if (!check.payment_request_id.empty()) {
      const auto lookup = [request_id = check.payment_request_id](store::payment_store& s) { return s.id_of(request_id); };
      id = co_await deps_.db.call(lookup);
    }
    engine::input in;
    if (check.verification != notify_verification::ok) {
      // Changes nothing, but may prompt an inquiry (at most one per payment per 10 s, wall
      // clock); otherwise it is only kept, within the rejected-notify budget, unattributed.
      // In cluster mode only the payment's owner may commit the hint (the fence would refuse
      // the record with it), and it polls the payment anyway: never posted to the inbox.
      const bool ours = inbox_ == nullptr || inbox_->acts_for(check.payment_request_id);
      if (id && ours && hint_allowed(*id)) {
        in.payment_id = *id;
        in.ev = notify_unverified{};
      }
      in.notifies.push_back(std::move(rec));
      if (const auto dropped = rejected_log_.admit(std::chrono::steady_clock::now()))
        log_line(log_level::warn, "notify rejected",
                 {{"paymentRequestId", log_safe(check.payment_request_id)}, {"verification", verdict},
                  {"detail", log_safe(check.detail, 256)}, {"notLoggedSinceLastLine", *dropped}});
      deps_.drv.post(std::move(in));
      co_return notify_answer{reject_response(check.verification)};
    }
    const auto digest = rec.digest;
    in.payment_id = id.value_or(0);
    in.notifies.push_back(std::move(rec));
    if (id)
      in.ev = notify_event(*check.message);
    else if (first_anomaly_of("orphan_notify", digest))
      in.anomalies.push_back({0, 0, "orphan_notify",
                              "notify for unknown paymentRequestId " + check.message->payment_request_id,
                              deps_.clock.now()});
    if (!check.set_aside.empty()) {
      json::array fields;
      for (const auto& f : check.set_aside) fields.emplace_back(f);
      log_line(log_level::warn, "notify: malformed informational fields kept raw, not applied",
               {{"paymentRequestId", log_safe(check.payment_request_id)}, {"fields", std::move(fields)}});
    }
    if (check.skew && first_anomaly_of("clock_skew", digest)) {
      deps_.stats.count(metric::notify_clock_skew);
      in.anomalies.push_back({0, 0, "clock_skew",
                              "authentic notify acked with Request-Time " + std::to_string(check.skew->count()) +
                                  " s from now, beyond maxClockSkewSeconds (a clock skew or a replay)",
                              deps_.clock.now()});
    }
    // Another instance's payment: acked once the inbox row is durable (the owner applies it).
    if (id && inbox_ != nullptr) {
      const auto routed = co_await inbox_->route(in, check.payment_request_id);
      if (routed) co_return notify_answer{};
    }
    auto out = co_await deps_.drv.submit_and_hold(std::move(in));
    // Nothing of it was written (not_owner: the fence refused it): Alipay+ must send it again.
    const auto result = out.out.result;
    if (result == engine::outcome::conflict || result == engine::outcome::rejected ||
        result == engine::outcome::not_owner) {
      deps_.drv.release(out.hold);
      co_return notify_answer{server_error_response(503, "RETRY", "could not record the notify; please retry")};
    }
    co_return notify_answer{std::nullopt, out.hold};
  } catch (const store::store_error& e) {
    deps_.stats.count(metric::store_failures);
    log_line(log_level::error, "notify not recorded: the store failed", {{"error", e.what()}});
    co_return notify_answer{server_error_response(503, "STORE_UNAVAILABLE", "the notify could not be recorded; retry later")};
  }
}

/// Whether a rejected notify naming payment `id` may prompt an inquiry now: at most one per
/// payment per 10 s of WALL time (Contract 2; a scaled payment clock must not multiply them).
/// The memory is bounded: when full, entries older than the interval are dropped, and if it is
/// still full the hint is skipped (polling covers the payment anyway).
bool notify_endpoint::hint_allowed(std::int64_t id) {
  const auto now = std::chrono::steady_clock::now();
  if (const auto it = last_hint_.find(id); it != last_hint_.end()) {
    if (now - it->second < hint_interval) {
      deps_.stats.count(metric::notify_hints_limited);
      return false;
    }
    it->second = now;
    return true;
  }
  if (last_hint_.size() >= max_remembered)
    std::erase_if(last_hint_, [&](const auto& e) { return now - e.second >= hint_interval; });
  if (last_hint_.size() >= max_remembered) {
    deps_.stats.count(metric::notify_hints_limited);
    return false;
  }
  last_hint_.emplace(id, now);
  return true;
}

/// True the first time (of the last 10,000) an anomaly of `kind` is raised by a notify with
/// `digest`: a replayed copy is counted on its notify row, never recorded as another anomaly
/// (anomalies page someone; replays must not).
bool notify_endpoint::first_anomaly_of(std::string_view kind, const std::string& digest) {
  if (digest.empty()) return true;
  auto key = std::string(kind) + '\0' + digest;
  if (!anomaly_digests_.insert(key).second) return false;
  anomaly_order_.push_back(std::move(key));
  if (anomaly_order_.size() > max_remembered) {
    anomaly_digests_.erase(anomaly_order_.front());
    anomaly_order_.pop_front();
  }
  return true;
}

}  // namespace cashier::daemon
