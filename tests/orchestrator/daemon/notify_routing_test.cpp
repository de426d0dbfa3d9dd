// The notify endpoint in cluster mode (notify_endpoint.hpp, inbox_relay.hpp), with real RSA keys
// from tools/dev-keys and two daemons' drivers on one SQLite file: instance A acts for no shard,
// B for all. An authentic notify reaching A is acked once its inbox row commits and B applies
// it (the payment SUCCESS, the notify record kept); a rejected notify reaching A is kept, not
// lost to the fence: A cannot commit a hint inquiry for B's payment, so the record is kept
// unattributed and B's own polling covers the payment. And without the inbox (a process whose
// file another one took over), an authentic notify the fence refuses is answered 503, so that
// Alipay+ sends it again, never acked with nothing recorded.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "orchestrator/alipayplus/signature_header.hpp"
#include "orchestrator/alipayplus/signer.hpp"
#include "orchestrator/alipayplus/wire_time.hpp"
#include "orchestrator/daemon/metrics.hpp"
#include "orchestrator/daemon/notify_endpoint.hpp"
#include "state/store/sqlite_store.hpp"
#include "tests/orchestrator/daemon/inbox_rig.hpp"
#include "tests/orchestrator/daemon/store_gate.hpp"
#include "tests/orchestrator/net/net_test_support.hpp"
#include "tests/state/store/store_fixture.hpp"

namespace cashier::daemon {
namespace {

using namespace test;
using net::test::keys_dir;

constexpr std::string_view client_id = "2022000000000001";
constexpr std::string_view notify_path = "/hooks/aplus/notify";
constexpr std::string_view alipay_id = "pay_1089760038715669";

const std::string notify_body =
    R"({"paymentResult":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},)"
    R"("paymentRequestId":"pay_1089760038715669","paymentId":"20200101234567890134567",)"
    R"("paymentTime":"2020-01-01T12:01:01+08:30","paymentAmount":{"value":"100","currency":"JPY"},)"
    R"("customerId":"1235678","walletBrandName":"KAKAOPAY"})";

notify_settings settings() {
  notify_settings s;
  s.client_id = client_id;
  REQUIRE(s.keys.add("1", aplus::load_public_key_file(keys_dir() + "/aplus_public.pem").value()).has_value());
  s.signing_path = notify_path;
  return s;
}

ack_builder acks() {
  return ack_builder(aplus::load_private_key_file(keys_dir() + "/acqp_private.pem").value(), std::string(client_id),
                     "1", std::string(notify_path));
}

/// A notify signed by Alipay+'s key now (or with a broken signature).
net::request make_notify(bool authentic) {
  const auto request_time = aplus::format_wire_time(std::chrono::time_point_cast<std::chrono::milliseconds>(
                                                        std::chrono::system_clock::now()),
                                                    480);
  const auto content = aplus::request_content("POST", notify_path, client_id, request_time, notify_body);
  auto signature = aplus::sign(aplus::load_private_key_file(keys_dir() + "/aplus_private.pem").value(), content);
  if (!authentic) signature = aplus::sign(aplus::load_private_key_file(keys_dir() + "/acqp_private.pem").value(), content);
  net::request req;
  req.method = "POST";
  req.target = std::string(notify_path);
  req.headers = {{"Content-Type", "application/json"},
                 {"Client-Id", std::string(client_id)},
                 {"Request-Time", request_time},
                 {"Signature", aplus::format_signature_header("1", signature)}};
  req.body = notify_body;
  return req;
}

struct rig {
  explicit rig(bool with_inbox = true)
      : a(io, store::open_sqlite_clustered(dir.file("cashier.db"))),
        b(io, store::open_sqlite_clustered(dir.file("cashier.db"))),
        endpoint(notify_endpoint_deps{io, a.drv, a.db, a.clock, stats}, settings(), acks()) {
    b.take_all("b");
    a.drv.fence_with(*a.store, {});  // holds nothing: any payment commit of A is refused
    if (with_inbox) endpoint.use_inbox(&a.relay);
    engine::input create;
    create.create = store::test::sample_payment(std::string(alipay_id), to_epoch_ms(t0));
    create.create->amount = money{100, *currency_code::parse("JPY")};
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
  net::response serve(net::request req) {
    std::optional<net::response> out;
    asio::co_spawn(io, endpoint.serve(std::move(req)), [&](std::exception_ptr e, net::response r) {
      REQUIRE_FALSE(e);
      out = std::move(r);
    });
    run_until(io, [&] { return out.has_value(); });
    return *out;
  }

  asio::io_context io;
  store::test::temp_dir dir;
  metrics stats;
  instance a, b;
  notify_endpoint endpoint;
  std::int64_t id = 0;
};

}  // namespace

TEST_CASE("cluster mode: an authentic notify for another instance's payment is acked once its inbox row commits") {
  rig r;
  const auto answer = r.serve(make_notify(true));
  CHECK(answer.status == 200);
  CHECK(answer.body.find("SUCCESS") != std::string::npos);
  const auto rows = r.a.inbox();
  REQUIRE(rows.size() == 1);  // durable before the ack
  CHECK(rows[0].kind == "notify");
  CHECK(r.a.store->load(r.id)->status != payment_status::success);  // A applied nothing
  r.b.relay.poll(r.b.shards());
  run_until(r.io, [&] { return r.b.inbox().empty(); });
  CHECK(r.b.store->load(r.id)->status == payment_status::success);
  const auto notifies = r.b.store->notifies_of(r.id);
  REQUIRE(notifies.size() == 1);
  CHECK(notifies[0].body == notify_body);
  CHECK(notifies[0].verification == "ok");
}

TEST_CASE("cluster mode: a rejected notify naming another instance's payment is kept, not refused by the fence") {
  rig r;
  const auto answer = r.serve(make_notify(false));
  CHECK(answer.status == 401);
  run_until(r.io, [&] { return r.a.store->rejected_notifies().first == 1; });
  CHECK(r.a.inbox().empty());  // an unauthenticated sender never grows the inbox
}

TEST_CASE("a notify whose commit the fence refuses (not_owner) is answered 503, never acked") {
  rig r(false);
  const auto answer = r.serve(make_notify(true));
  CHECK(answer.status == 503);
  CHECK(r.b.store->notifies_of(r.id).empty());
  CHECK(r.b.store->load(r.id)->status != payment_status::success);
}

// The notify's payment lookup (id_of) is a job on the store thread: while it is busy the reactor
// runs on (a timer fires) and the notify is not acked; once it is free the notify is recorded and
// acked as before.
TEST_CASE("a notify's payment lookup waits for the store thread while the reactor runs on") {
  rig r;
  std::optional<net::response> out;
  std::optional<bool> answered_while_busy;
  {
    test::store_gate busy(r.a.db, r.io.get_executor());
    asio::co_spawn(r.io, r.endpoint.serve(make_notify(true)), [&](std::exception_ptr e, net::response x) {
      REQUIRE_FALSE(e);
      out = std::move(x);
    });
    asio::steady_timer tick(r.io, std::chrono::milliseconds(30));
    tick.async_wait([&](boost::system::error_code) { answered_while_busy = out.has_value(); });
    run_until(r.io, [&] { return answered_while_busy.has_value(); });
  }
  CHECK(answered_while_busy == false);
  run_until(r.io, [&] { return out.has_value(); });
  CHECK(out->status == 200);
  CHECK(r.a.inbox().size() == 1);
}

}  // namespace cashier::daemon
