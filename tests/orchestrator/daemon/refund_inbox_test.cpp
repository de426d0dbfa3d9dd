// A refund created on an instance that does not own the payment's shard goes through the inbox
// (proto-docs/cluster.md "The inbox"): two daemons' drivers, refund engines and relays on one
// clustered SQLite file; instance a acts for no shard and takes the merchant's POST, instance b
// owns every shard and polls its inbox. a posts a `refund` row, b creates the refund from it and
// deletes the row, and a answers with the refund as the owner's create would. Before this, a
// answered 503 and recorded nothing.
#include <doctest/doctest.h>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include "orchestrator/daemon/admin_api.hpp"
#include "orchestrator/daemon/merchant_api.hpp"
#include "orchestrator/daemon/refund_gateway.hpp"
#include "orchestrator/daemon/serialized_store.hpp"
#include "orchestrator/daemon/webhook_sender.hpp"
#include "orchestrator/engine/refunds.hpp"
#include "state/store/sqlite_store.hpp"
#include "tests/orchestrator/daemon/inbox_rig.hpp"
#include "tests/orchestrator/daemon/refund_only_gateway.hpp"
#include "tests/state/store/store_fixture.hpp"

namespace cashier::daemon {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using test::t0;

constexpr std::string_view token = "token-of-merchant-one";

config one_merchant(int create_wait_ms) {
  config c;
  c.alipayplus.notify_url = "https://acqp.example/aplus/notify";
  c.payment.create_wait_ms = create_wait_ms;
  merchant_config m;
  m.id = "m1";
  m.token = std::string(token);
  m.notify_hosts = {"shop.example"};
  m.identity = {"M0001", "Shop", "5732", "JP", "Tokyo"};
  c.merchants.push_back(m);
  return c;
}

/// One daemon on the shared file: driver serving refunds, relay, merchant API.
struct daemon_instance {
  daemon_instance(asio::io_context& io, const std::string& file, int create_wait_ms)
      : store(std::make_unique<serialized_store>(store::open_sqlite_clustered(file))),
        shard_count(store->shard_count()),
        eng(*store, engine::engine_config{}),
        refunds(*store, engine::refund_engine_config{
                            .params = {},
                            .build_request = [](const payment&, const refund& r) { return "refund " + r.alipay_refund_request_id; },
                            .new_request_id = {},
                            .webhook_url = {},
                            .new_event_id = {}}),
        db(*store),
        drv(io, eng, clock, gw, db),
        relay(inbox_relay_deps{io, *store, db, eng, drv, clock, shard_count,
                               [this](store::shard_id) { return owner; }, &stats}),
        cfg(one_merchant(create_wait_ms)),
        api({cfg, drv, db, clock, [](std::string) -> asio::awaitable<consult_outcome> { co_return consult_outcome{}; }}),
        webhooks(io.get_executor(), db, clock, {}),
        admin(admin_api_deps{db, drv, webhooks, std::chrono::milliseconds(create_wait_ms)}) {
    drv.serve_refunds(refunds, gw);
    api.use_inbox(&relay);
    admin.use_inbox(&relay);
  }
  /// Takes every shard (with force) and fences with them: the owner of every payment.
  void own_all(const std::string& name) {
    std::vector<store::shard_epoch> held;
    for (const auto& row : store->claim(name, 0, std::chrono::seconds(10), true).changed)
      held.push_back({row.shard, row.epoch});
    drv.fence_with(*store, held);
    refunds.fence_with(*store, [held] { return held; });  // as the daemon does in cluster mode
    owner = true;
  }

  std::unique_ptr<store::clustered_store> store;
  store::shard_id shard_count;
  engine::engine eng;
  engine::refund_engine refunds;
  test::fixed_clock clock;
  // Alipay+ answers every refund S.
  test::refund_only_gateway gw{refund_answer{{"SUCCESS", 'S', "success"}, "ap-rf-1", "2026-12-06T00:00:00Z", std::nullopt}};
  store_thread db;
  driver drv;
  bool owner = false;
  metrics stats;
  inbox_relay relay;
  config cfg;
  merchant_api api;
  webhook_sender webhooks;
  admin_api admin;  // the operator's refund (cashierctl refund)
};

struct two_instances {
  asio::io_context io;  // first: destroyed last
  store::test::temp_dir dir;
  std::unique_ptr<store::clustered_store> observer;  // the test's own connection
  std::int64_t payment_id = 0;
  std::optional<daemon_instance> a;  // acts for no shard
  std::optional<daemon_instance> b;  // owns every shard

