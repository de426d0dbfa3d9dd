// Tests of merchant webhook delivery against a real loopback HTTP(S) sink and a real SQLite store
// in a temporary directory. A manual payment clock drives the retry schedule: when the sender
// asks how long to wait for a future instant, the clock jumps there (no wall time passes), the
// way a deterministic simulation skips to the next timer.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "orchestrator/daemon/serialized_store.hpp"
#include "orchestrator/daemon/webhook_sender.hpp"
#include "orchestrator/daemon/webhook_signing.hpp"
#include "orchestrator/net/http_server.hpp"
#include "state/machine/schedule.hpp"
#include "state/store/sqlite_store.hpp"
#include "tests/orchestrator/daemon/store_gate.hpp"
#include "tests/orchestrator/net/net_test_support.hpp"

using namespace cashier;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using daemon::delivery_result;

namespace {

constexpr time_point t0 = from_epoch_ms(1'700'000'000'000);  // 2023-11-14, far from the wall clock
const std::string secret_1 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const std::string secret_2 = "whsec_YW5vdGhlciBrZXkgZm9yIHJvdGF0aW9u";

/// A payment clock the test moves; with auto_advance it jumps to any instant it is asked to
/// wait for.
class manual_clock final : public payment_clock {
 public:
  time_point now() const override { return now_; }
  std::chrono::steady_clock::duration wall_wait_until(time_point at) const override {
    if (auto_advance && at > now_) now_ = at;
    return at > now_ ? std::chrono::steady_clock::duration(1h) : std::chrono::steady_clock::duration(0);
  }
  bool auto_advance = false;  ///< jump to the instants waited for

 private:
  mutable time_point now_ = t0;
};

/// A fresh directory under the system temp dir, removed with everything in it.
struct temp_dir {
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "webhook-test-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
};

/// The merchant's endpoint: records every request and answers with `status_for`.
struct sink {
  std::vector<net::request> received;
  std::function<int(const net::request&)> status_for = [](const net::request&) { return 200; };
  std::function<void(const net::request&)> on_request;

  asio::awaitable<net::response> handle(net::request req) {
    received.push_back(req);
    net::response res;
    res.status = status_for(req);
    if (on_request) on_request(req);
    res.body = "{}";
    co_return res;
  }
  std::string header(std::size_t i, std::string_view name) const {
    return std::string(net::find_header(received.at(i).headers, name).value_or("<missing>"));
  }
};

struct fixture {
  temp_dir dir;
  // Serialized as in the daemon (serialized_store.hpp): the test reads it while the sender's jobs run.
  std::unique_ptr<store::payment_store> db =
      std::make_unique<daemon::serialized_store>(store::open_sqlite_store((dir.path / "cashier.db").string()));
  manual_clock clock;
  asio::io_context ioc;
  daemon::store_thread jobs{*db};  // the sender's store thread (after ioc: its completions go there)
  std::shared_ptr<sink> hook = std::make_shared<sink>();
  net::http_server server = listen(nullptr);
  std::vector<daemon::delivery_report> reports;
  asio::steady_timer signal{ioc};
  std::unique_ptr<daemon::webhook_sender> sender;

  net::http_server listen(net::tls_context tls) {
    net::server_options options;
    options.tls = std::move(tls);
    auto s = net::http_server::listen(
        ioc.get_executor(), "127.0.0.1:0",
        [h = hook](net::request req, const net::peer_info&) { return h->handle(std::move(req)); },
        std::move(options));
    REQUIRE(s.has_value());
    return std::move(*s);
  }

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(server.port()) + path; }

  /// A merchant whose webhooks may go to loopback (the sink is there), unless `guarded`.
  static daemon::merchant_config merchant(std::string id, std::vector<std::string> secrets, std::string ca_file = {},
                                          bool guarded = false) {
    daemon::merchant_config m;
    m.id = std::move(id);
    m.token = "token";
    m.notify_secrets = std::move(secrets);
    m.ca_file = std::move(ca_file);
    m.allow_private_notify_addresses = !guarded;
    return m;
  }

