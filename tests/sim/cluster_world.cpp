// The simulated cluster (see cluster_world.hpp). Each instance is an executor of the production
// scheduler and lease manager, like sim_cashierd is of the scheduler alone; the rules stay in
// those two classes. What the executor adds, as the daemon's would: every entry point first
// lets the lease manager see the time (so nothing acts past its trust), commits go through the
// fence with the epochs held, a call is checked against the trust once more just before it is
// sent, inputs for a shard the instance does not own go to the inbox, and a takeover arms the
// shard's open payments and applies its inbox.
#include "tests/sim/cluster_world.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <utility>

#include "orchestrator/engine/engine.hpp"
#include "orchestrator/engine/inbox_codec.hpp"
#include "orchestrator/engine/scheduler.hpp"
#include "orchestrator/engine/shard_leases.hpp"
#include "tests/sim/event_queue.hpp"
#include "tests/sim/fake_aplus.hpp"
#include "tests/sim/rng.hpp"
#include "tests/sim/sim_database.hpp"

namespace cashier::sim {
namespace {
using namespace std::chrono_literals;

/// 2026-03-01T12:00:00Z, as the single-instance world.
const time_point sim_start = time_point{std::chrono::sys_days{std::chrono::year{2026} / 3 / 1}} + 12h;
constexpr auto request_timeout = 15s;
/// The lease timing of the simulation: the daemon's ratios (cluster.md) at a shorter lease.
constexpr auto lease = 4s;
constexpr auto renew_every = 1s;
constexpr auto claim_every = 500ms;
constexpr auto margin = 400ms;
/// Local clocks run up to this much fast or slow (far beyond real hardware, within the margin).
constexpr double max_drift = 0.04;
constexpr auto max_simulated = std::chrono::hours{5};
constexpr double cluster_budget = 30;  // maxRequestsPerSecond across the cluster

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

event no_answer(call_kind kind, no_answer_reason r) { return engine::no_answer_of(kind, r); }

std::string text(const aplus_result& r) { return std::string(1, r.status) + "/" + r.code; }

using reply = std::function<void(const engine::output&)>;

/// One instance: its clocks and its process memory (lost by a kill).
struct node {
  std::string name;
  std::int64_t clock_base_ns = 0;  // its monotonic clock's reading at sim_start
  double drift = 0;                // its monotonic clock's rate error
  duration pay_skew{};             // its wall (payment) clock's offset
  bool up = false;
  bool frozen = false;
  int incarnation = 0;
  bool reopen = false;  // the database restarted: the connection must be opened again
  std::deque<std::function<void()>> deferred;  // what reached it while frozen, in order
  std::unique_ptr<store::clustered_store> store;
  std::unique_ptr<engine::engine> eng;
  std::unique_ptr<engine::scheduler> sched;
  std::unique_ptr<engine::shard_leases> leases;
  std::unordered_map<engine::ticket, reply> waiting;
  engine::ticket next_ticket = 1;
  std::uint64_t timer_gen = 0;
  std::uint64_t lease_gen = 0;
  bool flushing = false;
  bool flush_again = false;  // a flush was posted while one was committing
  std::set<std::string> delivering;
  std::set<std::int64_t> inbox_taken;
};

struct merchant_payment {
  std::string id;
  money amount;
  time_point expiry{};
  std::string body;
  bool accepted = false;
  bool cancel_accepted = false;
};

class cluster_world {
 public:
  explicit cluster_world(const cluster_options& o)
      : opt_(o), rng_(o.seed), queue_(sim_start), rates_(draw_rates()), fake_(queue_, rng_, rates_, faults_, log_),
        checker_(queue_, fake_, log_),
        database_(o.dir, "cashier-cluster-sim-" + std::to_string(::getpid()) + "-" + std::to_string(o.seed), o.postgres,
                  [this] { return queue_.now(); }) {
    observer_ = database_.open_clustered();
    shards_ = observer_->shard_count();
    last_epoch_.assign(static_cast<std::size_t>(shards_), 0);
    table_ = table();
    for (int i = 0; i < o.instances; ++i) {
      node n;
      n.name = "i" + std::to_string(i);
      n.clock_base_ns = rng_.uniform(1, 1'000'000) * 1'000'000'000LL;
      n.drift = (rng_.unit() * 2 - 1) * max_drift;
      n.pay_skew = rng_.between(-300ms, 300ms);
      nodes_.push_back(std::move(n));
    }
  }
  ~cluster_world() {
    for (auto& n : nodes_) kill_memory(n);
    observer_.reset();
  }

  cluster_report run();

 private:
  fault_rates draw_rates() {
    // The business faults of the single-instance world at half intensity; this world's own
    // faults are kills, freezes and database restarts.
    auto r = fault_rates{}.scaled(0.5);
    r.forged_per_payment = 0;
    r.unsigned_answer = r.bad_signature = 0;
    r.store_failure = r.crash_after_commit = 0;
    return r;
  }
  duration latency() { return rng_.between(5ms, 150ms); }
  void trace(const std::string& line) const;

  // ---- clocks ----
  engine::local_instant local(const node& n) const {
    const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(queue_.now() - sim_start).count();
    const auto ns = n.clock_base_ns + static_cast<std::int64_t>(std::llround(static_cast<double>(elapsed) * (1 + n.drift)));
    return engine::local_instant{std::chrono::nanoseconds{ns}};
  }
  /// The virtual instant at which `n`'s monotonic clock reads `t` (rounded up: never early).
  time_point virtual_at(const node& n, engine::local_instant t) const {
    const double ns = static_cast<double>(t.time_since_epoch().count() - n.clock_base_ns) / (1 + n.drift);
    return sim_start + duration{static_cast<std::int64_t>(std::ceil(ns / 1e6))};
  }
  engine::instants now(const node& n) const { return {queue_.now() + n.pay_skew, local(n)}; }

