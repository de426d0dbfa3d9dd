// The daemon's refunds spend the same outbound budget as its payments (issue 16 with issue 15's
// scheduler): over a real engine, refund engine and SQLite store, a fake gateway that records
// every call and answers refunds U, and a payment clock that stands still. Each rule itself is
// tested with made-up instants in tests/orchestrator/engine/scheduler_refund_test.cpp; here only
// that the Asio driver really executes them: a burst of merchant refunds does not send more
// calls than maxRequestsPerSecond allows, and the refunds left unsent go later, from the heap.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "orchestrator/daemon/driver.hpp"
#include "orchestrator/daemon/serialized_store.hpp"
#include "orchestrator/daemon/refund_gateway.hpp"
#include "orchestrator/engine/refunds.hpp"
#include "state/store/sqlite_store.hpp"
#include "tests/orchestrator/daemon/refund_only_gateway.hpp"
#include "tests/state/store/store_fixture.hpp"

namespace cashier::daemon {
namespace {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

const time_point t0 = from_epoch_ms(1'700'000'000'000);

class still_clock final : public payment_clock {
 public:
  time_point t = t0;
  time_point now() const override { return t; }
  steady::duration wall_wait_until(time_point at) const override {
    return at <= t ? steady::duration::zero() : std::chrono::milliseconds(1);
  }
};

struct fixture {
  asio::io_context io;  // first: destroyed last
  store::test::temp_dir dir;
  // Serialized as in the daemon (serialized_store.hpp): the test reads it while the store
  // thread's jobs may run.
  std::unique_ptr<store::payment_store> store =
      std::make_unique<serialized_store>(store::open_sqlite_store(dir.file("cashier.db")));
  engine::engine eng{*store, engine::engine_config{}};
  int ids = 0;
  engine::refund_engine refunds{*store, engine::refund_engine_config{
      .params = {},
      .build_request = [](const payment&, const refund& r) { return "refund " + r.alipay_refund_request_id; },
      .new_request_id = [this] { return "rf-" + std::to_string(++ids); },
      .webhook_url = {},
      .new_event_id = {}}};
  still_clock clock;
  // Alipay+ answers every refund U/UNKNOWN_EXCEPTION.
  test::refund_only_gateway gw{refund_answer{{"UNKNOWN_EXCEPTION", 'U', "unknown"}, "", "", std::nullopt}};
  store_thread db{*store};
  driver drv{io, eng, clock, gw, db};

  /// A SUCCESS payment of `amount` minor units.
  std::int64_t paid(const std::string& name, std::int64_t amount) {
    payment p = store::test::sample_payment(name, to_epoch_ms(t0));
    p.amount = store::test::usd(amount);
    return store::test::insert_paid(*store, p, "pid-" + name).id;
  }

  /// Orders refund `key` of `amount` on payment `id` the way the merchant API does (no wait).
  void order(std::int64_t id, const std::string& key, std::int64_t amount) {
    engine::refund_order o{id, key, store::test::usd(amount), "", refund_origin::merchant, key};
    asio::co_spawn(io, drv.create_refund(std::move(o), std::chrono::milliseconds(0)), asio::detached);
  }

  void recover() {
    drv.serve_refunds(refunds, gw);
    drv.recover();
    drv.recover_refunds();
  }

  /// Runs the reactor until `done()` (fails after 60 s of wall time).
  void run_until(const std::function<bool()>& done) {
    const auto give_up = steady::now() + std::chrono::seconds(60);
    io.restart();
    while (!done()) {
      REQUIRE(steady::now() < give_up);
      io.run_for(std::chrono::milliseconds(2));
    }
  }
};

}  // namespace

TEST_CASE("a burst of merchant refunds sends no more refund calls than the outbound budget allows") {
  fixture f;
  f.drv.budget() = rate_budget(5);  // burst 1: one token, one borrowed, then refused
  f.recover();
  const auto p = f.paid("order-1", 100'000);
  const auto started = steady::now();
  for (int i = 0; i < 20; ++i) f.order(p, "r" + std::to_string(i), 100);
  f.run_until([&] { return f.store->refunds_of(p).size() == 20 && f.gw.answered == static_cast<int>(f.gw.refund_calls.size()); });
  f.io.restart();
  f.io.run_for(std::chrono::milliseconds(20));
  // rate x T + 2 x burst (rate_budget.hpp): 5/s over the little wall time this took.
  const double elapsed = std::chrono::duration<double>(steady::now() - started).count();
  const auto allowed = static_cast<std::size_t>(5 * elapsed + 2);
  INFO("refund calls " << f.gw.refund_calls.size() << " in " << elapsed << " s, budget allows " << allowed);
  CHECK(f.gw.refund_calls.size() <= allowed);
  // Every refund is stored PROCESSING with its answer guard armed: none is lost by waiting.
  for (const auto& r : f.store->refunds_of(p)) {
    CHECK(r.status == refund_status::processing);
    CHECK(r.next_action_at != never);
  }
}

}  // namespace cashier::daemon