  void start(std::vector<daemon::merchant_config> merchants, daemon::webhook_options options = {}) {
    sender = std::make_unique<daemon::webhook_sender>(ioc.get_executor(), jobs, clock, std::move(merchants), options);
    sender->observe([this](const daemon::delivery_report& r) {
      reports.push_back(r);
      signal.cancel();
    });
    sender->start();
  }

  /// Inserts payment `prid` of `merchant_id` with events (event id, seq), all due at t0.
  std::int64_t add_payment(const std::string& prid, const std::string& merchant_id, const std::string& target,
                           const std::vector<std::pair<std::string, std::int32_t>>& events) {
    payment p;
    p.payment_request_id = prid;
    p.merchant_id = merchant_id;
    p.status = payment_status::success;
    p.pending = pending_action::none;
    p.event_seq = static_cast<std::int32_t>(events.size());
    p.amount = {1234, *currency_code::parse("USD")};
    p.expiry_at = p.poll_deadline_at = t0 + 15min;
    p.next_action_at = never;
    p.created_at = p.updated_at = t0;
    p.pay_request = R"({"paymentRequestId":")" + prid + R"("})";
    store::transition t{.after = p, .expected_version = 0};
    t.event = store::event_record{.at = t0, .to_status = p.status, .to_pending = p.pending, .cause = "test"};
    for (const auto& [id, seq] : events) {
      store::outbox_record r;
      r.event_id = id;
      r.seq = seq;
      r.type = "payment.succeeded";
      r.payload = R"({"type":"payment.succeeded","timestamp":"2023-11-14T22:13:20Z","data":{"eventId":")" + id +
                  R"(","payment":{"paymentRequestId":")" + prid + R"("}}})";
      r.target_url = target;
      r.next_attempt_at = t0;
      r.created_at = t0;
      t.outbox.push_back(std::move(r));
    }
    const auto o = db->commit_one(t);
    REQUIRE(o.status == store::commit_status::committed);
    return o.payment_id;
  }

  store::outbox_record row(const std::string& event_id) {
    auto r = db->outbox_by_event_id(event_id);
    REQUIRE(r.has_value());
    return *r;
  }

  /// Resumes when `done()` holds (checked after every committed attempt and every wake).
  asio::awaitable<void> wait_until(std::function<bool()> done) {
    while (!done()) {
      signal.expires_after(10s);
      boost::system::error_code ec;
      co_await signal.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      REQUIRE_MESSAGE(ec, "timed out; reports so far: " << reports.size());
    }
  }
  asio::awaitable<void> wait_reports(std::size_t n) {
    auto enough = [this, n] { return reports.size() >= n; };  // not inside the co_await (coding-rules.md)
    co_await wait_until(enough);
  }

  void run(std::function<asio::awaitable<void>()> body) { net::test::run(ioc, body()); }
};

/// Wall-clock unix seconds now.
std::int64_t wall_seconds() { return to_epoch_ms(wall_now()) / 1000; }

}  // namespace

