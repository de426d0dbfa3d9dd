// The lease manager (see shard_leases.hpp). Every function runs to completion; what must wait
// (a store round trip) is an action whose answer comes back through *_answered.
#include "orchestrator/engine/shard_leases.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace cashier::engine {

shard_leases::shard_leases(lease_config config) : config_(std::move(config)) { check(); }

local_instant shard_leases::trust_from(local_instant sent) const {
  // The database's lease runs from its statement's now, which is no earlier than the send: the
  // local trust ends first whatever the clocks read, by the margin for drift and check-to-act.
  const auto margin = config_.flaw == lease_flaw::no_margin ? std::chrono::nanoseconds::zero() : config_.margin;
  return sent + config_.lease - margin;
}

int shard_leases::target() const {
  // Before any answer, a single instance wants everything; so does a cluster's first claim
  // (rebalancing gives back the excess once the others show up).
  const int live = std::max(live_, 1);
  return (config_.shards + live - 1) / live;
}

std::int64_t shard_leases::epoch_of(store::shard_id shard) const {
  const auto it = held_.find(shard);
  return it == held_.end() ? 0 : it->second.epoch;
}

std::vector<store::shard_epoch> shard_leases::fence() const {
  std::vector<store::shard_epoch> f;
  f.reserve(held_.size());
  for (const auto& [s, h] : held_) f.push_back({s, h.epoch});
  return f;
}

std::optional<local_instant> shard_leases::trusted_until(store::shard_id shard) const {
  const auto it = held_.find(shard);
  if (it == held_.end()) return std::nullopt;
  return it->second.trusted_until;
}

std::optional<local_instant> shard_leases::next_tick() const {
  if (draining_ && to_release_.empty()) return std::nullopt;
  std::optional<local_instant> at;
  auto consider = [&](local_instant t) {
    if (!at || t < *at) at = t;
  };
  for (const auto& [s, h] : held_) consider(h.trusted_until);
  if (in_flight_ != request::none) return at;  // the answer comes first
  if (!started_) return local_instant::min();
  if (!to_release_.empty()) return local_instant::min();
  if (!draining_) {
    consider(next_claim_);
    if (lapse_due_) consider(*lapse_due_);
    if (!held_.empty()) consider(next_renew_);
  }
  return at;
}

void shard_leases::tick(local_instant now) {
  // Trust first: nothing may act past it, whatever else happens in this tick.
  std::vector<store::shard_id> lapsed;
  for (const auto& [s, h] : held_)
    if (now >= h.trusted_until) lapsed.push_back(s);
  for (const auto s : lapsed) {
    ++st_.lapsed;
    drop(s);
  }
  if (!lapsed.empty()) update_share();
  // Another instance's lease, as the last answer showed it, has run out (watch_lapses).
  const bool lapse_passed = lapse_due_ && now >= *lapse_due_;
  if (in_flight_ == request::none) {
    if (!to_release_.empty()) {
      in_flight_ = request::release;
      sent_at_ = now;
      emit(send_release{std::exchange(to_release_, {})});
    } else if (!draining_ && !held_.empty() && now >= next_renew_) {
      in_flight_ = request::renew;
      sent_at_ = now;
      renew_sent_ = fence();
      next_renew_ = now + config_.renew_every;
      ++st_.renewals;
      emit(send_renew{renew_sent_});
    } else if (!draining_ && (!started_ || now >= next_claim_ || lapse_passed)) {
      next_claim_ = now + config_.claim_every;
      const bool force = config_.single && !started_;
      const int want = force ? config_.shards : target() - static_cast<int>(held_.size());
      // At its target, the instance still asks (a claim of none) once another's lease has run
      // out: the answer's count of live instances says whether its target rose (the other died),
      // and the claim of the lapsed shards follows at once instead of after the next renewal.
      const bool probe = want <= 0 && lapse_passed;
      if (want > 0 || probe) {
        lapse_due_.reset();  // its answer sets the next one
        in_flight_ = request::claim;
        sent_at_ = now;
        started_ = true;
        ++st_.claims;
        if (config_.flaw == lease_flaw::early_share && config_.budget > 0) {
          // The bug: the share counts shards not yet ours.
          share_ = config_.budget * std::min<double>(config_.shards, static_cast<double>(held_.size()) + want) /
                   config_.shards;
          emit(set_share{share_});
        }
        emit(send_claim{std::max(want, 0), force});
      }
    }
  }
  check();
}