  explicit two_instances(int create_wait_ms = 5000) {
    observer = store::open_sqlite_clustered(dir.file("cashier.db"));
    // A SUCCESS payment of merchant m1 (USD 12.34), settled before either instance starts.
    payment_id = store::test::insert_paid(*observer, store::test::sample_payment("pr-r", to_epoch_ms(t0)), "pid-r").id;
    a.emplace(io, dir.file("cashier.db"), create_wait_ms);
    b.emplace(io, dir.file("cashier.db"), create_wait_ms);
    b->own_all("b");
    a->drv.fence_with(*a->store, {});  // a holds nothing: its own writes would be not_owner
    a->refunds.fence_with(*a->store, [] { return std::vector<store::shard_epoch>{}; });
  }
  ~two_instances() {
    // The owner's refund calls and their settling commits finish first: a call still under way
    // would resume into a gateway already destroyed. Bounded, and never throwing here.
    const auto give_up = test::steady::now() + std::chrono::seconds(30);
    io.restart();
    while (test::steady::now() < give_up) {
      bool settled = true;
      for (const auto& r : observer->refunds_of(payment_id)) settled = settled && r.status != refund_status::processing;
      if (settled) break;
      io.run_for(std::chrono::milliseconds(2));
    }
    io.run_for(std::chrono::milliseconds(20));  // the settling commit's completion on the reactor
    a.reset();
    b.reset();
    io.restart();
    io.poll();
  }

  std::vector<store::shard_id> all_shards() const {
    std::vector<store::shard_id> all;
    for (store::shard_id s = 0; s < a->shard_count; ++s) all.push_back(s);
    return all;
  }

  /// POST /v1/payments/pr-r/refunds on `on` while b polls its inbox every `poll_every` (never,
  /// when zero); runs until the answer is back.
  net::response post_refund(daemon_instance& on, const std::string& body, std::chrono::milliseconds poll_every) {
    net::request req{"POST", "/v1/payments/pr-r/refunds", {}, body};
    req.headers.push_back({"Authorization", "Bearer " + std::string(token)});
    req.headers.push_back({"Content-Type", "application/json"});
    const auto match = match_route(req.method, req.target, on.cfg.alipayplus.notify_path);
    return answer_while_polling(on.api.handle(req, match), poll_every);
  }

  /// The operator's POST /admin/payments/pr-r/refund on `on` (cashierctl refund), as post_refund.
  net::response admin_refund(daemon_instance& on, const std::string& body, std::chrono::milliseconds poll_every) {
    const net::request req{"POST", "/admin/payments/pr-r/refund", {}, body};
    const auto match = match_route(req.method, req.target, on.cfg.alipayplus.notify_path);
    const auto* found = std::get_if<route_match>(&match);
    REQUIRE(found != nullptr);
    return answer_while_polling(on.admin.handle(*found, req), poll_every);
  }

  /// Runs `handling` while b polls its inbox every `poll_every` (never, when zero); its answer.
  net::response answer_while_polling(asio::awaitable<net::response> handling, std::chrono::milliseconds poll_every) {
    std::optional<net::response> answer;
    std::exception_ptr error;
    asio::co_spawn(io, std::move(handling), [&](std::exception_ptr e, net::response r) {
      error = e;
      answer = std::move(r);
    });
    asio::steady_timer poller(io);
    std::function<void()> arm = [&] {
      poller.expires_after(poll_every);
      poller.async_wait([&](boost::system::error_code ec) {
        if (ec || answer) return;
        b->relay.poll(all_shards());
        arm();
      });
    };
    if (poll_every.count() > 0) arm();
    test::run_until(io, [&] { return answer.has_value(); });
    poller.cancel();
    if (error) std::rethrow_exception(error);
    return *answer;
  }