TEST_CASE("a due event is POSTed with Standard Webhooks headers and marked delivered on 200") {
  fixture f;
  const auto id = f.add_payment("p1", "m1", f.url("/hooks/m1?src=cashierd"), {{"evt_p1_1", 1}});
  f.start({fixture::merchant("m1", {secret_1})});
  f.run([&]() -> asio::awaitable<void> { co_await f.wait_reports(1); });

  REQUIRE(f.hook->received.size() == 1);
  const auto& req = f.hook->received[0];
  const auto stored = f.row("evt_p1_1");
  CHECK(req.method == "POST");
  CHECK(req.target == "/hooks/m1?src=cashierd");
  CHECK(req.body == stored.payload);
  CHECK(f.hook->header(0, "content-type") == "application/json");
  CHECK(f.hook->header(0, "webhook-id") == "evt_p1_1");
  // webhook-timestamp is transport time: the wall clock, not the payment clock (2023).
  const auto ts = std::stoll(f.hook->header(0, "webhook-timestamp"));
  CHECK(std::abs(ts - wall_seconds()) < 60);
  CHECK(daemon::verify_webhook(std::vector<std::string>{secret_1}, "evt_p1_1", ts, req.body,
                               f.hook->header(0, "webhook-signature")));

  CHECK(f.reports[0].result == delivery_result::delivered);
  CHECK(f.reports[0].http_status == 200);
  CHECK(stored.state == store::outbox_state::delivered);
  CHECK(stored.attempts == 1);
  CHECK(stored.last_status == 200);
  const auto attempts = f.db->webhook_attempts_of(id);
  REQUIRE(attempts.size() == 1);
  CHECK(attempts[0].event_id == "evt_p1_1");
  CHECK(attempts[0].at == t0);
  CHECK(attempts[0].http_status == 200);
  CHECK(attempts[0].error.empty());
  CHECK(attempts[0].latency_us > 0);
}

TEST_CASE("a failing merchant is retried on the webhook schedule, the row dies, redeliver sends it again") {
  fixture f;
  f.clock.auto_advance = true;
  f.hook->status_for = [](const net::request&) { return 500; };
  const auto id = f.add_payment("p2", "m1", f.url("/hook"), {{"evt_p2_1", 1}});
  f.start({fixture::merchant("m1", {secret_1})});
  f.run([&]() -> asio::awaitable<void> { co_await f.wait_reports(8); });

  // Attempt k+1 starts webhook_delay(k) after attempt k failed: 0, 1 m, 5 m, 10 m, 1 h, 2 h, 6 h, 15 h.
  const auto attempts = f.db->webhook_attempts_of(id);
  REQUIRE(attempts.size() == 8);
  time_point expected = t0;
  for (std::int32_t k = 0; k < 8; ++k) {
    CAPTURE(k);
    expected += webhook_delay(k).value();
    CHECK(attempts[static_cast<std::size_t>(k)].at == expected);
    CHECK(attempts[static_cast<std::size_t>(k)].http_status == 500);
    CHECK(attempts[static_cast<std::size_t>(k)].error == "HTTP 500");
    CHECK(f.reports[static_cast<std::size_t>(k)].result == (k < 7 ? delivery_result::retry : delivery_result::dead));
  }
  CHECK(expected == t0 + 1min + 5min + 10min + 1h + 2h + 6h + 15h);
  auto dead = f.row("evt_p2_1");
  CHECK(dead.state == store::outbox_state::dead);
  CHECK(dead.attempts == 8);
  CHECK(dead.last_status == 500);
  REQUIRE(f.hook->received.size() == 8);
  for (std::size_t i = 0; i < 8; ++i) {
    CHECK(f.hook->header(i, "webhook-id") == "evt_p2_1");  // one stable id for every attempt
    CHECK(f.hook->received[i].body == dead.payload);
  }

  f.hook->status_for = [](const net::request&) { return 204; };
  std::optional<daemon::redeliver_result> unknown, known;
  const auto redelivered_at = f.clock.now();
  f.run([&]() -> asio::awaitable<void> {
    unknown = co_await f.sender->redeliver("evt_p2_nope");
    known = co_await f.sender->redeliver("evt_p2_1");
  });
  CHECK(unknown == daemon::redeliver_result::not_found);
  CHECK(known == daemon::redeliver_result::queued);
  CHECK(f.row("evt_p2_1").state == store::outbox_state::pending);
  CHECK(f.row("evt_p2_1").attempts == 0);
  f.run([&]() -> asio::awaitable<void> { co_await f.wait_reports(9); });
  CHECK(f.reports[8].result == delivery_result::delivered);
  const auto done = f.row("evt_p2_1");
  CHECK(done.state == store::outbox_state::delivered);
  CHECK(done.attempts == 1);
  CHECK(done.last_status == 204);
  const auto all = f.db->webhook_attempts_of(id);
  REQUIRE(all.size() == 9);  // the history survives the reset
  CHECK(all[8].at == redelivered_at);
  CHECK(f.hook->header(8, "webhook-id") == "evt_p2_1");
}

