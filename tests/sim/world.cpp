// The simulated world (see world.hpp).
#include "tests/sim/world.hpp"

#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <memory>
#include <tuple>
#include <utility>


namespace cashier::sim {
namespace {
using namespace std::chrono_literals;

/// 2026-03-01T12:00:00Z (20:00 in UTC+8, hours before Alipay+'s cancel window closes).
const time_point sim_start = time_point{std::chrono::sys_days{std::chrono::year{2026} / 3 / 1}} + 12h;
/// The daemon's requestTimeoutMs: a call without an answer ends this long after it started.
constexpr auto request_timeout = 15s;
/// How long the merchant waits for an answer before sending its request again.
constexpr auto merchant_retry = 10s;
/// A run that has not gone quiet by then is stuck (the slow path alone may take 7 days).
constexpr auto max_simulated = std::chrono::days{9};
/// The late-evening scenario's payments are created from here on: 23:50 UTC+8 (sim_start is
/// 20:00 UTC+8), so their deadlines fall after the cancel window (00:15 UTC+8).
constexpr auto late_evening_offset = 3h + 50min;
/// The downtime scenario: the process goes down here (every payment IN_PROCESS by then) and
/// comes back after every polling deadline has passed.
constexpr auto downtime_from = 150s;
constexpr auto downtime_for = 1h;

std::string text(const aplus_result& r) { return std::string(1, r.status) + "/" + r.code; }

event no_answer(call_kind kind, no_answer_reason r) {
  switch (kind) {
    case call_kind::pay: return pay_no_answer{r};
    case call_kind::inquiry: return inquiry_no_answer{r};
    case call_kind::cancel: return cancel_no_answer{r};
  }
  return pay_no_answer{r};
}

/// What the merchant knows about one of its payments.
struct merchant_payment {
  std::string id;
  money amount;
  time_point expiry{};
  std::string body;
  bool accepted = false;
  bool early_cancel = false;
  bool cancel_accepted = false;
};

class world final : public cashierd_env {
 public:
  explicit world(const run_options& o)
      : opt_(o), rng_(o.seed), queue_(sim_start), rates_(rates_for(o.world, rng_)),
        fake_(queue_, rng_, rates_, faults_, log_), checker_(queue_, fake_, log_),
        database_(o.dir, "cashier-sim-" + std::to_string(::getpid()) + "-" + std::to_string(o.seed), o.postgres,
                  [this] { return queue_.now(); }),
        cashierd_(queue_, rng_, *this, database_, draw_params(rng_), draw_process(rng_, faults_), rates_, faults_,
                  log_, o.bug),
        refunds_(queue_, o.seed, rates_, faults_, log_, cashierd_, fake_, checker_) {}

  ~world() override = default;

  run_report run();

  void send_call(call_kind kind, const payment& p, int incarnation) override;
  void deliver_webhook(const store::outbox_record& r, int incarnation, duration timeout) override;
  void crashed() override;
  void send_refund_call(engine::refund_call kind, const refund& r, const std::string& request, const payment& p,
                        int incarnation) override {
    refunds_.send(kind, r, request, p, incarnation);
  }

