// Tests of the admin actions: a loopback net::http_server on its own thread stands in for the
// daemon's admin API; the actions POST to it, percent-encode ids, and map 202 / 404 / 409 /
// no answer to exit codes and messages. Also where the target comes from (flags or config).
#include <doctest/doctest.h>

#include <cstdlib>
#include <mutex>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "orchestrator/net/http_server.hpp"
#include "tests/tools/cashierctl/ctl_fixture.hpp"
#include "tools/cashierctl/admin.hpp"

using namespace cashier;
using namespace cashier::ctl;
namespace asio = boost::asio;

namespace {

const std::string admin_token = "test_admin_token_0123456789";

net::response json_answer(int status, std::string body) {
  return net::response{
      .status = status, .headers = {{"Content-Type", "application/json"}}, .body = std::move(body)};
}

/// The scripted daemon: answers by path, remembers what it was asked.
net::response answer_for(const std::string& target) {
  if (target == "/admin/payments/pr-1/cancel")
    return json_answer(
        202, R"({"paymentRequestId":"pr-1","status":"SUCCESS","pendingAction":"CANCEL"})");
  if (target == "/admin/payments/a%20b%2Fc%25%3F/inquire")
    return json_answer(
        202, R"({"paymentRequestId":"a b/c%?","status":"IN_PROCESS","pendingAction":"INQUIRY"})");
  if (target == "/admin/events/evt_1_1/redeliver")
    return json_answer(202, R"({"eventId":"evt_1_1","status":"queued"})");
  if (target == "/admin/payments/done/cancel")
    return json_answer(
        409, R"({"error":{"code":"PAYMENT_FINAL","message":"payment is final: already_final"}})");
  if (target == "/admin/payments/boom/cancel") return json_answer(503, "<html>down</html>");
  if (target == "/admin/payments/shared/cancel")
    return json_answer(409, R"({"error":{"code":"AMBIGUOUS_PAYMENT_ID","message":"several merchants use paymentRequestId shared; add ?merchant=<merchant id>"}})");
  if (target == "/admin/payments/shared/cancel?merchant=m%202")
    return json_answer(202, R"({"paymentRequestId":"shared","status":"SUCCESS","pendingAction":"CANCEL"})");
  return json_answer(404, R"({"error":{"code":"NOT_FOUND","message":"no payment gone"}})");
}

/// A loopback server on its own thread.
class fake_daemon {
 public:
  fake_daemon() {
    auto handler = [this](net::request req,
                          const net::peer_info&) -> asio::awaitable<net::response> {
      {
        std::lock_guard lock(mutex_);
        seen_.push_back(req.method + " " + req.target + " " + req.body);
      }
      // As the daemon does: the token before anything else.
      if (net::find_header(req.headers, "Authorization").value_or("") != "Bearer " + admin_token)
        co_return json_answer(401, R"({"error":{"code":"UNAUTHORIZED","message":"missing or invalid admin Bearer token"}})");
      co_return answer_for(req.target);
    };
    server_.emplace(net::http_server::listen(io_.get_executor(), "127.0.0.1:0", handler).value());
    origin_ = "http://127.0.0.1:" + std::to_string(server_->port());
    thread_ = std::thread([this] { io_.run(); });
  }
  ~fake_daemon() {
    io_.stop();
    thread_.join();
  }
  /// "http://127.0.0.1:<port>".
  const std::string& origin() const { return origin_; }
  /// Requests seen so far: "METHOD target body".
  std::vector<std::string> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  asio::io_context io_{1};
  std::optional<net::http_server> server_;
  std::string origin_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> seen_;
};

struct action_result {
  exit_status status;
  std::string out, err;
};

action_result act(const std::string& origin, admin_action a, std::string_view id,
                  bool json = false, std::optional<std::string_view> merchant = std::nullopt) {
  std::ostringstream out, err;
  const console io{out, err, json, false};
  const auto status = cmd_admin(io, {.origin = origin, .ca_file = {}, .token = admin_token}, a, id,
                                std::chrono::seconds(10), merchant);
  return {status, out.str(), err.str()};
}

}  // namespace

