// The admin cancel and inquiry in cluster mode (admin_api.hpp, inbox_relay.hpp), two daemons'
// drivers on one SQLite file: instance A acts for no shard, B for all. With the inbox, A posts
// the operator's cancel or inquiry and answers 202 with the payment as stored, and a cancel of
// a final payment 409 without a row, and the operator's redeliver of B's event goes to B's inbox
// too (B's sender re-queues it); without it (a process whose file another one took over),
// a request the fence refuses is answered 503, never 202 with nothing recorded.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>

#include "orchestrator/daemon/admin_api.hpp"
#include "orchestrator/daemon/webhook_sender.hpp"
#include "state/store/sqlite_store.hpp"
#include "tests/orchestrator/daemon/inbox_rig.hpp"
#include "tests/orchestrator/daemon/store_gate.hpp"
#include "tests/state/store/store_fixture.hpp"

namespace cashier::daemon {
namespace {

using namespace test;

struct rig {
  explicit rig(bool with_inbox)
      : a(io, store::open_sqlite_clustered(dir.file("cashier.db"))),
        b(io, store::open_sqlite_clustered(dir.file("cashier.db"))),
        webhooks(io.get_executor(), a.db, a.clock, {}),
        admin(admin_api_deps{a.db, a.drv, webhooks, std::chrono::milliseconds(100)}) {
    b.take_all("b");
    a.drv.fence_with(*a.store, {});  // holds nothing: any payment commit of A is refused
    if (with_inbox) admin.use_inbox(&a.relay);
    engine::input create;
    create.create = store::test::sample_payment("order-adm", to_epoch_ms(t0));
    create.ev = created{};
    const auto made = submit(io, b.drv, create);
    REQUIRE(made.result == engine::outcome::applied);
    id = made.after.id;
    run_until(io, [&] { return b.store->load(id)->pending != pending_action::pay; });
  }
  ~rig() {
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
  }
  net::response post(const std::string& target) {
    const auto match = match_route("POST", target, "/notify");
    const auto* found = std::get_if<route_match>(&match);
    REQUIRE(found != nullptr);
    const net::request req{"POST", target, {}, ""};
    std::optional<net::response> out;
    asio::co_spawn(io, admin.handle(*found, req), [&](std::exception_ptr e, net::response r) {
      REQUIRE_FALSE(e);
      out = std::move(r);
    });
    run_until(io, [&] { return out.has_value(); });
    return *out;
  }

  asio::io_context io;
  store::test::temp_dir dir;
  instance a, b;
  webhook_sender webhooks;
  admin_api admin;
  std::int64_t id = 0;
};

}  // namespace

TEST_CASE("cluster mode: the operator's cancel and inquiry for another instance's payment go to the inbox") {
  rig r(true);
  const auto before = *r.b.store->load(r.id);
  const auto inquired = r.post("/admin/payments/order-adm/inquire");
  CHECK(inquired.status == 202);
  const auto cancelled = r.post("/admin/payments/order-adm/cancel");
  CHECK(cancelled.status == 202);
  CHECK(boost::json::parse(cancelled.body).at("paymentRequestId") == "order-adm");
  const auto rows = r.a.inbox();
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].kind == "inquiry");
  CHECK(rows[1].kind == "cancel");
  CHECK(r.a.store->load(r.id)->pending == before.pending);
  r.b.relay.poll(r.b.shards());
  run_until(r.io, [&] { return r.b.inbox().empty(); });
  const auto after = r.b.store->load(r.id);
  CHECK((after->pending == pending_action::cancel || after->status == payment_status::cancelled));
}

TEST_CASE("an admin cancel the fence refuses (not_owner) is answered 503, not 202 with nothing recorded") {
  rig r(false);
  const auto answer = r.post("/admin/payments/order-adm/cancel");
  CHECK(answer.status == 503);
  CHECK(r.b.store->load(r.id)->pending != pending_action::cancel);
}