// The sender's store work (the poll's read, the attempt's commit, a redeliver) is jobs on the
// store thread: while that thread is busy, the reactor runs on (a timer fires) and nothing is
// read, so nothing is sent; once it is free the row goes out and is recorded as before.
TEST_CASE("the sender's reads and commits wait for the store thread while the reactor runs on") {
  fixture f;
  f.add_payment("pb", "m1", f.url("/hook"), {{"evt_pb_1", 1}});
  bool ticked = false;
  {
    daemon::test::store_gate busy(f.jobs, f.ioc.get_executor());
    f.start({fixture::merchant("m1", {secret_1})});
    f.run([&]() -> asio::awaitable<void> {
      asio::steady_timer tick(f.ioc, 50ms);
      co_await tick.async_wait(asio::use_awaitable);
      ticked = true;
    });
    CHECK(ticked);
    CHECK(f.hook->received.empty());
    CHECK(f.reports.empty());
  }
  f.run([&]() -> asio::awaitable<void> { co_await f.wait_reports(1); });
  CHECK(f.reports[0].result == delivery_result::delivered);
  REQUIRE(f.hook->received.size() == 1);
  CHECK(f.hook->header(0, "webhook-id") == "evt_pb_1");
}

TEST_CASE("during a secret rotation both signatures are sent and each verifies on its own") {
  fixture f;
  f.add_payment("p3", "m2", f.url("/"), {{"evt_p3_1", 1}});
  f.start({fixture::merchant("m1", {secret_1}), fixture::merchant("m2", {secret_1, secret_2})});
  f.run([&]() -> asio::awaitable<void> { co_await f.wait_reports(1); });

  REQUIRE(f.hook->received.size() == 1);
  const auto header = f.hook->header(0, "webhook-signature");
  const auto ts = std::stoll(f.hook->header(0, "webhook-timestamp"));
  const auto& body = f.hook->received[0].body;
  CHECK(std::count(header.begin(), header.end(), ' ') == 1);
  CHECK(header == daemon::sign_webhook(std::vector<std::string>{secret_1, secret_2}, "evt_p3_1", ts, body).value());
  CHECK(daemon::verify_webhook(std::vector<std::string>{secret_1}, "evt_p3_1", ts, body, header));
  CHECK(daemon::verify_webhook(std::vector<std::string>{secret_2}, "evt_p3_1", ts, body, header));
  CHECK_FALSE(daemon::verify_webhook(std::vector<std::string>{"whsec_QUJD"}, "evt_p3_1", ts, body, header));
}

