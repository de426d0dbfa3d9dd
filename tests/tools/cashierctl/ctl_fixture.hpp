// Helpers for the cashierctl tests: a database built with the real SQLite store (payments in
// several states with their transition log, Alipay+ calls, a notify, merchant events, webhook
// attempts and anomalies), a way to run the whole command line in-process, and a small JSON
// schema check (exact key set, a type per key) for the documented --json shapes.
#pragma once

#include <doctest/doctest.h>

#include <initializer_list>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "state/store/sqlite_store.hpp"
#include "tests/state/store/store_fixture.hpp"
#include "tools/cashierctl/cli.hpp"

namespace cashier::ctl::test {

using store::test::temp_dir;

/// The creation instant of every sample payment.
inline constexpr std::int64_t t0_ms = 1'700'000'000'000;  // 2023-11-14T22:13:20Z
/// The payment-clock now of the tests: ten minutes after t0.
inline time_point test_now() { return from_epoch_ms(t0_ms + 600'000); }
/// t0 plus `ms`.
inline time_point at(std::int64_t ms) { return from_epoch_ms(t0_ms + ms); }

/// `before` moved to (status, pending) at `when`, committed with its event and `extra` records.
inline payment advance(store::payment_store& s, const payment& before, payment_status status,
                       pending_action pending, time_point when, const std::string& cause,
                       store::transition extra = {}) {
  payment after = before;
  after.status = status;
  after.pending = pending;
  after.updated_at = when;
  if (pending == pending_action::none) after.next_action_at = never;
  extra.after = after;
  extra.expected_version = before.version;
  extra.event = store::test::event_for(before, after, cause);
  const auto o = s.commit_one(extra);
  REQUIRE_MESSAGE(o.status == store::commit_status::committed, o.detail);
  return *s.load(before.id);
}

/// A merchant event of payment `payment_id`.
inline store::outbox_record merchant_event(std::int64_t payment_id, std::int32_t seq,
                                           std::string type, store::outbox_state state,
                                           std::int32_t attempts, time_point next,
                                           time_point created) {
  store::outbox_record r;
  r.event_id = "evt_" + std::to_string(payment_id) + "_" + std::to_string(seq);
  r.seq = seq;
  r.type = std::move(type);
  r.payload = "{}";
  r.target_url = "https://merchant.example/hook";
  r.attempts = attempts;
  r.next_attempt_at = next;
  r.state = state;
  r.created_at = created;
  return r;
}

/// An Alipay+ call record.
inline store::call_record call(std::string api, int http_status, std::string outcome,
                               time_point started, std::int64_t latency_us) {
  store::call_record c;
  c.api = std::move(api);
  c.request_body = R"({"paymentRequestId":"x"})";
  c.request_headers = "Client-Id: TEST\n";
  c.http_status = http_status;
  c.response_body = http_status == 0 ? "" : R"({"result":{}})";
  c.outcome = std::move(outcome);
  c.started_at = started;
  c.latency_us = latency_us;
  return c;
}

/// Inserts the clean sample set; every invariant holds in it:
/// - pr-success: pay S → SUCCESS, event 1 delivered (one attempt), a verified notify;
/// - pr-open: pay U → IN_PROCESS/INQUIRY, deadline in the future;
/// - pr-cancelled: SUCCESS → SUCCESS/CANCEL → CANCELLED; event 2 dead after 8 attempts;
/// - pr-fail: pay F → FAIL, event 1 pending, due in a minute;
/// - pr-refused: INIT/CANCEL past its polling deadline, cancel refused (anomaly), legitimately
/// open.
inline void fill_sample(store::payment_store& s) {
  using store::outbox_state;
  {
    auto p = store::test::insert(s, store::test::sample_payment("pr-success", t0_ms));
    store::transition t;
    t.calls.push_back(call("pay", 200, "S/SUCCESS", at(100), 152'000));
    t.notifies.push_back(
        {0, 0, "pr-success", R"({"paymentResult":{}})", "Signature: x\n", "ok", at(150)});
    t.outbox.push_back(
        merchant_event(p.id, 1, "payment.succeeded", outbox_state::delivered, 1, at(300), at(300)));
    p.event_seq = 1;
    p.payment_id = "2023111400000001";
    p.result = aplus_result{"SUCCESS", 'S', "Success"};
    p = advance(s, p, payment_status::success, pending_action::none, at(300), "pay:S/SUCCESS", t);
    store::transition d;
    d.webhook_attempts.push_back(
        {0, "evt_" + std::to_string(p.id) + "_1", at(400), 200, "", 35'000});
    s.commit_one(d);
  }
  {
    auto p = store::test::insert(s, store::test::sample_payment("pr-open", t0_ms + 1000));
    store::transition t;
    t.calls.push_back(call("pay", 200, "U/PAYMENT_IN_PROCESS", at(1100), 80'000));
    p.next_action_at = at(602'000);
    advance(s, p, payment_status::in_process, pending_action::inquiry, at(1200),
            "pay:U/PAYMENT_IN_PROCESS", t);
  }
  {
    auto p = store::test::insert(s, store::test::sample_payment("pr-cancelled", t0_ms + 2000));
    store::transition t;
    t.outbox.push_back(merchant_event(p.id, 1, "payment.succeeded", outbox_state::delivered, 1,
                                      at(2100), at(2100)));
    p.event_seq = 1;
    p = advance(s, p, payment_status::success, pending_action::none, at(2100), "notify:S", t);
    p.next_action_at = at(5000);
    p = advance(s, p, payment_status::success, pending_action::cancel, at(3000),
                "cancel_request:operator");
    store::transition c;
    c.calls.push_back(call("cancelPayment", 0, "timeout", at(3100), 15'000'000));
    c.outbox.push_back(
        merchant_event(p.id, 2, "payment.cancelled", outbox_state::dead, 8, at(4000), at(4000)));
    c.anomalies.push_back({0, 0, "cancel_order_gone", "ORDER_IS_CLOSED", at(4000)});
    p.event_seq = 2;
    p = advance(s, p, payment_status::cancelled, pending_action::none, at(4000),
                "cancel:F/ORDER_IS_CLOSED", c);
    store::transition d;
    d.webhook_attempts.push_back(
        {0, "evt_" + std::to_string(p.id) + "_2", at(4100), 500, "HTTP 500", 20'000});
    s.commit_one(d);
  }
  {
    auto p = store::test::insert(s, store::test::sample_payment("pr-fail", t0_ms + 3000));
    store::transition t;
    t.outbox.push_back(
        merchant_event(p.id, 1, "payment.failed", outbox_state::pending, 2, at(660'000), at(3100)));
    p.event_seq = 1;
    p.result = aplus_result{"USER_BALANCE_NOT_ENOUGH", 'F', "no money"};
    advance(s, p, payment_status::fail, pending_action::none, at(3100),
            "pay:F/USER_BALANCE_NOT_ENOUGH", t);
  }
  {
    auto sample = store::test::sample_payment("pr-refused", t0_ms + 4000);
    sample.poll_deadline_at = at(300'000);
    auto p = store::test::insert(s, sample);
    store::transition t;
    t.anomalies.push_back({0, 0, "cancel_refused", "F/PROCESS_FAIL", at(400'000)});
    p.next_action_at = at(4'000'000);
    advance(s, p, payment_status::init, pending_action::cancel, at(400'000), "timer:poll_deadline",
            t);
  }
}

/// A temporary database holding the sample set.
struct sample_db {
  temp_dir dir;
  std::string path = dir.file("cashierd.db");
  sample_db() {
    auto s = store::open_sqlite_store(path);
    fill_sample(*s);
  }
  /// A read-write store on the same file (to add broken rows).
  std::unique_ptr<store::payment_store> writer() const { return store::open_sqlite_store(path); }
};

/// What one command line did.
struct run_result {
  exit_status status;
  std::string out;
  std::string err;
};

/// Runs `cashierctl <args>` in-process with wall now = test_now() and no colour.
inline run_result run(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const auto status = run_cli(args, out, err, {.wall_now = test_now(), .color = false});
  return {status, out.str(), err.str()};
}

/// The one JSON document of `text`; fails the test when it is not exactly that.
inline boost::json::value parse_json(const std::string& text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  REQUIRE_MESSAGE(!ec, "not JSON: " << text);
  return v;
}

/// Checks that `v` is an object with exactly these keys, each of its type: "string", "int",
/// "bool", "object", "array", with a trailing '?' for "or null" and a leading '~' for "may be
/// absent".
inline void expect_shape(
    const boost::json::value& v,
    std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  REQUIRE(v.is_object());
  const auto& o = v.get_object();
  std::size_t required = 0;
  for (const auto& [key, kind_text] : fields) {
    std::string_view kind = kind_text;
    const bool optional = kind.starts_with('~');
    if (optional)
      kind.remove_prefix(1);
    else
      ++required;
    const auto* f = o.if_contains(key);
    if (!f) {
      CHECK_MESSAGE(optional, "missing key " << key);
      continue;
    }
    const bool nullable = kind.ends_with('?');
    if (nullable) kind.remove_suffix(1);
    if (f->is_null()) {
      CHECK_MESSAGE(nullable, key << " is null");
      continue;
    }
    const bool ok = (kind == "string" && f->is_string()) || (kind == "int" && f->is_int64()) ||
                    (kind == "bool" && f->is_bool()) || (kind == "object" && f->is_object()) ||
                    (kind == "array" && f->is_array());
    CHECK_MESSAGE(ok, key << " is not " << kind_text);
  }
  for (const auto& kv : o) {
    const bool known = std::any_of(fields.begin(), fields.end(),
                                   [&](const auto& f) { return f.first == kv.key(); });
    CHECK_MESSAGE(known, "unexpected key " << std::string_view(kv.key()));
  }
  CHECK(o.size() >= required);
}

/// The public payment object's shape (PRODUCT.md).
inline void expect_payment_shape(const boost::json::value& v) {
  expect_shape(v, {{"paymentRequestId", "string"},
                   {"alipayPaymentRequestId", "string"},
                   {"status", "string"},
                   {"pendingAction", "string?"},
                   {"paymentAmount", "object"},
                   {"order", "object?"},
                   {"paymentId", "string?"},
                   {"normalUrl", "string?"},
                   {"paymentData", "string?"},
                   {"walletBrandName", "string?"},
                   {"customerId", "string?"},
                   {"paymentTime", "string?"},
                   {"settlementAmount", "object?"},
                   {"result", "object?"},
                   {"paymentExpiryTime", "string?"},
                   {"pollDeadline", "string?"},
                   {"nextActionAt", "string?"},
                   {"createdAt", "string?"},
                   {"updatedAt", "string?"},
                   {"cancelReason", "~string"},
                   {"checkoutUrl", "string?"},
                   {"refundedAmount", "~object"},  // GET and show (issue 16), not list or stuck
                   {"refunds", "~array"}});
}

}  // namespace cashier::ctl::test
