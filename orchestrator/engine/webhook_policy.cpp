// The webhook policy (see webhook_policy.hpp).
#include "orchestrator/engine/webhook_policy.hpp"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "state/machine/schedule.hpp"

namespace cashier::engine {

std::string_view to_string(delivery_result r) {
  switch (r) {
    case delivery_result::delivered: return "delivered";
    case delivery_result::retry: return "retry";
    case delivery_result::dead: return "dead";
  }
  return "retry";
}

webhook_policy::webhook_policy(webhook_limits limits) : limits_(limits) {}

bool webhook_policy::begin_poll(time_point now) {
  while (!wakes_.empty() && wakes_.top() <= now) wakes_.pop();
  if (draining_) return false;
  if (!has_room()) {
    ++st_.full;
    return false;
  }
  return true;
}

bool webhook_policy::worth_reading(const store::outbox_record& row) const {
  return !in_flight_.contains(row.event_id) && !stalled_.contains(row.event_id);
}

admission webhook_policy::admit(webhook_candidate c, time_point now) {
  auto& row = c.row;
  if (!worth_reading(row) || !has_room() || draining_) return leave_delivery{};
  const auto merchant = c.merchant.value_or("");
  if (c.merchant) {
    const auto share = busy_.find(merchant);
    if (share != busy_.end() && share->second >= limits_.max_in_flight_per_merchant) {
      // Its share is taken: look again after an attempt's timeout, and meanwhile let the due
      // query return other merchants' rows.
      ++st_.held_for_share;
      return defer(row, now + limits_.attempt_timeout);
    }
  }
  // The lowest-sequence pending row of the same payment before this one holds it back.
  const store::outbox_record* blocker = nullptr;
  if (needs_siblings(row) && limits_.flaw != webhook_flaw::out_of_order) {
    for (const auto& r : c.siblings) {
      if (r.seq < row.seq && r.state == store::outbox_state::pending && (!blocker || r.seq < blocker->seq))
        blocker = &r;
    }
  }
  if (blocker != nullptr) {
    if (!in_flight_.contains(blocker->event_id) && blocker->next_attempt_at > now) {
      ++st_.held_for_order;
      return defer(row, blocker->next_attempt_at);
    }
    // The blocker is under way or due now: look again after its attempt.
    ++st_.left_for_order;
    return leave_delivery{};
  }
  ++st_.started;
  ++busy_[merchant];
  in_flight_.emplace(row.event_id, attempt{row, merchant, now, false});
  check();
  return start_delivery{std::move(row), merchant};
}

defer_delivery webhook_policy::defer(const store::outbox_record& row, time_point until) {
  wakes_.push(until);
  store::transition t;
  t.deliveries.push_back({row.event_id, row.attempts, until, store::outbox_state::pending, row.last_status,
                          row.last_error});
  return {std::move(t), until};
}

bool webhook_policy::attempt_ended(const std::string& event_id, attempt_outcome outcome) {
  ensure(in_flight_.contains(event_id), "an attempt ended that was not under way");
  ended_.push_back({event_id, std::move(outcome)});
  check();
  return ended_.size() == 1;
}

void webhook_policy::attempt_lost(const std::string& event_id) {
  ++st_.attempts_lost;
  release(event_id);
  stalled_.insert(event_id);
  check();
}

settlement webhook_policy::settle(time_point now) {
  ensure(settling_.empty(), "settle() before the last settlement's result");
  settlement s;
  for (auto& e : std::exchange(ended_, {})) {
    const auto it = in_flight_.find(e.event_id);
    if (it == in_flight_.end()) continue;  // lost meanwhile
    const auto& a = it->second;
    const auto& o = e.outcome;
    const bool redelivered = a.redelivered;
    store::outbox_progress p{a.row.event_id, (redelivered ? 0 : a.row.attempts) + 1, a.row.next_attempt_at,
                             store::outbox_state::delivered, o.http_status, o.error};
    delivery_report r{a.row.event_id, delivery_result::delivered, o.http_status, o.error, o.latency, 0};
    if (!o.ok() && limits_.flaw != webhook_flaw::drop_on_failure) {
      const auto delay = redelivered ? std::optional<duration>(duration{0}) : webhook_delay(p.attempts);
      // An operator redelivered it while this attempt was under way: keep the fresh schedule.
      if (redelivered) p.attempts = 0;
      p.state = delay ? store::outbox_state::pending : store::outbox_state::dead;
      if (delay) p.next_attempt_at = now + *delay;
      r.result = delay ? delivery_result::retry : delivery_result::dead;
    }
    r.attempts = p.attempts;
    store::transition t;
    t.deliveries.push_back(std::move(p));
    t.webhook_attempts.push_back({0, a.row.event_id, a.started_at, o.http_status, o.error, o.latency.count()});
    s.transitions.push_back(std::move(t));
    s.reports.push_back(std::move(r));
    settling_.push_back(e.event_id);
  }
  check();
  return s;
}

std::vector<delivery_report> webhook_policy::settled(const settlement& s,
                                                     std::span<const store::commit_outcome> outcomes) {
  ensure(outcomes.size() == s.reports.size(), "a settlement's outcomes do not match its attempts");
  std::vector<delivery_report> recorded;
  for (std::size_t i = 0; i < s.reports.size() && i < outcomes.size(); ++i) {
    const auto& r = s.reports[i];
    release(r.event_id);
    if (outcomes[i].status != store::commit_status::committed) continue;
    const auto& p = s.transitions[i].deliveries.front();
    if (p.state == store::outbox_state::pending) wakes_.push(p.next_attempt_at);
    switch (r.result) {
      case delivery_result::delivered: ++st_.delivered; break;
      case delivery_result::retry: ++st_.retried; break;
      case delivery_result::dead: ++st_.dead; break;
    }
    recorded.push_back(r);
  }
  settling_.clear();
  check();
  return recorded;
}

void webhook_policy::settle_failed(const settlement& s) {
  ++st_.commit_failures;
  for (const auto& r : s.reports) {
    release(r.event_id);
    stalled_.insert(r.event_id);
  }
  settling_.clear();
  check();
}

store::transition webhook_policy::redeliver(const store::outbox_record& row, time_point now) {
  store::transition t;
  t.deliveries.push_back({row.event_id, 0, now, store::outbox_state::pending, row.last_status, row.last_error});
  return t;
}

void webhook_policy::redelivered(const std::string& event_id) {
  if (const auto it = in_flight_.find(event_id); it != in_flight_.end()) {
    it->second.redelivered = true;
    ++st_.redelivered_in_flight;
  }
}

std::optional<time_point> webhook_policy::next_wake() const {
  if (wakes_.empty()) return std::nullopt;
  return wakes_.top();
}

/// Forgets an attempt that is no longer under way, and frees its merchant's slot.
void webhook_policy::release(const std::string& event_id) {
  const auto it = in_flight_.find(event_id);
  if (it == in_flight_.end()) return;
  if (auto b = busy_.find(it->second.merchant); b != busy_.end() && --b->second == 0) busy_.erase(b);
  in_flight_.erase(it);
}

void webhook_policy::ensure(bool ok, std::string_view what) {
  if (ok) return;
  if (broken_) return broken_(what);
  std::fprintf(stderr, "cashierd: webhook policy invariant broken: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

/// The invariants every entry point leaves behind (cheap: sizes, and the busy map's few merchants).
void webhook_policy::check() {
  ensure(in_flight_.size() <= limits_.max_in_flight, "more deliveries under way than max_in_flight");
  std::size_t busy = 0;
  for (const auto& [merchant, n] : busy_) {
    ensure(n <= limits_.max_in_flight_per_merchant, "a merchant has more deliveries under way than its share");
    busy += n;
  }
  ensure(busy == in_flight_.size(), "merchant slots miscounted");
  ensure(ended_.size() + settling_.size() <= in_flight_.size(), "an attempt settles that is not under way");
}

}  // namespace cashier::engine
