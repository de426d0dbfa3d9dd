// The refund engine (refunds.hpp): check, store, step, record, commit.
#include "orchestrator/engine/refunds.hpp"

#include <span>

#include <boost/json/serialize.hpp>

#include "orchestrator/engine/payment_view.hpp"
#include "orchestrator/engine/random_id.hpp"

namespace cashier::engine {

namespace json = boost::json;

std::string_view to_string(refund_order_status s) {
  switch (s) {
    case refund_order_status::created: return "created";
    case refund_order_status::repeat: return "repeat";
    case refund_order_status::inconsistent: return "inconsistent";
    case refund_order_status::amount_exceed: return "amount_exceed";
    case refund_order_status::not_refundable: return "not_refundable";
    case refund_order_status::not_found: return "not_found";
    case refund_order_status::conflict: return "conflict";
  }
  return "?";
}

json::object refund_to_json(const refund& r) {
  json::object o;
  o["refundRequestId"] = r.refund_request_id;
  o["status"] = std::string(to_string(r.status));
  o["refundAmount"] = money_to_json(r.amount);
  o["reason"] = r.reason.empty() ? json::value(nullptr) : json::value(r.reason);
  o["origin"] = std::string(to_string(r.origin));
  o["refundId"] = r.refund_id.empty() ? json::value(nullptr) : json::value(r.refund_id);
  o["refundTime"] = r.refund_time.empty() ? json::value(nullptr) : json::value(r.refund_time);
  if (is_final(r.status) && r.result) {
    o["result"] = json::object{{"resultStatus", std::string(1, r.result->status)},
                               {"resultCode", r.result->code}};
  } else {
    o["result"] = nullptr;
  }
  o["createdAt"] = iso8601(r.created_at);
  o["updatedAt"] = iso8601(r.updated_at);
  return o;
}

json::object payment_with_refunds_json(const payment& p, const std::vector<refund>& refunds) {
  json::object o = payment_to_json(p);
  std::int64_t refunded = 0;
  json::array list;
  for (const refund& r : refunds) {
    if (r.status == refund_status::success) refunded += r.amount.minor_units;
    list.push_back(refund_to_json(r));
  }
  o["refundedAmount"] = money_to_json(money{refunded, p.amount.currency});
  o["refunds"] = std::move(list);
  return o;
}

std::string refund_webhook_payload(const payment& p, const std::vector<refund>& refunds,
                                   const refund& r, std::int32_t seq, std::string_view event_id,
                                   time_point now) {
  json::object data;
  data["payment"] = payment_with_refunds_json(p, refunds);
  data["refund"] = refund_to_json(r);
  data["sequence"] = seq;
  data["eventId"] = event_id;
  json::object o;
  o["type"] = std::string(refund_event_name(r.status));
  o["timestamp"] = iso8601(now);
  o["data"] = std::move(data);
  return json::serialize(o);
}

refund_engine::refund_engine(store::payment_store& store, refund_engine_config config)
    : store_(store), config_(std::move(config)) {}

namespace {

refund_order_result existing(const refund& r, const refund_order& order) {
  return {r.merchant_request == order.merchant_request ? refund_order_status::repeat
                                                       : refund_order_status::inconsistent,
          r, {}};
}

}  // namespace

std::optional<refund_order_result> answer_without_creating(store::payment_store& s, const refund_order& order) {
  const auto p = s.load(order.payment_id);
  if (!p) return refund_order_result{refund_order_status::not_found, {}, {}};
  if (auto r = s.find_refund(p->id, order.refund_request_id)) return existing(*r, order);
  if (p->status != payment_status::success || p->pending != pending_action::none) {
    return refund_order_result{refund_order_status::not_refundable, {}, {}};
  }
  if (order.amount.currency != p->amount.currency || order.amount.minor_units <= 0 ||
      s.refunded_or_pending(p->id) + order.amount.minor_units > p->amount.minor_units) {
    return refund_order_result{refund_order_status::amount_exceed, {}, {}};
  }
  return std::nullopt;
}

refund_order_result refund_engine::create(const refund_order& order, time_point now,
                                          const std::vector<store::shard_epoch>* epochs) {
  if (auto known = answer_without_creating(store_, order)) return std::move(*known);
  // The checks passed on this read; the commit checks amount and state again (rejected).
  const auto p = store_.load(order.payment_id);
  if (!p) return {refund_order_status::not_found, {}, {}};
  refund r;
  r.payment_row = p->id;
  r.refund_request_id = order.refund_request_id;
  r.alipay_refund_request_id = config_.new_request_id ? config_.new_request_id() : random_id("rf_");
  r.origin = order.origin;
  r.amount = order.amount;
  r.reason = order.reason;
  r.created_at = r.updated_at = now;
  r.merchant_request = order.merchant_request;
  r.request = config_.build_request(*p, r);
  // Stored with its first send already armed: the guard resends it if we die before the answer.
  const refund_decision d = step_refund(r, refund_created{}, now, config_.params, p->event_seq);
  r = d.next;
  const auto oc = commit(store::transition{.refunds = {store::refund_write{r, 0}}}, epochs);
  switch (oc.status) {
    case store::commit_status::committed:
      r.id = oc.refund_id;
      r.version = oc.refund_version;
      return {refund_order_status::created, r, d.effects};
    case store::commit_status::duplicate:
      if (auto again = store_.load_refund(oc.refund_id)) return existing(*again, order);
      return {refund_order_status::conflict, {}, {}};
    case store::commit_status::conflict:
    case store::commit_status::not_owner:  // fenced: another instance owns the payment's shard
      return {refund_order_status::conflict, {}, {}};
    case store::commit_status::rejected:
      if (oc.detail == store::refund_amount_exceed) return {refund_order_status::amount_exceed, {}, {}};
      if (oc.detail == store::payment_not_refundable) return {refund_order_status::not_refundable, {}, {}};
      throw store::store_error(store::store_failure::internal, "refund rejected: " + oc.detail);
  }
  return {refund_order_status::conflict, {}, {}};
}

refund_output refund_engine::apply(std::int64_t refund_id, const refund_event& e,
                                   std::vector<store::call_record> calls, time_point now,
                                   const std::vector<store::shard_epoch>* epochs) {
  refund_output out;
  const auto r = store_.load_refund(refund_id);
  const auto p = r ? store_.load(r->payment_row) : std::nullopt;
  if (!r || !p) {
    out.result = outcome::not_found;
    return out;
  }
  out.made = step_refund(*r, e, now, config_.params, p->event_seq);
  const refund_decision& d = out.made;
  for (auto& c : calls) {
    c.payment_id = p->id;
    c.refund_id = r->id;
  }
  store::transition t{.calls = std::move(calls)};
  for (const auto& eff : d.effects) {
    if (const auto* an = std::get_if<record_anomaly>(&eff)) {
      t.anomalies.push_back({0, p->id, std::string(to_string(an->kind)),
                             "refund " + r->refund_request_id + ": " + an->detail, now});
    }
  }
  if (d.changed) t.refunds.push_back(store::refund_write{d.next, r->version});
  if (d.event_seq != p->event_seq) {
    // The merchant event takes the payment's next sequence number in the same commit.
    payment after = *p;
    after.event_seq = d.event_seq;
    after.updated_at = now;
    auto refunds = store_.refunds_of(p->id);
    for (auto& other : refunds) {
      if (other.id == d.next.id) other = d.next;
    }
    for (const auto& eff : d.effects) {
      const auto* ev = std::get_if<emit_refund_event>(&eff);
      if (ev == nullptr) continue;
      store::outbox_record o;
      o.event_id = config_.new_event_id ? config_.new_event_id(after, ev->seq) : random_event_id();
      o.seq = ev->seq;
      o.type = std::string(refund_event_name(ev->outcome));
      o.payload = refund_webhook_payload(after, refunds, d.next, ev->seq, o.event_id, now);
      o.target_url = config_.webhook_url ? config_.webhook_url(after) : std::string();
      o.next_attempt_at = now;
      o.state = o.target_url.empty() ? store::outbox_state::delivered : store::outbox_state::pending;
      o.created_at = now;
      t.outbox.push_back(std::move(o));
    }
    t.after = after;
    t.before = *p;
    t.expected_version = p->version;
  } else {
    for (auto& a : t.anomalies) a.payment_id = p->id;
  }
  out.after = d.next;
  if (t.refunds.empty() && t.calls.empty() && t.anomalies.empty() && !t.after) {
    out.result = outcome::unchanged;
    return out;
  }
  const auto oc = commit(t, epochs);
  switch (oc.status) {
    case store::commit_status::committed:
      out.result = d.changed ? outcome::applied : outcome::unchanged;
      if (d.changed) out.after.version = oc.refund_version;
      return out;
    case store::commit_status::conflict:
      out.result = outcome::conflict;
      break;
    case store::commit_status::not_owner:  // fenced: the shard's owner drives the refund from here
      out.result = outcome::not_owner;
      break;
    case store::commit_status::duplicate:
    case store::commit_status::rejected:
      out.result = outcome::rejected;
      out.detail = oc.detail;
      break;
  }
  out.after = *r;
  out.made.effects.clear();
  return out;
}

void refund_engine::fence_with(store::cluster_store& cluster, std::function<std::vector<store::shard_epoch>()> held) {
  cluster_ = held ? &cluster : nullptr;
  held_ = std::move(held);
}

store::commit_outcome refund_engine::commit(const store::transition& t, const std::vector<store::shard_epoch>* epochs) {
  if (cluster_ == nullptr) return store_.commit_one(t);
  if (epochs != nullptr) return cluster_->commit_fenced(std::span(&t, 1), *epochs).front();
  const auto held = held_();
  return cluster_->commit_fenced(std::span(&t, 1), held).front();
}

}  // namespace cashier::engine