void shard_leases::claim_answered(const store::lease_answer& a, local_instant now) {
  ensure(in_flight_ == request::claim, "a claim answer without a claim in flight");
  in_flight_ = request::none;
  live_ = std::max(a.live_instances, 1);
  const auto trust = trust_from(sent_at_);
  const bool was_empty = held_.empty();
  bool gained = false;
  for (const auto& row : a.changed) {
    if (row.owner != config_.instance || row.shard < 0 || row.shard >= config_.shards) continue;
    auto& last = last_epoch_[row.shard];
    ensure(row.epoch > last, "a claim returned an epoch not above one this instance held");
    last = std::max(last, row.epoch);
    if (draining_) {
      // A drain began while the claim was out (the executor's requests wait on the store
      // thread): never acted for, released with the rest.
      ++st_.released;
      to_release_.push_back({row.shard, row.epoch});
      continue;
    }
    if (now >= trust) continue;  // confirmed too late to be trusted at all: let it lapse
    if (const auto it = held_.find(row.shard); it != held_.end()) drop(row.shard);  // re-claimed (force)
    held_[row.shard] = {row.epoch, trust, sent_at_};
    ++st_.taken_over;
    gained = true;
    emit(start_acting{row.shard, row.epoch});
  }
  // Raised only now that the claim is committed (and after the takeover actions).
  if (gained || config_.flaw == lease_flaw::early_share) update_share();
  // Nothing free and nothing lapsed: no shard can lapse before the earliest lease in the table
  // runs out (measured on the database's clock from its now, counted here from the send, which
  // is no later), so claims pause until then instead of every tick (a release frees one sooner:
  // it is picked up at most a lease period later).
  const bool any_free = std::any_of(a.table.begin(), a.table.end(), [&](const store::shard_lease& r) {
    return r.owner.empty() || r.lease_until < a.db_now;
  });
  if (!any_free && !a.table.empty()) {
    auto earliest = a.table.front().lease_until - a.db_now;
    for (const auto& r : a.table) earliest = std::min(earliest, r.lease_until - a.db_now);
    const auto wait = std::clamp<std::chrono::nanoseconds>(earliest, config_.claim_every, config_.lease);
    next_claim_ = std::max(next_claim_, sent_at_ + wait);
  }
  if (gained && was_empty) next_renew_ = sent_at_ + config_.renew_every;
  rebalance(a.live_instances);
  watch_lapses(a, now);
  check();
}

void shard_leases::renew_answered(const store::lease_answer& a, local_instant now) {
  ensure(in_flight_ == request::renew, "a renewal answer without a renewal in flight");
  in_flight_ = request::none;
  live_ = std::max(a.live_instances, 1);
  const auto trust = trust_from(sent_at_);
  bool lost = false;
  for (const auto& asked : renew_sent_) {
    const auto it = held_.find(asked.shard);
    if (it == held_.end() || it->second.epoch != asked.epoch) continue;  // dropped meanwhile
    const bool renewed = std::any_of(a.changed.begin(), a.changed.end(), [&](const store::shard_lease& r) {
      return r.shard == asked.shard && r.epoch == asked.epoch && r.owner == config_.instance;
    });
    if (renewed) {
      it->second.trusted_until = std::max(it->second.trusted_until, trust);
      it->second.confirmed_sent = std::max(it->second.confirmed_sent, sent_at_);
    } else {
      ++st_.lost;
      lost = true;
      drop(asked.shard);
    }
  }
  renew_sent_.clear();
  if (lost) update_share();
  rebalance(a.live_instances);
  watch_lapses(a, now);
  check();
}

void shard_leases::release_answered(const store::lease_answer& a, local_instant) {
  ensure(in_flight_ == request::release, "a release answer without a release in flight");
  in_flight_ = request::none;
  live_ = std::max(a.live_instances, 1);
  check();
}

void shard_leases::request_failed(local_instant) {
  // Nothing was confirmed: trust runs out on its own unless a later request confirms it.
  if (in_flight_ != request::none) ++st_.failures;
  in_flight_ = request::none;
  renew_sent_.clear();
  check();
}