TEST_CASE("a payment's events go out in sequence while other payments are not held back") {
  fixture f;
  f.clock.auto_advance = true;
  int first_event_tries = 0;
  f.hook->status_for = [&](const net::request& r) {
    const auto id = net::find_header(r.headers, "webhook-id").value_or("");
    return id == "evt_b_1" && ++first_event_tries <= 2 ? 503 : 200;
  };
  const auto b = f.add_payment("pb", "m1", f.url("/b"), {{"evt_b_1", 1}, {"evt_b_2", 2}, {"evt_b_3", 3}});
  const auto c = f.add_payment("pc", "m1", f.url("/c"), {{"evt_c_1", 1}});
  f.start({fixture::merchant("m1", {secret_1})});
  f.run([&]() -> asio::awaitable<void> { co_await f.wait_reports(6); });

  std::vector<std::string> b_order;
  for (std::size_t i = 0; i < f.hook->received.size(); ++i)
    if (f.hook->received[i].target == "/b") b_order.push_back(f.hook->header(i, "webhook-id"));
  CHECK(b_order == std::vector<std::string>{"evt_b_1", "evt_b_1", "evt_b_1", "evt_b_2", "evt_b_3"});
  for (const auto* id : {"evt_b_1", "evt_b_2", "evt_b_3", "evt_c_1"})
    CHECK(f.row(id).state == store::outbox_state::delivered);
  CHECK(f.row("evt_b_2").attempts == 1);  // held back, not failed
  const auto c_attempts = f.db->webhook_attempts_of(c);
  REQUIRE(c_attempts.size() == 1);
  CHECK(c_attempts[0].at == t0);
  const auto b_attempts = f.db->webhook_attempts_of(b);
  REQUIRE(b_attempts.size() == 5);
  CHECK(b_attempts[2].at == t0 + 1min + 5min);  // the third try of evt_b_1 succeeded
  CHECK(b_attempts[3].at >= b_attempts[2].at);
}

TEST_CASE("an attempt that cannot be made or gets no answer fails and is scheduled again") {
  fixture f;
  std::uint16_t closed_port = 0;
  {
    asio::ip::tcp::acceptor a(f.ioc, {asio::ip::make_address("127.0.0.1"), 0});
    closed_port = a.local_endpoint().port();
  }
  f.add_payment("q1", "m1", "http://127.0.0.1:" + std::to_string(closed_port) + "/x", {{"evt_q1_1", 1}});
  f.add_payment("q2", "ghost", f.url("/"), {{"evt_q2_1", 1}});
  f.add_payment("q3", "m1", "ftp://127.0.0.1/x", {{"evt_q3_1", 1}});
  f.add_payment("q4", "m9", f.url("/"), {{"evt_q4_1", 1}});
  f.start({fixture::merchant("m1", {secret_1}), fixture::merchant("m9", {"whsec_!"})});
  f.run([&]() -> asio::awaitable<void> { co_await f.wait_reports(4); });

  std::map<std::string, daemon::delivery_report> by_id;
  for (const auto& r : f.reports) by_id[r.event_id] = r;
  CHECK(by_id["evt_q1_1"].error.starts_with("connect_failed"));
  CHECK(by_id["evt_q2_1"].error == "merchant 'ghost' is not configured");
  CHECK(by_id["evt_q3_1"].error.find("http(s)://") != std::string::npos);
  CHECK(by_id["evt_q4_1"].error.find("merchant 'm9'") != std::string::npos);
  CHECK(f.hook->received.empty());
  for (const auto* id : {"evt_q1_1", "evt_q2_1", "evt_q3_1", "evt_q4_1"}) {
    CAPTURE(id);
    CHECK(by_id[id].result == delivery_result::retry);
    CHECK(by_id[id].http_status == 0);
    const auto r = f.row(id);
    CHECK(r.state == store::outbox_state::pending);
    CHECK(r.attempts == 1);
    CHECK(r.next_attempt_at == t0 + 1min);
    CHECK(r.last_error == by_id[id].error);
  }
}

TEST_CASE("HTTPS delivery trusts the merchant's caFile and fails TLS without it") {
  fixture f;
  const auto& keys = net::test::keys_dir();
  f.server = f.listen(net::make_server_context(keys + "/server.pem", keys + "/server.key").value());
  const auto https = "https://127.0.0.1:" + std::to_string(f.server.port()) + "/tls";
  f.add_payment("t1", "with_ca", https, {{"evt_t1_1", 1}});
  f.add_payment("t2", "system_ca", https, {{"evt_t2_1", 1}});
  f.start({fixture::merchant("with_ca", {secret_1}, keys + "/ca.pem"), fixture::merchant("system_ca", {secret_1})});
  f.run([&]() -> asio::awaitable<void> { co_await f.wait_reports(2); });

  CHECK(f.row("evt_t1_1").state == store::outbox_state::delivered);
  const auto failed = f.row("evt_t2_1");
  CHECK(failed.state == store::outbox_state::pending);
  CHECK(failed.last_error.starts_with("tls_failed"));
  REQUIRE(f.hook->received.size() == 1);
  CHECK(f.hook->header(0, "webhook-id") == "evt_t1_1");
}

