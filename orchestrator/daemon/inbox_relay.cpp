// The inbox relay (see inbox_relay.hpp). The taken set is what keeps one process from submitting
// a row twice: an entry is made when a row is submitted and lives until the row is gone from the
// table (a later complete poll no longer sees it) or its submission came back without applying
// it (released: the next poll submits it again). Each entry carries a token, so the end of a
// submission made before the row was forgotten and taken again does not touch the new entry.
// The store statements run on the store thread; what they return is judged on the reactor when
// it comes back (which shards are acted for then, which rows are taken then). A `refund` row is
// no engine::input: its order goes to driver::create_refund, and the row is deleted afterwards;
// a `redeliver` row goes to the webhook sender, and is deleted afterwards too.
#include "orchestrator/daemon/inbox_relay.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "orchestrator/daemon/log.hpp"
#include "orchestrator/engine/inbox_codec.hpp"
#include "state/machine/machine.hpp"

namespace cashier::daemon {
namespace asio = boost::asio;

namespace {

/// A row this process took.
struct taken_row {
  store::shard_id shard = 0;  // the row's shard (forgotten when the shard is not held)
  std::uint64_t token = 0;    // which take this is
  bool in_flight = false;     // submitted, its commit not yet back
};

/// The cluster half of the store a job is given (the daemon's store is a clustered_store).
store::cluster_store& as_cluster(store::payment_store& s) { return dynamic_cast<store::cluster_store&>(s); }

bool is_request(const event& ev) {
  return std::holds_alternative<cancel_requested>(ev) || std::holds_alternative<inquiry_requested>(ev);
}

}  // namespace

struct inbox_relay::state {
  explicit state(inbox_relay_deps d) : deps(std::move(d)) {}
  inbox_relay_deps deps;
  inbox_relay_stats stats;
  std::unordered_map<std::int64_t, taken_row> taken;
  std::uint64_t next_token = 1;
  bool reading = false;  // a poll's read is out
  std::optional<std::vector<store::shard_id>> next_poll;  // the poll asked for while it was
  bool closed = false;   // the relay is gone: answers still to come do nothing
  webhook_sender* webhooks = nullptr;  // use_webhooks: the owner's half of redeliver rows
};

namespace {
/// The relay's counters on /metrics.
void publish(const inbox_relay_deps& d, const inbox_relay_stats& s) {
  if (d.stats == nullptr) return;
  d.stats->set_counter(metric::inbox_posted, {}, static_cast<double>(s.posted));
  d.stats->set_counter(metric::inbox_submitted, {}, static_cast<double>(s.submitted));
  d.stats->set_counter(metric::inbox_applied, {}, static_cast<double>(s.applied));
  d.stats->set_counter(metric::inbox_retried, {}, static_cast<double>(s.retried));
  d.stats->set_counter(metric::inbox_undecodable, {}, static_cast<double>(s.undecodable));
  d.stats->set_counter(metric::inbox_poll_failures, {}, static_cast<double>(s.poll_failures));
}
}  // namespace

struct inbox_relay::read_rows {
  std::vector<store::inbox_entry> rows;
  bool complete = false;  // every row of the shards read
};

inbox_relay::inbox_relay(inbox_relay_deps deps) : st_(std::make_shared<state>(std::move(deps))) {}

inbox_relay::~inbox_relay() { st_->closed = true; }

const inbox_relay_stats& inbox_relay::stats() const { return st_->stats; }

bool inbox_relay::polling() const { return st_->reading; }

bool inbox_relay::acts_for(std::string_view alipay_request_id) const {
  return st_->deps.acts_for(store::shard_of(alipay_request_id, st_->deps.shard_count));
}

asio::awaitable<std::optional<engine::output>> inbox_relay::route(const engine::input& in,
                                                                  std::string_view alipay_request_id,
                                                                  const payment* stored) {
  const auto st = st_;  // the relay may be gone when the post comes back
  auto& d = st->deps;
  const auto shard = store::shard_of(alipay_request_id, d.shard_count);
  if (in.payment_id == 0 || d.acts_for(shard)) co_return std::nullopt;
  engine::output out;
  out.result = engine::outcome::unchanged;
  if (stored != nullptr) {
    out.after = *stored;
    // A request the machine refuses on this row is refused on any later one: only final payments
    // refuse, and final is final. Answer it here instead of posting a row the owner would drop.
    if (is_request(in.ev)) {
      const auto predicted = step(*stored, in.ev, d.clock.now(), d.eng.params());
      if (predicted.rejected) {
        out.made.rejected = predicted.rejected;
        co_return out;
      }
    }
  }
  const auto msg = engine::encode_inbox(in);
  const auto* m = std::get_if<engine::inbox_message>(&msg);
  if (m == nullptr) co_return std::nullopt;  // cannot travel: the fence refuses it (not_owner) if it must
  co_await post(st, shard, in.payment_id, *m);
  co_return out;
}

asio::awaitable<std::int64_t> inbox_relay::post(std::shared_ptr<state> st, store::shard_id shard,
                                                std::int64_t payment_id, engine::inbox_message msg) {
  // Durable when the job returns (its own transaction, on the store thread). Named, not a
  // temporary of the co_await expression: GCC 12 destroys such a temporary twice.
  auto job = [shard, payment_id, kind = msg.kind, body = std::move(msg.body)](store::payment_store& s) {
    return as_cluster(s).post_inbox(shard, payment_id, kind, body);
  };
  const auto id = co_await st->deps.db.call(std::move(job));
  ++st->stats.posted;
  publish(st->deps, st->stats);
  log_line(log_level::debug, "inbox: posted for the shard's owner",
           {{"row", id}, {"shard", shard}, {"paymentId", payment_id}, {"kind", msg.kind}});
  co_return id;
}

store::shard_id inbox_relay::shard_of(std::string_view alipay_request_id) const {
  return store::shard_of(alipay_request_id, st_->deps.shard_count);
}

asio::awaitable<std::optional<std::int64_t>> inbox_relay::post_refund(const engine::refund_order& order,
                                                                      std::string_view alipay_request_id) {
  const auto st = st_;  // the relay may be gone when the post comes back
  const auto shard = store::shard_of(alipay_request_id, st->deps.shard_count);
  auto msg = engine::encode_refund_inbox(order);
  auto* m = std::get_if<engine::inbox_message>(&msg);
  if (m == nullptr) co_return std::nullopt;
  co_return co_await post(st, shard, order.payment_id, std::move(*m));
}

asio::awaitable<std::optional<std::int64_t>> inbox_relay::post_redeliver(std::string event_id, std::int64_t payment_id,
                                                                         std::string_view alipay_request_id) {
  const auto st = st_;
  const auto shard = store::shard_of(alipay_request_id, st->deps.shard_count);
  auto msg = engine::encode_redeliver_inbox(event_id);
  auto* m = std::get_if<engine::inbox_message>(&msg);
  if (m == nullptr || payment_id == 0) co_return std::nullopt;
  co_return co_await post(st, shard, payment_id, std::move(*m));
}

void inbox_relay::use_webhooks(webhook_sender& webhooks) { st_->webhooks = &webhooks; }

void inbox_relay::poll_held() {
  std::vector<store::shard_id> held;
  for (store::shard_id s = 0; s < st_->deps.shard_count; ++s)
    if (st_->deps.acts_for(s)) held.push_back(s);
  poll(held);
}

void inbox_relay::poll(std::span<const store::shard_id> held) {
  start_poll(st_, std::vector<store::shard_id>(held.begin(), held.end()));
}

void inbox_relay::start_poll(const std::shared_ptr<state>& st_ptr, std::vector<store::shard_id> held) {
  auto& st = *st_ptr;
  if (st.closed) return;
  if (st.reading) {
    // One read at a time: a burst of wake-ups (a NOTIFY per post) costs one more read, not one
    // each, and two reads never settle the taken set against each other.
    st.next_poll = std::move(held);
    return;
  }
  const std::unordered_set<store::shard_id> held_set(held.begin(), held.end());
  // A shard no longer held: its rows are the next owner's; a takeover reads them again.
  std::erase_if(st.taken, [&](const auto& e) { return !held_set.contains(e.second.shard); });
  if (held.empty()) return;
  st.reading = true;
  ++st.stats.reads;
  st.deps.db.run(
      st.deps.io.get_executor(),
      [held](store::payment_store& s) {
        auto& c = as_cluster(s);
        read_rows r;
        for (std::int64_t after = 0; !r.complete && r.rows.size() < max_rows_per_poll;) {
          auto page = c.inbox_of(held, after, page_rows);
          r.complete = page.size() < page_rows;
          if (!page.empty()) after = page.back().id;
          std::move(page.begin(), page.end(), std::back_inserter(r.rows));
        }
        return r;
      },
      [st_ptr, held](std::exception_ptr e, std::optional<read_rows> r) mutable {
        auto& st = *st_ptr;
        st.reading = false;
        if (st.closed) return;
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const store::store_error& x) {
            ++st.stats.poll_failures;
            log_line(log_level::warn, "inbox: reading the inbox failed; the next poll retries", {{"error", x.what()}});
          }
        } else {
          take_rows(st_ptr, std::move(held), std::move(*r));
        }
        publish(st.deps, st.stats);
        if (auto next = std::exchange(st.next_poll, std::nullopt)) start_poll(st_ptr, std::move(*next));
      });
}