  std::vector<refund> refunds_of_payment() { return observer->refunds_of(payment_id); }
};

const std::string order_body = R"({"refundRequestId":"rr-1","refundAmount":{"currency":"USD","value":"500"},"reason":"size"})";

TEST_CASE("cluster mode: a refund created on a non-owner goes through the inbox and its answer carries the refund") {
  two_instances t;
  const auto r = t.post_refund(*t.a, order_body, std::chrono::milliseconds(10));
  INFO(r.body);
  CHECK((r.status == 201 || r.status == 202));
  const auto body = json::parse(r.body).as_object();
  CHECK(body.at("refundRequestId") == "rr-1");
  CHECK(body.at("refundAmount").as_object().at("value") == "500");
  CHECK(body.at("reason") == "size");
  // Exactly one refund, created by the owner (b's store thread), and b's inbox row is gone.
  test::run_until(t.io, [&] { return t.observer->inbox_of(t.all_shards(), 0, 10).empty(); });
  const auto stored = t.refunds_of_payment();
  REQUIRE(stored.size() == 1);
  CHECK(t.b->relay.stats().applied == 1);
  CHECK(t.a->relay.stats().posted == 1);
  CHECK(t.a->gw.refund_calls.empty());  // only the owner calls Alipay+
  test::run_until(t.io, [&] { return t.refunds_of_payment().at(0).status == refund_status::success; });
  CHECK(t.b->gw.refund_calls.size() == 1);

  // The merchant's repeat on the owner is a repeat: 200 with the same refund.
  const auto again = t.post_refund(*t.b, order_body, std::chrono::milliseconds(0));
  CHECK(again.status == 200);
  const auto again_body = json::parse(again.body).as_object();
  CHECK(again_body.at("refundRequestId") == "rr-1");
  CHECK(again_body.at("status") == "SUCCESS");
  // ... and on the non-owner too, read-only, without a second row.
  const auto on_a = t.post_refund(*t.a, order_body, std::chrono::milliseconds(0));
  CHECK(on_a.status == 200);
  CHECK(on_a.body == again.body);
  CHECK(t.a->relay.stats().posted == 1);
  CHECK(t.refunds_of_payment().size() == 1);
}

TEST_CASE("cluster mode: the operator's refund on a non-owner goes through the inbox like a merchant's") {
  two_instances t;
  const std::string body = R"({"value":"300","refundRequestId":"op-1","reason":"goodwill"})";
  const auto r = t.admin_refund(*t.a, body, std::chrono::milliseconds(10));
  INFO(r.body);
  CHECK((r.status == 201 || r.status == 202));
  CHECK(json::parse(r.body).as_object().at("refundRequestId") == "op-1");
  test::run_until(t.io, [&] { return t.observer->inbox_of(t.all_shards(), 0, 10).empty(); });
  const auto stored = t.refunds_of_payment();
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].origin == refund_origin::operator_);
  CHECK(stored[0].amount.minor_units == 300);
  CHECK(t.a->relay.stats().posted == 1);
  CHECK(t.a->gw.refund_calls.empty());  // only the owner calls Alipay+
  test::run_until(t.io, [&] { return t.refunds_of_payment().at(0).status == refund_status::success; });
  // The operator's repeat on the non-owner answers 200, read-only; more than is left, 400.
  CHECK(t.admin_refund(*t.a, body, std::chrono::milliseconds(0)).status == 200);
  const auto over = t.admin_refund(*t.a, R"({"value":"1000000"})", std::chrono::milliseconds(0));
  CHECK(over.status == 400);
  CHECK(over.body.find("REFUND_AMOUNT_EXCEED") != std::string::npos);
  CHECK(t.a->relay.stats().posted == 1);
  CHECK(t.refunds_of_payment().size() == 1);
}