TEST_CASE("a redeliver while an attempt is under way is not undone by that attempt's failure") {
  fixture f;
  f.hook->status_for = [](const net::request&) { return 500; };
  f.hook->on_request = [&](const net::request&) {
    if (f.hook->received.size() == 1) {
      CHECK(f.sender->in_flight() == 1);
      asio::co_spawn(
          f.ioc,
          [&]() -> asio::awaitable<void> {
            const auto result = co_await f.sender->redeliver("evt_r_1");
            CHECK(result == daemon::redeliver_result::queued);
          },
          asio::detached);
      f.hook->status_for = [](const net::request&) { return 200; };
    }
  };
  f.add_payment("r", "m1", f.url("/"), {{"evt_r_1", 1}});
  f.start({fixture::merchant("m1", {secret_1})});
  // Without auto_advance the clock stands still: only the redeliver makes a second try due now.
  f.run([&]() -> asio::awaitable<void> { co_await f.wait_reports(2); });
  CHECK(f.reports[0].result == delivery_result::retry);
  CHECK(f.reports[1].result == delivery_result::delivered);
  CHECK(f.row("evt_r_1").attempts == 1);
  CHECK(f.row("evt_r_1").state == store::outbox_state::delivered);
}

TEST_CASE("drain resumes only once the attempt under way is committed") {
  fixture f;
  bool drained = false;
  std::optional<store::outbox_state> state_at_drain;
  f.hook->on_request = [&](const net::request&) {
    asio::co_spawn(
        f.ioc,
        [&]() -> asio::awaitable<void> {
          co_await f.sender->drain(10s);
          state_at_drain = f.row("evt_d_1").state;
          drained = true;
          f.signal.cancel();
        },
        asio::detached);
  };
  f.add_payment("d", "m1", f.url("/"), {{"evt_d_1", 1}});
  f.start({fixture::merchant("m1", {secret_1})});
  f.run([&]() -> asio::awaitable<void> {
    auto is_drained = [&] { return drained; };  // not inside the co_await (coding-rules.md)
    co_await f.wait_until(is_drained);
  });
  CHECK(state_at_drain == store::outbox_state::delivered);
  CHECK(f.sender->in_flight() == 0);
  CHECK(f.reports.size() == 1);
}

namespace {

/// A merchant endpoint that accepts connections and never answers.
struct tarpit {
  explicit tarpit(asio::io_context& ioc) : acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(ioc, loop(), asio::detached);
  }
  ~tarpit() {
    boost::system::error_code ec;
    acceptor.close(ec);
  }
  asio::awaitable<void> loop() {
    for (;;) {
      boost::system::error_code ec;
      auto socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      held.push_back(std::move(socket));
    }
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/slow"; }
  asio::ip::tcp::acceptor acceptor;
  std::vector<asio::ip::tcp::socket> held;
};

}  // namespace

