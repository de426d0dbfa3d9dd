// The cluster port's conformance checks (state/store/cluster_store.hpp), engine-neutral: each
// takes a cluster_fixture, which gives two instances' connections to one fresh database and a
// way to let the database's clock move on. The SQLite fixture (cluster_store_test.cpp) moves its
// injected clock; the PostgreSQL one (pg_cluster_test.cpp) the store's test offset added to the
// server's clock (postgres_options::clock_offset): neither sleeps.
// Nothing here names an engine or reads a table directly.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "state/store/cluster_store.hpp"
#include "tests/state/store/store_fixture.hpp"

namespace cashier::store::test {

/// Two connections (instances "a" and "b") to one fresh database.
class cluster_fixture {
 public:
  virtual ~cluster_fixture() = default;
  /// Instance a's connection.
  virtual clustered_store& a() = 0;
  /// Instance b's connection.
  virtual clustered_store& b() = 0;
  /// Lets at least `d` pass on the database's clock.
  virtual void advance(duration d) = 0;
};

inline constexpr duration test_lease = std::chrono::seconds(2);

/// The (shard, epoch) pairs of `rows`.
inline std::vector<shard_epoch> epochs_of(const std::vector<shard_lease>& rows) {
  std::vector<shard_epoch> out;
  for (const auto& r : rows) out.push_back({r.shard, r.epoch});
  return out;
}

/// A payment whose Alipay+ id falls in `shard` (ids drawn until one does, as a create does).
inline payment payment_in_shard(shard_id shard, shard_id count, const std::string& prefix) {
  for (int i = 0;; ++i) {
    auto p = sample_payment(prefix + "-" + std::to_string(i));
    p.alipay_payment_request_id = "ap-" + p.payment_request_id;
    if (shard_of(p, count) == shard) return p;
  }
}

/// A claim takes free shards, bumps each epoch, times the lease by the database's clock, and a
/// second instance finds none free while the first holds them.
inline void check_claim(cluster_fixture& f) {
  const auto n = f.a().shard_count();
  REQUIRE(n == f.b().shard_count());
  REQUIRE(n >= 4);
  const auto before = f.a().shards();
  REQUIRE(before.table.size() == static_cast<std::size_t>(n));
  const auto a = f.a().claim("a", n, test_lease);
  REQUIRE(a.changed.size() == static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < a.changed.size(); ++i) {
    CHECK(a.changed[i].owner == "a");
    CHECK(a.changed[i].epoch == before.table[i].epoch + 1);
    CHECK(a.changed[i].lease_until == a.db_now + test_lease);
  }
  CHECK(a.table == a.changed);
  const auto b = f.b().claim("b", n, test_lease);
  CHECK(b.changed.empty());
  CHECK(b.live_instances == 2);
  CHECK(b.db_now >= a.db_now);
}

/// Renewal extends only the shards still held at their epoch; once a lease lapses (no renewal
/// for a lease period) another instance claims it at the next epoch and the former owner's
/// renewal comes back without it.
inline void check_renew_and_lapse(cluster_fixture& f) {
  const std::vector<shard_id> two{0, 1};
  const auto a = f.a().claim("a", 2, test_lease, false, two);
  REQUIRE(a.changed.size() == 2);
  f.advance(test_lease / 2);
  const auto r = f.a().renew("a", epochs_of(a.changed), test_lease);
  REQUIRE(r.changed.size() == 2);
  CHECK(r.changed[0].lease_until == r.db_now + test_lease);
  f.advance(test_lease / 2 + std::chrono::milliseconds(100));
  CHECK(f.b().claim("b", 2, test_lease, false, two).changed.empty());  // renewed: still a's
  f.advance(test_lease);
  const auto b = f.b().claim("b", 2, test_lease, false, two);
  REQUIRE(b.changed.size() == 2);
  CHECK(b.changed[0].epoch == a.changed[0].epoch + 1);
  CHECK(b.changed[0].owner == "b");
  CHECK(f.a().renew("a", epochs_of(a.changed), test_lease).changed.empty());
}

/// A released shard is claimable at once, and only its holder at that epoch can release it.
inline void check_release(cluster_fixture& f) {
  const std::vector<shard_id> one{3};
  const auto a = f.a().claim("a", 1, test_lease, false, one);
  REQUIRE(a.changed.size() == 1);
  CHECK(f.b().release("b", epochs_of(a.changed)).changed.empty());
  CHECK(f.a().release("a", {{{3, a.changed[0].epoch + 1}}}).changed.empty());
  CHECK(f.a().release("a", epochs_of(a.changed)).changed.size() == 1);
  const auto b = f.b().claim("b", 1, test_lease, false, one);
  REQUIRE(b.changed.size() == 1);
  CHECK(b.changed[0].epoch == a.changed[0].epoch + 1);
}

/// An instance that releases its last shard (a drain) is no longer counted live: the others'
/// targets rise at their next lease call, not a lease later; one that still holds a shard stays.
inline void check_full_release_ends_presence(cluster_fixture& f) {
  const std::vector<shard_id> two{0, 1};
  const auto a = f.a().claim("a", 2, test_lease, false, two);
  REQUIRE(a.changed.size() == 2);
  CHECK(f.b().claim("b", 0, test_lease).live_instances == 2);
  const std::vector<shard_epoch> first{epochs_of(a.changed)[0]};
  const std::vector<shard_epoch> second{epochs_of(a.changed)[1]};
  CHECK(f.a().release("a", first).live_instances == 2);
  CHECK(f.b().claim("b", 0, test_lease).live_instances == 2);
  CHECK(f.a().release("a", second).live_instances == 1);
  CHECK(f.b().claim("b", 0, test_lease).live_instances == 1);
  CHECK(f.a().claim("a", 1, test_lease).live_instances == 2);  // back, by its next claim
}

/// The fence: a transition commits only under the epoch the table holds now; a former owner's
/// write comes back not_owner and writes nothing; log-only transitions are not fenced.
inline void check_fence(cluster_fixture& f) {
  const auto n = f.a().shard_count();
  const std::vector<shard_id> one{2};
  const auto a = f.a().claim("a", 1, test_lease, false, one);
  REQUIRE(a.changed.size() == 1);
  const auto fence_a = epochs_of(a.changed);
  const auto p = payment_in_shard(2, n, "fenced");
  const transition t_create = create(p);
  const auto created = f.a().commit_fenced(std::span(&t_create, 1), fence_a);
  REQUIRE(created.front().status == commit_status::committed);
  const auto stored = f.a().load(created.front().payment_id);
  REQUIRE(stored);
  // Not in the fence at all: not_owner.
  const auto other = payment_in_shard(3, n, "unfenced");
  const transition t_other = create(other);
  CHECK(f.a().commit_fenced(std::span(&t_other, 1), fence_a).front().status == commit_status::not_owner);
  CHECK_FALSE(f.a().find(alipay_request_id(other)));
  // b takes the shard over (force: as a restarted single instance does).
  const auto b = f.b().claim("b", 0, test_lease, true, one);
  REQUIRE(b.changed.size() == 1);
  CHECK(b.changed[0].epoch == a.changed[0].epoch + 1);
  auto next = *stored;
  next.status = payment_status::in_process;
  next.pending = pending_action::inquiry;
  const transition t_stale = change(*stored, next);
  store::transition log_only;
  log_only.anomalies.push_back(anomaly_record{});
  log_only.anomalies.back().at = stored->created_at;
  log_only.anomalies.back().kind = "test";
  log_only.anomalies.back().detail = "{}";
  const std::vector<transition> batch{t_stale, log_only};
  const auto stale = f.a().commit_fenced(batch, fence_a);
  CHECK(stale[0].status == commit_status::not_owner);
  CHECK(stale[1].status == commit_status::committed);
  CHECK(f.a().load(stored->id)->version == stored->version);  // nothing of it was written
  const auto fresh = f.b().commit_fenced(std::span(&t_stale, 1), epochs_of(b.changed));
  CHECK(fresh.front().status == commit_status::committed);
  CHECK(f.b().load(stored->id)->status == payment_status::in_process);
}

/// The inbox: any instance posts, the owner reads its shards' rows in order, and a row is deleted
/// only with a transition of it that committed (kept on conflict and for a lost shard).
inline void check_inbox(cluster_fixture& f) {
  const auto n = f.a().shard_count();
  const std::vector<shard_id> one{5};
  const auto a = f.a().claim("a", 1, test_lease, false, one);
  REQUIRE(a.changed.size() == 1);
  const auto fence_a = epochs_of(a.changed);
  const auto p = payment_in_shard(5, n, "inbox");
  const transition t_create = create(p);
  const auto id = f.a().commit_fenced(std::span(&t_create, 1), fence_a).front().payment_id;
  const auto stored = *f.a().load(id);
  const auto r1 = f.b().post_inbox(5, id, "cancel", "body-1");
  const auto r2 = f.b().post_inbox(5, id, "notify", "body-2");
  CHECK(r2 > r1);
  const std::vector<shard_id> elsewhere{6};
  CHECK(f.a().inbox_of(elsewhere, 0, 10).empty());
  auto rows = f.a().inbox_of(one, 0, 10);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].id == r1);
  CHECK(rows[0].kind == "cancel");
  CHECK(rows[0].body == "body-1");
  CHECK(rows[0].payment_id == id);
  CHECK(f.a().inbox_of(one, r1, 10).size() == 1);
  // A conflict keeps the row; a commit deletes it with the transition.
  auto wrong = stored;
  wrong.version = stored.version + 5;
  auto next = stored;
  next.status = payment_status::in_process;
  next.pending = pending_action::inquiry;
  const transition t_conflict = change(wrong, next);
  const inbox_applied applied1{r1, 5, std::size_t{0}};
  CHECK(f.a().commit_fenced(std::span(&t_conflict, 1), fence_a, std::span(&applied1, 1)).front().status ==
        commit_status::conflict);
  CHECK(f.a().inbox_of(one, 0, 10).size() == 2);
  const transition t_ok = change(stored, next);
  CHECK(f.a().commit_fenced(std::span(&t_ok, 1), fence_a, std::span(&applied1, 1)).front().status ==
        commit_status::committed);
  rows = f.a().inbox_of(one, 0, 10);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].id == r2);
  // A lost shard keeps its rows for the next owner, even for an input that wrote nothing.
  const auto b = f.b().claim("b", 0, test_lease, true, one);
  REQUIRE(b.changed.size() == 1);
  const inbox_applied applied2{r2, 5, std::nullopt};
  f.a().commit_fenced({}, fence_a, std::span(&applied2, 1));
  CHECK(f.b().inbox_of(one, 0, 10).size() == 1);
  f.b().commit_fenced({}, epochs_of(b.changed), std::span(&applied2, 1));
  CHECK(f.b().inbox_of(one, 0, 10).empty());
  // Ids are never reused after a delete: an instance remembers the rows it has taken by id.
  CHECK(f.b().post_inbox(5, id, "cancel", "body-3") > r2);
}

