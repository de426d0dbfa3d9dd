// Tests of `cashierctl prune` on the sample database: what it removes (audit rows of final
// payments before the date; never a payment row, its last event or its merchant events), the
// confirmation it asks for unless --yes, its --json answer and its usage errors.
#include <doctest/doctest.h>

#include <sstream>

#include "tests/tools/cashierctl/ctl_fixture.hpp"

namespace cashier::ctl::test {
namespace {

/// Runs `cashierctl <args>` with `input` as the terminal.
run_result run_with_input(const std::vector<std::string>& args, const std::string& input) {
  std::ostringstream out, err;
  std::istringstream in(input);
  const auto status = run_cli(args, out, err, {.wall_now = test_now(), .color = false, .in = &in});
  return {status, out.str(), err.str()};
}

std::size_t count(const std::string& path, const std::string& table) {
  store::test::raw_db raw(path);
  return std::stoul(raw.text("SELECT count(*) FROM " + table));
}

}  // namespace

TEST_CASE("prune --yes removes the audit rows of payments final before the date, and says so") {
  sample_db db;
  const auto payments = count(db.path, "payments");
  const auto outbox = count(db.path, "merchant_outbox");
  const auto r = run({"--db", db.path, "prune", "--before", "2023-11-15", "--yes"});
  CHECK(r.status == exit_status::ok);
  // pr-success and pr-cancelled are final with every event delivered or dead; pr-fail still has
  // an event to deliver, pr-open and pr-refused are open.
  CHECK(r.out ==
        "Removed the audit rows of 2 payments final before 2023-11-15T00:00:00.000Z: 4 events, 2 calls, "
        "1 notifies, 2 webhook attempts.\n");
  CHECK(count(db.path, "payments") == payments);
  CHECK(count(db.path, "merchant_outbox") == outbox);
  const auto store = store::open_sqlite_store(db.path, {.read_only = true});
  const auto success = store->find("pr-success");
  REQUIRE(success);
  const auto events = store->events_of(success->id);
  REQUIRE(events.size() == 1);
  CHECK(events[0].to_status == payment_status::success);
  CHECK(store->calls_of(success->id).empty());
  CHECK(store->notifies_of(success->id).empty());
  const auto fail = store->find("pr-fail");
  CHECK(store->events_of(fail->id).size() == 2);  // a merchant event still pending: kept
  // Again: nothing left to remove, no question asked.
  const auto again = run_with_input({"--db", db.path, "prune", "--before", "2023-11-15"}, "");
  CHECK(again.status == exit_status::ok);
  CHECK(again.out.find(": 0 events, 0 calls, 0 notifies, 0 webhook attempts.") != std::string::npos);
}

TEST_CASE("prune asks first: anything but yes removes nothing") {
  sample_db db;
  const auto events = count(db.path, "payment_events");
  for (const std::string answer : {"", "no\n", "YES please\n"}) {
    CAPTURE(answer);
    const auto r = run_with_input({"--db", db.path, "prune", "--before", "2023-11-15"}, answer);
    CHECK(r.status == exit_status::failed);
    CHECK(r.err.find("Type yes to confirm") != std::string::npos);
    CHECK(r.err.find("not confirmed; nothing was removed") != std::string::npos);
    CHECK(count(db.path, "payment_events") == events);
  }
  const auto none = run({"--db", db.path, "prune", "--before", "2023-11-15"});  // no terminal at all
  CHECK(none.status == exit_status::failed);
  const auto yes = run_with_input({"--db", db.path, "prune", "--before", "2023-11-15"}, "yes\n");
  CHECK(yes.status == exit_status::ok);
  CHECK(count(db.path, "payment_events") == events - 4);
}

TEST_CASE("prune --json answers one document with what it removed") {
  sample_db db;
  const auto r = run({"--db", db.path, "--json", "prune", "--before", "2023-11-15T00:00:00Z", "--yes"});
  CHECK(r.status == exit_status::ok);
  const auto v = parse_json(r.out);
  expect_shape(v, {{"before", "string"}, {"removed", "object"}});
  expect_shape(v.at("removed"), {{"payments", "int"}, {"events", "int"}, {"calls", "int"},
                                 {"notifies", "int"}, {"webhookAttempts", "int"}});
  CHECK(v.at("removed").at("events").as_int64() == 4);
}

TEST_CASE("prune before a date earlier than every final payment removes nothing") {
  sample_db db;
  const auto r = run({"--db", db.path, "prune", "--before", "2023-11-14", "--yes"});
  CHECK(r.status == exit_status::ok);
  CHECK(r.out.find("of 0 payments") != std::string::npos);
}

TEST_CASE("prune needs --before, a readable date, and an existing database") {
  sample_db db;
  CHECK(run({"--db", db.path, "prune", "--yes"}).status == exit_status::usage);
  const auto bad = run({"--db", db.path, "prune", "--before", "last tuesday", "--yes"});
  CHECK(bad.status == exit_status::usage);
  CHECK(bad.err.find("--before must be") != std::string::npos);
  const auto missing = run({"--db", db.dir.file("none.db"), "prune", "--before", "30d", "--yes"});
  CHECK(missing.status == exit_status::failed);
}

}  // namespace cashier::ctl::test