TEST_CASE("a merchant whose webhook URLs hang cannot take every slot from the others") {
  fixture f;
  tarpit slow(f.ioc);
  for (int i = 0; i < 10; ++i)
    f.add_payment("ta" + std::to_string(i), "ma", slow.url(), {{"evt_ta" + std::to_string(i) + "_1", 1}});
  f.add_payment("tb", "mb", f.url("/b"), {{"evt_tb_1", 1}});
  daemon::webhook_options o;
  o.timeout = 5s;
  o.max_in_flight = 4;
  o.max_in_flight_per_merchant = 2;
  f.start({fixture::merchant("ma", {secret_1}), fixture::merchant("mb", {secret_1})}, o);
  const auto started = std::chrono::steady_clock::now();
  f.run([&]() -> asio::awaitable<void> { co_await f.wait_reports(1); });
  const auto took = std::chrono::steady_clock::now() - started;
  // mb's event went out at once, while ma's attempts hang (at most two of them).
  REQUIRE(f.reports.size() >= 1);
  CHECK(f.reports[0].event_id == "evt_tb_1");
  CHECK(f.reports[0].result == delivery_result::delivered);
  CHECK(took < 2s);
  CHECK(slow.held.size() <= 2);
  CHECK(f.sender->in_flight() <= 2);
  // ma's rows beyond its share were moved back by one attempt timeout, not attempted.
  std::size_t deferred = 0;
  for (int i = 0; i < 10; ++i) {
    const auto r = f.row("evt_ta" + std::to_string(i) + "_1");
    CHECK(r.attempts == 0);
    if (r.next_attempt_at > t0) ++deferred;
  }
  CHECK(deferred >= 8);
}

TEST_CASE("webhooks to loopback are refused unless the merchant allows private addresses, 3xx is not followed") {
  fixture f;
  f.hook->status_for = [](const net::request& r) { return r.target == "/redirect" ? 302 : 200; };
  f.add_payment("g1", "guarded", f.url("/guarded"), {{"evt_g1_1", 1}});
  f.add_payment("g2", "open", f.url("/open"), {{"evt_g2_1", 1}});
  f.add_payment("g3", "open", f.url("/redirect"), {{"evt_g3_1", 1}});
  f.add_payment("g4", "guarded", "http://[::ffff:127.0.0.1]:" + std::to_string(f.server.port()) + "/mapped",
                {{"evt_g4_1", 1}});
  f.start({fixture::merchant("guarded", {secret_1}, {}, true), fixture::merchant("open", {secret_1})});
  f.run([&]() -> asio::awaitable<void> { co_await f.wait_reports(4); });

  std::map<std::string, daemon::delivery_report> by_id;
  for (const auto& r : f.reports) by_id[r.event_id] = r;
  for (const auto* id : {"evt_g1_1", "evt_g4_1"}) {
    CAPTURE(id);
    CHECK(by_id[id].result == delivery_result::retry);
    CHECK(by_id[id].http_status == 0);
    CHECK(by_id[id].error.find("(loopback) refused") != std::string::npos);
    CHECK(f.row(id).last_error == by_id[id].error);  // recorded as a failed attempt
  }
  CHECK(by_id["evt_g2_1"].result == delivery_result::delivered);
  CHECK(by_id["evt_g3_1"].result == delivery_result::retry);
  CHECK(by_id["evt_g3_1"].http_status == 302);
  // Only the allowed merchant's two requests reached the sink; the redirect was not followed.
  REQUIRE(f.hook->received.size() == 2);
  for (const auto& r : f.hook->received) CHECK(r.target != "/guarded");
}

