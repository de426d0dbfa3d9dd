// The merchant API (see merchant_api.hpp): authentication, routing and the five endpoints.
// Body validation and request building live in create_request.cpp, the answer building blocks
// in merchant_answers.cpp.
#include "orchestrator/daemon/merchant_api.hpp"

#include <stdexcept>
#include <utility>
#include <variant>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <boost/json/parse.hpp>

#include "orchestrator/daemon/checkout_pages.hpp"
#include "orchestrator/daemon/create_request.hpp"
#include "orchestrator/daemon/log.hpp"
#include "orchestrator/daemon/merchant_answers.hpp"
#include "orchestrator/daemon/routes.hpp"
#include "orchestrator/engine/payment_view.hpp"

namespace cashier::daemon {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using net::request;
using net::response;
using namespace answers;

/// How often a cancel is resubmitted when another writer changed the payment meanwhile.
constexpr int max_conflict_retries = 3;
/// The events feed page size: default and most.
constexpr std::int64_t default_feed_limit = 100;
constexpr std::int64_t max_feed_limit = 500;

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> out{};
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), out.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != out.size())
    throw std::runtime_error("SHA-256 failed");
  return out;
}

response path_not_found() { return error_response(404, "NOT_FOUND", "no such endpoint"); }

response payment_not_found() { return error_response(404, "PAYMENT_NOT_FOUND", "no such payment"); }

bool pay_answered(const payment& p) {
  return p.status != payment_status::init || p.pending != pending_action::pay;
}

/// True when the stored merchant request is the same JSON value as `body`.
bool same_json(const std::string& stored, const json::value& body) {
  boost::system::error_code ec;
  const json::value v = json::parse(stored, ec);
  return !ec && v == body;
}

/// 200 with `existing` for an idempotent repeat, else 409.
response repeat(const payment& existing, const merchant_config& m, const json::value& body) {
  if (existing.merchant_id == m.id && same_json(existing.merchant_request, body))
    return json_response(200, engine::payment_to_json(existing));
  return error_response(409, "REPEAT_REQ_INCONSISTENT",
                        "paymentRequestId is already used by a different request",
                        "paymentRequestId");
}

std::optional<std::string_view> request_id_of(const json::value& body) {
  const auto* object = body.if_object();
  const auto* id = object ? object->if_contains("paymentRequestId") : nullptr;
  if (id == nullptr || !id->is_string()) return std::nullopt;
  return std::string_view(id->get_string());
}

/// Rereads `p` on the store thread; false when the store cannot be read. The payment is
/// committed by then, so the caller answers with what it has rather than with an error.
asio::awaitable<bool> reload(store_thread& db, payment& p) {
  try {
    const auto load = [id = p.id](store::payment_store& s) { return s.load(id); };
    auto fresh = co_await db.call(load);
    if (fresh) p = std::move(*fresh);
    co_return true;
  } catch (const store::store_error& e) {
    log_line(log_level::error, "merchant API: reload failed",
             {{"paymentId", p.id}, {"error", e.what()}});
    co_return false;
  }
}

response cancel_answer(const engine::output& out) {
  switch (out.result) {
    case engine::outcome::applied:
    case engine::outcome::unchanged:
      if (!out.made.rejected) return json_response(202, engine::payment_to_json(out.after));
      switch (*out.made.rejected) {
        case rejection::already_final:
          return error_response(409, "PAYMENT_FINAL",
                                "the payment is " + std::string(to_string(out.after.status)) +
                                    " and can no longer be cancelled");
      }
      break;
    case engine::outcome::not_found:
      return payment_not_found();
    case engine::outcome::duplicate:
    case engine::outcome::conflict:
    case engine::outcome::not_owner:
    case engine::outcome::rejected:
      break;
  }
  log_line(log_level::error, "merchant API: cancel not applied", {{"detail", out.detail}});
  return error_response(500, "INTERNAL", "the cancel could not be recorded");
}