void inbox_relay::take_rows(const std::shared_ptr<state>& st_ptr, std::vector<store::shard_id> asked, read_rows read) {
  auto& st = *st_ptr;
  // Acted for now, not only when the read was handed over: a shard lost or let go meanwhile is
  // its next owner's, whose takeover reads its rows again.
  std::unordered_set<store::shard_id> held;
  for (const auto s : asked)
    if (st.deps.acts_for(s)) held.insert(s);
  std::erase_if(st.taken, [&](const auto& e) { return !held.contains(e.second.shard); });
  std::vector<store::inbox_entry> rows;
  for (auto& row : read.rows)
    if (held.contains(row.shard)) rows.push_back(std::move(row));
  // Every row of the held shards was read: entries of rows no longer there were applied. (A
  // backlog beyond one poll's rows is read again from its start once those are applied.)
  if (read.complete) {
    std::unordered_set<std::int64_t> present;
    for (const auto& row : rows) present.insert(row.id);
    std::erase_if(st.taken, [&](const auto& e) { return !e.second.in_flight && !present.contains(e.first); });
  }

  for (const auto& row : rows) {
    if (st.taken.contains(row.id)) continue;
    const auto token = st.next_token++;
    // A row that is no engine input: `decoded` applied by `apply` when this instance serves its
    // kind, else kept as a row of an unknown format (for an instance that does).
    const auto take_other = [&](auto decoded, bool served, const char* not_served, auto apply) {
      using value = std::variant_alternative_t<0, decltype(decoded)>;
      if (auto* v = std::get_if<value>(&decoded)) {
        if (served) {
          st.taken.emplace(row.id, taken_row{row.shard, token, true});
          ++st.stats.submitted;
          asio::co_spawn(st.deps.io, apply(std::move(*v)), asio::detached);
          return;
        }
        decoded = engine::inbox_decode_error{engine::inbox_failure::unknown_format, not_served};
      }
      keep_undecodable(st, row, token, std::get<engine::inbox_decode_error>(decoded));
    };
    if (row.kind == engine::to_string(engine::inbox_kind::refund)) {
      take_other(engine::decode_refund_inbox(row.body), st.deps.drv.serves_refunds(), "refunds are not served here",
                 [&](engine::refund_order o) {
                   o.payment_id = row.payment_id;
                   return apply_refund_row(st_ptr, std::move(o), row.id, row.shard, token);
                 });
      continue;
    }
    if (row.kind == engine::to_string(engine::inbox_kind::redeliver)) {
      take_other(engine::decode_redeliver_inbox(row.body), st.webhooks != nullptr, "no webhook sender here",
                 [&](std::string event_id) {
                   return apply_redeliver_row(st_ptr, std::move(event_id), row.id, row.shard, token);
                 });
      continue;
    }
    auto decoded = engine::decode_inbox(row.kind, row.body);
    if (const auto* bad = std::get_if<engine::inbox_decode_error>(&decoded)) {
      keep_undecodable(st, row, token, *bad);
      continue;
    }
    auto in = std::get<engine::input>(std::move(decoded));
    in.payment_id = row.payment_id;
    in.inbox_id = row.id;
    st.taken.emplace(row.id, taken_row{row.shard, token, true});
    ++st.stats.submitted;
    asio::co_spawn(st.deps.io, apply_row(st_ptr, std::move(in), token), asio::detached);
  }
}

