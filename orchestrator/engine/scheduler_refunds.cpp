// The scheduler's refunds (see scheduler.hpp): the same rules as for payments, in the same
// structures. A refund's deadline waits in the one deadline heap (urgent lane: a refund is money
// a customer waits for, and its resends follow the cancel's backoff) under refund_key(id); when
// it fires it takes a budget token like any deadline, and its commit spends or gives back that
// token; a call its commit asks for outside the heap (the first send of a new refund, a
// confirming inquiry started by an answer) takes a token now, borrowing like a merchant's
// cancel; every refund call counts against the cap on calls in flight. Before issue 15 a refund
// driver beside the scheduler kept its own heap and timer and paid nothing, so a burst of
// refunds could exceed maxRequestsPerSecond and the cap (scheduler_refund_test.cpp).
#include <algorithm>

#include "orchestrator/engine/scheduler.hpp"

namespace cashier::engine {
namespace {

/// The call a refund effect asks for, if it is one.
std::optional<refund_call> call_of(const refund_effect& e) {
  if (std::holds_alternative<send_refund>(e)) return refund_call::refund;
  if (std::holds_alternative<send_refund_inquiry>(e)) return refund_call::inquiry;
  return std::nullopt;
}

/// True when `ev` is an Alipay+ answer with resultCode REQUEST_TRAFFIC_EXCEED_LIMIT.
bool is_traffic_limit(const refund_event& ev) {
  if (const auto* a = std::get_if<refund_answer>(&ev)) return a->result.code == "REQUEST_TRAFFIC_EXCEED_LIMIT";
  if (const auto* a = std::get_if<inquiry_answer>(&ev)) return cashier::is_traffic_limit(event{*a});
  return false;
}

/// Where a refund's deadline goes once `r` is stored: nowhere once it is final.
time_point deadline_of(const refund& r) { return is_final(r.status) ? never : r.next_action_at; }

}  // namespace

void scheduler::recover_refunds(std::span<const store::refund_deadline> open, instants now) {
  for (const auto& d : open) heap_.arm(refund_key(d.refund_id), d.next_action_at, call_lane::urgent);
  if (!flushing_) set_timer(now);  // a flush arms the timer when it ends
  check();
}

void scheduler::start_acting_refunds(store::shard_id shard, std::span<const store::refund_deadline> open,
                                     instants now) {
  ensure(shard_count_ > 0 && acts_for(shard), "start_acting_refunds for a shard not acted for");
  if (!acts_for(shard)) return;
  for (const auto& d : open) {
    // Under its heap key: drop_shard disarms every key of the shard, refunds included.
    shard_by_id_[refund_key(d.refund_id)] = shard;
    heap_.arm(refund_key(d.refund_id), d.next_action_at, call_lane::urgent);
  }
  if (!flushing_) set_timer(now);
  check();
}

void scheduler::refund_created(const refund& r, std::span<const refund_effect> effects, instants now) {
  heap_.arm(refund_key(r.id), deadline_of(r), call_lane::urgent);
  start_refund_calls(r, effects, false, now);
  if (!flushing_) set_timer(now);
  check();
}

void scheduler::enqueue_refund(refund_input in, bool prepaid) {
  refunds_queued_.push_back({std::move(in), prepaid});
  if (!flush_scheduled_) {
    flush_scheduled_ = true;
    emit(flush_soon{});
  }
}

std::optional<refund_input> scheduler::next_refund() {
  ensure(!committing_, "a refund was handed out before the previous commit's result");
  if (refunds_queued_.empty()) return std::nullopt;
  auto q = std::move(refunds_queued_.front());
  refunds_queued_.erase(refunds_queued_.begin());
  in_commit_.assign(1, q.prepaid);
  refund_in_commit_ = true;
  committing_ = true;
  return std::move(q.in);
}

void scheduler::refund_committed(const refund_input& in, const refund_output& out, instants now) {
  ensure(committing_ && refund_in_commit_, "refund_committed() does not match the refund handed out");
  committing_ = false;
  refund_in_commit_ = false;
  const bool prepaid = in_commit_.front();
  if (prepaid) --prepaid_outstanding_;
  ++st_.refund_inputs;
  const auto key = refund_key(in.refund_id);
  switch (out.result) {
    case outcome::applied:
    case outcome::unchanged:
      heap_.arm(key, deadline_of(out.after), call_lane::urgent);
      if (is_final(out.after.status)) shard_by_id_.erase(key);  // cluster mode: nothing left to drop
      if (out.result == outcome::applied && is_final(out.after.status)) emit(wake_refund_watchers{in.refund_id});
      start_refund_calls(out.after, out.made.effects, prepaid, now);
      break;
    case outcome::duplicate:
    case outcome::rejected:  // nothing written: the stored deadline still holds
      heap_.arm(key, deadline_of(out.after), call_lane::urgent);
      if (prepaid) give_back_token();
      break;
    case outcome::conflict:  // another writer moved the payment: step again on fresh data
      heap_.arm(key, now.payment, call_lane::urgent);
      if (prepaid) give_back_token();
      break;
    case outcome::not_found:
    case outcome::not_owner:  // the payment's shard is another instance's: its owner drives the refund
      heap_.disarm(key);
      if (prepaid) give_back_token();
      break;
  }
  check();
}

void scheduler::refund_commit_failed(const refund_input& in) {
  ensure(committing_ && refund_in_commit_, "refund_commit_failed() does not match the refund handed out");
  committing_ = false;
  refund_in_commit_ = false;
  ++st_.store_failures;
  if (st_.store_writable) emit(notice{notice_kind::store_failed, 0, 0});
  st_.store_writable = false;
  // Re-armed (due at once) when a probe commits, like the payments whose inputs were lost.
  held_.insert(refund_key(in.refund_id));
  if (in_commit_.front()) {
    --prepaid_outstanding_;
    give_back_token();
  }
  retry_store();
  check();
}

/// Starts the calls of a committed refund decision, paid as start_calls pays a payment's: the
/// deadline's prepaid token, else a token now (borrowing). A call left unmade is safe: the
/// refund's answer guard is stored, and resends the same bytes through the heap.
void scheduler::start_refund_calls(const refund& r, std::span<const refund_effect> effects, bool prepaid,
                                   instants now) {
  for (const auto& e : effects) {
    const auto kind = call_of(e);
    if (!kind || draining_) continue;  // draining: the stored answer guard resends after the restart
    if (!prepaid && !admit_refund(r.id, now)) continue;
    if (prepaid) ++prepaid_spent_;
    prepaid = false;
    auto& f = in_flight_[refund_key(r.id)];
    ++f.total;
    ++calls_in_flight_;
    emit(start_refund_call{*kind, r.id});
  }
  if (prepaid) give_back_token();
}

bool scheduler::admit_refund(std::int64_t refund_id, instants now) {
  if (limits_.flaw == scheduler_flaw::refund_skips_budget) return true;
  if (budget_.take_now(now.wall)) {
    ++st_.tokens_borrowed;
    return true;
  }
  ++st_.budget_deferred;
  emit(notice{notice_kind::call_deferred, 0, 0, refund_id});
  return false;
}

void scheduler::refund_call_ended(refund_input answer, instants now) {
  const auto it = in_flight_.find(refund_key(answer.refund_id));
  ensure(it != in_flight_.end() && calls_in_flight_ > 0, "a refund call ended that was not in flight");
  if (it != in_flight_.end()) {
    if (--it->second.total <= 0) in_flight_.erase(it);
    --calls_in_flight_;
  }
  if (is_traffic_limit(answer.ev)) {
    const auto before = budget_.rate();
    budget_.throttled(now.wall);
    if (budget_.rate() != before) emit(notice{notice_kind::rate_lowered, 0, budget_.rate(), answer.refund_id});
  }
  enqueue_refund(std::move(answer), false);
  check();
}

}  // namespace cashier::engine