 private:
  static fault_rates draw_rates(rng& r) {
    const double intensity[] = {0.5, 1.0, 2.0};
    return fault_rates{}.scaled(intensity[r.uniform(0, 2)]);
  }
  /// The downtime scenario runs without faults: what it checks must follow from the outage alone.
  static fault_rates rates_for(scenario s, rng& r) {
    const fault_rates drawn = draw_rates(r);
    return s == scenario::downtime ? fault_rates{}.scaled(0) : drawn;
  }
  /// Half the seeds run the default schedules, the others another valid configuration.
  static machine_params draw_params(rng& r) {
    machine_params p;
    switch (r.uniform(0, 3)) {
      case 0:
      case 1: break;
      case 2:
        p.inquiry_intervals = {3s, 10s, 30s, 60s, 120s};
        p.pay_retry_cap = 60s;
        p.cancel_retry_base = 5s;
        p.cancel_retry_cap = 10min;
        p.hint_inquiry_interval = 30s;
        break;
      case 3:
        p.inquiry_intervals = {2s, 5s, 15s, 45s, 90s};
        p.poll_grace = 20min;
        p.pay_retry_base = 2s;
        p.pay_retry_cap = 20s;
        p.cancel_retry_cap = 2min;
        break;
    }
    return p;
  }
  /// Most seeds run the daemon's limits; some a tight budget, a small cap on calls in flight,
  /// or both, so that deadlines wait in the heap for tokens and slots.
  static process_config draw_process(rng& r, fault_counts& faults) {
    process_config c;
    if (r.chance(0.3)) {
      faults.add(fault::tight_budget);
      c.max_requests_per_second = static_cast<double>(r.uniform(2, 10));
    }
    if (r.chance(0.3)) {
      faults.add(fault::small_cap);
      c.limits.max_calls_in_flight = static_cast<std::size_t>(r.uniform(2, 8));
    }
    if (r.chance(0.3)) {
      // Few webhook slots, and a merchant share below them: rows wait for a slot or their share.
      faults.add(fault::small_webhook_slots);
      c.webhooks.max_in_flight = static_cast<std::size_t>(r.uniform(1, 4));
      c.webhooks.max_in_flight_per_merchant =
          static_cast<std::size_t>(r.uniform(1, std::max<std::int64_t>(1, static_cast<std::int64_t>(c.webhooks.max_in_flight) - 1)));
    }
    if (r.chance(0.5)) {  // refund.*: quicker resends and an earlier confirming inquiry
      c.refund.retry_base = 1s;
      c.refund.retry_cap = 30s;
      c.refund.confirm_after = 3;
    }
    return c;
  }
  duration latency() { return rng_.between(5ms, 250ms); }
  void trace(const std::string& line) const;
  void plan_payment(int i);
  void plan_paid_in_outage(int i, merchant_payment m);
  void plan_process_and_sink();
  payment new_payment(const merchant_payment& m) const;
  void submit_create(int i);
  void create(int i);
  void cancel(int i);
  void answer(time_point at, int incarnation, call_kind kind, std::int64_t id, event ev,
              store::call_record rec, std::string outcome, bool unverified);
  std::pair<event, std::string> ask_fake(call_kind kind, const std::string& id, const std::string& body);
  void reach_aplus(call_kind kind, std::string id, std::string body, std::int64_t pid,
                   int incarnation, store::call_record rec);
  void notify_sent(const notify_message& m);
  void notify_arrives(const notify_message& m);
  void forge_notify(const std::string& id);
  void operator_inquiry(const std::string& id);
  void restart();
  bool sink_down() const;
  void on_commit(const engine::input& in, const engine::output& out, bool unverified);
  bool run_until_quiet();