void inbox_relay::keep_undecodable(state& st, const store::inbox_entry& row, std::uint64_t token,
                                   const engine::inbox_decode_error& bad) {
  // Kept, never deleted: an input that may move money is not dropped, not even a damaged one.
  // Taken, so this process says it once (again after a restart or a takeover).
  st.taken.emplace(row.id, taken_row{row.shard, token, false});
  ++st.stats.undecodable;
  switch (bad.failure) {
    case engine::inbox_failure::unknown_format:
      log_line(log_level::warn, "inbox: a row of a newer format is kept for an instance that knows it",
               {{"row", row.id}, {"shard", row.shard}, {"paymentId", row.payment_id}, {"detail", bad.detail}});
      break;
    case engine::inbox_failure::malformed: {
      log_line(log_level::error, "inbox: a row does not decode; kept, an operator must look at it",
               {{"row", row.id}, {"shard", row.shard}, {"paymentId", row.payment_id}, {"detail", bad.detail}});
      engine::input note;  // log-only: an anomaly pages someone (payment named in the detail)
      note.anomalies.push_back({0, 0, "inbox_undecodable",
                                "inbox row " + std::to_string(row.id) + " for payment " +
                                    std::to_string(row.payment_id) + " does not decode: " + bad.detail,
                                st.deps.clock.now()});
      st.deps.drv.post(std::move(note));
      break;
    }
  }
}