  // ---- the instance ----
  void deliver(std::size_t i, int inc, std::function<void()> fn);
  void start(std::size_t i);
  void kill(std::size_t i);
  void kill_memory(node& n);
  void freeze(std::size_t i, duration d, bool in_commit);
  bool db(node& n);
  void enter(std::size_t i);
  void run(std::size_t i);
  void run_leases(std::size_t i);
  void execute(std::size_t i, engine::action& a);
  void arm_lease_timer(std::size_t i);
  void lease_request(std::size_t i, const engine::lease_action& a);
  void take_over(std::size_t i, store::shard_id shard, std::int64_t epoch);
  void apply_inbox(std::size_t i);
  void post(node& n, store::shard_id shard, const engine::input& in);
  void flush(std::size_t i);
  void commit_next(std::size_t i);
  void commit(std::size_t i, engine::batch b);
  void submit(std::size_t i, engine::input in, reply r);
  void fail_waiters(node& n, const std::vector<engine::ticket>& tickets);
  void send_call(std::size_t i, const engine::start_call& c);
  void on_answer(std::size_t i, call_kind kind, std::int64_t id, event ev, store::call_record rec);
  void deliver_webhooks(std::size_t i);
  void webhook_done(std::size_t i, const store::outbox_record& r);
  store::shard_id shard_of_id(std::int64_t id);

  // ---- the merchant and Alipay+ ----
  void plan_payment(int i);
  void create(int i);
  void cancel(int i);
  void notify_sent(const notify_message& m);
  void notify_arrives(const notify_message& m);
  std::optional<std::size_t> random_up();
  void plan_faults();

  // ---- checks ----
  std::vector<store::shard_lease> table();
  void check_table(std::vector<store::shard_lease> rows);
  void check_commit(const node& n, const engine::output& out, const std::vector<store::shard_lease>& rows);
  void check_call(const node& n, const payment& p);
  void check_step();
  std::optional<std::string> busy();

