// Tests of what the PostgreSQL engine does for several writers at once (proto-docs/cluster.md
// "Events feed and counters", schema.md "The PostgreSQL engine"): the careful rerun of a batch
// takes at most 64 savepoints per transaction (PostgreSQL's per-backend subtransaction cache),
// the per-shard status counters and their migration step, and the all-merchants feed cursor
// that never skips a row committed after a higher one was read. Label postgres only.
#include <string>
#include <vector>

#include "state/store/pg_schema.hpp"
#include "state/store/pg_store.hpp"
#include "tests/state/store/conformance.hpp"

using namespace cashier;
using namespace cashier::store;
using namespace cashier::store::test;

TEST_SUITE_BEGIN("postgres_only");

TEST_CASE("the careful rerun of a batch over 64 transitions takes at most 64 savepoints per transaction") {
  test_db db;
  auto s = db.open();
  constexpr int n = 100;
  std::vector<payment> stored;
  for (int i = 0; i < n; ++i) stored.push_back(insert(*s, sample_payment("cap-" + std::to_string(i))));
  // Each transition moves its payment; three of them then name a merchant event that does not
  // exist, which fails after the payment row was written: only a rerun can drop them alone (the
  // first is found by the plain pass, the second inside a savepoint, the third past 64 of them).
  std::vector<transition> batch;
  for (int i = 0; i < n; ++i) {
    auto next = stored[static_cast<std::size_t>(i)];
    next.status = payment_status::in_process;
    next.pending = pending_action::inquiry;
    batch.push_back(change(stored[static_cast<std::size_t>(i)], next));
    if (i == 7 || i == 30 || i == 90)
      batch.back().deliveries.push_back(outbox_progress{"no-such-event", 1, next.updated_at, outbox_state::delivered, 200, ""});
  }
  const auto out = s->commit(batch);
  REQUIRE(out.size() == static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    CAPTURE(i);
    const auto& st = stored[static_cast<std::size_t>(i)];
    if (i == 7 || i == 30 || i == 90) {
      CHECK(out[static_cast<std::size_t>(i)].status == commit_status::rejected);
      CHECK(s->load(st.id)->version == st.version);
    } else {
      CHECK(out[static_cast<std::size_t>(i)].status == commit_status::committed);
      CHECK(s->load(st.id)->version == st.version + 1);
    }
  }
  // A row version's xmin is the (sub)transaction that wrote it: every released savepoint that
  // wrote is one subtransaction of the batch's transaction. One transaction, at most 64 of them
  // plus the top level.
  const auto writers = std::stoi(db.text(
      "SELECT count(DISTINCT xmin::text) FROM payments WHERE status = 'IN_PROCESS'"));
  MESSAGE("distinct writing (sub)transactions: " << writers);
  CHECK(writers <= 65);
}

TEST_SUITE_END();