asio::awaitable<void> inbox_relay::apply_row(std::shared_ptr<state> st, engine::input in, std::uint64_t token) {
  const auto id = in.inbox_id;
  bool release = true;
  try {
    const auto out = co_await st->deps.drv.submit(std::move(in));
    switch (out.result) {
      case engine::outcome::applied:
      case engine::outcome::unchanged:
      case engine::outcome::duplicate:
      case engine::outcome::rejected:
        // Deleted with its commit (inbox_applied): never submitted again.
        ++st->stats.applied;
        release = false;
        break;
      case engine::outcome::not_found:
        // The engine keeps a row whose payment is gone, for an operator to see: never resubmitted.
        log_line(log_level::error, "inbox: a row names no payment; kept", {{"row", id}});
        release = false;
        break;
      case engine::outcome::conflict:
      case engine::outcome::not_owner: break;  // the row stays: the next poll (or owner) applies it
    }
  } catch (const std::exception& e) {
    log_line(log_level::warn, "inbox: applying a row failed; the next poll retries", {{"row", id}, {"error", e.what()}});
  }
  settle(*st, id, token, release);
}

/// After a row's apply: released (taken no more: the next poll, or owner, applies it again) or
/// kept taken until it is gone; nothing when the entry was forgotten or taken again since.
void inbox_relay::settle(state& st, std::int64_t id, std::uint64_t token, bool release) {
  publish(st.deps, st.stats);
  const auto it = st.taken.find(id);
  if (it == st.taken.end() || it->second.token != token) return;
  if (release) {
    ++st.stats.retried;
    st.taken.erase(it);
    publish(st.deps, st.stats);
  } else {
    it->second.in_flight = false;
  }
}

asio::awaitable<void> inbox_relay::apply_refund_row(std::shared_ptr<state> st, engine::refund_order order,
                                                    std::int64_t id, store::shard_id shard, std::uint64_t token) {
  bool release = true;
  try {
    const auto res = co_await st->deps.drv.create_refund(std::move(order), std::chrono::milliseconds(0));
    bool final_for_row = false;
    switch (res.status) {
      case engine::refund_order_status::created:
      case engine::refund_order_status::repeat:
      case engine::refund_order_status::inconsistent:
      case engine::refund_order_status::amount_exceed:
      case engine::refund_order_status::not_refundable:
        // Durable either way: the refund is stored, or the store says it never will be for this
        // order (the poster's merchant learns it from a retry's read-only checks).
        final_for_row = true;
        break;
      case engine::refund_order_status::not_found:
        // As for an input: a row whose payment is gone is kept for an operator to see.
        log_line(log_level::error, "inbox: a refund row names no payment; kept", {{"row", id}});
        release = false;
        break;
      case engine::refund_order_status::conflict: break;  // another writer, or not_owner: the next poll
    }
    if (final_for_row) {
      // Not deleted in the create's own commit (the refund engine commits the refund alone): a
      // separate fenced delete. Safe because the create is idempotent by refundRequestId: if
      // this delete fails or this process dies before it, the row is applied again by the next
      // poll (or owner) and that create answers `repeat` (or the same refusal), then deletes it.
      co_await st->deps.drv.delete_inbox_row(id, shard);
      ++st->stats.applied;
      release = false;
    }
  } catch (const std::exception& e) {
    log_line(log_level::warn, "inbox: applying a refund row failed; the next poll retries",
             {{"row", id}, {"error", e.what()}});
  }
  settle(*st, id, token, release);
}

asio::awaitable<void> inbox_relay::apply_redeliver_row(std::shared_ptr<state> st, std::string event_id,
                                                       std::int64_t id, store::shard_id shard, std::uint64_t token) {
  bool release = true;
  try {
    // Re-queued by this instance's sender (which knows of an attempt under way), then deleted in
    // a fenced commit of its own. A delete that fails (or a process that dies before it) leaves
    // the row for the next poll: the event is queued once more, at most a second delivery, which
    // webhooks allow (at least once; the merchant dedupes by webhook-id).
    const auto result = co_await st->webhooks->redeliver(event_id);
    if (result == redeliver_result::not_found)
      log_line(log_level::warn, "inbox: a redeliver row names no merchant event; deleted", {{"row", id}});
    co_await st->deps.drv.delete_inbox_row(id, shard);
    ++st->stats.applied;
    release = false;
  } catch (const std::exception& e) {
    log_line(log_level::warn, "inbox: applying a redeliver row failed; the next poll retries",
             {{"row", id}, {"error", e.what()}});
  }
  settle(*st, id, token, release);
}

}  // namespace cashier::daemon
