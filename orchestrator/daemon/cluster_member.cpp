// The cluster executor (see cluster_member.hpp). No lease rule lives here; each is in
// orchestrator/engine/shard_leases.cpp. What this file adds is what only an executor can do:
// read the monotonic clock, run the store's lease statements, take a shard over from the store,
// and keep the timer at the manager's next_tick(). The statements are jobs on the store thread
// (send()): the manager already expects its answers later (one request at a time, trust counted
// from the instant it emitted the request, which is when the job is handed over), and what the
// reactor decided meanwhile is checked again when an answer comes back (a takeover read of a
// shard stopped since is dropped, a refused commit's shard is judged at the epoch of the refusal).
#include "orchestrator/daemon/cluster_member.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <utility>
#include <variant>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "orchestrator/daemon/log.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;

namespace {
template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

/// "0-3,7,9-10": a list of shards for a log line.
std::string ranges(std::vector<store::shard_id> shards) {
  std::sort(shards.begin(), shards.end());
  std::string out;
  for (std::size_t i = 0; i < shards.size();) {
    std::size_t j = i;
    while (j + 1 < shards.size() && shards[j + 1] == shards[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(shards[i]);
    if (j > i) out += "-" + std::to_string(shards[j]);
    i = j + 1;
  }
  return out;
}

/// The cluster half of the store a job is given (the daemon's store is a clustered_store).
store::cluster_store& as_cluster(store::payment_store& s) { return dynamic_cast<store::cluster_store&>(s); }

/// The message of a store_error `e` (nothing when the job succeeded); anything else a job threw
/// is a bug and propagates, as it did when the statements ran on the reactor.
std::optional<std::string> store_failure(const std::exception_ptr& e) {
  if (!e) return std::nullopt;
  try {
    std::rethrow_exception(e);
  } catch (const store::store_error& x) {
    return std::string(x.what());
  }
}

/// What a takeover read brought back for one shard.
struct takeover_read {
  store::shard_id shard = 0;
  std::int64_t epoch = 0;
  std::vector<store::deadline> open;
  std::vector<store::refund_deadline> refunds;
  std::optional<std::string> error;  // the read failed: the shard is let go
};

/// How many ids a create draws at most before it gives up (expected S / held; with one shard
/// of 64 held, the chance of missing it 4096 times is e^-64).
constexpr int max_draws = 4096;
}  // namespace

engine::lease_config lease_timing(std::chrono::nanoseconds lease) {
  const engine::lease_config d;
  engine::lease_config c;
  const auto scaled = [&](std::chrono::nanoseconds part) {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(
        static_cast<double>(part.count()) * static_cast<double>(lease.count()) / static_cast<double>(d.lease.count())));
  };
  c.lease = lease;
  c.renew_every = scaled(d.renew_every);
  c.claim_every = scaled(d.claim_every);
  c.margin = scaled(d.margin);
  return c;
}

std::string default_instance_id() {
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  std::string id = std::string(host.data()).substr(0, 40) + ":" + std::to_string(::getpid());
  for (auto& ch : id)
    if (ch < 0x21 || ch > 0x7e) ch = '_';  // printable, as a configured instanceId must be
  return id;
}

cluster_member::cluster_member(cluster_member_deps deps, engine::lease_config config)
    : deps_(deps), leases_(std::move(config)), timer_(deps.io) {}

cluster_member::~cluster_member() { timer_.cancel(); }

engine::local_instant cluster_member::now() const { return std::chrono::steady_clock::now(); }

/// Runs `job` (a function of the store) and then `done(error, result)` on the reactor: as a job
/// on the store thread, or on this thread inside start() (before the reactor runs, no job out).
template <class Job, class Done>
void cluster_member::send(Job job, Done done) {
  using result = store_thread::result_of<Job>;
  if (inline_) {
    std::exception_ptr error;
    std::optional<result> r;
    try {
      r.emplace(job(deps_.store));
    } catch (...) {
      error = std::current_exception();
    }
    done(error, std::move(r));
    return;
  }
  deps_.db.run(deps_.io.get_executor(), std::move(job),
               [alive = std::weak_ptr<int>(alive_), done = std::move(done)](std::exception_ptr error,
                                                                           std::optional<result> r) mutable {
                 if (alive.expired()) return;
                 done(error, std::move(r));
               });
}

void cluster_member::start() {
  shards_ = deps_.cluster.shard_count();
  deps_.drv.enable_shards(shards_);
  deps_.drv.fence_with(fence_source{
      .store = &deps_.cluster,
      .epochs = [this] { return leases_.fence(); },
      .refused = [this](const engine::input& in, const engine::output& out) { refused(in, out); },
      .may_call = [this](const payment& p) { return may_call(p); }});
  // Nothing held yet: no call may start before a claim commits (the share is raised after it).
  if (leases_.config().budget > 0) deps_.drv.set_budget_share(0);
  log_line(log_level::info, "cluster member starting",
           {{"instance", leases_.config().instance}, {"shards", shards_},
            {"leaseMs", std::chrono::duration_cast<std::chrono::milliseconds>(leases_.config().lease).count()}});
  // The daemon's start, before io.run(): the first claim and its takeover reads run here, so
  // the shards claimed are armed before the listeners open.
  inline_ = true;
  enter();
  inline_ = false;
}

asio::awaitable<void> cluster_member::drain() {
  timer_.cancel();
  draining_ = true;
  leases_.drain(now());
  run();
  // The release (or a claim still out, then its release) is answered later: wait for it, so
  // the shards are free before the process exits; but not longer than a lease, after which
  // they lapse anyway (a database that does not answer must not hold the shutdown).
  if (!drained()) {
    asio::steady_timer wake(deps_.io, leases_.config().lease);
    drained_ = [&wake] { wake.cancel(); };
    boost::system::error_code ec;
    co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    drained_ = nullptr;
  }
}

bool cluster_member::drained() const { return draining_ && !leases_.requesting() && !leases_.next_tick(); }

std::optional<std::string> cluster_member::draw_payment_request_id(const std::function<std::string()>& draw) {
  enter();  // trust as of now: a shard past its trust takes no create
  const auto held = leases_.fence();
  if (std::none_of(held.begin(), held.end(), [&](const store::shard_epoch& h) { return acts_for(h.shard); }))
    return std::nullopt;
  for (int i = 0; i < max_draws; ++i) {
    auto id = draw();
    if (acts_for(store::shard_of(id, shards_))) return id;
  }
  return std::nullopt;
}

/// Every entry point: the lease manager sees the time first, then its actions are carried out.
void cluster_member::enter() {
  leases_.tick(now());
  run();
}

void cluster_member::run() {
  if (running_) return;  // the outer loop takes what this entry emitted
  running_ = true;
  const auto lost_before = leases_.stats().lost + leases_.stats().lapsed;
  std::vector<engine::lease_action> acts;
  for (leases_.take_actions(acts); !acts.empty(); leases_.take_actions(acts))
    for (const auto& a : acts) act(a);
  running_ = false;
  if (!stopped_.empty()) {
    // Lost (another instance claimed them, or the trust ran out first) or let go (rebalancing,
    // drain): the first is worth a warning.
    const bool lost = leases_.stats().lost + leases_.stats().lapsed > lost_before;
    log_line(lost ? log_level::warn : log_level::info, lost ? "lost shards" : "stopped acting for shards",
             {{"instance", leases_.config().instance}, {"shards", ranges(stopped_)}, {"count", stopped_.size()},
              {"held", leases_.held()}});
    stopped_.clear();
  }
  publish();
  arm();
  if (!to_take_.empty()) take_over(std::exchange(to_take_, {}));
  if (drained_ && drained()) std::exchange(drained_, nullptr)();
}

/// The lease the database grants, in its milliseconds: rounded up, so it never ends before the
/// trust the manager derives from the exact one.
duration cluster_member::db_lease() const { return std::chrono::ceil<duration>(leases_.config().lease); }

void cluster_member::act(const engine::lease_action& a) {
  const auto& cfg = leases_.config();
  std::visit(
      overloaded{
          // Each answer is handed to the manager with the instant it arrived; the instant the
          // request was sent is the manager's own (the tick that emitted it, just before the
          // job was handed over), which is what its trust counts from.
          [&](const engine::send_claim& c) {
            send([instance = cfg.instance, c, lease = db_lease()](store::payment_store& s) {
                   return as_cluster(s).claim(instance, c.want, lease, c.force);
                 },
                 [this](std::exception_ptr e, std::optional<store::lease_answer> answer) {
                   if (const auto failed = store_failure(e)) {
                     log_line(log_level::warn, "shard claim failed", {{"error", *failed}});
                     leases_.request_failed(now());
                   } else {
                     leases_.claim_answered(*answer, now());
                   }
                   run();
                 });
          },
          [&](const engine::send_renew& r) {
            send([instance = cfg.instance, held = r.held, lease = db_lease()](store::payment_store& s) {
                   return as_cluster(s).renew(instance, held, lease);
                 },
                 [this, count = r.held.size()](std::exception_ptr e, std::optional<store::lease_answer> answer) {
                   if (const auto failed = store_failure(e)) {
                     log_line(log_level::warn, "shard renewal failed", {{"error", *failed}, {"shards", count}});
                     leases_.request_failed(now());
                   } else {
                     leases_.renew_answered(*answer, now());
                   }
                   run();
                 });
          },
          [&](const engine::send_release& r) {
            std::vector<store::shard_id> shards;
            for (const auto& h : r.shards) shards.push_back(h.shard);
            send([instance = cfg.instance, released = r.shards](store::payment_store& s) {
                   return as_cluster(s).release(instance, released);
                 },
                 [this, shards = std::move(shards)](std::exception_ptr e, std::optional<store::lease_answer> answer) {
                   if (const auto failed = store_failure(e)) {
                     // Not released: they lapse after the lease, and are claimed then.
                     log_line(log_level::warn, "shard release failed", {{"error", *failed}});
                     leases_.request_failed(now());
                   } else {
                     leases_.release_answered(*answer, now());
                     log_line(log_level::info, "released shards",
                              {{"instance", leases_.config().instance}, {"shards", ranges(shards)}});
                   }
                   run();
                 });
          },
          [&](const engine::start_acting& s) {
            // Read after this pass, in one job with the pass's other takeovers (run()).
            to_take_.push_back({s.shard, s.epoch});
            reading_[s.shard] = s.epoch;
          },
          [&](const engine::stop_acting& s) {
            stopped_.push_back(s.shard);
            deps_.drv.stop_acting(s.shard);
          },
          [&](const engine::set_share& s) {
            // An unlimited budget stays unlimited (the manager's share is 0 then).
            if (cfg.budget > 0) deps_.drv.set_budget_share(s.per_second);
          },
      },
      a);
}

/// recover() of the shards a pass started, as cluster_world::take_over: their open payments
/// (read after the claim committed, so every commit of the former epoch is in) and PROCESSING
/// refunds, read in one job, then armed. A shard stopped while its read was out (lost, let go,
/// drained, or claimed again at a later epoch) is not started: its deadlines would be armed for a
/// shard this instance no longer holds. A shard whose read failed is let go (it lapses, and is
/// claimed again).
void cluster_member::take_over(std::vector<store::shard_epoch> shards) {
  send(
      [shards, refunds = deps_.refunds != nullptr](store::payment_store& s) {
        auto& c = as_cluster(s);
        std::vector<takeover_read> reads;
        for (const auto& one : shards) {
          takeover_read r{one.shard, one.epoch, {}, {}, std::nullopt};
          try {
            const std::array<store::shard_id, 1> ids{one.shard};
            r.open = c.open_deadlines_of(ids);
            if (refunds) r.refunds = c.open_refund_deadlines_of(ids);
          } catch (const store::store_error& e) {
            r.error = e.what();
          }
          reads.push_back(std::move(r));
        }
        return reads;
      },
      [this](std::exception_ptr e, std::optional<std::vector<takeover_read>> reads) {
        if (e) std::rethrow_exception(e);  // the job catches the store's errors itself
        std::vector<store::shard_id> taken;
        std::vector<store::shard_id> gone;
        std::size_t open = 0;
        for (const auto& r : *reads) {
          if (const auto it = reading_.find(r.shard); it != reading_.end() && it->second == r.epoch) reading_.erase(it);
          if (leases_.epoch_of(r.shard) != r.epoch) {
            gone.push_back(r.shard);
            continue;
          }
          if (r.error) {
            log_line(log_level::warn, "cannot take a shard over", {{"shard", r.shard}, {"error", *r.error}});
            leases_.not_owner(r.shard, r.epoch, now());
            continue;
          }
          deps_.drv.start_acting(r.shard, r.open, r.refunds);
          taken.push_back(r.shard);
          open += r.open.size() + r.refunds.size();
        }
        if (!gone.empty())
          log_line(log_level::info, "shards stopped before their takeover was read: not taken over",
                   {{"instance", leases_.config().instance}, {"shards", ranges(gone)}});
        if (!taken.empty()) {
          log_line(log_level::info, "took shards over",
                   {{"instance", leases_.config().instance}, {"shards", ranges(taken)}, {"count", taken.size()},
                    {"openPayments", open}, {"held", leases_.held()}});
          if (on_tick_) asio::post(deps_.io, on_tick_);  // the taken shards' inbox rows
        }
        run();
      });
}

/// A fenced commit came back not_owner: the shard is someone else's. The scheduler already
/// dropped it (committed()); the manager hears it now, and its actions run after this commit.
/// The shard is judged at the epoch held when the refusal came (a payment loaded for it comes
/// back later, when the shard may have been claimed again at a newer epoch: that one stays).
void cluster_member::refused(const engine::input& in, const engine::output& out) {
  std::optional<payment> p = in.create;
  if (!p && !out.after.payment_request_id.empty()) p = out.after;
  if (p) return refused_at(store::shard_of(*p, shards_), leases_.fence());
  if (in.payment_id == 0) return;
  send([id = in.payment_id](store::payment_store& s) { return s.load(id); },
       [this, fence = leases_.fence()](std::exception_ptr e, std::optional<std::optional<payment>> loaded) {
         if (store_failure(e) || !loaded || !*loaded) return;
         refused_at(store::shard_of(**loaded, shards_), fence);
       });
}

void cluster_member::refused_at(store::shard_id shard, const std::vector<store::shard_epoch>& fence) {
  const auto it = std::find_if(fence.begin(), fence.end(), [&](const store::shard_epoch& f) { return f.shard == shard; });
  if (it == fence.end()) return;
  log_line(log_level::warn, "a commit was fenced out: another instance holds the shard",
           {{"instance", leases_.config().instance}, {"shard", shard}, {"epoch", it->epoch}});
  leases_.not_owner(shard, it->epoch, now());
  asio::post(deps_.io, [this, alive = std::weak_ptr<int>(alive_)] {
    if (!alive.expired()) run();
  });
}

/// Just before a call leaves: the time first (a trust that ran out stops the shard), then the
/// shard's trust.
bool cluster_member::may_call(const payment& p) {
  enter();
  return acts_for(p);
}

void cluster_member::arm() {
  const auto at = leases_.next_tick();
  if (!at) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(*at == engine::local_instant::min() ? now() : *at);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // re-armed or cancelled
    enter();
    if (on_tick_) on_tick_();
  });
}

void cluster_member::publish() {
  const auto& st = leases_.stats();
  deps_.stats.set_gauge(metric::cluster_shards_held, {}, static_cast<double>(leases_.held()));
  deps_.stats.set_counter(metric::cluster_takeovers, {}, static_cast<double>(st.taken_over));
  deps_.stats.set_counter(metric::cluster_shards_lost, {}, static_cast<double>(st.lost + st.lapsed));
}

}  // namespace cashier::daemon