/// A takeover reads exactly its shards' open payments, with their shard.
inline void check_open_deadlines_of(cluster_fixture& f) {
  const auto n = f.a().shard_count();
  const auto all = f.a().claim("a", 0, test_lease, true);
  const auto fence_a = epochs_of(all.changed);
  std::vector<std::int64_t> in7;
  for (shard_id s : {7, 8}) {
    for (int i = 0; i < 3; ++i) {
      auto p = payment_in_shard(s, n, "open-" + std::to_string(s) + "-" + std::to_string(i));
      p.next_action_at = p.created_at + std::chrono::seconds(10 - i);
      const transition t = create(p);
      const auto o = f.a().commit_fenced(std::span(&t, 1), fence_a).front();
      REQUIRE(o.status == commit_status::committed);
      if (s == 7) in7.push_back(o.payment_id);
    }
  }
  const std::vector<shard_id> seven{7};
  const auto open = f.b().open_deadlines_of(seven);
  REQUIRE(open.size() == 3);
  for (const auto& d : open) {
    CHECK(d.shard == 7);
    CHECK(std::find(in7.begin(), in7.end(), d.payment_id) != in7.end());
  }
  CHECK(std::is_sorted(open.begin(), open.end(),
                       [](const deadline& x, const deadline& y) { return x.next_action_at < y.next_action_at; }));
  const std::vector<shard_id> both{7, 8};
  CHECK(f.b().open_deadlines_of(both).size() == 6);
}