TEST_CASE("ids are percent-encoded into the admin paths") {
  CHECK(admin_path(admin_action::cancel, "pr-1") == "/admin/payments/pr-1/cancel");
  CHECK(admin_path(admin_action::inquire, "a b/c%?") == "/admin/payments/a%20b%2Fc%25%3F/inquire");
  CHECK(admin_path(admin_action::redeliver, "evt_1_1") == "/admin/events/evt_1_1/redeliver");
  CHECK(admin_path(admin_action::cancel, "\xc3\xa9.~") == "/admin/payments/%C3%A9.~/cancel");
}

TEST_CASE("accepted actions exit 0 and say what the daemon now reports") {
  fake_daemon d;
  auto r = act(d.origin(), admin_action::cancel, "pr-1");
  CHECK(r.status == exit_status::ok);
  CHECK(r.out == "cancel of pr-1 accepted: now SUCCESS/CANCEL\n");
  r = act(d.origin(), admin_action::inquire, "a b/c%?");
  CHECK(r.status == exit_status::ok);
  r = act(d.origin(), admin_action::redeliver, "evt_1_1", true);
  CHECK(r.status == exit_status::ok);
  CHECK(cashier::ctl::test::parse_json(r.out).at("status") == "queued");
  const auto seen = d.seen();
  REQUIRE(seen.size() == 3);
  CHECK(seen[0] == "POST /admin/payments/pr-1/cancel {}");
  CHECK(seen[1] == "POST /admin/payments/a%20b%2Fc%25%3F/inquire {}");
  CHECK(seen[2] == "POST /admin/events/evt_1_1/redeliver {}");
}

TEST_CASE(
    "unknown id (404), final payment (409) and other answers exit 1 with the daemon's message") {
  fake_daemon d;
  auto r = act(d.origin(), admin_action::cancel, "gone");
  CHECK(r.status == exit_status::failed);
  CHECK(r.err == "cashierctl: cancel gone: no payment gone\n");
  r = act(d.origin(), admin_action::cancel, "done", true);
  CHECK(r.status == exit_status::failed);
  CHECK(r.err.find("payment is final: already_final") != std::string::npos);
  CHECK(cashier::ctl::test::parse_json(r.out).at("error").at("code") == "PAYMENT_FINAL");
  r = act(d.origin(), admin_action::cancel, "boom");
  CHECK(r.status == exit_status::failed);
  CHECK(r.err.find("HTTP 503") != std::string::npos);
}

TEST_CASE("no daemon listening: exit 1, saying where it looked") {
  std::uint16_t port = 0;
  {
    // A port that was free a moment ago and has no listener now.
    asio::io_context io;
    auto s = net::http_server::listen(
                 io.get_executor(), "127.0.0.1:0",
                 [](net::request, const net::peer_info&) -> asio::awaitable<net::response> {
                   co_return net::response{};
                 })
                 .value();
    port = s.port();
  }
  const auto origin = "http://127.0.0.1:" + std::to_string(port);
  const auto r = act(origin, admin_action::inquire, "pr-1");
  CHECK(r.status == exit_status::failed);
  CHECK(r.err.find("cannot reach cashierd at " + origin) != std::string::npos);
}