TEST_CASE("cluster mode: a non-owner's refund the owner has not created in time answers 503, and the retry finds it") {
  two_instances t(100);  // createWaitMs 100: b does not poll meanwhile
  const auto r = t.post_refund(*t.a, order_body, std::chrono::milliseconds(0));
  CHECK(r.status == 503);
  CHECK(r.body.find("STORE_UNAVAILABLE") != std::string::npos);
  CHECK(r.body.find("accepted for processing") != std::string::npos);
  bool retry_after = false;
  for (const auto& h : r.headers) retry_after = retry_after || (h.name == "Retry-After" && h.value == "1");
  CHECK(retry_after);
  const auto rows = t.observer->inbox_of(t.all_shards(), 0, 10);
  REQUIRE(rows.size() == 1);  // the row stays for the owner
  CHECK(rows[0].kind == "refund");
  CHECK(rows[0].payment_id == t.payment_id);
  CHECK(t.refunds_of_payment().empty());

  // The owner applies it; the merchant's retry (same refundRequestId) is a repeat.
  test::poll(t.io, t.b->relay, t.all_shards());
  test::run_until(t.io, [&] { return t.observer->inbox_of(t.all_shards(), 0, 10).empty(); });
  REQUIRE(t.refunds_of_payment().size() == 1);
  const auto retry = t.post_refund(*t.a, order_body, std::chrono::milliseconds(0));
  CHECK(retry.status == 200);
  CHECK(json::parse(retry.body).as_object().at("refundRequestId") == "rr-1");
  // Another body under the key answers 409 on the non-owner as on the owner, with no row.
  const auto other = t.post_refund(
      *t.a, R"({"refundRequestId":"rr-1","refundAmount":{"currency":"USD","value":"501"}})", std::chrono::milliseconds(0));
  CHECK(other.status == 409);
  // An amount beyond what is left is refused read-only on the non-owner, with no row.
  const auto exceed = t.post_refund(
      *t.a, R"({"refundRequestId":"rr-2","refundAmount":{"currency":"USD","value":"800"}})", std::chrono::milliseconds(0));
  CHECK(exceed.status == 400);
  CHECK(exceed.body.find("REFUND_AMOUNT_EXCEED") != std::string::npos);
  CHECK(t.a->relay.stats().posted == 1);
  CHECK(t.observer->inbox_of(t.all_shards(), 0, 10).empty());
}

TEST_CASE("cluster mode: an operator's refund the owner has not created in time names the key to repeat") {
  two_instances t(100);  // createWaitMs 100: b does not poll meanwhile
  const auto r = t.admin_refund(*t.a, R"({"value":"200"})", std::chrono::milliseconds(0));
  INFO(r.body);
  CHECK(r.status == 503);
  // The key was made on a (operator-1): a repeat without it would make operator-2, a second refund.
  CHECK(r.body.find("refundRequestId operator-1") != std::string::npos);
  test::poll(t.io, t.b->relay, t.all_shards());
  test::run_until(t.io, [&] { return t.observer->inbox_of(t.all_shards(), 0, 10).empty(); });
  REQUIRE(t.refunds_of_payment().size() == 1);
  const auto repeat = t.admin_refund(*t.a, R"({"value":"200","refundRequestId":"operator-1"})", std::chrono::milliseconds(0));
  CHECK(repeat.status == 200);
  CHECK(t.refunds_of_payment().size() == 1);
}

TEST_CASE("cluster mode: a refund row the owner refuses is deleted and the non-owner answers the refusal") {
  two_instances t;
  // Two orders on the non-owner whose sum exceeds the payment (USD 12.34): each passes the
  // read-only checks alone, the owner creates the first and refuses the second.
  const auto first = R"({"refundRequestId":"rr-a","refundAmount":{"currency":"USD","value":"1000"}})";
  const auto second = R"({"refundRequestId":"rr-b","refundAmount":{"currency":"USD","value":"1000"}})";
  net::request r1{"POST", "/v1/payments/pr-r/refunds", {}, first};
  net::request r2{"POST", "/v1/payments/pr-r/refunds", {}, second};
  std::vector<std::optional<net::response>> answers(2);
  std::vector<net::request> reqs{r1, r2};
  std::vector<match_result> matches;
  for (auto& q : reqs) {
    q.headers.push_back({"Authorization", "Bearer " + std::string(token)});
    q.headers.push_back({"Content-Type", "application/json"});
    matches.push_back(match_route(q.method, q.target, t.a->cfg.alipayplus.notify_path));
  }
  for (std::size_t i = 0; i < 2; ++i)
    asio::co_spawn(t.io, t.a->api.handle(reqs[i], matches[i]), [&, i](std::exception_ptr e, net::response r) {
      REQUIRE(!e);
      answers[i] = std::move(r);
    });
  // Both rows are posted before the owner looks.
  test::run_until(t.io, [&] { return t.a->relay.stats().posted == 2; });
  test::poll(t.io, t.b->relay, t.all_shards());
  test::run_until(t.io, [&] { return answers[0].has_value() && answers[1].has_value(); });
  CHECK((answers[0]->status == 201 || answers[0]->status == 202));
  CHECK(answers[1]->status == 400);
  CHECK(answers[1]->body.find("REFUND_AMOUNT_EXCEED") != std::string::npos);
  CHECK(t.refunds_of_payment().size() == 1);
  CHECK(t.observer->inbox_of(t.all_shards(), 0, 10).empty());
  CHECK(t.b->relay.stats().applied == 2);
}

