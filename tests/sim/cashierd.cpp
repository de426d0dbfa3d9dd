// The simulated cashierd process (see cashierd.hpp): the world's executor of the production
// scheduler and webhook policy. No scheduling or delivery rule lives here; where the world adds something (faults, the
// reactor turn, the budget check), a comment says so.
#include "tests/sim/cashierd.hpp"

#include <algorithm>
#include <cmath>

#include "orchestrator/engine/payment_view.hpp"
#include "state/machine/schedule.hpp"

namespace cashier::sim {
namespace {
/// The longest the reactor is busy before it flushes the queued inputs.
constexpr auto reactor_turn = std::chrono::milliseconds(10);
/// The longest a commit is out on the store thread (the daemon's store_thread.hpp) while the
/// reactor goes on taking inputs, answers and timers.
constexpr auto store_turn = std::chrono::milliseconds(5);
template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;
/// Wall-clock waits (budget, store retry) on the millisecond agenda: never early.
duration agenda_wait(std::chrono::nanoseconds d) { return std::chrono::ceil<duration>(d); }
}  // namespace

engine::scheduler_flaw flaw_of(injected_bug bug) {
  switch (bug) {
    case injected_bug::cancel_over_pay: return engine::scheduler_flaw::cancel_over_pay;
    case injected_bug::leak_token: return engine::scheduler_flaw::leak_token;
    case injected_bug::ignore_cap: return engine::scheduler_flaw::ignore_cap;
    case injected_bug::fire_early: return engine::scheduler_flaw::fire_early;
    case injected_bug::refund_skips_budget: return engine::scheduler_flaw::refund_skips_budget;
    case injected_bug::refund_new_id:
    case injected_bug::none:
    case injected_bug::unverified:
    case injected_bug::drop_event:
    case injected_bug::webhook_out_of_order:
    case injected_bug::no_last_look:
    case injected_bug::cancel_after_window: return engine::scheduler_flaw::none;
  }
  return engine::scheduler_flaw::none;
}

engine::webhook_flaw webhook_flaw_of(injected_bug bug) {
  switch (bug) {
    case injected_bug::drop_event: return engine::webhook_flaw::drop_on_failure;
    case injected_bug::webhook_out_of_order: return engine::webhook_flaw::out_of_order;
    case injected_bug::none:
    case injected_bug::unverified:
    case injected_bug::cancel_over_pay:
    case injected_bug::leak_token:
    case injected_bug::ignore_cap:
    case injected_bug::fire_early:
    case injected_bug::no_last_look:
    case injected_bug::cancel_after_window:
    case injected_bug::refund_new_id:
    case injected_bug::refund_skips_budget: return engine::webhook_flaw::none;
  }
  return engine::webhook_flaw::none;
}

sim_cashierd::sim_cashierd(event_queue& queue, rng& random, cashierd_env& env, const sim_database& database,
                           machine_params params, process_config process, const fault_rates& rates,
                           fault_counts& faults, violation_log& log, injected_bug bug)
    : queue_(queue), rng_(random), env_(env), database_(database), params_(std::move(params)),
      process_(process), rates_(rates), faults_(faults), log_(log), bug_(bug) {
  process_.limits.flaw = flaw_of(bug);
  process_.webhooks.flaw = webhook_flaw_of(bug);
}

engine::instants sim_cashierd::now() const {
  // One virtual clock serves as both: timeScale 1, and the wall clock is the agenda's.
  const auto t = queue_.now();
  return {t, rate_budget::instant{std::chrono::duration_cast<rate_budget::instant::duration>(t.time_since_epoch())}};
}

void sim_cashierd::start() {
  store_ = database_.open();
  engine::engine_config config;
  config.params = params_;
  config.webhook_url = [](const payment&) { return std::string("https://merchant.sim/hooks"); };
  // Reproducible ids, so a seed replays byte for byte (the daemon's are random).
  config.new_event_id = [](const payment& p, std::int32_t seq) {
    return "evt_sim_" + std::to_string(p.id) + "_" + std::to_string(seq);
  };
  // Refunds: the sim's own request bytes (the fake reads them), ids drawn from the seed.
  const auto refund_id = [this] { return "rf_sim_" + std::to_string(rng_.next() % 1'000'000'000'000ULL); };
  config.build_refund_request = refund_request_text;
  config.new_refund_request_id = refund_id;
  engine_ = std::make_unique<engine::engine>(*store_, std::move(config));
  refunds_ = std::make_unique<engine::refund_engine>(*store_, engine::refund_engine_config{
      .params = process_.refund,
      .build_request = refund_request_text,
      .new_request_id = refund_id,
      .webhook_url = [](const payment&) { return std::string("https://merchant.sim/hooks"); },
      .new_event_id = [](const payment& p, std::int32_t seq) {
        return "evt_sim_" + std::to_string(p.id) + "_" + std::to_string(seq);
      }});
  sched_ = std::make_unique<engine::scheduler>(process_.limits);
  sched_->budget() = rate_budget(process_.max_requests_per_second);
  sched_->on_broken_invariant([this](std::string_view what) {
    log_.add(queue_.now(), "scheduler invariant broken: " + std::string(what));
  });
  sched_->recover(engine_->recover(), now());
  sched_->recover_refunds(refunds_->recover(), now());
  hooks_ = std::make_unique<engine::webhook_policy>(process_.webhooks);
  hooks_->on_broken_invariant([this](std::string_view what) {
    log_.add(queue_.now(), "webhook policy invariant broken: " + std::string(what));
  });
  run();
  // The sender polls the outbox at start; the world's wakes stand in for its periodic recheck
  // (a tick per pending row's next attempt, instead of one every second of seven days).
  for (const auto& r : store_->due_outbox(never, 1'000'000)) arm_webhook_wake(r.next_attempt_at);
}

void sim_cashierd::add_totals() {
  if (!sched_) return;
  const auto s = sched_->stats();
  totals_.batches += s.batches;
  totals_.inputs += s.inputs;
  totals_.store_failures += s.store_failures;
  totals_.budget_deferred += s.budget_deferred;
  totals_.hints_skipped += s.hints_skipped;
  totals_.cancels_deferred += s.cancels_deferred;
  totals_.budget_waits += s.budget_waits;
  totals_.cap_waits += s.cap_waits;
  totals_.tokens_refunded += s.tokens_refunded;
  totals_.tokens_borrowed += s.tokens_borrowed;
  totals_.worst_urgent_lateness_s = std::max(totals_.worst_urgent_lateness_s, s.worst_urgent_lateness_s);
  totals_.worst_polling_lateness_s = std::max(totals_.worst_polling_lateness_s, s.worst_polling_lateness_s);
  for (std::size_t i = 0; i < s.actions.size(); ++i) totals_.actions[i] += s.actions[i];
  for (std::size_t i = 0; i < s.fired.size(); ++i) totals_.fired[i] += s.fired[i];
  totals_.store_writable = totals_.store_writable && s.store_writable;
  if (!hooks_) return;
  const auto& w = hooks_->stats();
  auto& t = webhook_totals_;
  t.started += w.started;
  t.held_for_order += w.held_for_order;
  t.left_for_order += w.left_for_order;
  t.held_for_share += w.held_for_share;
  t.full += w.full;
  t.delivered += w.delivered;
  t.retried += w.retried;
  t.dead += w.dead;
  t.redelivered_in_flight += w.redelivered_in_flight;
  t.commit_failures += w.commit_failures;
  t.attempts_lost += w.attempts_lost;
}

void sim_cashierd::crash() {
  add_totals();
  ++incarnation_;
  flushing_ = flush_again_ = false;
  sched_.reset();
  refunds_.reset();
  hooks_.reset();
  webhook_wakes_.clear();
  settle_armed_ = false;
  engine_.reset();
  store_.reset();
  waiting_.clear();
  ++timer_generation_;
  held_back_ = 0;
  recent_calls_.clear();
  pays_in_flight_.clear();
  env_.crashed();
}

void sim_cashierd::finish() { add_totals(); }

bool sim_cashierd::submit(engine::input in, reply r, bool unverified) {
  if (!up()) return false;
  const auto t = next_ticket_++;
  if (r || unverified) waiting_.emplace(t, waiting{std::move(r), unverified});
  sched_->submit(std::move(in), t);
  run();
  return true;
}

engine::ticket sim_cashierd::submit_held(engine::input in, reply r) {
  if (!up()) return 0;
  const auto t = next_ticket_++;
  if (r) waiting_.emplace(t, waiting{std::move(r), false});
  sched_->submit(std::move(in), t, true);
  run();
  return t;
}

void sim_cashierd::release(int incarnation, engine::ticket hold) {
  if (!up() || incarnation != incarnation_) return;
  sched_->ack_written(hold, now());
  run();
}

std::optional<payment> sim_cashierd::find(std::string_view payment_request_id) {
  if (!up()) return std::nullopt;
  return store_->find(payment_request_id);
}

void sim_cashierd::run() {
  std::vector<engine::action> acts;
  for (sched_->take_actions(acts); !acts.empty() && up(); sched_->take_actions(acts)) {
    for (auto& a : acts) execute(a);
  }
  if (!up()) return;
  const auto s = sched_->stats();
  const auto held = s.budget_waits + s.cap_waits + s.budget_deferred + s.hints_skipped;
  if (held != held_back_) {
    held_back_ = held;
    held_back_at_ = queue_.now();
  }
}

void sim_cashierd::execute(engine::action& a) {
  const auto inc = incarnation_;
  std::visit(
      overloaded{
          // driver.cpp posts the flush; whatever completes while the reactor is busy (the
          // previous commit, other handlers) joins the same batch. A turn here lasts 0-10 ms.
          [&](engine::flush_soon) {
            queue_.after(rng_.between(duration::zero(), reactor_turn), [this, inc] { flush(inc); });
          },
          [&](const engine::start_call& c) { start_call(c); },
          [&](engine::wake_watchers) {},  // nobody waits in the simulation: replies go by ticket
          [&](const engine::arm_timer& t) { arm_timer(t); },
          [&](engine::cancel_timer) { ++timer_generation_; },
          [&](const engine::arm_store_retry& r) {
            queue_.after(agenda_wait(r.wait), [this, inc] {
              if (inc != incarnation_) return;
              sched_->store_retry_due();
              run();
            });
          },
          [&](const engine::arm_hold_limit& h) {
            queue_.after(agenda_wait(h.wait), [this, inc] {
              if (inc != incarnation_) return;
              sched_->hold_limit_due(now());
              run();
            });
          },
          [&](engine::probe_store) { probe(); },
          // Checked from outside too (the scheduler asserts it as well).
          [&](const engine::deadline_fired& f) {
            if (f.late < duration::zero()) log_.add(queue_.now(), "a deadline fired before its time");
          },
          [&](const engine::notice&) {},  // counted in the scheduler's stats
          [&](const engine::start_refund_call& c) { start_refund_call(c); },
          [&](engine::wake_refund_watchers) {},  // nobody waits in the simulation
      },
      a);
}

void sim_cashierd::arm_timer(const engine::arm_timer& t) {
  const auto generation = ++timer_generation_;
  const auto wake = [this, inc = incarnation_, generation, at = t.at] {
    if (inc != incarnation_ || generation != timer_generation_) return;  // re-armed or crashed
    sched_->timer_fired(at, now());
    run();
  };
  if (t.due) queue_.after(agenda_wait(t.budget_wait), wake);
  else queue_.at(t.at, wake);
}

bool sim_cashierd::store_fails() {
  if (queue_.now() < store_broken_until_) return true;
  if (!rng_.chance(rates_.store_failure)) return false;
  faults_.add(fault::store_failure);
  if (rng_.chance(0.3)) {
    // Not a blip: the disk stays full for a while, so probes fail too and payments are held.
    faults_.add(fault::store_outage);
    const auto lasts = rng_.between(std::chrono::seconds(2), std::chrono::seconds(90));
    store_broken_until_ = queue_.now() + lasts;
    outages_ += lasts;
  }
  return true;
}

void sim_cashierd::probe() {
  bool ok = !store_fails();
  if (ok) store_->set_meta("store_probe_at", engine::iso8601(queue_.now()));
  sched_->probe_result(ok, now());
}

// As the daemon's driver (driver.cpp): one commit out on the store thread at a time, the
// reactor going on meanwhile; a flush posted while one is under way runs when it ends.
void sim_cashierd::flush(int inc) {
  if (inc != incarnation_) return;
  if (flushing_) {
    flush_again_ = true;
    return;
  }
  flushing_ = true;
  sched_->begin_flush(now());
  run();
  commit_next(inc);
}

void sim_cashierd::commit_next(int inc) {
  if (inc != incarnation_ || !up()) return;
  if (auto b = sched_->next_batch()) {
    queue_.after(rng_.between(duration::zero(), store_turn), [this, inc, b = std::move(*b)]() mutable {
      if (inc != incarnation_) return;
      if (commit(b)) commit_next(inc);  // false: crashed between the commit and its effects
    });
    return;
  }
  if (auto r = sched_->next_refund()) {
    queue_.after(rng_.between(duration::zero(), store_turn), [this, inc, r = std::move(*r)]() mutable {
      if (inc != incarnation_) return;
      if (commit_refund(r)) commit_next(inc);
    });
    return;
  }
  flushing_ = false;
  sched_->end_flush(now());
  run();
  if (std::exchange(flush_again_, false)) flush(inc);
}

void sim_cashierd::count_sharing(const engine::batch& b) {
  if (b.inputs.size() < 2) return;
  ++multi_;
  std::set<std::int64_t> ids;
  for (const auto& in : b.inputs) {
    if (in.payment_id != 0 && !ids.insert(in.payment_id).second) {
      ++same_payment_;
      return;
    }
  }
}

// The machine-level bugs (--inject-bug no-last-look, cancel-after-window) change what a committed
// decision asks for before the scheduler carries it out, as a driver with that bug would.
std::vector<engine::input> sim_cashierd::inject_machine_bugs(std::vector<engine::output>& outs) {
  std::vector<engine::input> later;  // submitted once the batch's result is in
  for (auto& out : outs) {
    if (out.result != engine::outcome::applied) continue;
    auto& effects = out.made.effects;
    if (bug_ == injected_bug::no_last_look &&
        (out.made.cause == "timer:poll_deadline" || out.made.cause == "timer:expiry")) {
      // The last inquiry at a cut-off is never sent: it is answered "no answer" at once.
      const auto n = std::erase_if(effects, [](const effect& e) { return std::holds_alternative<send_inquiry>(e); });
      if (n > 0) {
        engine::input in;
        in.payment_id = out.after.id;
        in.ev = inquiry_no_answer{no_answer_reason::timeout};
        later.push_back(std::move(in));
      }
    }
    if (bug_ == injected_bug::cancel_after_window) {
      // A cancel refused for the window (payment.cancel_failed) is sent anyway.
      const bool refused = std::any_of(effects.begin(), effects.end(), [](const effect& e) {
        const auto* m = std::get_if<emit_merchant_event>(&e);
        return m != nullptr && m->code == "CANCEL_WINDOW_EXCEED";
      });
      if (refused) effects.push_back(send_cancel{});
    }
  }
  return later;
}

bool sim_cashierd::commit(engine::batch& b) {
  std::vector<engine::output> outs;
  bool failed = store_fails();  // as if the store threw before writing anything
  if (!failed) {
    try {
      outs = engine_->apply(b.inputs, queue_.now());
    } catch (const store::store_error& e) {
      log_.add(queue_.now(), std::string("store_error from the engine: ") + e.what());
      failed = true;
    }
  }
  if (failed) {
    // The callers of inputs without a payment (merchant, Alipay+ notify) see an error and retry.
    sched_->commit_failed(b);
    for (const auto t : b.tickets) waiting_.erase(t);
    run();
    return true;
  }
  ++commits_;
  count_sharing(b);
  if (hook_) {
    for (std::size_t i = 0; i < outs.size(); ++i) {
      const auto it = waiting_.find(b.tickets[i]);
      hook_(b.inputs[i], outs[i], it != waiting_.end() && it->second.unverified);
    }
  }
  // A late cancel's refund was stored by this commit: the checks learn of it before any crash.
  if (refund_created_) {
    // (Also from an unchanged decision: a cancel of a SUCCESS after the window changes nothing
    // of the payment but starts its refund.)
    for (const auto& out : outs) {
      for (const auto& e : out.made.effects) {
        if (!std::holds_alternative<start_refund>(e)) continue;
        for (const auto& r : store_->refunds_of(out.after.id)) refund_created_(r);
      }
    }
  }
  if (rng_.chance(rates_.crash_after_commit)) {
    crashed_after_commit_ = true;
    crash();
    return false;
  }
  auto injected = inject_machine_bugs(outs);
  sched_->committed(b, outs, now());
  run();
  if (!up()) return false;
  for (auto& in : injected) submit(std::move(in), nullptr, false);
  for (std::size_t i = 0; i < outs.size(); ++i) {
    const auto it = waiting_.find(b.tickets[i]);
    if (it == waiting_.end()) continue;
    auto r = std::move(it->second.r);
    waiting_.erase(it);
    if (r) r(outs[i]);
  }
  // The outbox rows this batch wrote go out now (the daemon's sender is woken by its observer).
  for (const auto& out : outs) {
    if (out.result != engine::outcome::applied) continue;
    if (std::any_of(out.made.effects.begin(), out.made.effects.end(),
                    [](const effect& e) { return std::holds_alternative<emit_merchant_event>(e); })) {
      wake_webhooks(false);
      break;
    }
  }
  return up();
}

void sim_cashierd::check_budget() {
  // From outside the scheduler: the calls it starts (payments' and refunds') stay within the
  // configured budget, i.e. at most rate + 2 bursts in any second (rate_budget.hpp; a throttle
  // only lowers the rate).
  const double rate = process_.max_requests_per_second;
  if (rate > 0) {
    const auto t = queue_.now();
    while (!recent_calls_.empty() && recent_calls_.front() <= t - std::chrono::seconds(1)) recent_calls_.pop_front();
    recent_calls_.push_back(t);
    const double burst = std::max(1.0, rate / 50);
    if (static_cast<double>(recent_calls_.size()) > std::floor(rate + 2 * burst) + 1e-9) {
      log_.add(t, "more Alipay+ calls in one second than maxRequestsPerSecond allows (" +
                      std::to_string(recent_calls_.size()) + ")");
      recent_calls_.clear();
    }
  }
}

void sim_cashierd::start_call(const engine::start_call& c) {
  check_budget();
  // Never two pays of one payment in flight: a second could create a second order.
  if (c.kind == call_kind::pay && ++pays_in_flight_[c.p.id] > 1)
    log_.add(queue_.now(), c.p.payment_request_id + ": a second pay started while one is in flight");
  env_.send_call(c.kind, c.p, incarnation_);
}

void sim_cashierd::on_call_answer(int incarnation, call_kind kind, std::int64_t id, event ev,
                                  store::call_record call, bool unverified) {
  if (incarnation != incarnation_ || !up()) return;  // addressed to a crashed process
  if (kind == call_kind::pay && --pays_in_flight_[id] <= 0) pays_in_flight_.erase(id);
  engine::input in;
  in.payment_id = id;
  in.ev = std::move(ev);
  in.calls.push_back(std::move(call));
  engine::ticket t = 0;
  if (unverified) waiting_.emplace(t = next_ticket_++, waiting{nullptr, true});
  sched_->call_ended(kind, std::move(in), now(), t);
  run();
}

// The webhook sender's poll (webhook_sender.cpp), on the virtual clock: the due rows, and for
// each what the policy asks to know; its admissions carried out. A `tick` is the sender's timer
// (stalled rows may go again); otherwise a poke after a commit that added rows.
void sim_cashierd::wake_webhooks(bool tick) {
  if (!up()) return;
  if (tick) hooks_->timer_ticked();
  const auto now = queue_.now();
  if (hooks_->begin_poll(now)) {
    std::vector<store::transition> deferrals;
    for (auto& row : store_->due_outbox(now, 256)) {
      if (!hooks_->has_room()) break;
      if (!hooks_->worth_reading(row)) continue;
      engine::webhook_candidate c{std::move(row), std::nullopt, {}};
      if (const auto p = store_->load(c.row.payment_id)) c.merchant = p->merchant_id;
      if (engine::webhook_policy::needs_siblings(c.row)) c.siblings = store_->outbox_of(c.row.payment_id);
      auto decided = hooks_->admit(std::move(c), now);
      if (auto* d = std::get_if<engine::start_delivery>(&decided))
        env_.deliver_webhook(d->row, incarnation_, process_.webhooks.attempt_timeout);
      else if (auto* held = std::get_if<engine::defer_delivery>(&decided))
        deferrals.push_back(std::move(held->t));
    }
    // A failed deferral leaves the rows due: the next poll decides again.
    if (!deferrals.empty() && !store_fails()) store_->commit(deferrals);
  }
  if (const auto at = hooks_->next_wake()) arm_webhook_wake(*at);
}

void sim_cashierd::arm_webhook_wake(time_point at) {
  if (!webhook_wakes_.insert(at).second) return;  // one wake per instant
  queue_.at(at, [this, inc = incarnation_, at] {
    if (inc != incarnation_) return;
    webhook_wakes_.erase(at);
    wake_webhooks(true);
  });
}

void sim_cashierd::on_webhook_result(int incarnation, const store::outbox_record& r, int http_status) {
  if (incarnation != incarnation_ || !up()) return;
  engine::attempt_outcome o;
  o.http_status = http_status;
  if (!o.ok()) o.error = http_status == 0 ? "timeout" : "HTTP " + std::to_string(http_status);
  if (!hooks_->attempt_ended(r.event_id, std::move(o)) || settle_armed_) return;
  // Settled on the next reactor turn, with whatever else ends meanwhile (the sender posts it).
  settle_armed_ = true;
  queue_.after(rng_.between(duration::zero(), reactor_turn), [this, inc = incarnation_] { settle_webhooks(inc); });
}

void sim_cashierd::settle_webhooks(int inc) {
  if (inc != incarnation_ || !up()) return;
  settle_armed_ = false;
  const auto now = queue_.now();
  const auto s = hooks_->settle(now);
  if (store_fails()) {
    // Nothing written: the rows stay due, stalled until the sender's next timer tick.
    hooks_->settle_failed(s);
    arm_webhook_wake(now + std::chrono::duration_cast<duration>(process_.limits.retry_after_store_failure));
    return;
  }
  std::vector<store::commit_outcome> outcomes;
  try {
    if (!s.transitions.empty()) outcomes = store_->commit(s.transitions);
  } catch (const store::store_error& e) {
    log_.add(now, std::string("store_error on webhook progress: ") + e.what());
    hooks_->settle_failed(s);
    return;
  }
  for (std::size_t i = 0; i < outcomes.size(); ++i)
    if (outcomes[i].status != store::commit_status::committed)
      log_.add(now, "webhook progress of " + s.reports[i].event_id + " not committed: " + outcomes[i].detail);
  hooks_->settled(s, outcomes);
  wake_webhooks(false);  // the sender polls again after a settle
}

bool sim_cashierd::redeliver(const std::string& event_id) {
  if (!up() || store_fails()) return false;
  const auto row = store_->outbox_by_event_id(event_id);
  if (!row) return false;
  if (store_->commit_one(engine::webhook_policy::redeliver(*row, queue_.now())).status != store::commit_status::committed)
    return false;
  hooks_->redelivered(event_id);
  wake_webhooks(false);
  return true;
}

std::size_t sim_cashierd::redeliver_dead(const std::function<void(const store::outbox_record&)>& before) {
  if (!up()) return 0;
  const auto dead = store_->dead_outbox(1'000'000);
  for (const auto& r : dead) {
    before(r);
    // What webhook_sender::redeliver does, one event at a time.
    if (store_->commit_one(engine::webhook_policy::redeliver(r, queue_.now())).status == store::commit_status::committed)
      hooks_->redelivered(r.event_id);
  }
  if (dead.empty()) return 0;
  wake_webhooks(false);
  return dead.size();
}

}  // namespace cashier::sim