/// A payment of `shard` created through `fence`, settled SUCCESS with one pending merchant event
/// (`event_id`, due at its creation): what a refund and a webhook delivery name.
inline payment paid_with_event(clustered_store& s, std::span<const shard_epoch> fence, shard_id shard,
                               const std::string& prefix, const std::string& event_id) {
  const auto p = payment_in_shard(shard, s.shard_count(), prefix);
  const transition t_create = create(p);
  const auto created = s.commit_fenced(std::span(&t_create, 1), fence).front();
  REQUIRE(created.status == commit_status::committed);
  const auto stored = *s.load(created.payment_id);
  transition t = change(stored, success_of(stored), "pay:S");
  outbox_record o;
  o.event_id = event_id;
  o.seq = 1;
  o.type = "payment.succeeded";
  o.payload = "{}";
  o.target_url = "https://merchant.example/hook";
  o.next_attempt_at = stored.created_at;
  o.created_at = stored.created_at;
  t.outbox.push_back(o);
  REQUIRE(s.commit_fenced(std::span(&t, 1), fence).front().status == commit_status::committed);
  return *s.load(stored.id);
}

/// Transitions without a payment are fenced by the payment their records name: a refund write
/// (the refund engine), a merchant event's delivery and its webhook attempt (the webhook sender).
/// A former owner's such writes come back not_owner and write nothing; the owner's commit; calls
/// and anomalies alone stay unfenced.
inline void check_fence_names_payment(cluster_fixture& f) {
  const std::vector<shard_id> one{10};
  const auto a = f.a().claim("a", 1, test_lease, false, one);
  REQUIRE(a.changed.size() == 1);
  const auto fence_a = epochs_of(a.changed);
  const auto p = paid_with_event(f.a(), fence_a, 10, "named", "evt-named-1");
  refund r;
  r.payment_row = p.id;
  r.refund_request_id = "r1";
  r.alipay_refund_request_id = "rf-named-1";
  r.amount = usd(100);
  r.created_at = r.updated_at = r.next_action_at = p.updated_at;
  r.request = "{}";
  r.merchant_request = "{}";
  const transition t_refund{.refunds = {refund_write{r, 0}}};
  const transition t_delivery{
      .deliveries = {outbox_progress{"evt-named-1", 1, p.updated_at, outbox_state::delivered, 200, ""}},
      .webhook_attempts = {webhook_attempt_record{0, "evt-named-1", p.updated_at, 200, "", 10}}};
  const transition t_attempt_only{
      .webhook_attempts = {webhook_attempt_record{0, "evt-named-1", p.updated_at, 500, "HTTP 500", 10}}};
  transition t_log;
  t_log.anomalies.push_back(anomaly_record{0, p.id, "test", "{}", p.updated_at});
  // b takes the shard over: every write a makes for it now is a former owner's.
  const auto b = f.b().claim("b", 0, test_lease, true, one);
  REQUIRE(b.changed.size() == 1);
  const std::vector<transition> stale{t_refund, t_delivery, t_attempt_only, t_log};
  const auto out = f.a().commit_fenced(stale, fence_a);
  REQUIRE(out.size() == 4);
  CHECK(out[0].status == commit_status::not_owner);
  CHECK(out[1].status == commit_status::not_owner);
  CHECK(out[2].status == commit_status::not_owner);
  CHECK(out[3].status == commit_status::committed);  // append-only, of no shard's owner
  CHECK(f.a().refunds_of(p.id).empty());
  CHECK(f.a().outbox_by_event_id("evt-named-1")->state == outbox_state::pending);
  CHECK(f.a().webhook_attempts_of(p.id).empty());
  // The owner's same writes commit.
  const std::vector<transition> owned{t_refund, t_delivery};
  const auto fresh = f.b().commit_fenced(owned, epochs_of(b.changed));
  CHECK(fresh[0].status == commit_status::committed);
  CHECK(fresh[1].status == commit_status::committed);
  CHECK(f.b().refunds_of(p.id).size() == 1);
  CHECK(f.b().outbox_by_event_id("evt-named-1")->state == outbox_state::delivered);
  CHECK(f.b().webhook_attempts_of(p.id).size() == 1);
}