// Cluster mode (webhook_sender::fence_with): only the held shards' rows are read, and an attempt
// whose shard another instance claimed meanwhile is not recorded: its row stays for the owner.
TEST_CASE("a fenced sender delivers only the events of the shards it holds") {
  fixture f;
  auto& cluster = dynamic_cast<store::cluster_store&>(*f.db);
  const auto n = cluster.shard_count();
  // Two payments in different shards (no Alipay+ id: the merchant's id is hashed).
  std::string other = "q0";
  for (int i = 1; store::shard_of(other, n) == store::shard_of("p1", n); ++i) other = "q" + std::to_string(i);
  const auto id1 = f.add_payment("p1", "m1", f.url("/hook"), {{"evt_p1_1", 1}});
  const auto id2 = f.add_payment(other, "m1", f.url("/hook"), {{"evt_q_1", 1}});
  const auto all = cluster.claim("a", 0, 1h, true);
  std::vector<store::shard_epoch> held;
  for (const auto& c : all.changed)
    if (c.shard == store::shard_of("p1", n)) held.push_back({c.shard, c.epoch});
  REQUIRE(held.size() == 1);
  f.sender = std::make_unique<daemon::webhook_sender>(f.ioc.get_executor(), f.jobs, f.clock,
                                                      std::vector{fixture::merchant("m1", {secret_1})});
  f.sender->fence_with(cluster, [&] { return held; });
  f.sender->observe([&f](const daemon::delivery_report& r) {
    f.reports.push_back(r);
    f.signal.cancel();
  });
  f.sender->start();
  f.run([&]() -> asio::awaitable<void> { co_await f.wait_reports(1); });
  REQUIRE(f.hook->received.size() == 1);
  CHECK(f.hook->header(0, "webhook-id") == "evt_p1_1");
  CHECK(f.row("evt_p1_1").state == store::outbox_state::delivered);
  CHECK(f.row("evt_q_1").state == store::outbox_state::pending);
  CHECK(f.db->webhook_attempts_of(id2).empty());
  // Once the instance holds the other shard too, its event goes out.
  for (const auto& c : all.changed)
    if (c.shard == store::shard_of(other, n)) held.push_back({c.shard, c.epoch});
  f.sender->poke();
  f.run([&]() -> asio::awaitable<void> { co_await f.wait_reports(2); });
  REQUIRE(f.hook->received.size() == 2);
  CHECK(f.hook->header(1, "webhook-id") == "evt_q_1");
  CHECK(f.db->webhook_attempts_of(id1).size() == 1);
  CHECK(f.db->webhook_attempts_of(id2).size() == 1);
}

TEST_CASE("a fenced sender whose shard is claimed during an attempt leaves the row to the new owner") {
  fixture f;
  auto& cluster = dynamic_cast<store::cluster_store&>(*f.db);
  const auto shard = store::shard_of("p1", cluster.shard_count());
  const std::vector<store::shard_id> only{shard};
  const auto id = f.add_payment("p1", "m1", f.url("/hook"), {{"evt_p1_1", 1}});
  const auto a = cluster.claim("a", 0, 1h, true, only);
  REQUIRE(a.changed.size() == 1);
  const std::vector<store::shard_epoch> held{{shard, a.changed[0].epoch}};
  // While the merchant answers, instance b claims the shard, through its own connection (the
  // sender's store thread may be using the first one).
  const auto other = store::open_sqlite_store((f.dir.path / "cashier.db").string());
  auto& b = dynamic_cast<store::cluster_store&>(*other);
  f.hook->on_request = [&](const net::request&) { REQUIRE(b.claim("b", 0, 1h, true, only).changed.size() == 1); };
  f.sender = std::make_unique<daemon::webhook_sender>(f.ioc.get_executor(), f.jobs, f.clock,
                                                      std::vector{fixture::merchant("m1", {secret_1})});
  f.sender->fence_with(cluster, [&] { return held; });
  f.sender->observe([&f](const daemon::delivery_report& r) { f.reports.push_back(r); });
  f.sender->start();
  f.run([&]() -> asio::awaitable<void> {
    asio::steady_timer tick(f.ioc);
    for (int i = 0; i < 1000 && (f.hook->received.empty() || f.sender->in_flight() > 0); ++i) {
      tick.expires_after(5ms);
      co_await tick.async_wait(asio::use_awaitable);
    }
  });
  REQUIRE(f.hook->received.size() == 1);
  CHECK(f.sender->in_flight() == 0);
  CHECK(f.reports.empty());  // nothing recorded, so nothing reported
  const auto row = f.row("evt_p1_1");
  CHECK(row.state == store::outbox_state::pending);
  CHECK(row.attempts == 0);
  CHECK(f.db->webhook_attempts_of(id).empty());
}
