// The simulation's refunds (see refund_world.hpp).
#include "tests/sim/refund_world.hpp"

#include <algorithm>
#include <set>
#include <sstream>

#include <boost/json/parse.hpp>

namespace cashier::sim {
namespace {
using namespace std::chrono_literals;

/// The daemon's requestTimeoutMs: a call without an answer ends this long after it started.
constexpr auto request_timeout = 15s;
/// How long the merchant waits before sending an unanswered refund create again.
constexpr auto merchant_retry = 10s;
/// How often the merchant looks again at a payment that is not final yet.
constexpr auto not_yet_paid_retry = 5min;
/// The merchant gives up an order after this many tries (a stuck world is reported elsewhere).
constexpr int max_tries = 2000;

refund_event no_answer_of(engine::refund_call kind, no_answer_reason why) {
  switch (kind) {
    case engine::refund_call::refund: return refund_no_answer{why};
    case engine::refund_call::inquiry: return inquiry_no_answer{why};
  }
  return refund_no_answer{why};
}

std::string text(const aplus_result& r) { return std::string(1, r.status) + "/" + r.code; }

}  // namespace

void refund_totals::merge(const refund_totals& o) {
  planned += o.planned;
  orders += o.orders;
  created += o.created;
  repeats += o.repeats;
  inconsistent += o.inconsistent;
  exceeded += o.exceeded;
  not_refundable += o.not_refundable;
  succeeded += o.succeeded;
  failed += o.failed;
  from_cancels += o.from_cancels;
  calls += o.calls;
  inquiries += o.inquiries;
  events += o.events;
  refunded_minor += o.refunded_minor;
}

refund_world::refund_world(event_queue& queue, std::uint64_t seed, const fault_rates& rates, fault_counts& faults,
                           violation_log& log, sim_cashierd& cashierd, fake_aplus& fake, checker& payments)
    : queue_(queue), rng_(seed ^ 0x7265'6675'6e64ULL), rates_(rates), faults_(faults), log_(log),
      cashierd_(cashierd), fake_(fake), payments_(payments) {
  if (rng_.chance(0.25)) batch_at_ = queue_.now() + rng_.between(90min, 150min);
  cashierd_.on_refund([this](const refund& r) { on_created(r); },
                      [this](const engine::refund_input& in, const engine::refund_output& out, const payment& p) {
                        on_commit(in, out, p);
                      });
}

void refund_world::fail(const std::string& what) { log_.add(queue_.now(), what); }

// ---- the merchant ----

void refund_world::plan(const std::string& id, const money& amount, time_point created) {
  if (!rng_.chance(0.35)) return;
  ++totals_.planned;
  const std::int64_t a = amount.minor_units;
  std::vector<order> orders;
  const double pattern = rng_.unit();
  if (a < 4 || pattern < 0.2) {
    orders.push_back({id, "full", a});
  } else if (pattern < 0.55) {
    orders.push_back({id, "part-1", rng_.uniform(1, a - 1)});
  } else if (pattern < 0.85) {  // two partials and the rest
    const auto x1 = rng_.uniform(1, a / 2);
    const auto x2 = rng_.uniform(1, a - x1 - 1);
    orders.push_back({id, "part-1", x1});
    orders.push_back({id, "part-2", x2});
    orders.push_back({id, "rest", a - x1 - x2});
  } else {  // a partial, then one more than what is left
    const auto x1 = rng_.uniform(1, a - 1);
    orders.push_back({id, "part-1", x1});
    orders.push_back({id, "over", a - x1 + 1, true});
  }
  if (rng_.chance(0.15)) orders.push_back(orders.front());  // an idempotent repeat
  if (rng_.chance(0.1)) {  // the first key again, with another body
    order other = orders.front();
    other.amount = std::max<std::int64_t>(1, other.amount - 1);
    if (other.amount != orders.front().amount) {
      other.other_body = true;
      orders.push_back(other);
    }
  }
  queued_orders_[id] = std::move(orders);
  queue_.at(batch_at_ ? *batch_at_ : created + rng_.between(20min, 150min), [this, id] { next_order(id); });
}

void refund_world::next_order(const std::string& payment) {
  auto& orders = queued_orders_[payment];
  if (orders.empty()) return;
  order o = orders.front();
  orders.erase(orders.begin());
  send_order(std::move(o));
}

void refund_world::plan_crash() {
  if (!rng_.chance(0.4)) return;
  queue_.at(queue_.now() + rng_.between(30min, 3h), [this] {
    if (cashierd_.up()) cashierd_.crash();
  });
}

void refund_world::send_order(order o) {
  if (++o.tries > max_tries) return fail(o.payment + ": the merchant gave up refund " + o.key);
  const auto again = [this, o](duration after) { queue_.after(after, [this, o] { send_order(o); }); };
  if (!cashierd_.up()) return again(merchant_retry);  // connection refused
  const auto p = cashierd_.find(o.payment);
  if (!p) return again(merchant_retry);
  if (p->status != payment_status::success) {
    if (is_final(p->status)) {
      ++totals_.not_refundable;  // never paid, or cancelled: nothing to refund
      return;
    }
    return again(not_yet_paid_retry);
  }
  engine::refund_order ro{p->id, o.key, money{o.amount, p->amount.currency}, "", refund_origin::merchant,
                          "v=" + std::to_string(o.amount)};
  ++totals_.orders;
  const auto res = cashierd_.create_refund(ro);
  if (!res) return again(merchant_retry);  // no answer: the same order again
  queue_.after(rng_.between(1s, 30min), [this, id = o.payment] { next_order(id); });
  // A late cancel's full refund (a wrong amount over a paid payment) may have taken the amount.
  const bool cancel_refund = std::any_of(mirror_.begin(), mirror_.end(), [&](const auto& m) {
    return m.second.payment_row == p->id && m.second.origin == refund_origin::cancel;
  });
  const std::string what = o.payment + " refund " + o.key + " of " + std::to_string(o.amount) + ": ";
  switch (res->status) {
    case engine::refund_order_status::created:
      if (o.other_body) fail(what + "a key already used was accepted with another body");
      break;
    case engine::refund_order_status::repeat:
      ++totals_.repeats;
      if (o.other_body || res->r.merchant_request != ro.merchant_request)
        fail(what + "answered as a repeat of another body");
      break;
    case engine::refund_order_status::inconsistent:
      ++totals_.inconsistent;
      if (!o.other_body) fail(what + "the same body answered REPEAT_REQ_INCONSISTENT");
      break;
    case engine::refund_order_status::amount_exceed:
      ++totals_.exceeded;
      // The merchant's own orders stay within the amount unless meant to go over.
      if (!o.over && !o.other_body && !cancel_refund) fail(what + "refused REFUND_AMOUNT_EXCEED within the amount");
      break;
    case engine::refund_order_status::not_refundable:
      ++totals_.not_refundable;  // e.g. a cancel is pending over the SUCCESS (a wrong amount)
      break;
    case engine::refund_order_status::not_found:
    case engine::refund_order_status::conflict:
      fail(what + "answered " + std::string(engine::to_string(res->status)));
      break;
  }
}

// ---- the fake Alipay+'s refund side ----

refund_answer refund_world::process(const std::string& body) {
  std::istringstream in(body);
  std::string word, pid, rid, cur;
  std::int64_t minor = 0;
  in >> word >> pid >> rid >> minor >> cur;
  const auto currency = currency_code::parse(cur);
  if (word != "refund" || !in || !currency) {
    fail("Alipay+ could not read a refund request: " + body);
    return refund_answer{{"PARAM_ILLEGAL", 'F', "illegal"}, "", "", std::nullopt};
  }
  auto it = ledger_.find(rid);
  if (it != ledger_.end()) {
    if (it->second.body != body) fail(pid + ": Alipay+ saw two bodies under refundRequestId " + rid);
  } else {
    aplus_refund a{pid, body, minor, false, "", ""};
    const order_truth* t = fake_.truth(pid);
    if (t == nullptr || !t->exists || t->state != order_state::paid || t->cancelled) {
      a.code = "ORDER_STATUS_INVALID";
    } else if (rng_.chance(rates_.refund_refused)) {
      faults_.add(fault::refund_refused);
      a.code = "REFUND_WINDOW_EXCEED";
    } else if (refunded_[pid] + minor > t->amount.minor_units) {
      a.code = "REFUND_AMOUNT_EXCEED";
    } else {
      a.succeeded = true;
      a.refund_id = "aprf-" + std::to_string(++next_refund_id_);
      refunded_[pid] += minor;
    }
    it = ledger_.emplace(rid, std::move(a)).first;
  }
  const aplus_refund& a = it->second;
  if (!a.succeeded) return refund_answer{{a.code, 'F', a.code}, "", "", std::nullopt};
  return refund_answer{{"SUCCESS", 'S', "success"}, a.refund_id, "2026-03-02T10:00:00+08:00",
                       money{a.amount, *currency}};
}

// ---- the network ----

void refund_world::send(engine::refund_call kind, const refund& r, const std::string& request, const payment& p,
                        int incarnation) {
  const bool refund_call = kind == engine::refund_call::refund;
  ++(refund_call ? totals_.calls : totals_.inquiries);
  store::call_record rec;
  rec.api = refund_call ? "refund" : "inquiryPayment";
  rec.request_body = refund_call ? request : R"({"paymentRequestId":")" + p.payment_request_id + R"("})";
  rec.started_at = queue_.now();
  rec.payment_id = p.id;
  rec.refund_id = r.id;
  const auto latency = [this] { return rng_.between(5ms, 250ms); };
  if (rng_.chance(rates_.request_lost)) {
    faults_.add(fault::refund_request_lost);
    return deliver(queue_.now() + request_timeout, incarnation, r, no_answer_of(kind, no_answer_reason::timeout), rec);
  }
  if (rng_.chance(rates_.server_error)) {
    faults_.add(fault::refund_server_error);
    rec.http_status = 502;
    return deliver(queue_.now() + latency() + latency(), incarnation, r,
                   no_answer_of(kind, no_answer_reason::server_error), rec);
  }
  queue_.after(latency(), [this, kind, r, request, id = p.payment_request_id, cur = p.amount.currency, incarnation, rec,
                           latency]() mutable {
    refund_event ev;
    if (kind == engine::refund_call::refund) {
      if (rng_.chance(rates_.refund_u)) {
        faults_.add(fault::refund_u);
        if (rng_.chance(0.5)) process(request);  // processed, then answered U
        ev = refund_answer{{"UNKNOWN_EXCEPTION", 'U', "unknown"}, "", "", std::nullopt};
      } else {
        ev = process(request);
      }
      rec.outcome = text(std::get<refund_answer>(ev).result);
    } else {
      inquiry_answer a = fake_.inquiry(id);
      if (a.result.status == 'S') {
        for (const auto& [rid, x] : ledger_) {
          if (x.payment_request_id != id) continue;
          const aplus_result res = x.succeeded ? aplus_result{"SUCCESS", 'S', "success"} : aplus_result{x.code, 'F', x.code};
          a.transactions.push_back({"REFUND", rid, x.succeeded ? "SUCCESS" : "FAIL", res, x.refund_id,
                                    money{x.amount, cur}});
        }
      }
      rec.outcome = text(a.result);
      ev = std::move(a);
    }
    rec.http_status = 200;
    const auto at = queue_.now() + latency();
    if (rng_.chance(rates_.answer_lost)) {
      faults_.add(fault::refund_answer_lost);
      rec.http_status = 0;
      return deliver(rec.started_at + request_timeout, incarnation, r, no_answer_of(kind, no_answer_reason::timeout), rec);
    }
    if (rng_.chance(rates_.unsigned_answer + rates_.bad_signature)) {
      faults_.add(fault::refund_unsigned);
      return deliver(at, incarnation, r, no_answer_of(kind, no_answer_reason::unsigned_answer), rec);
    }
    if (rng_.chance(rates_.refund_garbled)) {
      faults_.add(fault::refund_garbled);
      return deliver(at, incarnation, r, no_answer_of(kind, no_answer_reason::garbled), rec);
    }
    deliver(at, incarnation, r, std::move(ev), rec);
  });
}

void refund_world::deliver(time_point at, int incarnation, const refund& r, refund_event ev, store::call_record rec) {
  rec.latency_us = (at - rec.started_at).count() * 1000;
  queue_.at(at, [this, incarnation, id = r.id, ev = std::move(ev), rec = std::move(rec)] {
    cashierd_.on_refund_answer(incarnation, engine::refund_input{id, ev, {rec}});
  });
}

// ---- the checks ----

void refund_world::on_created(const refund& r) {
  if (!mirror_.emplace(r.id, r).second) return;  // a cancel's refund, seen again when re-armed
  ++totals_.created;
  if (r.origin == refund_origin::cancel) ++totals_.from_cancels;
  if (r.status != refund_status::processing) fail("refund " + r.alipay_refund_request_id + " created settled");
}

void refund_world::on_commit(const engine::refund_input& in, const engine::refund_output& out, const payment& p) {
  payments_.on_refund_commit(p);
  const std::string name = "refund " + std::to_string(in.refund_id) + " of " + p.payment_request_id + ": ";
  switch (out.result) {
    case engine::outcome::applied: break;
    case engine::outcome::unchanged:
    case engine::outcome::not_found: return;
    case engine::outcome::duplicate:
    case engine::outcome::conflict:  // one writer: a conflict means a stale read
    case engine::outcome::not_owner:  // one instance owns every shard
    case engine::outcome::rejected: return fail(name + "commit not applied: " + out.detail);
  }
  auto it = mirror_.find(in.refund_id);
  if (it == mirror_.end()) {
    fail(name + "a commit for a refund never created (" + out.after.refund_request_id + ")");
    it = mirror_.emplace(in.refund_id, out.after).first;
  }
  const refund before = it->second;
  const refund& after = out.after;
  it->second = after;
  if (is_final(before.status) && after.status != before.status) fail(name + "a final refund changed");
  const bool entered_final = !is_final(before.status) && is_final(after.status);
  int events = 0;
  for (const auto& e : out.made.effects) {
    const auto* ev = std::get_if<emit_refund_event>(&e);
    if (ev == nullptr) continue;
    ++events;
    if (ev->outcome != after.status) fail(name + "a " + std::string(refund_event_name(ev->outcome)) + " event for " + std::string(to_string(after.status)));
    if (ev->seq != p.event_seq) fail(name + "event seq " + std::to_string(ev->seq) + ", the payment's is " + std::to_string(p.event_seq));
  }
  if (events != (entered_final ? 1 : 0)) fail(name + std::to_string(events) + " merchant events for " + out.made.cause);
  if (!entered_final) return;
  // Settled only on Alipay+'s truth.
  const auto a = ledger_.find(after.alipay_refund_request_id);
  const bool refunded = a != ledger_.end() && a->second.succeeded;
  if (after.status == refund_status::success && (!refunded || a->second.refund_id != after.refund_id))
    fail(name + "SUCCESS but Alipay+ did not refund " + after.alipay_refund_request_id);
  if (after.status == refund_status::fail && refunded) fail(name + "FAIL but Alipay+ refunded it");
  if (after.status == refund_status::success) {
    ++totals_.succeeded;
    totals_.refunded_minor += after.amount.minor_units;
  } else {
    ++totals_.failed;
  }
}

void refund_world::at_end(store::payment_store& s, const std::vector<std::string>& payment_ids) {
  for (const auto& id : payment_ids) {
    const auto p = s.find(id);
    if (!p) continue;
    const auto refunds = s.refunds_of(p->id);
    std::int64_t live = 0, succeeded = 0;
    std::map<std::string, refund_status> finals;  // refundRequestId -> status
    for (const auto& r : refunds) {
      const std::string name = id + " refund " + r.refund_request_id + ": ";
      if (!is_final(r.status)) fail(name + "still PROCESSING at the end");
      else finals[r.refund_request_id] = r.status;
      if (r.status != refund_status::fail) live += r.amount.minor_units;
      if (r.status == refund_status::success) succeeded += r.amount.minor_units;
      const auto m = mirror_.find(r.id);
      if (m == mirror_.end() || !(m->second == r)) fail(name + "the stored refund differs from the committed decisions");
    }
    if (!refunds.empty() && p->status != payment_status::success) fail(id + ": refunds of a payment that is not SUCCESS");
    if (live > p->amount.minor_units) fail(id + ": refunds not FAIL sum to " + std::to_string(live) + " of " + std::to_string(p->amount.minor_units));
    const auto at_aplus = refunded_.find(id);
    const std::int64_t theirs = at_aplus == refunded_.end() ? 0 : at_aplus->second;
    if (theirs != succeeded)
      fail(id + ": Alipay+ refunded " + std::to_string(theirs) + ", cashierd says " + std::to_string(succeeded));
    // One merchant event per refund outcome, of its type.
    std::set<std::string> seen;
    for (const auto& r : s.outbox_of(p->id)) {
      if (!r.type.starts_with("refund.")) continue;
      ++totals_.events;
      std::string key;
      try {
        key = std::string(boost::json::parse(r.payload).at("data").at("refund").at("refundRequestId").as_string());
      } catch (const std::exception&) {
        fail(id + ": refund event " + r.event_id + " without data.refund.refundRequestId");
        continue;
      }
      const auto f = finals.find(key);
      if (!seen.insert(key).second) fail(id + ": two refund events for refund " + key);
      else if (f == finals.end() || refund_event_name(f->second) != r.type)
        fail(id + ": refund event " + r.type + " for refund " + key + " that did not end so");
    }
    if (seen.size() != finals.size()) fail(id + ": " + std::to_string(seen.size()) + " refund events for " + std::to_string(finals.size()) + " settled refunds");
  }
  // Every refund Alipay+ made is one cashierd knows as SUCCESS.
  for (const auto& [rid, a] : ledger_) {
    if (!a.succeeded) continue;
    const auto mine = s.find_refund_by_alipay_id(rid);
    if (!mine || mine->status != refund_status::success || mine->refund_id != a.refund_id)
      fail(a.payment_request_id + ": Alipay+ refunded " + rid + " but cashierd does not know it as SUCCESS");
  }
}

}  // namespace cashier::sim