/// A cluster instance reads the due merchant events of its own shards only.
inline void check_due_outbox_of(cluster_fixture& f) {
  const auto all = f.a().claim("a", 0, test_lease, true);
  const auto fence = epochs_of(all.changed);
  const auto p11 = paid_with_event(f.a(), fence, 11, "due", "evt-due-11");
  const auto p12 = paid_with_event(f.a(), fence, 12, "due", "evt-due-12");
  const auto p13 = paid_with_event(f.a(), fence, 13, "due", "evt-due-13");
  const auto now = std::max({p11.updated_at, p12.updated_at, p13.updated_at});
  const std::vector<shard_id> mine{11, 13, 40};
  const auto due = f.b().due_outbox_of(mine, now, 10);
  REQUIRE(due.size() == 2);
  CHECK(due[0].event_id == "evt-due-11");
  CHECK(due[1].event_id == "evt-due-13");
  CHECK(f.b().due_outbox_of(mine, now, 1).size() == 1);
  const std::vector<shard_id> none{};
  CHECK(f.b().due_outbox_of(none, now, 10).empty());
  const std::vector<shard_id> twelve{12};
  CHECK(f.b().due_outbox_of(twelve, now, 10).front().payment_id == p12.id);
  // Not yet due, or delivered: not read.
  CHECK(f.b().due_outbox_of(twelve, p12.created_at - std::chrono::milliseconds(1), 10).empty());
  const transition delivered{
      .deliveries = {outbox_progress{"evt-due-12", 1, now, outbox_state::delivered, 200, ""}}};
  REQUIRE(f.a().commit_fenced(std::span(&delivered, 1), fence).front().status == commit_status::committed);
  CHECK(f.b().due_outbox_of(twelve, now, 10).empty());
}

