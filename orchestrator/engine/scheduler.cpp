// The scheduler (see scheduler.hpp). Every function runs to completion without waiting; what
// must wait (a commit, a call, a timer) is an action the executor carries out and reports back.
#include "orchestrator/engine/scheduler.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>

namespace cashier::engine {
namespace {

/// The call an effect asks for, if it is one.
std::optional<call_kind> call_of(const effect& e) {
  if (std::holds_alternative<send_pay>(e)) return call_kind::pay;
  if (std::holds_alternative<send_inquiry>(e)) return call_kind::inquiry;
  if (std::holds_alternative<send_cancel>(e)) return call_kind::cancel;
  return std::nullopt;
}

/// A notify's inquiry is a hint: without a token it is skipped (polling covers it), never
/// borrowed for.
bool is_hint(const event& ev) {
  return std::holds_alternative<notify_verified>(ev) || std::holds_alternative<notify_unverified>(ev);
}

double seconds(duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

std::string_view api_name(call_kind kind) {
  switch (kind) {
    case call_kind::pay: return "pay";
    case call_kind::inquiry: return "inquiryPayment";
    case call_kind::cancel: return "cancelPayment";
  }
  return "pay";
}

event no_answer_of(call_kind kind, no_answer_reason why) {
  switch (kind) {
    case call_kind::pay: return pay_no_answer{why};
    case call_kind::inquiry: return inquiry_no_answer{why};
    case call_kind::cancel: return cancel_no_answer{why};
  }
  return pay_no_answer{why};
}

std::string_view action_name(std::size_t index) {
  static constexpr std::array<std::string_view, action_kinds> names{
      "flush_soon",      "start_call",  "wake_watchers",  "arm_timer", "cancel_timer",
      "arm_store_retry", "probe_store", "deadline_fired", "notice",    "start_refund_call",
      "wake_refund_watchers"};
  return index < names.size() ? names[index] : "?";
}

scheduler::scheduler(scheduler_limits limits) : limits_(limits) {}

void scheduler::emit(action a) {
  ++st_.actions[a.index()];
  out_.push_back(std::move(a));
}

void scheduler::take_actions(std::vector<action>& into) {
  into.clear();
  std::swap(into, out_);
}

void scheduler::recover(std::span<const store::deadline> open, instants now) {
  heap_.reserve(open.size());
  // A million ids armed in deadline order are a million cache misses in the heap's index
  // unless each is fetched a few arms ahead.
  constexpr std::size_t ahead = 8;
  for (std::size_t i = 0; i < open.size(); ++i) {
    if (i + ahead < open.size()) heap_.prefetch(open[i + ahead].payment_id);
    const auto& d = open[i];
    heap_.arm(d.payment_id, d.next_action_at, lane_of(d.pending, d.next_action_at, d.poll_deadline_at));
  }
  set_timer(now);
  check();
}

void scheduler::submit(input in, ticket t, bool hold_for_ack) {
  enqueue(std::move(in), t, false, hold_for_ack && t != 0);
  check();
}

void scheduler::ack_written(ticket t, instants now) {
  const auto it = held_for_ack_.find(t);
  if (it == held_for_ack_.end()) return;
  auto held = std::move(it->second);
  held_for_ack_.erase(it);
  input in;
  in.payment_id = held.out.after.id;
  in.ev = std::move(held.ev);
  start_calls(in, false, held.out, now);
  check();
}

void scheduler::enqueue(input in, ticket t, bool prepaid, bool hold) {
  const auto shard = shard_count_ > 0 ? shard_of_input(in) : -1;
  queue_.push_back({std::move(in), t, prepaid, hold, shard});
  if (!flush_scheduled_) {
    flush_scheduled_ = true;
    emit(flush_soon{});
  }
}

void scheduler::begin_flush(instants now) {
  // Deadlines due by now join this flush rather than wait behind its commits for their timer
  // (flush_scheduled_ is still set: they need no flush of their own).
  fire_due(now);
  flush_scheduled_ = false;
  flushing_ = true;
  check();
}

std::optional<batch> scheduler::next_batch() {
  ensure(!committing_, "a batch was handed out before the previous one's result");
  if (queue_.empty()) return std::nullopt;
  refund_in_commit_ = false;
  const auto n = static_cast<std::ptrdiff_t>(std::min(queue_.size(), limits_.max_batch));
  batch b;
  b.inputs.reserve(static_cast<std::size_t>(n));
  b.tickets.reserve(static_cast<std::size_t>(n));
  in_commit_.clear();
  hold_in_commit_.clear();
  for (auto it = queue_.begin(); it != queue_.begin() + n; ++it) {
    b.inputs.push_back(std::move(it->in));
    b.tickets.push_back(it->t);
    in_commit_.push_back(it->prepaid);
    hold_in_commit_.push_back(it->hold);
  }
  queue_.erase(queue_.begin(), queue_.begin() + n);
  committing_ = true;
  return b;
}

void scheduler::committed(const batch& b, std::span<const output> outs, instants now) {
  ensure(committing_ && !refund_in_commit_ && b.inputs.size() == in_commit_.size() && outs.size() == b.inputs.size(),
         "committed() does not match the batch handed out");
  committing_ = false;
  ++st_.batches;
  st_.inputs += b.inputs.size();
  for (std::size_t i = 0; i < outs.size(); ++i) {
    after_commit(b.inputs[i], in_commit_[i], hold_in_commit_[i], b.tickets[i], outs[i], now);
    // A cancel of a SUCCESS after the window created a refund in this commit: arm it.
    if (const auto& r = outs[i].started_refund) {
      heap_.arm(refund_key(r->refund_id), r->next_action_at, call_lane::urgent);
      // Cluster mode: the refund belongs to its payment's shard (dropped with it).
      if (shard_count_ > 0 && outs[i].after.id != 0) shard_by_id_[refund_key(r->refund_id)] = shard_of(outs[i].after);
    }
  }
  // Cluster mode: a commit the fence refused means the shard is someone else's now.
  for (std::size_t i = 0; i < outs.size() && shard_count_ > 0; ++i) {
    if (outs[i].result != outcome::not_owner) continue;
    const auto shard = shard_of_input(b.inputs[i]);
    if (shard < 0) continue;
    auto dropped = drop_shard(shard);
    dropped_tickets_.insert(dropped_tickets_.end(), dropped.begin(), dropped.end());
  }
  check();
}

void scheduler::after_commit(const input& in, bool prepaid, bool hold, ticket t, const output& out,
                             instants now) {
  const auto id = out.after.id;
  if (shard_count_ > 0 && id != 0 && (out.result == outcome::applied || out.result == outcome::unchanged)) {
    // Kept while the payment is open (a shard is fixed for good); a final one is forgotten, so
    // the map stays the size of the open set (a later input for it is judged by the fence).
    const bool open = out.after.pending != pending_action::none || out.after.status == payment_status::init ||
                      out.after.status == payment_status::in_process;
    if (open) shard_by_id_[id] = shard_of(out.after);
    else shard_by_id_.erase(id);
  }
  if (id != 0 && (out.result == outcome::applied || out.result == outcome::unchanged))
    heap_.arm(id, out.after.next_action_at, lane_of(out.after));
  if (out.result == outcome::conflict && in.payment_id != 0) heap_.arm(in.payment_id, now.payment);  // reread, retry
  if (prepaid) --prepaid_outstanding_;
  if (out.result == outcome::applied) {
    const bool calls = std::any_of(out.made.effects.begin(), out.made.effects.end(),
                                   [](const effect& e) { return call_of(e).has_value(); });
    // Never prepaid: only submit() holds, and deadlines are not submitted.
    if (hold && !prepaid && out.made.ack && calls) {
      held_for_ack_.emplace(t, held_calls{in.ev, out});
    } else {
      start_calls(in, prepaid, out, now);
    }
    emit(wake_watchers{id});
  } else if (prepaid) {
    give_back_token();
  }
}

/// Starts the calls of a committed decision, each paid from the budget: a deadline's token
/// taken when it left the heap, else a token now (hints only if one is there). A call left
/// unmade is safe: the machine armed its answer guard, which resends it through the heap.
void scheduler::start_calls(const input& in, bool prepaid, const output& out, instants now) {
  for (const auto& e : out.made.effects) {
    const auto kind = call_of(e);
    if (!kind || !may_start(*kind, out.after)) continue;
    if (!prepaid && !admit(*kind, in.ev, out.after.id, now)) continue;
    if (prepaid) ++prepaid_spent_;
    prepaid = false;
    start(*kind, out.after);
  }
  if (prepaid) give_back_token();
}

bool scheduler::admit(call_kind kind, const event& ev, std::int64_t id, instants now) {
  if (kind == call_kind::inquiry && is_hint(ev)) {
    if (budget_.take_queued(now.wall)) return true;
    ++st_.hints_skipped;
    return false;
  }
  if (budget_.take_now(now.wall)) {
    ++st_.tokens_borrowed;
    return true;
  }
  ++st_.budget_deferred;
  emit(notice{notice_kind::call_deferred, id, 0});
  return false;
}

bool scheduler::may_start(call_kind kind, const payment& p) {
  if (draining_) return false;  // the armed answer guard resends after the restart
  const auto it = in_flight_.find(p.id);
  if (kind == call_kind::cancel && it != in_flight_.end() && it->second.pays > 0 &&
      limits_.flaw != scheduler_flaw::cancel_over_pay) {
    // A cancel answered ORDER_NOT_EXIST could overtake the pay that then creates the order.
    // The cancel's answer guard is armed; it resends once the pay answer is committed.
    ++st_.cancels_deferred;
    emit(notice{notice_kind::cancel_deferred, p.id, 0});
    return false;
  }
  return true;
}

void scheduler::start(call_kind kind, const payment& p) {
  auto& f = in_flight_[p.id];
  ++f.total;
  if (kind == call_kind::pay) ++f.pays;
  ++calls_in_flight_;
  emit(start_call{kind, p});
}

void scheduler::give_back_token() {
  if (limits_.flaw == scheduler_flaw::leak_token) return;
  ++prepaid_refunded_;
  ++st_.tokens_refunded;
  budget_.refund();
}

void scheduler::commit_failed(const batch& b) {
  ensure(committing_ && !refund_in_commit_ && b.inputs.size() == in_commit_.size(),
         "commit_failed() does not match the batch handed out");
  committing_ = false;
  ++st_.store_failures;
  if (st_.store_writable) emit(notice{notice_kind::store_failed, 0, 0});
  st_.store_writable = false;
  for (std::size_t i = 0; i < b.inputs.size(); ++i) {
    // Timers and answers of existing payments come back through the deadline heap; whoever
    // waits for the others (merchant, notify) is told it failed and retries.
    if (b.inputs[i].payment_id != 0) held_.insert(b.inputs[i].payment_id);
    if (in_commit_[i]) {
      --prepaid_outstanding_;
      give_back_token();
    }
  }
  retry_store();
  check();
}

void scheduler::retry_store() {
  if (store_retry_armed_) return;
  store_retry_armed_ = true;
  emit(arm_store_retry{limits_.retry_after_store_failure});
}

void scheduler::store_retry_due() {
  store_retry_armed_ = false;
  if (!draining_) emit(probe_store{});
  check();
}

void scheduler::probe_result(bool ok, instants now) {
  if (!ok) {
    retry_store();
    return check();
  }
  if (!st_.store_writable) emit(notice{notice_kind::store_recovered, 0, static_cast<double>(st_.store_failures)});
  st_.store_writable = true;
  // Re-armed due now, without any traffic needed (ids in order: the same seed, the same run).
  std::vector<std::int64_t> ids(held_.begin(), held_.end());
  held_.clear();
  std::sort(ids.begin(), ids.end());
  for (const auto id : ids) heap_.arm(id, now.payment, id < 0 ? call_lane::urgent : call_lane::polling);  // < 0: a refund
  set_timer(now);
  check();
}

void scheduler::end_flush(instants now) {
  ensure(queue_.empty() && refunds_queued_.empty() && !committing_, "a flush ended with inputs left to commit");
  flushing_ = false;
  set_timer(now);
  check();
}

void scheduler::timer_fired(time_point at, instants now) {
  if (at != timer_at_) return;  // re-armed or cancelled meanwhile
  timer_at_ = never;
  fire_due(now);
  // Deadlines skipped for calls in flight queue nothing: re-arm for the next one now.
  set_timer(now);
  check();
}

void scheduler::call_ended(call_kind kind, input answer, instants now, ticket t) {
  const auto id = answer.payment_id;
  const auto it = in_flight_.find(id);
  ensure(it != in_flight_.end() && calls_in_flight_ > 0, "a call ended that was not in flight");
  if (it != in_flight_.end()) {
    if (kind == call_kind::pay) --it->second.pays;
    if (--it->second.total <= 0) in_flight_.erase(it);
    --calls_in_flight_;
  }
  if (is_traffic_limit(answer.ev)) {
    const auto before = budget_.rate();
    budget_.throttled(now.wall);
    if (budget_.rate() != before) emit(notice{notice_kind::rate_lowered, id, budget_.rate()});
  }
  // Cluster mode: the answer of a call for a shard dropped since is not committed here (the
  // fence would refuse it); the new owner resends after the answer guard committed before it.
  if (shard_count_ > 0 && t == 0) {
    const auto shard = shard_of_input(answer);
    if (shard >= 0 && !acts_for(shard)) return check();
  }
  enqueue(std::move(answer), t, false);
  check();
}

void scheduler::drain() {
  draining_ = true;
  timer_at_ = never;
  emit(cancel_timer{});
  check();
}

void scheduler::set_timer(instants now) {
  if (draining_) return;
  const auto earliest = heap_.earliest();
  if (!earliest) {
    timer_at_ = never;
    emit(cancel_timer{});
    return;
  }
  if (*earliest == timer_at_) return;
  timer_at_ = *earliest;
  if (*earliest > now.payment) return emit(arm_timer{*earliest, {}, false});
  // Due already. With every call slot taken, the next answer's commit re-arms.
  if (saturated()) {
    timer_at_ = never;
    emit(cancel_timer{});
    return;
  }
  // Wake when the budget has tokens again (at once when it has).
  emit(arm_timer{*earliest, budget_.wait(now.wall), true});
}

/// Pops the due deadlines the budget and the cap on calls in flight allow, as inputs.
void scheduler::fire_due(instants now) {
  if (draining_) return;
  const auto horizon = limits_.flaw == scheduler_flaw::fire_early ? now.payment + std::chrono::seconds(5) : now.payment;
  std::size_t n = 0;
  while (n < limits_.max_due_per_tick) {
    const auto first = urgent_run_ + 1 >= limits_.polling_share ? call_lane::polling : call_lane::urgent;
    const auto due = heap_.peek_due(horizon, first);
    if (!due) break;
    ++n;
    // A call in flight re-arms the payment when its answer is committed.
    if (in_flight_.contains(due->id)) {
      heap_.pop(*due);
      continue;
    }
    // Out of call slots or of budget: the deadline stays in the heap, in order.
    if (saturated()) {
      ++st_.cap_waits;
      break;
    }
    if (!budget_.take_queued(now.wall)) {
      ++st_.budget_waits;
      break;
    }
    heap_.pop(*due);
    urgent_run_ = due->lane == call_lane::urgent ? urgent_run_ + 1 : 0;
    fired(*due, now);
    ++prepaid_outstanding_;
    ++prepaid_taken_;
    ensure(calls_in_flight_ + prepaid_outstanding_ <= limits_.max_calls_in_flight,
           "a deadline fired with every call slot taken");
    if (due->id < 0) {  // a refund (refund_key)
      enqueue_refund(refund_input{-due->id, deadline_reached{}, {}}, true);
      continue;
    }
    input in;
    in.payment_id = due->id;
    in.ev = deadline_reached{};
    enqueue(std::move(in), 0, true);
  }
}

bool scheduler::saturated() const {
  if (limits_.flaw == scheduler_flaw::ignore_cap) return false;
  return calls_in_flight_ + prepaid_outstanding_ >= limits_.max_calls_in_flight;
}

void scheduler::fired(const due_deadline& due, instants now) {
  ensure(due.at <= now.payment, "a deadline fired before its time");
  const auto late = now.payment - due.at;
  auto& worst = due.lane == call_lane::urgent ? st_.worst_urgent_lateness_s : st_.worst_polling_lateness_s;
  worst = std::max(worst, seconds(late));
  ++st_.fired[due.lane == call_lane::urgent ? 0 : 1];
  emit(deadline_fired{due.lane, late});
}

void scheduler::enable_shards(store::shard_id shards) {
  shard_count_ = std::max<store::shard_id>(shards, 1);
  acting_.assign(static_cast<std::size_t>(shard_count_), false);
}

bool scheduler::acts_for(store::shard_id shard) const {
  if (shard_count_ == 0) return true;
  return shard >= 0 && shard < shard_count_ && acting_[static_cast<std::size_t>(shard)];
}

store::shard_id scheduler::shard_of(const payment& p) const {
  return shard_count_ > 0 ? store::shard_of(p, shard_count_) : 0;
}

store::shard_id scheduler::shard_of_input(const input& in) const {
  if (in.create) return shard_of(*in.create);
  const auto it = shard_by_id_.find(in.payment_id);
  return it == shard_by_id_.end() ? -1 : it->second;
}

void scheduler::start_acting(store::shard_id shard, std::span<const store::deadline> open, instants now) {
  ensure(shard_count_ > 0 && shard >= 0 && shard < shard_count_, "start_acting outside cluster mode or the shards");
  if (shard_count_ == 0 || shard < 0 || shard >= shard_count_) return;
  acting_[static_cast<std::size_t>(shard)] = true;
  for (const auto& d : open) {
    if (d.shard != shard) continue;
    shard_by_id_[d.payment_id] = shard;
    heap_.arm(d.payment_id, d.next_action_at, lane_of(d.pending, d.next_action_at, d.poll_deadline_at));
  }
  set_timer(now);
  check();
}

std::vector<ticket> scheduler::stop_acting(store::shard_id shard, instants now) {
  auto dropped = drop_shard(shard);
  set_timer(now);
  check();
  return dropped;
}

/// Forgets everything of `shard` that has not reached the store: its deadlines, queued inputs
/// (prepaid tokens refunded) and calls held for an ack. A batch being committed comes back
/// not_owner from the fence; calls in flight come back and are not committed (call_ended).
std::vector<ticket> scheduler::drop_shard(store::shard_id shard) {
  std::vector<ticket> dropped;
  if (shard_count_ == 0 || shard < 0 || shard >= shard_count_) return dropped;
  acting_[static_cast<std::size_t>(shard)] = false;
  for (auto it = shard_by_id_.begin(); it != shard_by_id_.end();) {
    if (it->second != shard) {
      ++it;
      continue;
    }
    // The entry stays: the shard's answers still to come are recognised (call_ended).
    heap_.disarm(it->first);
    held_.erase(it->first);
    ++it;
  }
  std::vector<queued> kept;
  kept.reserve(queue_.size());
  for (auto& q : queue_) {
    if (q.shard != shard) {
      kept.push_back(std::move(q));
      continue;
    }
    if (q.prepaid) {
      --prepaid_outstanding_;
      give_back_token();
    }
    if (q.t != 0) dropped.push_back(q.t);
  }
  queue_ = std::move(kept);
  for (auto it = held_for_ack_.begin(); it != held_for_ack_.end();) {
    if (shard_of(it->second.out.after) == shard) it = held_for_ack_.erase(it);
    else ++it;
  }
  return dropped;
}

void scheduler::set_budget_share(double per_second) {
  // A share of 0 holds no shard, so nothing is left to call for; rate_budget(0) would mean
  // unlimited, so the bucket gets a negligible rate instead.
  budget_ = rate_budget(per_second > 0 ? per_second : 1e-9);
}

scheduler_stats scheduler::stats() const {
  auto s = st_;
  s.armed_deadlines = heap_.size();
  s.calls_in_flight = calls_in_flight_;
  return s;
}

void scheduler::ensure(bool ok, std::string_view what) {
  if (ok) return;
  if (broken_) return broken_(what);
  std::fprintf(stderr, "cashierd: scheduler invariant broken: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

/// The invariants every entry point leaves behind (cheap: no walk over the heap or the queue).
void scheduler::check() {
  ensure(prepaid_taken_ == prepaid_spent_ + prepaid_refunded_ + prepaid_outstanding_,
         "a prepaid budget token was neither spent by a call nor refunded");
  ensure(prepaid_outstanding_ <= queue_.size() + refunds_queued_.size() +
                                     (committing_ ? (refund_in_commit_ ? 1 : in_commit_.size()) : 0),
         "more prepaid tokens outstanding than deadlines waiting to commit");
  ensure(calls_in_flight_ >= in_flight_.size(), "calls in flight miscounted");
  ensure((queue_.empty() && refunds_queued_.empty()) || flush_scheduled_ || flushing_,
         "inputs queued with no flush to commit them");
}

}  // namespace cashier::engine