/// Posts `body` as a `refund` row of the test's payment (as a non-owner would), on the observer.
std::int64_t post_row(two_instances& t, const std::string& body) {
  const auto p = t.observer->load(t.payment_id).value();
  return t.observer->post_inbox(store::shard_of(p, t.observer->shard_count()), t.payment_id, "refund", body);
}

engine::refund_order sample_order(std::int64_t payment_id) {
  engine::refund_order o;
  o.payment_id = payment_id;
  o.refund_request_id = "rr-9";
  o.amount = store::test::usd(300);
  o.origin = refund_origin::merchant;
  o.merchant_request = R"({"refundRequestId":"rr-9","refundAmount":{"currency":"USD","value":"300"},"reason":""})";
  return o;
}

TEST_CASE("an owner whose shard was taken over keeps a refund row for the next owner, which creates it once") {
  two_instances t;
  const auto msg = engine::encode_refund_inbox(sample_order(t.payment_id));
  const auto row = post_row(t, std::get<engine::inbox_message>(msg).body);
  // A third process takes every shard: b's fence no longer holds, its create comes back conflict.
  auto c = store::open_sqlite_clustered(t.dir.file("cashier.db"));
  c->claim("c", 0, std::chrono::seconds(10), true);
  test::poll(t.io, t.b->relay, t.all_shards());
  test::run_until(t.io, [&] { return t.b->relay.stats().retried == 1; });
  CHECK(t.b->relay.stats().applied == 0);
  CHECK(t.refunds_of_payment().empty());
  const auto rows = t.observer->inbox_of(t.all_shards(), 0, 10);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].id == row);
  // b claims again (a new epoch): the next poll creates the refund and deletes the row; a second
  // apply of the same order (the row posted again) is a repeat, deleted too, and creates nothing.
  t.b->own_all("b");
  test::poll(t.io, t.b->relay, t.all_shards());
  test::run_until(t.io, [&] { return t.b->relay.stats().applied == 1; });
  CHECK(t.observer->inbox_of(t.all_shards(), 0, 10).empty());
  REQUIRE(t.refunds_of_payment().size() == 1);
  post_row(t, std::get<engine::inbox_message>(msg).body);
  test::poll(t.io, t.b->relay, t.all_shards());
  test::run_until(t.io, [&] { return t.b->relay.stats().applied == 2; });
  CHECK(t.observer->inbox_of(t.all_shards(), 0, 10).empty());
  CHECK(t.refunds_of_payment().size() == 1);
}

TEST_CASE("a malformed refund row is kept and reported, never applied") {
  two_instances t;
  const auto row = post_row(t, R"({"v":1,"order":{"refundRequestId":"72","amount":{"minor":-1,"currency":"USD"}}})");
  test::poll(t.io, t.b->relay, t.all_shards());
  CHECK(t.b->relay.stats().undecodable == 1);
  CHECK(t.b->relay.stats().submitted == 0);
  // Reported once per process: the next poll does not count it again.
  test::poll(t.io, t.b->relay, t.all_shards());
  CHECK(t.b->relay.stats().undecodable == 1);
  const auto rows = t.observer->inbox_of(t.all_shards(), 0, 10);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].id == row);
  CHECK(t.refunds_of_payment().empty());
}

}  // namespace
}  // namespace cashier::daemon