TEST_CASE(
    "the target: --admin-url wins, else the config's opsListen (plain http, loopback for a "
    "wildcard); the token given wins over the config's, and none at all is an error") {
  daemon::config cfg;
  cfg.listen_host = "0.0.0.0";
  cfg.listen_port = 8443;
  cfg.tls_cert = "cert.pem";
  cfg.tls_key = "key.pem";
  cfg.ops_host = "0.0.0.0";
  cfg.ops_port = 9464;
  cfg.admin_token = "from_the_config_0123456789";
  const auto t = resolve_admin_target(cfg, std::nullopt, std::string("ca.pem"));
  CHECK(t->origin == "http://127.0.0.1:9464");
  CHECK(t->ca_file == "ca.pem");
  CHECK(t->token == "from_the_config_0123456789");
  CHECK(resolve_admin_target(cfg, std::nullopt, std::nullopt, std::string("given"))->token == "given");
  cfg.ops_host = "::1";
  CHECK(resolve_admin_target(cfg, std::nullopt, std::nullopt)->origin == "http://[::1]:9464");
  CHECK(resolve_admin_target(cfg, std::string("https://localhost:9000/"), std::nullopt)->origin ==
        "https://localhost:9000");
  cfg.admin_token.clear();
  CHECK_FALSE(resolve_admin_target(cfg, std::nullopt, std::nullopt).has_value());
  CHECK_FALSE(resolve_admin_target(std::nullopt, std::nullopt, std::nullopt, std::string("t")).has_value());
  CHECK_FALSE(resolve_admin_target(std::nullopt, std::string("ftp://x"), std::nullopt, std::string("t")).has_value());
  CHECK_FALSE(
      resolve_admin_target(std::nullopt, std::string("http://x/admin"), std::nullopt, std::string("t")).has_value());
}

TEST_CASE(
    "the command line runs actions against --admin-url, and without a target it is a usage error") {
  fake_daemon d;
  // No token anywhere: a usage error before anything is sent.
  ::unsetenv("CASHIER_ADMIN_TOKEN");
  CHECK(cashier::ctl::test::run({"--admin-url", d.origin(), "cancel", "pr-1"}).status == exit_status::usage);
  CHECK(d.seen().empty());
  ::setenv("CASHIER_ADMIN_TOKEN", "not_the_token_0123456789", 1);
  CHECK(cashier::ctl::test::run({"--admin-url", d.origin(), "cancel", "pr-1"}).status == exit_status::failed);
  ::setenv("CASHIER_ADMIN_TOKEN", admin_token.c_str(), 1);
  auto r = cashier::ctl::test::run({"--admin-url", d.origin(), "cancel", "pr-1"});
  CHECK(r.status == exit_status::ok);
  r = cashier::ctl::test::run({"redeliver", "evt_9_9", "--admin-url", d.origin()});
  CHECK(r.status == exit_status::failed);
  CHECK(cashier::ctl::test::run({"cancel", "pr-1"}).status == exit_status::usage);
  CHECK(cashier::ctl::test::run({"--admin-url", "nonsense", "cancel", "pr-1"}).status ==
        exit_status::usage);
  CHECK(cashier::ctl::test::run({"--admin-url", d.origin(), "cancel"}).status ==
        exit_status::usage);
  ::unsetenv("CASHIER_ADMIN_TOKEN");
}

// Issue 14, item 5: a merchant's paymentRequestId is named with its merchant.
TEST_CASE("--merchant names the merchant, a shared id without it exits 1 AMBIGUOUS_PAYMENT_ID") {
  CHECK(admin_path(admin_action::cancel, "pr-1", "m 2") == "/admin/payments/pr-1/cancel?merchant=m%202");
  CHECK(admin_path(admin_action::inquire, "pr-1", "m1") == "/admin/payments/pr-1/inquire?merchant=m1");
  fake_daemon d;
  auto r = act(d.origin(), admin_action::cancel, "shared", true);
  CHECK(r.status == exit_status::failed);
  CHECK(cashier::ctl::test::parse_json(r.out).at("error").at("code") == "AMBIGUOUS_PAYMENT_ID");
  r = act(d.origin(), admin_action::cancel, "shared", false, "m 2");
  CHECK(r.status == exit_status::ok);
  CHECK(r.out == "cancel of shared accepted: now SUCCESS/CANCEL\n");
}