void shard_leases::not_owner(store::shard_id shard, std::int64_t epoch, local_instant) {
  const auto it = held_.find(shard);
  if (it == held_.end() || it->second.epoch != epoch) return;  // already dropped
  ++st_.lost;
  drop(shard);
  update_share();
  check();
}

void shard_leases::drain(local_instant now) {
  draining_ = true;
  auto all = fence();
  for (const auto& f : all) drop(f.shard);
  update_share();  // lowered before the release is sent
  st_.released += all.size();
  to_release_.insert(to_release_.end(), all.begin(), all.end());
  tick(now);
}

/// From an answer's table (judged by the database's clock at its statement, received `now`):
/// claim at once when the target is above what is held and a shard is free or lapsed, and
/// otherwise ask again (a claim of none, tick()) once the earliest of the other instances'
/// leases will have run out. Measured from the receipt, which is no earlier than the statement,
/// so the question comes after the lapse, never before it (by the round trip at most).
void shard_leases::watch_lapses(const store::lease_answer& a, local_instant now) {
  if (config_.single || draining_) return;
  std::optional<std::chrono::nanoseconds> earliest;
  bool free = false;
  for (const auto& r : a.table) {
    if (r.owner.empty() || r.lease_until < a.db_now) {
      free = true;
      continue;
    }
    if (r.owner == config_.instance) continue;
    const std::chrono::nanoseconds left = r.lease_until - a.db_now;
    if (!earliest || left < *earliest) earliest = left;
  }
  if (free && target() > static_cast<int>(held_.size())) next_claim_ = std::min(next_claim_, now);
  // Not sooner than a tenth of a claim tick: an answer read just before the lapse must not make
  // the next questions spin.
  lapse_due_.reset();
  if (earliest) lapse_due_ = now + std::max(*earliest, config_.claim_every / 10);
}

/// Over the fair share (more instances showed up): stop acting on the highest shards, lower the
/// share, then release them on the next tick.
void shard_leases::rebalance(int live_instances) {
  if (config_.single || draining_ || live_instances <= 1) return;
  const int over = static_cast<int>(held_.size()) - target();
  if (over <= 0) return;
  std::vector<store::shard_epoch> let_go;
  auto it = held_.end();
  for (int i = 0; i < over; ++i) {
    --it;
    let_go.push_back({it->first, it->second.epoch});
  }
  for (const auto& f : let_go) drop(f.shard);
  update_share();
  st_.released += let_go.size();
  to_release_.insert(to_release_.end(), let_go.begin(), let_go.end());
}

void shard_leases::drop(store::shard_id shard) {
  const auto it = held_.find(shard);
  if (it == held_.end()) return;
  emit(stop_acting{shard, it->second.epoch});
  held_.erase(it);
}

void shard_leases::update_share() {
  if (config_.budget <= 0) return;
  const double share = config_.budget * static_cast<double>(held_.size()) / config_.shards;
  if (share == share_) return;
  share_ = share;
  emit(set_share{share_});
}

void shard_leases::take_actions(std::vector<lease_action>& into) {
  into.clear();
  std::swap(into, out_);
}

void shard_leases::ensure(bool ok, std::string_view what) {
  if (ok) return;
  if (broken_) return broken_(what);
  std::fprintf(stderr, "cashierd: lease invariant broken: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

void shard_leases::check() {
  ensure(held_.size() <= static_cast<std::size_t>(std::max(config_.shards, 0)), "more shards held than exist");
  for (const auto& [s, h] : held_) {
    ensure(s >= 0 && s < config_.shards, "a shard held outside 0 .. shards - 1");
    ensure(h.epoch >= 1 && h.epoch == last_epoch_[s], "a shard held at an epoch below one it held before");
    // Never trusted past the database's lease, which runs from no earlier than the send.
    ensure(h.trusted_until <= h.confirmed_sent + config_.lease, "a shard trusted past its lease");
  }
  if (config_.flaw != lease_flaw::early_share && config_.budget > 0)
    ensure(share_ <= config_.budget * static_cast<double>(held_.size()) / config_.shards + 1e-9,
           "the budget share counts shards not held");
}

}  // namespace cashier::engine