response consult_answer(const consult_outcome& o) {
  if (!o.verified_body)
    return error_response(502, "ALIPAYPLUS_UNAVAILABLE", "no answer from Alipay+: " + o.error);
  const auto answer = aplus::decode_consult_payment_response(*o.verified_body);
  if (!answer)
    return error_response(502, "ALIPAYPLUS_UNAVAILABLE",
                          "unreadable answer from Alipay+: " + aplus::to_string(answer.errors()));
  const auto& r = answer->result;
  const std::string said =
      std::string(1, r.status) + "/" + r.code + (r.message.empty() ? "" : " (" + r.message + ")");
  if (r.status == 'F')
    return error_response(502, "ALIPAYPLUS_REJECTED", "Alipay+ refused the consult: " + said);
  if (r.status != 'S')
    return error_response(502, "ALIPAYPLUS_UNAVAILABLE", "Alipay+ answered " + said);
  json::value options =
      answer->payment_options ? aplus::to_json(*answer->payment_options) : json::array();
  return json_response(200, json::object{{"paymentOptions", std::move(options)}});
}

/// What a consult answer depends on (issue 14, item 11): the merchant and the record it
/// consults for, the currency and amount band, the user's region, the terminal and the
/// settlement currency. Every part is a checked code or a configured id (no separator inside).
std::string consult_cache_key(const merchant_config& m, const aplus::consult_payment_request& r) {
  std::string key = m.id;
  const auto add = [&key](std::string_view part) {
    key += '\n';
    key += part;
  };
  add(r.merchant ? r.merchant->reference_merchant_id : "");
  add(r.payment_amount.currency.view());
  add(std::to_string(consult_amount_band(r.payment_amount.minor_units)));
  add(r.user_region.value_or(""));
  add(r.env ? r.env->terminal_type : "");
  add(r.env && r.env->os_type ? *r.env->os_type : "");
  add(r.settlement_strategy ? r.settlement_strategy->settlement_currency.view() : "");
  return key;
}

}  // namespace

int consult_amount_band(std::int64_t minor_units) {
  int band = 0;
  for (auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(minor_units, 0)); v != 0; v >>= 1) ++band;
  return band;
}

merchant_api::merchant_api(merchant_api_deps deps) : deps_(std::move(deps)) {
  for (const auto& m : deps_.cfg.merchants)
    if (!m.id.empty() && !m.token.empty()) keys_.push_back({&m, sha256(m.token)});
  deps_.drv.observe([awaited = std::weak_ptr(commits_of_awaited_)](const engine::input&, const engine::output& out) {
    const auto counts = awaited.lock();
    if (!counts) return;
    if (const auto it = counts->find(out.after.id); it != counts->end()) ++it->second;
  });
}

const merchant_config* merchant_api::authenticate(const request& req) const {
  const auto token = bearer_token(req);
  if (!token) return nullptr;
  // Digests have equal lengths, so CRYPTO_memcmp's time depends on neither token; every key is
  // compared, whether or not an earlier one matched.
  const auto digest = sha256(*token);
  const merchant_config* found = nullptr;
  for (const auto& k : keys_)
    if (CRYPTO_memcmp(k.digest.data(), digest.data(), digest.size()) == 0) found = k.merchant;
  return found;
}

asio::awaitable<response> merchant_api::handle(const request& req, const match_result& match) {
  const merchant_config* m = authenticate(req);
  if (m == nullptr) {
    auto r = error_response(401, "UNAUTHORIZED", "missing or unknown Bearer token");
    r.headers.push_back({"WWW-Authenticate", "Bearer"});
    co_return r;
  }
  try {
    co_return co_await route(req, *m, match);
  } catch (const store::store_error& e) {
    log_line(log_level::error, "merchant API: store unavailable", {{"error", e.what()}});
    co_return retry_later(
        "the payment store is unavailable (disk full, read-only or I/O error); nothing was recorded, retry later");
  }
}