  cluster_options opt_;
  rng rng_;
  event_queue queue_;
  fault_rates rates_;
  fault_counts faults_;
  violation_log log_;
  fake_aplus fake_;
  checker checker_;
  sim_database database_;  // its clock, the virtual one, judges every lease
  std::unique_ptr<store::clustered_store> observer_;  // the checks' own connection
  store::shard_id shards_ = 0;
  std::vector<node> nodes_;
  std::vector<merchant_payment> merchant_;
  std::map<std::int64_t, store::shard_id> shard_by_id_;
  std::vector<std::int64_t> last_epoch_;  // per shard, the highest epoch seen in the table
  std::vector<store::shard_lease> table_;  // the shard table as the last lease statement left it
  std::map<std::pair<store::shard_id, std::int64_t>, std::string> owner_of_epoch_;
  time_point db_down_until_{};
  time_point disturbed_until_{};  // cut-offs may be late until then (failover, restarts)
  duration downtime_{};
  bool done_ = false;
  cluster_report rep_;
};

void cluster_world::trace(const std::string& line) const {
  if (!opt_.verbose) return;
  const auto ms = (queue_.now() - sim_start).count();
  std::printf("[%3lld:%02lld:%02lld.%03lld] %s\n", static_cast<long long>(ms / 3'600'000),
              static_cast<long long>(ms / 60'000 % 60), static_cast<long long>(ms / 1000 % 60),
              static_cast<long long>(ms % 1000), line.c_str());
}

// ---- the instance ----

/// Runs `fn` on instance `i` unless it was killed since (`inc`); while frozen, later, in order.
void cluster_world::deliver(std::size_t i, int inc, std::function<void()> fn) {
  auto& n = nodes_[i];
  if (!n.up || n.incarnation != inc) return;
  if (n.frozen) {
    n.deferred.push_back([this, i, inc, fn = std::move(fn)] {
      if (nodes_[i].up && nodes_[i].incarnation == inc) fn();
    });
    return;
  }
  fn();
}

bool cluster_world::db(node& n) {
  if (queue_.now() < db_down_until_) return false;
  if (n.reopen && n.up) {
    n.reopen = false;
    n.eng.reset();
    n.store = database_.open_clustered();
    engine::engine_config config;
    config.webhook_url = [](const payment&) { return std::string("https://merchant.sim/hooks"); };
    config.new_event_id = [](const payment& p, std::int32_t seq) {
      return "evt_sim_" + std::to_string(p.id) + "_" + std::to_string(seq);
    };
    n.eng = std::make_unique<engine::engine>(*n.store, std::move(config));
  }
  return true;
}

void cluster_world::start(std::size_t i) {
  auto& n = nodes_[i];
  n.up = true;
  n.frozen = false;
  n.reopen = true;
  n.deferred.clear();
  trace(n.name + " starts");
  engine::scheduler_limits limits;
  n.sched = std::make_unique<engine::scheduler>(limits);
  n.sched->enable_shards(shards_);
  n.sched->on_broken_invariant([this, name = n.name](std::string_view what) {
    log_.add(queue_.now(), name + ": scheduler invariant broken: " + std::string(what));
  });
  engine::lease_config lc;
  lc.instance = n.name;
  lc.shards = shards_;
  lc.lease = lease;
  lc.renew_every = renew_every;
  lc.claim_every = claim_every;
  lc.margin = margin;
  lc.budget = cluster_budget;
  lc.flaw = opt_.bug == cluster_bug::no_margin     ? engine::lease_flaw::no_margin
            : opt_.bug == cluster_bug::early_share ? engine::lease_flaw::early_share
                                                   : engine::lease_flaw::none;
  n.leases = std::make_unique<engine::shard_leases>(lc);
  n.leases->on_broken_invariant([this, name = n.name](std::string_view what) {
    log_.add(queue_.now(), name + ": lease invariant broken: " + std::string(what));
  });
  n.sched->set_budget_share(0);  // nothing held yet
  enter(i);
}

void cluster_world::kill_memory(node& n) {
  n.leases.reset();
  n.sched.reset();
  n.eng.reset();
  n.store.reset();
  n.waiting.clear();
  n.deferred.clear();
  n.delivering.clear();
  n.inbox_taken.clear();
  n.flushing = false;
  n.flush_again = false;
  ++n.timer_gen;
  ++n.lease_gen;
}

void cluster_world::kill(std::size_t i) {
  auto& n = nodes_[i];
  if (!n.up) return;
  trace(n.name + " killed");
  ++rep_.kills;
  n.up = false;
  ++n.incarnation;
  kill_memory(n);
  const auto down = rng_.between(1s, 40s);
  disturbed_until_ = std::max(disturbed_until_, queue_.now() + down + lease + 5s);
  queue_.after(down, [this, i] { start(i); });
}

void cluster_world::freeze(std::size_t i, duration d, bool in_commit) {
  auto& n = nodes_[i];
  if (!n.up || n.frozen) return;
  trace(n.name + " frozen for " + std::to_string(d.count()) + " ms" + (in_commit ? " in a commit" : ""));
  ++rep_.freezes;
  if (in_commit) ++rep_.freezes_in_commit;
  n.frozen = true;
  disturbed_until_ = std::max(disturbed_until_, queue_.now() + d + lease + 5s);
  queue_.after(d, [this, i, inc = n.incarnation] {
    auto& m = nodes_[i];
    if (!m.up || m.incarnation != inc) return;
    trace(m.name + " resumes");
    m.frozen = false;
    // What reached it meanwhile runs now, in order; a commit it was in the middle of goes on
    // without a fresh look at the leases (a real process resumes mid-call).
    while (!m.deferred.empty() && m.up && !m.frozen && m.incarnation == inc) {
      auto fn = std::move(m.deferred.front());
      m.deferred.pop_front();
      fn();
    }
  });
}

/// Every entry point: the lease manager sees the time first.
void cluster_world::enter(std::size_t i) {
  auto& n = nodes_[i];
  n.leases->tick(local(n));
  run(i);
}

void cluster_world::run(std::size_t i) {
  auto& n = nodes_[i];
  const int inc = n.incarnation;
  std::vector<engine::lease_action> lacts;
  std::vector<engine::action> acts;
  for (bool more = true; more && n.up && n.incarnation == inc;) {
    more = false;
    n.leases->take_actions(lacts);
    for (auto& a : lacts) {
      more = true;
      lease_request(i, a);
      if (!n.up || n.incarnation != inc) return;
    }
    n.sched->take_actions(acts);
    for (auto& a : acts) {
      more = true;
      execute(i, a);
      if (!n.up || n.incarnation != inc) return;
    }
  }
  arm_lease_timer(i);
}

void cluster_world::arm_lease_timer(std::size_t i) {
  auto& n = nodes_[i];
  const auto at = n.leases->next_tick();
  const auto gen = ++n.lease_gen;
  if (!at) return;
  const auto when = *at == engine::local_instant::min() ? queue_.now() : virtual_at(n, *at);
  queue_.at(when, [this, i, inc = n.incarnation, gen] {
    deliver(i, inc, [this, i, gen] {
      if (nodes_[i].lease_gen != gen) return;
      enter(i);
      apply_inbox(i);  // the poll behind NOTIFY's wake-ups
      deliver_webhooks(i);
    });
  });
}

void cluster_world::lease_request(std::size_t i, const engine::lease_action& a) {
  auto& n = nodes_[i];
  const int inc = n.incarnation;
  std::visit(
      overloaded{
          [&](const engine::send_claim& c) {
            const auto d = rng_.between(1ms, 20ms);
            queue_.after(d / 2, [this, i, inc, c, d] {
              auto& m = nodes_[i];
              std::optional<store::lease_answer> answer;
              // The statement runs even if the sender died or froze meanwhile.
              if (m.up && m.incarnation == inc && db(m)) {
                answer = m.store->claim(m.name, c.want, lease, c.force);
                check_table(answer->table);
              }
              queue_.after(d / 2, [this, i, inc, answer] {
                deliver(i, inc, [this, i, answer] {
                  auto& k = nodes_[i];
                  if (answer) trace(k.name + " claimed " + std::to_string(answer->changed.size()) + ", live " + std::to_string(answer->live_instances));
                  if (answer) k.leases->claim_answered(*answer, local(k));
                  else k.leases->request_failed(local(k));
                  run(i);
                });
              });
            });
          },
          [&](const engine::send_renew& r) {
            const auto d = rng_.between(1ms, 20ms);
            queue_.after(d / 2, [this, i, inc, r, d] {
              auto& m = nodes_[i];
              std::optional<store::lease_answer> answer;
              if (m.up && m.incarnation == inc && db(m)) {
                answer = m.store->renew(m.name, r.held, lease);
                check_table(answer->table);
              }
              queue_.after(d / 2, [this, i, inc, answer] {
                deliver(i, inc, [this, i, answer] {
                  auto& k = nodes_[i];
                  if (answer) trace(k.name + " renewed " + std::to_string(answer->changed.size()) + ", live " + std::to_string(answer->live_instances));
                  if (answer) k.leases->renew_answered(*answer, local(k));
                  else k.leases->request_failed(local(k));
                  run(i);
                });
              });
            });
          },
          [&](const engine::send_release& r) {
            std::optional<store::lease_answer> answer;
            if (db(n)) {
              answer = n.store->release(n.name, r.shards);
              check_table(answer->table);
            }
            if (answer) n.leases->release_answered(*answer, local(n));
            else n.leases->request_failed(local(n));
          },
          [&](const engine::start_acting& s) { take_over(i, s.shard, s.epoch); },
          [&](const engine::stop_acting& s) {
            trace(n.name + " stops acting for shard " + std::to_string(s.shard));
            fail_waiters(n, n.sched->stop_acting(s.shard, now(n)));
          },
          [&](const engine::set_share& s) { n.sched->set_budget_share(s.per_second); },
      },
      a);
}

void cluster_world::take_over(std::size_t i, store::shard_id shard, std::int64_t epoch) {
  auto& n = nodes_[i];
  std::vector<store::deadline> open;
  bool ok = db(n);
  if (ok) {
    try {
      const std::vector<store::shard_id> one{shard};
      open = n.store->open_deadlines_of(one);
    } catch (const store::store_error& e) {
      ok = false;
    }
  }
  if (!ok) {
    n.leases->not_owner(shard, epoch, local(n));  // cannot load it: let it go (it lapses)
    return;
  }
  ++rep_.takeovers;
  trace(n.name + " takes shard " + std::to_string(shard) + " over at epoch " + std::to_string(epoch) + " (" +
        std::to_string(open.size()) + " open)");
  for (const auto& d : open) shard_by_id_[d.payment_id] = shard;
  n.sched->start_acting(shard, open, now(n));
  const int inc = n.incarnation;
  queue_.after(0ms, [this, i, inc] {
    deliver(i, inc, [this, i] {
      apply_inbox(i);
      deliver_webhooks(i);
    });
  });
}

void cluster_world::apply_inbox(std::size_t i) {
  auto& n = nodes_[i];
  if (!db(n)) return;
  const auto held = n.leases->fence();
  std::vector<store::shard_id> shards;
  for (const auto& f : held) shards.push_back(f.shard);
  if (shards.empty()) return;
  for (const auto& row : n.store->inbox_of(shards, 0, 256)) {
    if (!n.inbox_taken.insert(row.id).second) continue;
    // The production codec: the row is all the owner has (proto-docs/cluster.md "The inbox").
    auto decoded = engine::decode_inbox(row.kind, row.body);
    if (const auto* bad = std::get_if<engine::inbox_decode_error>(&decoded)) {
      log_.add(queue_.now(), "inbox row " + std::to_string(row.id) + " does not decode: " + bad->detail);
      continue;
    }
    auto in = std::get<engine::input>(std::move(decoded));
    in.inbox_id = row.id;
    in.payment_id = row.payment_id;
    trace(n.name + " applies inbox row " + std::to_string(row.id) + " (" + row.kind + ")");
    submit(i, std::move(in), [this, i, id = row.id, inc = n.incarnation](const engine::output& out) {
      // Not applied here: the row stays in the table, so look at it again later.
      if (out.result == engine::outcome::conflict || out.result == engine::outcome::not_owner)
        if (nodes_[i].incarnation == inc) nodes_[i].inbox_taken.erase(id);
    });
  }
}

/// Posts `in` to the inbox of `shard` as the daemon does: encoded (the owner decodes the row).
void cluster_world::post(node& n, store::shard_id shard, const engine::input& in) {
  const auto msg = engine::encode_inbox(in);
  if (const auto* m = std::get_if<engine::inbox_message>(&msg)) {
    n.store->post_inbox(shard, in.payment_id, m->kind, m->body);
    return;
  }
  log_.add(queue_.now(), "an input for the inbox does not encode");
}

void cluster_world::submit(std::size_t i, engine::input in, reply r) {
  auto& n = nodes_[i];
  const auto t = n.next_ticket++;
  if (r) n.waiting.emplace(t, std::move(r));
  n.sched->submit(std::move(in), t);
  run(i);
}

void cluster_world::fail_waiters(node& n, const std::vector<engine::ticket>& tickets) {
  for (const auto t : tickets) n.waiting.erase(t);  // the merchant or Alipay+ retries
}

void cluster_world::execute(std::size_t i, engine::action& a) {
  auto& n = nodes_[i];
  const int inc = n.incarnation;
  std::visit(
      overloaded{
          [&](engine::flush_soon) {
            queue_.after(rng_.between(0ms, 10ms), [this, i, inc] { deliver(i, inc, [this, i] { flush(i); }); });
          },
          [&](const engine::start_call& c) { send_call(i, c); },
          [&](engine::wake_watchers) {},
          [&](const engine::arm_timer& t) {
            const auto gen = ++n.timer_gen;
            const auto wake = [this, i, inc, gen, at = t.at] {
              deliver(i, inc, [this, i, gen, at] {
                if (nodes_[i].timer_gen != gen) return;
                enter(i);
                nodes_[i].sched->timer_fired(at, now(nodes_[i]));
                run(i);
              });
            };
            if (t.due) queue_.after(std::chrono::ceil<duration>(t.budget_wait / (1 - max_drift)), wake);
            else queue_.at(t.at - n.pay_skew, wake);
          },
          [&](engine::cancel_timer) { ++n.timer_gen; },
          [&](const engine::arm_store_retry& r) {
            queue_.after(std::chrono::ceil<duration>(r.wait), [this, i, inc] {
              deliver(i, inc, [this, i] {
                nodes_[i].sched->store_retry_due();
                run(i);
              });
            });
          },
          [&](const engine::arm_hold_limit& h) {
            queue_.after(std::chrono::ceil<duration>(h.wait), [this, i, inc] {
              deliver(i, inc, [this, i] {
                nodes_[i].sched->hold_limit_due(now(nodes_[i]));
                run(i);
              });
            });
          },
          [&](engine::probe_store) {
            auto& m = nodes_[i];
            bool ok = db(m);
            if (ok) {
              try {
                m.store->set_meta("store_probe_at", std::to_string(queue_.now().time_since_epoch().count()));
              } catch (const store::store_error&) {
                ok = false;
              }
            }
            m.sched->probe_result(ok, now(m));
          },
          [&](const engine::deadline_fired&) {},
          [&](const engine::notice&) {},
          // The cluster world's merchants make no refunds (cashier-sim covers them).
          [&](const engine::start_refund_call&) {},
          [&](engine::wake_refund_watchers) {},
      },
      a);
}

void cluster_world::flush(std::size_t i) {
  auto& n = nodes_[i];
  if (n.flushing) {
    // A flush posted while one is committing (commits take time here): it runs after it, or
    // the scheduler, whose flush is still marked posted, would wait for it forever.
    n.flush_again = true;
    return;
  }
  enter(i);
  if (!n.up) return;
  n.flushing = true;
  n.sched->begin_flush(now(n));
  run(i);
  commit_next(i);
}

void cluster_world::commit_next(std::size_t i) {
  auto& n = nodes_[i];
  auto b = n.sched->next_batch();
  if (!b) {
    n.flushing = false;
    n.sched->end_flush(now(n));
    run(i);
    if (std::exchange(n.flush_again, false) && n.up) flush(i);
    return;
  }
  // The commit takes a little time; an instance may freeze right in it and resume later.
  const auto d = rng_.between(1ms, 8ms);
  if (rng_.chance(0.004)) freeze(i, rng_.between(lease + lease / 2, 4 * lease), true);
  queue_.after(d, [this, i, inc = n.incarnation, b = std::move(*b)]() mutable {
    deliver(i, inc, [this, i, b = std::move(b)]() mutable { commit(i, std::move(b)); });
  });
}

void cluster_world::commit(std::size_t i, engine::batch b) {
  auto& n = nodes_[i];
  auto fence = n.leases->fence();  // the epochs held, as the resumed process still believes
  if (opt_.bug == cluster_bug::skip_fence) {
    // The bug: the fence is not compared (every shard passes at whatever epoch it is at now).
    fence.clear();
    for (const auto& row : table()) fence.push_back({row.shard, row.epoch});
  }
  std::vector<engine::output> outs;
  bool failed = !db(n);
  if (!failed) {
    try {
      const engine::fence f{*n.store, fence};
      outs = n.eng->apply(b.inputs, queue_.now() + n.pay_skew, &f);
    } catch (const store::store_error& e) {
      failed = true;
    }
  }
  if (failed) {
    n.sched->commit_failed(b);
    fail_waiters(n, b.tickets);
    run(i);
    commit_next(i);
    return;
  }
  ++rep_.commits;
  const auto& rows = table_;  // only lease statements change the table: the last one's answer
  for (std::size_t k = 0; k < outs.size(); ++k) {
    const auto& out = outs[k];
    if (out.result == engine::outcome::applied || out.result == engine::outcome::unchanged)
      if (out.after.id != 0) shard_by_id_[out.after.id] = store::shard_of(out.after, shards_);
    check_commit(n, out, rows);
    if (opt_.verbose && out.result != engine::outcome::unchanged)
      trace(n.name + " commit " + std::to_string(b.inputs[k].payment_id) + "/" + out.after.payment_request_id + " " +
            out.made.cause + " result " + std::to_string(static_cast<int>(out.result)) + " next " +
            std::to_string((out.after.next_action_at - queue_.now()).count()) + " ms");
    checker_.on_commit(b.inputs[k], out, false);
  }
  n.sched->committed(b, outs, now(n));
  fail_waiters(n, n.sched->take_dropped_tickets());
  for (std::size_t k = 0; k < outs.size(); ++k) {
    if (outs[k].result != engine::outcome::not_owner) continue;
    ++rep_.not_owner;
    const auto& in = b.inputs[k];
    const auto shard = in.create ? store::shard_of(*in.create, shards_) : shard_of_id(in.payment_id);
    for (const auto& f : fence)
      if (f.shard == shard) n.leases->not_owner(shard, f.epoch, local(n));
  }
  run(i);
  if (!n.up) return;
  bool events = false;
  for (std::size_t k = 0; k < outs.size(); ++k) {
    const auto it = n.waiting.find(b.tickets[k]);
    if (outs[k].result == engine::outcome::applied)
      for (const auto& e : outs[k].made.effects) events = events || std::holds_alternative<emit_merchant_event>(e);
    if (it == n.waiting.end()) continue;
    auto r = std::move(it->second);
    n.waiting.erase(it);
    if (r) r(outs[k]);
  }
  if (events) deliver_webhooks(i);
  commit_next(i);
}

store::shard_id cluster_world::shard_of_id(std::int64_t id) {
  const auto it = shard_by_id_.find(id);
  if (it != shard_by_id_.end()) return it->second;
  if (const auto p = observer_->load(id)) return shard_by_id_[id] = store::shard_of(*p, shards_);
  return -1;
}

void cluster_world::send_call(std::size_t i, const engine::start_call& c) {
  auto& n = nodes_[i];
  const int inc = n.incarnation;
  // Signing and the connection take a moment; the trust is looked at again right before the
  // bytes leave (a call for a shard no longer held is not sent: its guard resends it).
  queue_.after(rng_.between(0ms, 5ms), [this, i, inc, c] {
    deliver(i, inc, [this, i, c] {
      auto& m = nodes_[i];
      m.leases->tick(local(m));
      const auto shard = store::shard_of(c.p, shards_);
      if (!m.leases->acts_for(shard)) {
        engine::input in;
        in.payment_id = c.p.id;
        in.ev = no_answer(c.kind, no_answer_reason::timeout);
        m.sched->call_ended(c.kind, std::move(in), now(m));
        run(i);
        return;
      }
      check_call(m, c.p);
      checker_.on_call_sent(c.kind, c.p);
      store::call_record rec;
      rec.api = std::string(engine::api_name(c.kind));
      rec.request_body = c.kind == call_kind::pay ? c.p.pay_request
                                                  : R"({"paymentRequestId":")" + c.p.payment_request_id + R"("})";
      rec.started_at = queue_.now();
      trace(m.name + " sends " + rec.api + " " + c.p.payment_request_id + " (shard " + std::to_string(shard) + ")");
      const auto kind = c.kind;
      const auto pid = c.p.id;
      if (rng_.chance(rates_.request_lost)) {
        queue_.after(request_timeout, [this, i, inc = m.incarnation, kind, pid, rec] {
          deliver(i, inc, [=, this] { on_answer(i, kind, pid, no_answer(kind, no_answer_reason::timeout), rec); });
        });
        return;
      }
      queue_.after(latency(), [this, i, inc = m.incarnation, kind, pid, rec, id = c.p.payment_request_id]() mutable {
        event ev = pay_no_answer{no_answer_reason::garbled};
        std::string outcome;
        switch (kind) {
          case call_kind::pay: {
            auto a = fake_.pay(rec.request_body);
            outcome = text(a.result);
            ev = std::move(a);
            break;
          }
          case call_kind::inquiry: {
            auto a = fake_.inquiry(id);
            outcome = text(a.result);
            ev = std::move(a);
            break;
          }
          case call_kind::cancel: {
            auto a = fake_.cancel(id);
            outcome = text(a.result);
            ev = std::move(a);
            break;
          }
        }
        rec.http_status = 200;
        rec.response_body = outcome;
        rec.outcome = outcome;
        if (rng_.chance(rates_.answer_lost)) {
          ev = no_answer(kind, no_answer_reason::timeout);
          queue_.at(rec.started_at + request_timeout, [this, i, inc, kind, pid, rec, ev] {
            deliver(i, inc, [=, this] { on_answer(i, kind, pid, ev, rec); });
          });
          return;
        }
        queue_.after(latency(), [this, i, inc, kind, pid, rec, ev] {
          deliver(i, inc, [=, this] { on_answer(i, kind, pid, ev, rec); });
        });
      });
    });
  });
}

void cluster_world::on_answer(std::size_t i, call_kind kind, std::int64_t id, event ev, store::call_record rec) {
  auto& n = nodes_[i];
  enter(i);
  if (!n.up) return;
  trace(n.name + " answer for " + std::to_string(id) + ": " + rec.outcome);
  engine::input in;
  in.payment_id = id;
  in.ev = std::move(ev);
  in.calls.push_back(std::move(rec));
  n.sched->call_ended(kind, std::move(in), now(n));
  run(i);
}

void cluster_world::deliver_webhooks(std::size_t i) {
  auto& n = nodes_[i];
  if (!db(n)) return;
  // As the daemon's sender does: the due rows of the shards held only (their owner delivers
  // them, in order), and each attempt committed through the fence.
  std::vector<store::shard_id> shards;
  for (const auto& f : n.leases->fence()) shards.push_back(f.shard);
  if (shards.empty()) return;
  for (const auto& r : n.store->due_outbox_of(shards, queue_.now(), 256)) {
    if (!n.delivering.insert(r.event_id).second) continue;
    queue_.after(latency(), [this, i, inc = n.incarnation, r] {
      checker_.on_webhook(r, true, true);  // the merchant's endpoint takes it, answered in time
      queue_.after(latency(), [this, i, inc, r] { deliver(i, inc, [this, i, r] { webhook_done(i, r); }); });
    });
  }
}

void cluster_world::webhook_done(std::size_t i, const store::outbox_record& r) {
  auto& n = nodes_[i];
  n.delivering.erase(r.event_id);
  if (!db(n)) return;  // the periodic wake sends it again (at least once, same id)
  store::transition t;
  t.deliveries.push_back({r.event_id, r.attempts + 1, queue_.now(), store::outbox_state::delivered, 200, ""});
  t.webhook_attempts.push_back({0, r.event_id, queue_.now(), 200, "", 0});
  try {
    // A shard lost meanwhile: not_owner, the row stays pending for its new owner (same id).
    n.store->commit_fenced(std::vector<store::transition>{t}, n.leases->fence());
  } catch (const store::store_error&) {
  }
}

// ---- the merchant and Alipay+ ----

std::optional<std::size_t> cluster_world::random_up() {
  std::vector<std::size_t> up;
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].up) up.push_back(i);
  if (up.empty()) return std::nullopt;
  return up[static_cast<std::size_t>(rng_.uniform(0, static_cast<std::int64_t>(up.size()) - 1))];
}

void cluster_world::plan_payment(int i) {
  merchant_payment m;
  m.id = "csim-" + std::to_string(opt_.seed) + "-" + std::to_string(i);
  m.amount = {rng_.uniform(1, 500'000), *currency_code::parse("USD")};
  const auto created = sim_start + 5s + rng_.between(0s, 10min);
  m.expiry = created + (rng_.chance(0.6) ? 15min : rng_.between(5min, 20min));
  m.body = make_pay_body(m.id, m.amount, m.expiry, "order-" + std::to_string(i));
  merchant_.push_back(std::move(m));
  queue_.at(created, [this, i] { create(i); });
  if (rng_.chance(0.1)) queue_.at(created + rng_.between(5s, 30min), [this, i] { cancel(i); });
}

/// The merchant's create reaches a random instance; one that does not own the payment's shard
/// answers 503 RETRY (a create cannot wait in the inbox: there is no payment yet), and the
/// merchant tries again shortly.
void cluster_world::create(int i) {
  auto& m = merchant_[static_cast<std::size_t>(i)];
  if (m.accepted) return;
  queue_.after(2s, [this, i] { create(i); });
  const auto to = random_up();
  if (!to) return;
  deliver(*to, nodes_[*to].incarnation, [this, i, to = *to] {
    auto& n = nodes_[to];
    auto& mp = merchant_[static_cast<std::size_t>(i)];
    enter(to);
    if (!n.up) return;
    payment p;
    p.payment_request_id = mp.id;
    p.merchant_id = "m1";
    p.amount = mp.amount;
    p.expiry_at = mp.expiry;
    p.created_at = p.updated_at = queue_.now() + n.pay_skew;
    p.pay_request = mp.body;
    p.merchant_request = mp.body;
    if (!n.leases->acts_for(store::shard_of(p, shards_))) {
      ++rep_.creates_refused;
      return;
    }
    engine::input in;
    in.create = std::move(p);
    in.ev = created{};
    submit(to, std::move(in), [this, i](const engine::output& out) {
      if (out.result == engine::outcome::applied || out.result == engine::outcome::duplicate)
        merchant_[static_cast<std::size_t>(i)].accepted = true;
    });
  });
}

/// The merchant's cancel reaches a random instance: the owner commits it, any other posts it to
/// the inbox; either way it is accepted once durable.
void cluster_world::cancel(int i) {
  auto& m = merchant_[static_cast<std::size_t>(i)];
  if (m.cancel_accepted) return;
  queue_.after(5s, [this, i] { cancel(i); });
  const auto to = random_up();
  if (!to || !m.accepted) return;
  deliver(*to, nodes_[*to].incarnation, [this, i, to = *to] {
    auto& n = nodes_[to];
    enter(to);
    if (!n.up || !db(n)) return;
    const auto p = n.store->find(merchant_[static_cast<std::size_t>(i)].id);
    if (!p) return;
    engine::input in;
    in.payment_id = p->id;
    in.ev = cancel_requested{requester::merchant, "customer asked"};
    const auto shard = store::shard_of(*p, shards_);
    if (n.leases->acts_for(shard)) {
      submit(to, std::move(in), [this, i](const engine::output& out) {
        if (out.result == engine::outcome::applied || out.result == engine::outcome::unchanged)
          merchant_[static_cast<std::size_t>(i)].cancel_accepted = true;
      });
      return;
    }
    post(n, shard, in);
    ++rep_.inbox_posted;
    merchant_[static_cast<std::size_t>(i)].cancel_accepted = true;
    trace(n.name + " posts a cancel of " + p->payment_request_id + " to the inbox of shard " + std::to_string(shard));
  });
}

void cluster_world::notify_sent(const notify_message& m) {
  if (rng_.chance(rates_.notify_lost)) return;
  queue_.after(latency(), [this, m] { notify_arrives(m); });
}

/// A notify reaches a random instance: the owner commits it and acks; any other posts it to the
/// inbox and acks once the row is durable (the owner applies it).
void cluster_world::notify_arrives(const notify_message& m) {
  const auto to = random_up();
  if (!to) return;
  deliver(*to, nodes_[*to].incarnation, [this, m, to = *to] {
    auto& n = nodes_[to];
    enter(to);
    if (!n.up || !db(n)) return;
    const auto p = n.store->find(m.payment_request_id);
    engine::input in;
    in.payment_id = p ? p->id : 0;
    in.ev = notify_verified{m.payment_result, m.amount, m.facts};
    const std::string body = m.payment_request_id + " " + text(m.payment_result);
    in.notifies.push_back({0, 0, m.payment_request_id, body, "", "ok", queue_.now()});
    const auto ack = [this, id = m.payment_request_id] {
      if (rng_.chance(rates_.ack_lost)) return;
      queue_.after(latency(), [this, id] { fake_.ack(id); });
    };
    if (p && !n.leases->acts_for(store::shard_of(*p, shards_))) {
      post(n, store::shard_of(*p, shards_), in);
      ++rep_.inbox_posted;
      ack();
      // NOTIFY: a wake-up for whoever owns the shard (lost ones are covered by the poll).
      for (std::size_t k = 0; k < nodes_.size(); ++k) {
        queue_.after(latency(), [this, k, inc = nodes_[k].incarnation] {
          deliver(k, inc, [this, k] { apply_inbox(k); });
        });
      }
      return;
    }
    submit(to, std::move(in), [this, ack](const engine::output& out) {
      const bool found = out.result == engine::outcome::applied || out.result == engine::outcome::unchanged;
      if (found || out.result == engine::outcome::not_found) ack();
    });
  });
}

void cluster_world::plan_faults() {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    for (auto k = rng_.uniform(0, 2); k > 0; --k)
      queue_.at(sim_start + rng_.between(30s, 40min), [this, i] { kill(i); });
    for (auto k = rng_.uniform(1, 3); k > 0; --k)
      queue_.at(sim_start + rng_.between(20s, 40min),
                [this, i] { freeze(i, rng_.between(lease / 2, 4 * lease), false); });
  }
  for (auto k = rng_.uniform(0, 2); k > 0; --k) {
    queue_.at(sim_start + rng_.between(1min, 40min), [this] {
      const auto d = rng_.between(500ms, 8s);
      trace("database restarts (" + std::to_string(d.count()) + " ms)");
      ++rep_.db_restarts;
      db_down_until_ = queue_.now() + d;
      downtime_ += d;
      disturbed_until_ = std::max(disturbed_until_, queue_.now() + d + lease + 5s);
      for (auto& n : nodes_) n.reopen = true;
    });
  }
}

// ---- checks ----

std::vector<store::shard_lease> cluster_world::table() { return observer_->shards().table; }

/// After every lease statement, on the table it returned: epochs never go back, and an epoch has
/// one owner.
void cluster_world::check_table(std::vector<store::shard_lease> rows) {
  table_ = std::move(rows);
  for (const auto& row : table_) {
    auto& last = last_epoch_[static_cast<std::size_t>(row.shard)];
    if (row.epoch < last)
      log_.add(queue_.now(), "shard " + std::to_string(row.shard) + ": epoch went back from " +
                                 std::to_string(last) + " to " + std::to_string(row.epoch));
    last = std::max(last, row.epoch);
    if (row.owner.empty()) continue;
    const auto [it, fresh] = owner_of_epoch_.try_emplace({row.shard, row.epoch}, row.owner);
    if (!fresh && it->second != row.owner)
      log_.add(queue_.now(), "shard " + std::to_string(row.shard) + " epoch " + std::to_string(row.epoch) +
                                 " has two owners: " + it->second + " and " + row.owner);
  }
}

/// A write that committed must come from the shard's current holder at the current epoch.
void cluster_world::check_commit(const node& n, const engine::output& out,
                                 const std::vector<store::shard_lease>& rows) {
  if (out.result != engine::outcome::applied || out.after.id == 0) return;
  const auto shard = store::shard_of(out.after, shards_);
  const auto& row = rows[static_cast<std::size_t>(shard)];
  if (row.owner != n.name || row.epoch != n.leases->epoch_of(shard))
    log_.add(queue_.now(), n.name + ": a write of a stale owner committed (" + out.after.payment_request_id +
                               ", shard " + std::to_string(shard) + " is " + row.owner + "'s at epoch " +
                               std::to_string(row.epoch) + ")");
}

/// A call leaves only from the shard's holder at the current epoch, within its lease by the
/// database's clock.
void cluster_world::check_call(const node& n, const payment& p) {
  const auto shard = store::shard_of(p, shards_);
  const auto& row = table_[static_cast<std::size_t>(shard)];
  if (row.owner != n.name || row.epoch != n.leases->epoch_of(shard) || row.lease_until < queue_.now())
    log_.add(queue_.now(), n.name + ": a call for " + p.payment_request_id + " left while shard " +
                               std::to_string(shard) + " is " + (row.owner.empty() ? "free" : row.owner) +
                               "'s at epoch " + std::to_string(row.epoch) +
                               (row.lease_until < queue_.now() ? ", lease lapsed" : ""));
}

/// After every step: no two instances trust one shard at once, and the shares in force stay
/// within the budget (a frozen instance counts what it still trusts by its own clock).
void cluster_world::check_step() {
  std::vector<int> trusting(static_cast<std::size_t>(shards_), 0);
  double shares = 0;
  for (auto& n : nodes_) {
    if (!n.up || !n.leases) continue;
    const auto t = local(n);
    int trusted = 0;
    for (const auto& f : n.leases->fence()) {
      const auto until = n.leases->trusted_until(f.shard);
      if (!until || t >= *until) continue;
      ++trusting[static_cast<std::size_t>(f.shard)];
      ++trusted;
      // Trust must end before the lease does, by the database's clock (River's margin): an
      // instance that still trusts a lapsed lease could act while another claims the shard.
      const auto& row = table_[static_cast<std::size_t>(f.shard)];
      if (row.owner != n.name || row.epoch != f.epoch || row.lease_until < queue_.now()) {
        log_.add(queue_.now(), n.name + " still trusts shard " + std::to_string(f.shard) + " at epoch " +
                                   std::to_string(f.epoch) + " past its lease (the table: " +
                                   (row.owner.empty() ? "free" : row.owner) + ", epoch " + std::to_string(row.epoch) +
                                   (row.lease_until < queue_.now() ? ", lapsed" : "") + ")");
        return;
      }
    }
    // An instance holding a shard past its trust makes no call before it drops it (the send
    // looks at the trust again), so it counts what it still trusts until then; so does a frozen
    // one. Otherwise the share its bucket runs at counts, whatever it holds.
    const bool stale = trusted < static_cast<int>(n.leases->held());
    shares += n.frozen || stale ? cluster_budget * trusted / shards_ : n.leases->share();
  }
  for (store::shard_id s = 0; s < shards_; ++s) {
    if (trusting[static_cast<std::size_t>(s)] > 1) {
      log_.add(queue_.now(), "two instances act for shard " + std::to_string(s) + " at once");
      return;
    }
  }
  if (shares > cluster_budget + 1e-6) {
    std::string who;
    for (auto& n : nodes_) {
      if (!n.up || !n.leases) continue;
      who += " " + n.name + (n.frozen ? " (frozen)" : "") + " share " + std::to_string(n.leases->share()) + " held " +
             std::to_string(n.leases->held());
    }
    log_.add(queue_.now(), "the budget shares in force sum to " + std::to_string(shares) + " > " +
                               std::to_string(cluster_budget) + ":" + who);
  }
}

/// Nothing left to do: every payment final, the inbox drained, every merchant event delivered.
/// Otherwise what is left, for the report of a run that never goes quiet.
std::optional<std::string> cluster_world::busy() {
  for (const auto& m : merchant_) {
    if (!m.accepted) return m.id + " not accepted";
    const auto p = observer_->find(m.id);
    if (!p) return m.id + " not stored";
    if (p->pending != pending_action::none || p->status == payment_status::init ||
        p->status == payment_status::in_process)
      return m.id + " open (" + std::string(to_string(p->status)) + "/" + std::string(to_string(p->pending)) +
             ", shard " + std::to_string(store::shard_of(*p, shards_)) + ")";
  }
  std::vector<store::shard_id> all;
  for (store::shard_id s = 0; s < shards_; ++s) all.push_back(s);
  if (const auto rows = observer_->inbox_of(all, 0, 1); !rows.empty())
    return "inbox row " + std::to_string(rows[0].id) + " of shard " + std::to_string(rows[0].shard) + " not applied";
  if (const auto rows = observer_->due_outbox(never, 1); !rows.empty()) return "merchant event " + rows[0].event_id + " pending";
  return std::nullopt;
}

cluster_report cluster_world::run() {
  fake_.send_notify = [this](notify_message m) { notify_sent(m); };
  for (std::size_t i = 0; i < nodes_.size(); ++i) queue_.at(sim_start + rng_.between(0ms, 2s), [this, i] { start(i); });
  for (int i = 0; i < opt_.payments; ++i) plan_payment(i);
  plan_faults();
  std::function<void()> look;
  look = [this, &look] {
    if (queue_.now() > sim_start + 15min && !busy()) {
      done_ = true;
      return;
    }
    queue_.after(30s, look);
  };
  queue_.after(30s, look);
  while (!done_ && queue_.run_one()) {
    check_step();
    checker_.after_step(true, disturbed_until_, downtime_);
    if (log_.items().size() >= 20) break;
    if (queue_.now() - sim_start > max_simulated) {
      log_.add(queue_.now(), "the run did not go quiet within 5 simulated hours: " + busy().value_or("?"));
      break;
    }
  }
  if (log_.empty()) {
    std::vector<std::string> ids;
    for (const auto& m : merchant_) {
      ids.push_back(m.id);
      if (observer_->find_any_merchant(m.id, 5).size() != 1)
        log_.add(queue_.now(), m.id + ": not exactly one payment row");
    }
    checker_.at_end(*observer_, ids);
  }
  rep_.seed = opt_.seed;
  rep_.payments = opt_.payments;
  rep_.instances = opt_.instances;
  rep_.simulated = queue_.now() - sim_start;
  rep_.totals = checker_.totals();
  rep_.violations = log_.items();
  return rep_;
}

}  // namespace

cluster_report run_cluster_seed(const cluster_options& options) {
  cluster_world w(options);
  return w.run();
}

std::optional<cluster_bug> parse_cluster_bug(std::string_view name) {
  if (name == "none") return cluster_bug::none;
  if (name == "no-margin") return cluster_bug::no_margin;
  if (name == "skip-fence") return cluster_bug::skip_fence;
  if (name == "early-share") return cluster_bug::early_share;
  return std::nullopt;
}

}  // namespace cashier::sim