/// A takeover reads its shards' PROCESSING refunds only (the former owner dropped them).
inline void check_open_refund_deadlines_of(cluster_fixture& f) {
  const auto all = f.a().claim("a", 0, test_lease, true);
  const auto fence = epochs_of(all.changed);
  std::vector<std::int64_t> ids;
  for (const shard_id s : {20, 21}) {
    const auto p = paid_with_event(f.a(), fence, s, "rf", "evt-rf-" + std::to_string(s));
    refund r;
    r.payment_row = p.id;
    r.refund_request_id = "r";
    r.alipay_refund_request_id = "rf-of-" + std::to_string(s);
    r.amount = usd(100);
    r.created_at = r.updated_at = p.updated_at;
    r.next_action_at = p.updated_at + std::chrono::seconds(s);
    r.request = "{}";
    r.merchant_request = "{}";
    const transition t{.refunds = {refund_write{r, 0}}};
    const auto o = f.a().commit_fenced(std::span(&t, 1), fence).front();
    REQUIRE(o.status == commit_status::committed);
    ids.push_back(o.refund_id);
  }
  const std::vector<shard_id> twenty{20};
  const auto open = f.b().open_refund_deadlines_of(twenty);
  REQUIRE(open.size() == 1);
  CHECK(open[0].refund_id == ids[0]);
  const std::vector<shard_id> both{21, 20};
  const auto two = f.b().open_refund_deadlines_of(both);
  REQUIRE(two.size() == 2);
  CHECK(two[0].refund_id == ids[0]);  // earliest first
  CHECK(f.b().open_refund_deadlines_of(std::vector<shard_id>{22}).empty());
  // A settled refund is not open any more.
  auto settled = *f.a().load_refund(ids[0]);
  settled.status = refund_status::fail;
  settled.next_action_at = never;
  settled.result = aplus_result{"REFUND_WINDOW_EXCEED", 'F', "late"};
  const transition t{.refunds = {refund_write{settled, f.a().load_refund(ids[0])->version}}};
  REQUIRE(f.a().commit_fenced(std::span(&t, 1), fence).front().status == commit_status::committed);
  CHECK(f.b().open_refund_deadlines_of(twenty).empty());
}

}  // namespace cashier::store::test