asio::awaitable<response> merchant_api::route(const request& req, const merchant_config& m,
                                              const match_result& match) {
  // Matched once against the daemon's route table by the request router; only /v1/ paths get here.
  if (const auto* wrong = std::get_if<method_mismatch>(&match)) co_return method_not_allowed(wrong->allow);
  if (const auto* bad = std::get_if<bad_parameter>(&match))
    co_return error_response(400, "INVALID_REQUEST", bad->message, bad->name);
  const auto* found = std::get_if<route_match>(&match);
  if (found == nullptr) co_return path_not_found();
  const auto& params = found->params;
  switch (found->matched->id) {
    case route_id::create_payment: co_return co_await create(req, m);
    case route_id::consult: co_return co_await consult(req, m);
    case route_id::get_payment: co_return co_await get(m, params[0], req);
    case route_id::cancel_payment: co_return co_await cancel(req, m, params[0]);
    case route_id::events_feed: co_return co_await events(m, req);
    case route_id::create_refund: co_return co_await create_refund(req, m, params[0]);
    case route_id::get_refund: co_return co_await get_refund(m, params[0], params[1]);
    case route_id::notify:
    case route_id::healthz:
    case route_id::readyz:
    case route_id::metrics:
    case route_id::admin_cancel:
    case route_id::admin_inquire:
    case route_id::admin_refund:
    case route_id::admin_redeliver: break;
  }
  co_return path_not_found();
}

asio::awaitable<response> merchant_api::create(const request& req, const merchant_config& m) {
  if (auto bad = check_json_body(req)) co_return *bad;
  const auto body = aplus::parse_untrusted(req.body);
  if (!body) co_return invalid_request(body.errors());
  // A repeat is answered before validation: time-dependent rules (expiry in the future) must not
  // turn a retry of an accepted request into a 400.
  // Only this merchant's ids: another merchant's is a new payment (no existence oracle).
  if (const auto id = request_id_of(*body)) {
    const auto lookup = [merchant = m.id, request_id = std::string(*id)](store::payment_store& s) {
      const auto existing_id = s.id_of(merchant, request_id);
      return existing_id ? s.load(*existing_id) : std::nullopt;
    };
    const auto existing = co_await deps_.db.call(lookup);
    if (existing) co_return repeat(*existing, m, *body);
  }
  const auto now = deps_.clock.now();
  const auto parsed = parse_create_request(fill_merchant(*body, m, false), now);
  if (!parsed) co_return invalid_request(parsed.errors());
  if (auto wrong = check_merchant(parsed->order.merchant, m, "order.merchant"))
    co_return error_response(400, "MERCHANT_MISMATCH", wrong->message, wrong->field);
  if (auto bad_host = check_notify_host(*parsed, m.notify_hosts)) co_return invalid_request({*bad_host});
  const auto alipay_id = deps_.new_alipay_id ? deps_.new_alipay_id() : new_alipay_payment_request_id();
  if (!alipay_id) {
    // Cluster mode, no shard held yet (starting, or cut off from the database): as an outage.
    co_return retry_later("this instance cannot take payments yet; nothing was recorded, retry later");
  }
  const create_context ctx{m.id, deps_.cfg.alipayplus.notify_url,
                           std::chrono::minutes(deps_.cfg.payment.default_expiry_minutes), now, *alipay_id};
  engine::input in;
  in.create = build_payment(*parsed, req.body, ctx);
  in.create->checkout_id = new_checkout_id();  // the hosted page's id (checkout_pages.hpp)
  in.ev = created{};
  auto out = co_await deps_.drv.submit(std::move(in));
  switch (out.result) {
    case engine::outcome::duplicate:
      co_return repeat(out.after, m, *body);
    case engine::outcome::applied: {
      const payment p = co_await await_pay_answer(std::move(out.after));
      if (pay_answered(p)) co_return json_text_response(201, engine::payment_json(p));
      co_await note_early_answer(p);  // committed before the 202 leaves: payment.pending is owed
      co_return json_text_response(202, engine::payment_json(p));
    }
    case engine::outcome::unchanged:
    case engine::outcome::not_found:
    case engine::outcome::conflict:
    case engine::outcome::not_owner:
    case engine::outcome::rejected:
      break;
  }
  log_line(log_level::error, "merchant API: create not applied",
           {{"paymentRequestId", parsed->payment_request_id}, {"detail", out.detail}});
  co_return error_response(500, "INTERNAL", "the payment could not be stored");
}