  run_options opt_;
  rng rng_;
  event_queue queue_;
  fault_rates rates_;
  fault_counts faults_;
  violation_log log_;
  fake_aplus fake_;
  checker checker_;
  sim_database database_;  // a SQLite file of its own, or a PostgreSQL schema
  sim_cashierd cashierd_;
  refund_world refunds_;
  std::vector<merchant_payment> merchant_;
  std::vector<std::pair<time_point, time_point>> sink_outages_;
  int crashes_ = 0;
  bool forced_down_ = false;  // the downtime scenario's outage has begun
  int crashes_after_commit_ = 0;
  time_point up_since_ = sim_start;
  time_point down_since_{};
  duration downtime_{};
};

void world::trace(const std::string& line) const {
  if (!opt_.verbose) return;
  const auto t = queue_.now() - sim_start;
  const auto ms = t.count();
  std::printf("[%3lld:%02lld:%02lld.%03lld] %s\n", static_cast<long long>(ms / 3'600'000),
              static_cast<long long>(ms / 60'000 % 60), static_cast<long long>(ms / 1000 % 60),
              static_cast<long long>(ms % 1000), line.c_str());
}

// ---- the merchant ----

void world::plan_payment(int i) {
  merchant_payment m;
  m.id = "sim-" + std::to_string(opt_.seed) + "-" + std::to_string(i);
  const char* currencies[] = {"USD", "JPY", "EUR"};
  m.amount = {rng_.uniform(1, 500'000), *currency_code::parse(currencies[rng_.uniform(0, 2)])};
  if (opt_.world == scenario::downtime) return plan_paid_in_outage(i, std::move(m));
  const auto base = opt_.world == scenario::late_evening ? sim_start + late_evening_offset : sim_start;
  const auto created = base + rng_.between(0s, opt_.world == scenario::late_evening ? 10min : 15min);
  m.expiry = created + (rng_.chance(0.6) ? 15min : rng_.between(5min, 20min));
  m.body = make_pay_body(m.id, m.amount, m.expiry, "order-" + std::to_string(i));
  merchant_.push_back(std::move(m));
  queue_.at(created, [this, i] { create(i); });
  if (rng_.chance(rates_.merchant_duplicate)) {
    faults_.add(fault::merchant_duplicate);
    queue_.at(created + rng_.between(0ms, 2s), [this, i] { submit_create(i); });
  }
  bool cancels = false;
  if (rng_.chance(rates_.merchant_early_cancel)) {
    faults_.add(fault::merchant_early_cancel);
    merchant_[static_cast<std::size_t>(i)].early_cancel = cancels = true;
  } else if (rng_.chance(rates_.merchant_cancel)) {
    cancels = true;
    queue_.at(created + rng_.between(5s, 40min), [this, i] { cancel(i); });
  }
  // The merchant refunds some of the payments it does not cancel (refund_world.cpp).
  const auto& mine = merchant_[static_cast<std::size_t>(i)];
  if (!cancels) refunds_.plan(mine.id, mine.amount, created);
  if (rng_.chance(0.1)) {
    const std::string id = merchant_.back().id;
    queue_.at(created + rng_.between(0s, 60min), [this, id] { operator_inquiry(id); });
  }
  if (rng_.chance(rates_.forged_per_payment)) {
    const std::string id = merchant_.back().id;
    auto at = created + rng_.between(0s, 40min);
    for (auto n = rng_.uniform(1, 3); n > 0; --n, at += rng_.between(0s, 15s)) {  // sometimes a burst
      faults_.add(fault::notify_forged);
      queue_.at(at, [this, id] { forge_notify(id); });
    }
  }
}

void world::plan_paid_in_outage(int i, merchant_payment m) {
  const auto created = sim_start + rng_.between(0s, 2min);
  m.expiry = created + 15min;
  m.body = make_pay_body(m.id, m.amount, m.expiry, "order-" + std::to_string(i));
  payer_plan plan;
  plan.action = payer_action::pay;
  plan.after = downtime_from - (created - sim_start) + rng_.between(1s, 10min);  // while down
  plan.notify = false;  // every notify lost: only an inquiry can tell
  fake_.script(m.id, plan);
  merchant_.push_back(std::move(m));
  queue_.at(created, [this, i] { create(i); });
}

payment world::new_payment(const merchant_payment& m) const {
  payment p;
  p.payment_request_id = m.id;
  p.merchant_id = "m1";
  p.amount = m.amount;
  p.expiry_at = m.expiry;
  p.created_at = queue_.now();
  p.updated_at = queue_.now();
  p.pay_request = m.body;
  p.merchant_request = m.body;
  return p;
}

void world::submit_create(int i) {
  engine::input in;
  in.create = new_payment(merchant_[static_cast<std::size_t>(i)]);
  in.ev = created{};
  cashierd_.submit(std::move(in), [this, i](const engine::output& out) {
    auto& m = merchant_[static_cast<std::size_t>(i)];
    if (out.result != engine::outcome::applied && out.result != engine::outcome::duplicate) return;
    if (!m.accepted && m.early_cancel) queue_.after(rng_.between(0ms, 300ms), [this, i] { cancel(i); });
    m.accepted = true;
  });
}

void world::create(int i) {
  if (merchant_[static_cast<std::size_t>(i)].accepted) return;
  submit_create(i);
  queue_.after(merchant_retry, [this, i] { create(i); });
}

void world::cancel(int i) {
  auto& m = merchant_[static_cast<std::size_t>(i)];
  if (m.cancel_accepted) return;
  queue_.after(merchant_retry, [this, i] { cancel(i); });
  const auto p = m.accepted ? cashierd_.find(m.id) : std::nullopt;
  if (!p) return;
  engine::input in;
  in.payment_id = p->id;
  in.ev = cancel_requested{requester::merchant, "customer asked"};
  cashierd_.submit(std::move(in), [this, i](const engine::output& out) {
    if (out.result == engine::outcome::applied || out.result == engine::outcome::unchanged) {
      merchant_[static_cast<std::size_t>(i)].cancel_accepted = true;
    }
  });
}

// ---- the network to and from Alipay+ ----

void world::send_call(call_kind kind, const payment& p, int incarnation) {
  checker_.on_call_sent(kind, p);
  if (opt_.world == scenario::downtime && kind == call_kind::cancel) {
    log_.add(queue_.now(), p.payment_request_id + ": a cancel was sent for a payment paid during the outage");
  }
  store::call_record rec;
  rec.api = std::string(api_name(kind));
  rec.request_body = kind == call_kind::pay ? p.pay_request
                                            : R"({"paymentRequestId":")" + p.payment_request_id + R"("})";
  rec.started_at = queue_.now();
  trace("send " + rec.api + " " + p.payment_request_id);
  const auto timeout_at = queue_.now() + request_timeout;
  if (rng_.chance(rates_.request_lost)) {
    faults_.add(fault::request_lost);
    answer(timeout_at, incarnation, kind, p.id, no_answer(kind, no_answer_reason::timeout), rec, "timeout",
           false);
  } else if (rng_.chance(rates_.server_error)) {
    faults_.add(fault::server_error);
    rec.http_status = 502;
    answer(queue_.now() + latency() + latency(), incarnation, kind, p.id,
           no_answer(kind, no_answer_reason::server_error), rec, "server_error", false);
  } else {
    queue_.after(latency(), [this, kind, id = p.payment_request_id, body = rec.request_body, pid = p.id,
                             incarnation, rec] { reach_aplus(kind, id, body, pid, incarnation, rec); });
  }
}

std::pair<event, std::string> world::ask_fake(call_kind kind, const std::string& id,
                                              const std::string& body) {
  switch (kind) {
    case call_kind::pay: {
      auto a = fake_.pay(body);
      auto outcome = text(a.result);
      return {std::move(a), std::move(outcome)};
    }
    case call_kind::inquiry: {
      auto a = fake_.inquiry(id);
      auto outcome = text(a.result) + (a.payment_result ? " " + text(*a.payment_result) : "");
      return {std::move(a), std::move(outcome)};
    }
    case call_kind::cancel: {
      auto a = fake_.cancel(id);
      auto outcome = text(a.result);
      return {std::move(a), std::move(outcome)};
    }
  }
  return {pay_no_answer{no_answer_reason::garbled}, "?"};
}

void world::reach_aplus(call_kind kind, std::string id, std::string body, std::int64_t pid,
                        int incarnation, store::call_record rec) {
  auto [ev, outcome] = ask_fake(kind, id, body);
  const auto at = queue_.now() + latency();
  rec.http_status = 200;
  rec.response_body = outcome;
  if (rng_.chance(rates_.answer_lost)) {
    faults_.add(fault::answer_lost);
    rec.http_status = 0;
    answer(rec.started_at + request_timeout, incarnation, kind, pid,
           no_answer(kind, no_answer_reason::timeout), rec, "timeout after " + outcome, false);
    return;
  }
  std::optional<no_answer_reason> bad;
  if (rng_.chance(rates_.unsigned_answer)) bad = no_answer_reason::unsigned_answer;
  else if (rng_.chance(rates_.bad_signature)) bad = no_answer_reason::bad_signature;
  if (bad) {
    faults_.add(*bad == no_answer_reason::unsigned_answer ? fault::unsigned_answer : fault::bad_signature);
    // Only a verified answer may reach the machine; the injected bug lets this one through.
    event delivered = opt_.bug == injected_bug::unverified ? std::move(ev) : no_answer(kind, *bad);
    answer(at, incarnation, kind, pid, std::move(delivered), rec,
           std::string(to_string(*bad)) + " " + outcome, true);
    return;
  }
  answer(at, incarnation, kind, pid, std::move(ev), rec, outcome, false);
}

void world::answer(time_point at, int incarnation, call_kind kind, std::int64_t id, event ev,
                   store::call_record rec, std::string outcome, bool unverified) {
  rec.outcome = std::move(outcome);
  rec.latency_us = (at - rec.started_at).count() * 1000;
  queue_.at(at, [this, incarnation, kind, id, ev = std::move(ev), rec = std::move(rec), unverified] {
    trace("answer " + rec.api + " " + std::to_string(id) + ": " + rec.outcome +
          (incarnation != cashierd_.incarnation() ? " (to a crashed process: dropped)" : ""));
    cashierd_.on_call_answer(incarnation, kind, id, ev, rec, unverified);
  });
}

void world::notify_sent(const notify_message& m) {
  if (rng_.chance(rates_.notify_lost)) {
    faults_.add(fault::notify_lost);
    return;
  }
  auto delay = latency();
  if (rng_.chance(rates_.notify_late)) {
    faults_.add(fault::notify_late);
    delay += rng_.between(1min, 6h);
  } else if (rng_.chance(rates_.notify_reordered)) {
    faults_.add(fault::notify_reordered);
    delay += rng_.between(1s, 2min);
  }
  queue_.after(delay, [this, m] { notify_arrives(m); });
  if (rng_.chance(rates_.notify_duplicate)) {
    faults_.add(fault::notify_duplicate);
    // Half the copies arrive while the first is still being handled (same group commit).
    const auto gap = rng_.chance(0.5) ? rng_.between(0ms, 20ms) : latency() + rng_.between(0s, 5s);
    queue_.after(delay + gap, [this, m] { notify_arrives(m); });
  }
}

void world::notify_arrives(const notify_message& m) {
  trace("notify " + m.payment_request_id + " " + text(m.payment_result) + " attempt " +
        std::to_string(m.attempt) + (cashierd_.up() ? "" : " (process down)"));
  if (!cashierd_.up()) return;  // connection refused: Alipay+ retries on its schedule
  const auto p = cashierd_.find(m.payment_request_id);
  engine::input in;
  in.payment_id = p ? p->id : 0;
  in.ev = notify_verified{m.payment_result, m.amount, m.facts};
  const std::string body = m.payment_request_id + " " + text(m.payment_result) + " " +
                           format_minor_units(m.amount.minor_units) + " " + m.amount.currency.str();
  in.notifies.push_back({0, 0, m.payment_request_id, body, "", "ok", queue_.now()});
  // The notify handler holds the calls its decision starts until the ack is written (or its
  // write failed), then releases them; a release that never comes is bounded by the hold limit.
  const auto inc = cashierd_.incarnation();
  const auto hold = std::make_shared<engine::ticket>(0);
  *hold = cashierd_.submit_held(std::move(in), [this, id = m.payment_request_id, inc, hold](const engine::output& out) {
    if (rng_.chance(rates_.release_lost)) {
      faults_.add(fault::release_lost);
    } else {
      queue_.after(rng_.between(0ms, 5ms), [this, inc, hold] { cashierd_.release(inc, *hold); });
    }
    const bool found = out.result == engine::outcome::applied || out.result == engine::outcome::unchanged;
    if (found && out.after.id != 0 && !out.made.ack) {
      log_.add(queue_.now(), id + ": a verified notify was not acked");
    }
    if (!found && out.result != engine::outcome::not_found) return;  // an error: Alipay+ retries
    if (rng_.chance(rates_.ack_lost)) {
      faults_.add(fault::ack_lost);
      return;
    }
    queue_.after(latency(), [this, id] { fake_.ack(id); });
  });
}

void world::forge_notify(const std::string& id) {
  trace("forged notify " + id);
  if (!cashierd_.up()) return;
  const auto p = cashierd_.find(id);
  engine::input in;
  in.payment_id = p ? p->id : 0;
  in.ev = notify_unverified{};
  if (opt_.bug == injected_bug::unverified && p) {
    in.ev = notify_verified{{"SUCCESS", 'S', "success"}, p->amount, {}};
  }
  in.notifies.push_back({0, 0, id, id + " S forged", "", "bad_signature", queue_.now()});
  cashierd_.submit(std::move(in), nullptr, true);
}

void world::operator_inquiry(const std::string& id) {
  const auto p = cashierd_.find(id);  // cashierctl inquire goes through the admin API
  if (!p) return;
  engine::input in;
  in.payment_id = p->id;
  in.ev = inquiry_requested{};
  cashierd_.submit(std::move(in));
}

// ---- the process and the merchant's webhook endpoint ----

void world::crashed() {
  ++crashes_;
  if (cashierd_.take_crashed_after_commit()) ++crashes_after_commit_;
  trace("CRASH");
  down_since_ = queue_.now();
  // Mostly a quick restart; sometimes hours down, so expiries and polling deadlines pass.
  const bool planned = opt_.world == scenario::downtime && !forced_down_;
  const bool long_down = !planned && rng_.chance(0.15);
  if (long_down) faults_.add(fault::long_downtime);
  const auto down = planned     ? downtime_for
                    : long_down ? rng_.between(10min, 2h)
                                : rng_.between(1s, 3min);
  queue_.after(down, [this] { restart(); });
}

void world::restart() {
  downtime_ += queue_.now() - down_since_;
  up_since_ = queue_.now();
  trace("restart");
  cashierd_.start();
}

bool world::sink_down() const {
  for (const auto& [from, to] : sink_outages_) {
    if (queue_.now() >= from && queue_.now() < to) return true;
  }
  return false;
}

void world::deliver_webhook(const store::outbox_record& r, int incarnation, duration timeout) {
  const auto sent = queue_.now();
  queue_.after(latency(), [this, r, incarnation, timeout, sent] {
    int status = 200;
    if (sink_down()) {
      status = 0;
    } else if (rng_.chance(rates_.webhook_error)) {
      faults_.add(fault::webhook_error);
      status = 500;
    }
    // The merchant takes its time: whatever it decided, the sender has given up by then.
    const bool late = status != 0 && rng_.chance(rates_.webhook_timeout);
    if (late) faults_.add(fault::webhook_timeout);
    trace("webhook " + r.event_id + " " + r.type + " -> " + std::to_string(status) + (late ? " (too late)" : ""));
    checker_.on_webhook(r, status == 200, !late && status == 200);
    if (rng_.chance(rates_.operator_redeliver)) {
      // While the sender waits for this answer, an operator asks for the event again.
      faults_.add(fault::operator_redeliver);
      if (cashierd_.redeliver(r.event_id)) checker_.on_redelivered(r.event_id);
    }
    const auto answered = late ? sent + timeout : queue_.now() + latency();
    queue_.at(answered, [this, r, incarnation, status, late] {
      cashierd_.on_webhook_result(incarnation, r, late ? 0 : status);
    });
  });
}

void world::plan_process_and_sink() {
  if (opt_.world == scenario::downtime) {
    queue_.at(sim_start + downtime_from, [this] {
      cashierd_.crash();
      forced_down_ = true;
    });
    return;
  }
  const auto base = opt_.world == scenario::late_evening ? sim_start + late_evening_offset : sim_start;
  for (auto n = rng_.uniform(0, 2); n > 0; --n) {
    queue_.at(base + rng_.between(0s, 90min), [this] {
      if (cashierd_.up()) cashierd_.crash();
    });
  }
  for (auto n = rng_.uniform(0, 2); n > 0; --n) {
    faults_.add(fault::webhook_sink_down);
    const auto from = base + rng_.between(0s, 60min);
    sink_outages_.emplace_back(from, from + rng_.between(10min, 5h));
  }
}

void world::on_commit(const engine::input& in, const engine::output& out, bool unverified) {
  if (opt_.verbose && out.result == engine::outcome::applied) {
    std::string effects;
    for (const auto& e : out.made.effects) effects += "; " + describe(e);
    trace("commit " + out.after.payment_request_id + " " + out.made.cause + ": " +
          std::string(to_string(out.made.from.status)) + "/" + std::string(to_string(out.made.from.pending)) +
          " -> " + std::string(to_string(out.made.to.status)) + "/" +
          std::string(to_string(out.made.to.pending)) + effects);
  }
  checker_.on_commit(in, out, unverified);
}

bool world::run_until_quiet() {
  while (queue_.run_one()) {
    // A store outage is downtime too: nothing can be decided while nothing can be written. And
    // while the budget or the cap holds calls back, cut-offs wait their turn in the heap.
    checker_.after_step(cashierd_.up(),
                        std::max({up_since_, cashierd_.store_back_at(), cashierd_.held_back_at()}),
                        downtime_ + cashierd_.store_outages());
    if (log_.items().size() >= 20) return false;
    if (queue_.now() - sim_start > max_simulated) {
      log_.add(queue_.now(), "the run did not go quiet within 7 simulated days");
      return false;
    }
  }
  return true;
}

run_report world::run() {
  fake_.send_notify = [this](notify_message m) { notify_sent(m); };
  cashierd_.on_commit([this](const engine::input& in, const engine::output& out, bool unverified) {
    on_commit(in, out, unverified);
  });
  cashierd_.start();
  for (int i = 0; i < opt_.payments; ++i) plan_payment(i);
  plan_process_and_sink();
  if (opt_.world != scenario::downtime) refunds_.plan_crash();
  // When all is quiet, the operator redelivers dead merchant events; then run on.
  for (int round = 0; round < 3 && run_until_quiet(); ++round) {
    if (cashierd_.redeliver_dead([this](const store::outbox_record& r) { checker_.on_dead(r); }) == 0) break;
  }
  if (log_.empty()) {
    auto s = database_.open();
    std::vector<std::string> ids;
    for (const auto& m : merchant_) ids.push_back(m.id);
    checker_.at_end(*s, ids);
    refunds_.at_end(*s, ids);
  }
  run_report r;
  r.seed = opt_.seed;
  r.payments = opt_.payments;
  r.simulated = queue_.now() - sim_start;
  r.faults = faults_;
  r.crashes = crashes_;
  r.crashes_after_commit = crashes_after_commit_;
  cashierd_.finish();
  r.webhooks = cashierd_.webhook_totals();
  r.commits = cashierd_.commits();
  std::tie(r.shared_commits, r.same_payment_commits) = cashierd_.shared_commits();
  r.scheduler = cashierd_.scheduler_totals();
  r.cancels_deferred = r.scheduler.cancels_deferred;
  r.totals = checker_.totals();
  r.refunds = refunds_.totals();
  r.violations = log_.items();
  return r;
}

}  // namespace

std::optional<injected_bug> parse_bug(std::string_view name) {
  if (name == "none") return injected_bug::none;
  if (name == "unverified") return injected_bug::unverified;
  if (name == "drop-event") return injected_bug::drop_event;
  if (name == "webhook-out-of-order") return injected_bug::webhook_out_of_order;
  if (name == "cancel-over-pay") return injected_bug::cancel_over_pay;
  if (name == "leak-token") return injected_bug::leak_token;
  if (name == "ignore-cap") return injected_bug::ignore_cap;
  if (name == "fire-early") return injected_bug::fire_early;
  if (name == "no-last-look") return injected_bug::no_last_look;
  if (name == "cancel-after-window") return injected_bug::cancel_after_window;
  if (name == "refund-new-id") return injected_bug::refund_new_id;
  if (name == "refund-skips-budget") return injected_bug::refund_skips_budget;
  return std::nullopt;
}

std::optional<scenario> parse_scenario(std::string_view name) {
  if (name == "random") return scenario::random;
  if (name == "downtime") return scenario::downtime;
  if (name == "late-evening") return scenario::late_evening;
  return std::nullopt;
}

run_report run_seed(const run_options& options) {
  try {
    world w(options);
    return w.run();
  } catch (const std::exception& e) {
    run_report r;
    r.seed = options.seed;
    r.payments = options.payments;
    r.violations.push_back({sim_start, std::string("exception: ") + e.what()});
    return r;
  }
}

}  // namespace cashier::sim
