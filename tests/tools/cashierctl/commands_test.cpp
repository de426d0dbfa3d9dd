// Tests of the read commands through the whole command line: a database built with the real
// store, human output checked for its key lines, --json checked against the documented schema,
// and the exit codes (0 ok, 1 not found / no database, 2 usage).
#include <filesystem>
#include <fstream>

#include "tests/tools/cashierctl/ctl_fixture.hpp"

using namespace cashier;
using namespace cashier::ctl;
using namespace cashier::ctl::test;
namespace json = boost::json;

namespace {
bool has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("list: newest first, aligned, with relative times, filtered by status, since and limit") {
  sample_db db;
  auto r = run({"--db", db.path, "list"});
  CHECK(r.status == exit_status::ok);
  CHECK(has(r.out, "PAYMENT REQUEST ID"));
  CHECK(r.out.find("pr-refused") < r.out.find("pr-success"));
  CHECK(has(r.out, "SUCCESS"));
  CHECK(has(r.out, "IN_PROCESS/INQUIRY"));
  CHECK(has(r.out, "1234 USD"));
  CHECK(has(r.out, "10m ago"));
  CHECK(has(r.out, "5 payments"));

  r = run({"--db", db.path, "list", "--status", "success"});
  CHECK(has(r.out, "pr-success"));
  CHECK_FALSE(has(r.out, "pr-fail"));
  CHECK(has(r.out, "1 payment\n"));

  r = run({"list", "--limit", "2", "--db", db.path});
  CHECK(has(r.out, "2 payments"));
  r = run({"--db", db.path, "list", "--since", "2023-11-14T22:13:23Z"});
  CHECK(has(r.out, "2 payments"));  // pr-fail (t0+3s) and pr-refused (t0+4s)
  r = run({"--db", db.path, "list", "--since", "1m"});
  CHECK(has(r.out, "0 payments"));
}

TEST_CASE("list --json: the payment objects with now and count") {
  sample_db db;
  const auto r = run({"--db", db.path, "list", "--json", "--status", "FAIL"});
  REQUIRE(r.status == exit_status::ok);
  const auto v = parse_json(r.out);
  expect_shape(v, {{"now", "string"}, {"count", "int"}, {"payments", "array"}});
  CHECK(v.at("now") == "2023-11-14T22:23:20.000Z");
  REQUIRE(v.at("payments").as_array().size() == 1);
  const auto& p = v.at("payments").at(0);
  expect_payment_shape(p);
  CHECK(p.at("paymentRequestId") == "pr-fail");
  CHECK(p.at("result").at("resultCode") == "USER_BALANCE_NOT_ENOUGH");
}

TEST_CASE("show: header, timeline with causes, calls with latency, webhook attempts, anomalies") {
  sample_db db;
  auto r = run({"--db", db.path, "show", "pr-success"});
  INFO(r.out);
  REQUIRE(r.status == exit_status::ok);
  CHECK(has(r.out, "Payment pr-success  SUCCESS"));
  CHECK(has(r.out, "  paymentId      2023111400000001\n"));
  CHECK(has(r.out, "  created        2023-11-14T22:13:20.000Z (10m ago)\n"));
  CHECK(has(r.out, "  next action    -\n"));
  CHECK(has(r.out, "+0ms    transition  new -> INIT/PAY  cause merchant_create"));
  CHECK(has(r.out, "+100ms  call pay    HTTP 200  S/SUCCESS  152ms"));
  CHECK(has(r.out, "+150ms  notify      verification ok"));
  CHECK(has(r.out, "+300ms  transition  INIT/PAY -> SUCCESS  cause pay:S/SUCCESS"));
  CHECK(has(r.out, "webhook     evt_1_1  HTTP 200  35ms"));
  CHECK(has(r.out, "evt_1_1   1    payment.succeeded  delivered"));

  r = run({"--db", db.path, "show", "pr-cancelled"});
  CHECK(has(r.out, "SUCCESS -> SUCCESS/CANCEL  cause cancel_request:operator"));
  CHECK(has(r.out, "call cancelPayment  no answer  timeout  15.0s"));
  CHECK(has(r.out, "anomaly             cancel_order_gone: ORDER_IS_CLOSED"));
  CHECK(has(r.out, "HTTP 500  HTTP 500  20ms"));
  CHECK(has(r.out, "dead"));
}

TEST_CASE("show --json: payment beside events, calls, notifies, webhooks, anomalies") {
  sample_db db;
  const auto r = run({"--db", db.path, "show", "pr-cancelled", "--json"});
  REQUIRE(r.status == exit_status::ok);
  const auto v = parse_json(r.out);
  expect_shape(v, {{"now", "string"},
                   {"payment", "object"},
                   {"events", "array"},
                   {"calls", "array"},
                   {"notifies", "array"},
                   {"webhooks", "array"},
                   {"anomalies", "array"}});
  expect_payment_shape(v.at("payment"));
  CHECK(v.at("payment").at("status") == "CANCELLED");
  const auto& events = v.at("events").as_array();
  REQUIRE(events.size() == 4);
  for (const auto& e : events)
    expect_shape(e, {{"at", "string"},
                     {"version", "int"},
                     {"fromStatus", "string?"},
                     {"fromPendingAction", "string?"},
                     {"toStatus", "string"},
                     {"toPendingAction", "string?"},
                     {"cause", "string"},
                     {"detail", "string?"}});
  CHECK(events[0].at("fromStatus").is_null());
  CHECK(events[2].at("toPendingAction") == "CANCEL");
  CHECK(events[3].at("cause") == "cancel:F/ORDER_IS_CLOSED");
  REQUIRE(v.at("calls").as_array().size() == 1);
  const auto& c = v.at("calls").at(0);
  expect_shape(c, {{"api", "string"},
                   {"startedAt", "string?"},
                   {"latencyUs", "int"},
                   {"httpStatus", "int?"},
                   {"outcome", "string"},
                   {"requestHeaders", "string"},
                   {"requestBody", "string"},
                   {"responseHeaders", "string"},
                   {"responseBody", "string"}});
  CHECK(c.at("httpStatus").is_null());
  const auto& hooks = v.at("webhooks").as_array();
  REQUIRE(hooks.size() == 2);
  for (const auto& w : hooks)
    expect_shape(w, {{"eventId", "string"},
                     {"seq", "int"},
                     {"type", "string"},
                     {"state", "string"},
                     {"targetUrl", "string?"},
                     {"attemptCount", "int"},
                     {"nextAttemptAt", "string?"},
                     {"lastStatus", "int?"},
                     {"lastError", "string?"},
                     {"createdAt", "string?"},
                     {"attempts", "array"}});
  CHECK(hooks[1].at("state") == "dead");
  CHECK(hooks[1].at("attemptCount") == 8);
  REQUIRE(hooks[1].at("attempts").as_array().size() == 1);
  expect_shape(
      hooks[1].at("attempts").at(0),
      {{"at", "string?"}, {"httpStatus", "int?"}, {"error", "string?"}, {"latencyUs", "int"}});
  CHECK(hooks[0].at("attempts").as_array().empty());
  REQUIRE(v.at("anomalies").as_array().size() == 1);
  expect_shape(v.at("anomalies").at(0), {{"at", "string?"},
                                         {"kind", "string"},
                                         {"detail", "string"},
                                         {"paymentRequestId", "string?"}});

  const auto s = parse_json(run({"--db", db.path, "show", "pr-success", "--json"}).out);
  REQUIRE(s.at("notifies").as_array().size() == 1);
  expect_shape(s.at("notifies").at(0), {{"receivedAt", "string?"},
                                        {"verification", "string"},
                                        {"headers", "string"},
                                        {"body", "string"},
                                        {"bodyBytes", "int"},
                                        {"timesReceived", "int"},
                                        {"lastReceivedAt", "string?"}});
  CHECK(s.at("notifies").at(0).at("timesReceived").as_int64() == 1);
}

TEST_CASE("show of an unknown payment exits 1, with an error object under --json") {
  sample_db db;
  auto r = run({"--db", db.path, "show", "nope"});
  CHECK(r.status == exit_status::failed);
  CHECK(has(r.err, "no payment nope"));
  CHECK(r.out.empty());
  r = run({"--db", db.path, "--json", "show", "nope"});
  CHECK(r.status == exit_status::failed);
  const auto v = parse_json(r.out);
  expect_shape(v, {{"error", "object"}});
  CHECK(v.at("error").at("code") == "NOT_FOUND");
}

TEST_CASE("stats: counts per status, cancel pending, overdue, webhook backlog") {
  sample_db db;
  auto r = run({"--db", db.path, "stats"});
  INFO(r.out);
  REQUIRE(r.status == exit_status::ok);
  CHECK(has(r.out, "SUCCESS           1"));
  CHECK(has(r.out, "total             5"));
  CHECK(has(r.out, "cancel pending    1"));
  // pr-refused is INIT/CANCEL past its polling deadline, its cancel retried on schedule: under
  // way, not overdue (store_read_test has the overdue cases).
  CHECK(has(r.out, "overdue           0"));
  CHECK(has(r.out, "webhooks pending  1 (oldest 9m56s)"));
  CHECK(has(r.out, "webhooks dead     1"));
  r = run({"--db", db.path, "stats", "--json"});
  const auto v = parse_json(r.out);
  expect_shape(v, {{"now", "string"},
                   {"payments", "object"},
                   {"cancelPending", "int"},
                   {"overdue", "int"},
                   {"webhooks", "object"},
                   {"anomalies", "int"}});
  expect_shape(v.at("payments"), {{"INIT", "int"},
                                  {"IN_PROCESS", "int"},
                                  {"SUCCESS", "int"},
                                  {"FAIL", "int"},
                                  {"CANCELLED", "int"},
                                  {"total", "int"}});
  expect_shape(v.at("webhooks"),
               {{"pending", "int"}, {"dead", "int"}, {"oldestPendingAgeMs", "int"}});
  CHECK(v.at("payments").at("total") == 5);
  CHECK(v.at("overdue") == 0);
  CHECK(v.at("webhooks").at("oldestPendingAgeMs") == 596'900);
  CHECK(v.at("anomalies") == 2);
}

TEST_CASE("stuck: overdue payments with the reason, dead webhooks, anomalies") {
  sample_db db;
  auto r = run({"--db", db.path, "stuck"});
  INFO(r.out);
  REQUIRE(r.status == exit_status::ok);
  CHECK(has(r.out, "Open past their polling deadline"));
  CHECK(has(r.out,
            "pr-refused          INIT/CANCEL  5m ago    in 56m       cancel not confirmed yet "
            "(sent 1x)"));
  CHECK(has(r.out, "evt_3_2   pr-cancelled        payment.cancelled  8         -     9m ago"));
  CHECK(has(r.out, "pr-refused          cancel_refused     F/PROCESS_FAIL"));
  CHECK(r.out.find("cancel_refused") < r.out.find("cancel_order_gone"));  // newest first

  r = run({"--db", db.path, "stuck", "--json"});
  const auto v = parse_json(r.out);
  expect_shape(
      v,
      {{"now", "string"}, {"overdue", "array"}, {"deadWebhooks", "array"}, {"anomalies", "array"}, {"openRefunds", "array"}});
  REQUIRE(v.at("overdue").as_array().size() == 1);
  expect_shape(v.at("overdue").at(0),
               {{"payment", "object"}, {"overdueMs", "int"}, {"reason", "string"}});
  CHECK(v.at("overdue").at(0).at("overdueMs") == 300'000);
  REQUIRE(v.at("deadWebhooks").as_array().size() == 1);
  expect_shape(v.at("deadWebhooks").at(0), {{"eventId", "string"},
                                            {"paymentRequestId", "string?"},
                                            {"seq", "int"},
                                            {"type", "string"},
                                            {"state", "string"},
                                            {"targetUrl", "string?"},
                                            {"attemptCount", "int"},
                                            {"nextAttemptAt", "string?"},
                                            {"lastStatus", "int?"},
                                            {"lastError", "string?"},
                                            {"createdAt", "string?"}});
  CHECK(v.at("deadWebhooks").at(0).at("paymentRequestId") == "pr-cancelled");
  CHECK(v.at("anomalies").as_array().size() == 2);
}

TEST_CASE("stuck on an empty database says none") {
  temp_dir dir;
  const auto path = dir.file("empty.db");
  store::open_sqlite_store(path);
  const auto r = run({"--db", path, "stuck"});
  CHECK(r.status == exit_status::ok);
  CHECK(has(r.out, "Open past their polling deadline\n  none"));
}

TEST_CASE("a missing database exits 1 and is not created") {
  temp_dir dir;
  const auto path = dir.file("missing.db");
  const auto r = run({"--db", path, "list"});
  CHECK(r.status == exit_status::failed);
  CHECK(has(r.err, "no database at"));
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("a file that is not a cashierd database exits 1 with the store's reason") {
  temp_dir dir;
  const auto path = dir.file("junk.db");
  std::ofstream(path) << "not sqlite at all, just some text that is long enough to be a header";
  const auto r = run({"--db", path, "stats"});
  CHECK(r.status == exit_status::failed);
  CHECK(has(r.err, "database " + path));
}

TEST_CASE("usage errors exit 2") {
  sample_db db;
  CHECK(run({}).status == exit_status::usage);
  CHECK(run({"--db", db.path, "frobnicate"}).status == exit_status::usage);
  CHECK(run({"--db", db.path, "show"}).status == exit_status::usage);
  CHECK(run({"--db", db.path, "list", "--status", "PAID"}).status == exit_status::usage);
  CHECK(run({"--db", db.path, "list", "--since", "yesterday"}).status == exit_status::usage);
  CHECK(run({"--db", db.path, "list", "--limit", "0"}).status == exit_status::usage);
  CHECK(run({"--db", db.path, "list", "--limit", "x"}).status == exit_status::usage);
  CHECK(run({"list"}).status == exit_status::usage);  // neither --db nor --config
  CHECK(run({"--config", db.path + ".nope", "list"}).status == exit_status::usage);
  const auto help = run({"--help"});
  CHECK(help.status == exit_status::ok);
  CHECK(has(help.out, "redeliver"));
}

TEST_CASE("--config gives the database and the timeScale of the payment clock") {
  sample_db db;
  {
    auto w = db.writer();
    w->set_meta("clock_origin_ms",
                std::to_string(t0_ms + 590'000));  // 10 s of wall time before now
  }
  const auto key = db.dir.file("key.pem");
  std::ofstream(key) << "x";
  const auto config = db.dir.file("cashierd.json");
  std::ofstream(config) << R"({"listen": "127.0.0.1:8080", "database": ")" << db.path
                        << R"(", "timeScale": 60,
    "merchants": [{"id": "m1", "token": "tok_0123456789abcdef", "notifySecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                   "referenceMerchantId": "M1", "merchantName": "Shop", "merchantMCC": "5812",
                   "merchantAddress": {"region": "US", "city": "Springfield"}}],
    "alipayplus": {"gateway": "https://open-sea-global.alipayplus.com", "clientId": "C", "privateKey": ")"
                        << key << R"(", "alipayplusPublicKey": ")" << key << R"(",
                   "notifyUrl": "https://acqp.example.com/notify"}})";
  const auto r = run({"--config", config, "stats", "--json"});
  REQUIRE_MESSAGE(r.status == exit_status::ok, r.err);
  // now = origin + 10 s × 60 = t0 + 590 s + 600 s.
  CHECK(parse_json(r.out).at("now") == "2023-11-14T22:33:10.000Z");
}

// Issue 14, item 5: two merchants may share a paymentRequestId; operators name the merchant.
TEST_CASE("show names a payment by its Alipay+ id, or by a merchant's id with --merchant") {
  sample_db db;
  {
    auto w = db.writer();
    auto a = store::test::sample_payment("shared", t0_ms + 9000);
    a.alipay_payment_request_id = "cp1aaaa";
    auto b = a;
    b.merchant_id = "m2";
    b.alipay_payment_request_id = "cp1bbbb";
    b.amount = store::test::usd(777);
    store::test::insert(*w, a);
    store::test::insert(*w, b);
  }
  auto r = run({"--db", db.path, "show", "shared"});
  CHECK(r.status == exit_status::failed);
  CHECK(has(r.err, "--merchant"));
  r = run({"--db", db.path, "--json", "show", "shared"});
  CHECK(parse_json(r.out).at("error").at("code") == "AMBIGUOUS_PAYMENT_ID");
  r = run({"--db", db.path, "--json", "show", "shared", "--merchant", "m2"});
  REQUIRE(r.status == exit_status::ok);
  CHECK(parse_json(r.out).at("payment").at("paymentAmount").at("value") == "777");
  r = run({"--db", db.path, "--json", "show", "cp1aaaa"});
  REQUIRE(r.status == exit_status::ok);
  CHECK(parse_json(r.out).at("payment").at("alipayPaymentRequestId") == "cp1aaaa");
  CHECK(run({"--db", db.path, "show", "shared", "--merchant", "m3"}).status == exit_status::failed);
  // An id only one merchant uses needs no --merchant.
  CHECK(run({"--db", db.path, "show", "pr-refused"}).status == exit_status::ok);
  // list --merchant: only that merchant's.
  r = run({"--db", db.path, "--json", "list", "--merchant", "m2"});
  REQUIRE(r.status == exit_status::ok);
  REQUIRE(parse_json(r.out).at("payments").as_array().size() == 1);
  CHECK(parse_json(r.out).at("payments").at(0).at("paymentRequestId") == "shared");
}
