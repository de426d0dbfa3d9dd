// The inbox relay (see inbox_relay.hpp). The taken set is what keeps one process from submitting
// a row twice: an entry is made when a row is submitted and lives until the row is gone from the
// table (a later complete poll no longer sees it) or its submission came back without applying
// it (released: the next poll submits it again). Each entry carries a token, so the end of a
// submission made before the row was forgotten and taken again does not touch the new entry.
#include "orchestrator/daemon/inbox_relay.hpp"

#include <algorithm>
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
};

inbox_relay::inbox_relay(inbox_relay_deps deps) : st_(std::make_shared<state>(std::move(deps))) {}

const inbox_relay_stats& inbox_relay::stats() const { return st_->stats; }

bool inbox_relay::acts_for(std::string_view alipay_request_id) const {
  return st_->deps.acts_for(store::shard_of(alipay_request_id, st_->deps.shard_count));
}

std::optional<engine::output> inbox_relay::route(const engine::input& in, std::string_view alipay_request_id,
                                                 const payment* stored) {
  auto& d = st_->deps;
  const auto shard = store::shard_of(alipay_request_id, d.shard_count);
  if (in.payment_id == 0 || d.acts_for(shard)) return std::nullopt;
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
        return out;
      }
    }
  }
  const auto msg = engine::encode_inbox(in);
  const auto* m = std::get_if<engine::inbox_message>(&msg);
  if (m == nullptr) return std::nullopt;  // cannot travel: the fence refuses it (not_owner) if it must
  const auto id = d.store.post_inbox(shard, in.payment_id, m->kind, m->body);  // durable on return
  ++st_->stats.posted;
  log_line(log_level::debug, "inbox: posted for the shard's owner",
           {{"row", id}, {"shard", shard}, {"paymentId", in.payment_id}, {"kind", m->kind}});
  return out;
}

void inbox_relay::poll_held() {
  std::vector<store::shard_id> held;
  for (store::shard_id s = 0; s < st_->deps.shard_count; ++s)
    if (st_->deps.acts_for(s)) held.push_back(s);
  poll(held);
}

void inbox_relay::poll(std::span<const store::shard_id> held) {
  auto& st = *st_;
  const std::unordered_set<store::shard_id> held_set(held.begin(), held.end());
  // A shard no longer held: its rows are the next owner's; a takeover reads them again.
  std::erase_if(st.taken, [&](const auto& e) { return !held_set.contains(e.second.shard); });
  if (held.empty()) return;
  std::vector<store::inbox_entry> rows;
  bool complete = false;  // every row of the held shards was read
  try {
    for (std::int64_t after = 0; !complete && rows.size() < max_rows_per_poll;) {
      auto page = st.deps.store.inbox_of(held, after, page_rows);
      complete = page.size() < page_rows;
      if (!page.empty()) after = page.back().id;
      std::move(page.begin(), page.end(), std::back_inserter(rows));
    }
  } catch (const store::store_error& e) {
    ++st.stats.poll_failures;
    log_line(log_level::warn, "inbox: reading the inbox failed; the next poll retries", {{"error", e.what()}});
    return;
  }
  // Every row of the held shards was read: entries of rows no longer there were applied. (A
  // backlog beyond one poll's rows is read again from its start once those are applied.)
  if (complete) {
    std::unordered_set<std::int64_t> present;
    for (const auto& row : rows) present.insert(row.id);
    std::erase_if(st.taken, [&](const auto& e) { return !e.second.in_flight && !present.contains(e.first); });
  }

  for (const auto& row : rows) {
    if (st.taken.contains(row.id)) continue;
    const auto token = st.next_token++;
    auto decoded = engine::decode_inbox(row.kind, row.body);
    if (const auto* bad = std::get_if<engine::inbox_decode_error>(&decoded)) {
      // Kept, never deleted: an input that may move money is not dropped, not even a damaged
      // one. Taken, so this process says it once (again after a restart or a takeover).
      st.taken.emplace(row.id, taken_row{row.shard, token, false});
      ++st.stats.undecodable;
      switch (bad->failure) {
        case engine::inbox_failure::unknown_format:
          log_line(log_level::warn, "inbox: a row of a newer format is kept for an instance that knows it",
                   {{"row", row.id}, {"shard", row.shard}, {"paymentId", row.payment_id}, {"detail", bad->detail}});
          break;
        case engine::inbox_failure::malformed: {
          log_line(log_level::error, "inbox: a row does not decode; kept, an operator must look at it",
                   {{"row", row.id}, {"shard", row.shard}, {"paymentId", row.payment_id}, {"detail", bad->detail}});
          engine::input note;  // log-only: an anomaly pages someone (payment named in the detail)
          note.anomalies.push_back({0, 0, "inbox_undecodable",
                                    "inbox row " + std::to_string(row.id) + " for payment " +
                                        std::to_string(row.payment_id) + " does not decode: " + bad->detail,
                                    st.deps.clock.now()});
          st.deps.drv.post(std::move(note));
          break;
        }
      }
      continue;
    }
    auto in = std::get<engine::input>(std::move(decoded));
    in.payment_id = row.payment_id;
    in.inbox_id = row.id;
    st.taken.emplace(row.id, taken_row{row.shard, token, true});
    ++st.stats.submitted;
    asio::co_spawn(st.deps.io, apply_row(st_, std::move(in), token), asio::detached);
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
  const auto it = st->taken.find(id);
  if (it == st->taken.end() || it->second.token != token) co_return;  // forgotten or taken again since
  if (release) {
    ++st->stats.retried;
    st->taken.erase(it);
  } else {
    it->second.in_flight = false;
  }
}

}  // namespace cashier::daemon