asio::awaitable<void> merchant_api::note_early_answer(const payment& p) {
  const auto payment_id = p.id;
  for (int attempt = 0; attempt < max_conflict_retries; ++attempt) {
    engine::input in;
    in.payment_id = payment_id;
    in.ev = create_answered_early{};
    if (inbox_ != nullptr) {  // the shard was lost since the create (no co_await in a condition: coding-rules.md)
      const auto routed = co_await inbox_->route(in, p);
      if (routed) co_return;
    }
    const auto out = co_await deps_.drv.submit(std::move(in));
    if (out.result != engine::outcome::conflict) co_return;
  }
  // The merchant still gets its 202 and can GET the payment; only payment.pending is lost.
  log_line(log_level::warn, "merchant API: the 202 of a create could not be noted",
           {{"paymentId", std::to_string(payment_id)}});
}

asio::awaitable<payment> merchant_api::await_pay_answer(payment p) {
  using std::chrono::milliseconds;
  const auto deadline =
      std::chrono::steady_clock::now() + milliseconds(deps_.cfg.payment.create_wait_ms);
  // Only the create that applied the payment waits on it: one entry per id.
  const auto counts = commits_of_awaited_;
  counts->emplace(p.id, 0);
  for (;;) {
    // Reread before every wait: the answer may have been committed while this coroutine was
    // queued, before any watcher was registered. The read is a job on the store thread and the
    // reactor runs on meanwhile: a commit of this payment observed while it was out may have
    // woken nobody, so the payment is read again rather than waited on. Nothing suspends
    // between the count's check and wait_for_change's registration.
    const auto seen = counts->at(p.id);
    const bool read = co_await reload(deps_.db, p);
    if (!read || pay_answered(p)) break;
    if (counts->at(p.id) != seen) continue;
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= milliseconds::zero()) break;
    co_await deps_.drv.wait_for_change(p.id, left);
  }
  counts->erase(p.id);
  co_return p;
}

asio::awaitable<std::optional<payment>> merchant_api::own_payment(const merchant_config& m, const std::string& id) {
  // Scoped by merchant: another merchant's id is simply not found, answered as an unknown one.
  const auto find = [merchant = m.id, id](store::payment_store& s) { return s.find(merchant, id); };
  co_return co_await deps_.db.call(find);
}

asio::awaitable<response> merchant_api::get(const merchant_config& m, const std::string& id, const request& req) {
  bool with_events = false;
  for (const auto& [key, value] : query_params(req.target)) {
    if (key != "events") co_return bad_query(key, "unknown query parameter");
    if (value != "true" && value != "false") co_return bad_query(key, "not true or false");
    with_events = value == "true";
  }
  // One job: the payment, its refunds and (when asked) its event log, read together.
  struct read {
    std::optional<payment> p;
    std::vector<refund> refunds;
    std::vector<store::event_record> events;
  };
  const auto job = [merchant = m.id, id, with_events](store::payment_store& s) {
    read out;
    out.p = s.find(merchant, id);
    if (!out.p) return out;
    out.refunds = s.refunds_of(out.p->id);
    if (with_events) out.events = s.events_of(out.p->id);
    return out;
  };
  const auto r = co_await deps_.db.call(job);
  if (!r.p) co_return payment_not_found();
  json::object body = engine::payment_with_refunds_json(*r.p, r.refunds);
  if (with_events) body["events"] = event_log_json(r.events);
  co_return json_response(200, body);
}

asio::awaitable<response> merchant_api::cancel(const request& req, const merchant_config& m,
                                               const std::string& id) {
  if (auto bad = check_json_body(req)) co_return *bad;
  const auto p = co_await own_payment(m, id);
  if (!p) co_return payment_not_found();
  const auto reason = parse_cancel_reason(req.body);
  if (!reason) co_return invalid_request(reason.errors());
  for (int attempt = 0; attempt < max_conflict_retries; ++attempt) {
    engine::input in;
    in.payment_id = p->id;
    in.ev = cancel_requested{requester::merchant, *reason};
    // Another instance's payment: accepted once the inbox row is durable (the owner applies it).
    if (inbox_ != nullptr) {
      const auto routed = co_await inbox_->route(in, *p);
      if (routed) co_return cancel_answer(*routed);
    }
    const auto out = co_await deps_.drv.submit(std::move(in));
    // A conflict means another writer changed the payment between load and commit, not_owner
    // that the shard was lost meanwhile (the next attempt goes to the inbox): resubmit.
    if (out.result != engine::outcome::conflict && out.result != engine::outcome::not_owner)
      co_return cancel_answer(out);
  }
  co_return error_response(503, "STORE_UNAVAILABLE", "the payment kept changing; retry later");
}

