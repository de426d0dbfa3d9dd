// The cluster executor (see cluster_member.hpp). No lease rule lives here; each is in
// orchestrator/engine/shard_leases.cpp. What this file adds is what only an executor can do:
// read the monotonic clock, run the store's lease statements, take a shard over from the store,
// and keep the timer at the manager's next_tick().
#include "orchestrator/daemon/cluster_member.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <utility>
#include <variant>

#include <boost/asio/post.hpp>

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
  enter();
}

void cluster_member::drain() {
  timer_.cancel();
  leases_.drain(now());
  run();
  timer_.cancel();  // nothing more to renew or claim
}

std::optional<std::string> cluster_member::draw_payment_request_id(const std::function<std::string()>& draw) {
  enter();  // trust as of now: a shard past its trust takes no create
  if (leases_.held() == 0) return std::nullopt;
  for (int i = 0; i < max_draws; ++i) {
    auto id = draw();
    if (leases_.acts_for(store::shard_of(id, shards_))) return id;
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
  if (!taken_.empty()) {
    log_line(log_level::info, "took shards over",
             {{"instance", leases_.config().instance}, {"shards", ranges(taken_)}, {"count", taken_.size()},
              {"openPayments", taken_open_}, {"held", leases_.held()}});
    taken_.clear();
    taken_open_ = 0;
  }
  if (!stopped_.empty()) {
    // Lost (another instance claimed them, or the trust ran out first) or let go (rebalancing,
    // drain): the first is worth a warning.
    const bool lost = leases_.stats().lost + leases_.stats().lapsed > lost_before;
    log_line(lost ? log_level::warn : log_level::info, lost ? "lost shards" : "stopped acting for shards",
             {{"instance", leases_.config().instance}, {"shards", ranges(stopped_)}, {"count", stopped_.size()},
              {"held", leases_.held()}});
    stopped_.clear();
  }
  open_refunds_.reset();
  publish();
  arm();
}

/// The lease the database grants, in its milliseconds: rounded up, so it never ends before the
/// trust the manager derives from the exact one.
duration cluster_member::db_lease() const { return std::chrono::ceil<duration>(leases_.config().lease); }

void cluster_member::act(const engine::lease_action& a) {
  const auto& cfg = leases_.config();
  std::visit(
      overloaded{
          [&](const engine::send_claim& c) {
            try {
              const auto answer = deps_.cluster.claim(cfg.instance, c.want, db_lease(), c.force);
              leases_.claim_answered(answer, now());
            } catch (const store::store_error& e) {
              log_line(log_level::warn, "shard claim failed", {{"error", e.what()}});
              leases_.request_failed(now());
            }
          },
          [&](const engine::send_renew& r) {
            try {
              const auto answer = deps_.cluster.renew(cfg.instance, r.held, db_lease());
              leases_.renew_answered(answer, now());
            } catch (const store::store_error& e) {
              log_line(log_level::warn, "shard renewal failed", {{"error", e.what()}, {"shards", r.held.size()}});
              leases_.request_failed(now());
            }
          },
          [&](const engine::send_release& r) {
            try {
              const auto answer = deps_.cluster.release(cfg.instance, r.shards);
              leases_.release_answered(answer, now());
              std::vector<store::shard_id> s;
              for (const auto& h : r.shards) s.push_back(h.shard);
              log_line(log_level::info, "released shards", {{"instance", cfg.instance}, {"shards", ranges(s)}});
            } catch (const store::store_error& e) {
              // Not released: they lapse after the lease, and are claimed then.
              log_line(log_level::warn, "shard release failed", {{"error", e.what()}});
              leases_.request_failed(now());
            }
          },
          [&](const engine::start_acting& s) { take_over(s.shard, s.epoch); },
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

/// recover() of one shard, as cluster_world::take_over: its open payments (read after the claim
/// committed, so every commit of the former epoch is in) and its PROCESSING refunds are armed.
/// A store error lets the shard go (it lapses, and is claimed again).
void cluster_member::take_over(store::shard_id shard, std::int64_t epoch) {
  std::vector<store::deadline> open;
  std::vector<store::refund_deadline> refunds;
  try {
    const std::array<store::shard_id, 1> one{shard};
    open = deps_.cluster.open_deadlines_of(one);
    refunds = refunds_of(shard);
  } catch (const store::store_error& e) {
    log_line(log_level::warn, "cannot take a shard over", {{"shard", shard}, {"error", e.what()}});
    leases_.not_owner(shard, epoch, now());
    return;
  }
  deps_.drv.start_acting(shard, open, refunds);
  taken_.push_back(shard);
  taken_open_ += open.size() + refunds.size();
}

/// The PROCESSING refunds of `shard`'s payments: every open refund is read once per run() that
/// takes shards over, and each is placed by its payment's shard (open refunds are few).
std::vector<store::refund_deadline> cluster_member::refunds_of(store::shard_id shard) {
  if (deps_.refunds == nullptr) return {};
  if (!open_refunds_) {
    open_refunds_.emplace();
    std::map<std::int64_t, store::shard_id> shard_of_payment;
    for (const auto& d : deps_.refunds->recover()) {
      auto it = shard_of_payment.find(d.payment_id);
      if (it == shard_of_payment.end()) {
        const auto p = deps_.store.load(d.payment_id);
        it = shard_of_payment.emplace(d.payment_id, p ? store::shard_of(*p, shards_) : -1).first;
      }
      open_refunds_->emplace_back(it->second, d);
    }
  }
  std::vector<store::refund_deadline> out;
  for (const auto& [s, d] : *open_refunds_)
    if (s == shard) out.push_back(d);
  return out;
}

/// A fenced commit came back not_owner: the shard is someone else's. The scheduler already
/// dropped it (committed()); the manager hears it now, and its actions run after this commit.
void cluster_member::refused(const engine::input& in, const engine::output& out) {
  std::optional<payment> p = in.create;
  if (!p && !out.after.payment_request_id.empty()) p = out.after;
  if (!p && in.payment_id != 0) {
    try {
      p = deps_.store.load(in.payment_id);
    } catch (const store::store_error&) {
    }
  }
  if (!p) return;
  const auto shard = store::shard_of(*p, shards_);
  const auto epoch = leases_.epoch_of(shard);
  if (epoch == 0) return;
  log_line(log_level::warn, "a commit was fenced out: another instance holds the shard",
           {{"instance", leases_.config().instance}, {"shard", shard}, {"epoch", epoch}});
  leases_.not_owner(shard, epoch, now());
  asio::post(deps_.io, [this] { run(); });
}

/// Just before a call leaves: the time first (a trust that ran out stops the shard), then the
/// shard's trust.
bool cluster_member::may_call(const payment& p) {
  enter();
  return leases_.acts_for(store::shard_of(p, shards_));
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
  });
}

void cluster_member::publish() {
  const auto& st = leases_.stats();
  deps_.stats.set_gauge(metric::cluster_shards_held, {}, static_cast<double>(leases_.held()));
  deps_.stats.set_counter(metric::cluster_takeovers, {}, static_cast<double>(st.taken_over));
  deps_.stats.set_counter(metric::cluster_shards_lost, {}, static_cast<double>(st.lost + st.lapsed));
}

}  // namespace cashier::daemon