TEST_CASE("cluster mode: the operator's redeliver of another instance's event goes to its inbox and its sender re-queues it") {
  rig r(true);
  // A final payment with a merchant event (payment.cancelled), given up on (dead) by b's sender.
  engine::input cancel;
  cancel.payment_id = r.id;
  cancel.ev = cancel_requested{requester::merchant, "for an event"};
  REQUIRE(submit(r.io, r.b.drv, cancel).result == engine::outcome::applied);
  run_until(r.io, [&] { return !r.b.store->outbox_of(r.id).empty(); });
  const auto event = r.b.store->outbox_of(r.id).front();
  store::transition dead;
  dead.deliveries.push_back({event.event_id, 8, event.next_attempt_at, store::outbox_state::dead, 500, "refused"});
  REQUIRE(r.b.store->commit_one(dead).status == store::commit_status::committed);

  // On a (no shard): accepted once the row is durable; the event itself is not touched here.
  const auto answer = r.post("/admin/events/" + event.event_id + "/redeliver");
  CHECK(answer.status == 202);
  CHECK(boost::json::parse(answer.body).at("status") == "queued");
  const auto rows = r.a.inbox();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].kind == "redeliver");
  CHECK(rows[0].payment_id == r.id);
  CHECK(r.b.store->outbox_by_event_id(event.event_id)->state == store::outbox_state::dead);

  // b, the owner, applies it: its sender re-queues the event (pending, attempts from 0) and the
  // row is deleted.
  webhook_sender b_webhooks(r.io.get_executor(), r.b.db, r.b.clock, {});
  r.b.relay.use_webhooks(b_webhooks);
  r.b.relay.poll(r.b.shards());
  run_until(r.io, [&] { return r.b.inbox().empty(); });
  const auto requeued = r.b.store->outbox_by_event_id(event.event_id);
  REQUIRE(requeued);
  CHECK(requeued->state == store::outbox_state::pending);
  CHECK(requeued->attempts == 0);
  CHECK(r.b.relay.stats().applied == 1);
  // An unknown event is 404 on the non-owner too, with no row.
  CHECK(r.post("/admin/events/evt_none/redeliver").status == 404);
  CHECK(r.a.inbox().empty());
}

// The admin's store calls (the payment a name resolves to, a redeliver) are jobs on the store
// thread: while it is busy the reactor runs on (a timer fires) and neither answers; then both do.
TEST_CASE("the admin's lookups and redeliver wait for the store thread while the reactor runs on") {
  rig r(true);
  const std::vector<std::string> targets{"/admin/payments/order-adm/inquire", "/admin/events/evt_none/redeliver"};
  std::vector<route_match> matches;
  for (const auto& t : targets) matches.push_back(std::get<route_match>(match_route("POST", t, "/notify")));
  std::vector<net::request> reqs;
  for (const auto& t : targets) reqs.push_back({"POST", t, {}, ""});
  std::vector<std::optional<net::response>> out(targets.size());
  std::optional<bool> answered_while_busy;
  {
    test::store_gate busy(r.a.db, r.io.get_executor());
    for (std::size_t i = 0; i < targets.size(); ++i)
      asio::co_spawn(r.io, r.admin.handle(matches[i], reqs[i]), [&, i](std::exception_ptr e, net::response x) {
        REQUIRE_FALSE(e);
        out[i] = std::move(x);
      });
    asio::steady_timer tick(r.io, std::chrono::milliseconds(30));
    tick.async_wait([&](boost::system::error_code) { answered_while_busy = out[0] || out[1]; });
    run_until(r.io, [&] { return answered_while_busy.has_value(); });
  }
  CHECK(answered_while_busy == false);
  run_until(r.io, [&] { return out[0] && out[1]; });
  CHECK(out[0]->status == 202);
  CHECK(out[1]->status == 404);
  CHECK(r.a.inbox().size() == 1);
}

}  // namespace cashier::daemon