asio::awaitable<response> merchant_api::consult(const request& req, const merchant_config& m) {
  if (auto bad = check_json_body(req)) co_return *bad;
  const auto body = aplus::parse_untrusted(req.body);
  if (!body) co_return invalid_request(body.errors());
  // The merchant record is bound to the config as for a create (filled in when left out).
  const auto consult_request = parse_consult_request(fill_merchant(*body, m, true));
  if (!consult_request) co_return invalid_request(consult_request.errors());
  // fill_merchant guarantees a merchant in a body that parses; an absent one would mismatch.
  const auto& sent = consult_request->merchant ? *consult_request->merchant : aplus::merchant{};
  if (auto wrong = check_merchant(sent, m, "merchant"))
    co_return error_response(400, "MERCHANT_MISMATCH", wrong->message, wrong->field);
  const auto key = consult_cache_key(m, *consult_request);
  if (const auto* hit = cached_consult(key)) co_return *hit;
  if (!deps_.consult)
    co_return error_response(502, "ALIPAYPLUS_UNAVAILABLE", "consultPayment is not available");
  const consult_outcome outcome = co_await deps_.consult(aplus::encode(*consult_request));
  auto answer = consult_answer(outcome);
  if (answer.status == 200) keep_consult(key, answer);  // failures are never kept
  co_return answer;
}

const response* merchant_api::cached_consult(const std::string& key) {
  const auto it = consult_cache_.find(key);
  if (it == consult_cache_.end()) return nullptr;
  if (it->second.expires_at <= deps_.clock.now()) {
    consult_cache_.erase(it);
    return nullptr;
  }
  return &it->second.answer;
}

void merchant_api::keep_consult(const std::string& key, const response& answer) {
  const auto seconds = deps_.cfg.payment.consult_cache_seconds;
  if (seconds <= 0) return;
  const auto now = deps_.clock.now();
  if (consult_cache_.size() >= max_consult_cache_entries && !consult_cache_.contains(key)) {
    std::erase_if(consult_cache_, [&](const auto& e) { return e.second.expires_at <= now; });
    if (consult_cache_.size() >= max_consult_cache_entries) {
      auto soonest = consult_cache_.begin();
      for (auto it = consult_cache_.begin(); it != consult_cache_.end(); ++it)
        if (it->second.expires_at < soonest->second.expires_at) soonest = it;
      consult_cache_.erase(soonest);
    }
  }
  consult_cache_[key] = consult_entry{answer, now + std::chrono::seconds(seconds)};
}

asio::awaitable<response> merchant_api::events(const merchant_config& m, const request& req) {
  std::int64_t after = 0;
  std::int64_t limit = default_feed_limit;
  for (const auto& [key, value] : query_params(req.target)) {
    const auto n = parse_count(value);
    if (key == "after") {
      if (!n) co_return bad_query(key, "not a cursor (nextCursor of a previous page)");
      after = *n;
    } else if (key == "limit") {
      if (!n || *n < 1 || *n > max_feed_limit)
        co_return bad_query(key, "not an integer from 1 to 500");
      limit = *n;
    } else {
      co_return bad_query(key, "unknown query parameter");
    }
  }
  const auto page = [merchant = m.id, after, limit](store::payment_store& s) {
    return s.events_feed(merchant, after, static_cast<std::size_t>(limit));
  };
  const auto rows = co_await deps_.db.call(page);
  json::array list;
  for (const auto& r : rows) list.push_back(feed_entry_json(r));
  // The merchant's own feed sequence: a cursor says nothing of other merchants' volume.
  const std::int64_t next = rows.empty() ? after : rows.back().feed_seq;
  co_return json_response(
      200, json::object{{"events", std::move(list)}, {"nextCursor", std::to_string(next)}});
}

}  // namespace cashier::daemon
