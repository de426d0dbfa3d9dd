// Tests for the deadline heap: ordering, re-arming, disarming, compaction.
#include <doctest/doctest.h>

#include <random>
#include <map>

#include "orchestrator/daemon/deadline_heap.hpp"

using namespace cashier;
using cashier::daemon::deadline_heap;

TEST_CASE("pop_due returns due payments in deadline order") {
  deadline_heap h;
  h.arm(1, from_epoch_ms(300));
  h.arm(2, from_epoch_ms(100));
  h.arm(3, from_epoch_ms(200));
  CHECK(h.earliest() == from_epoch_ms(100));
  CHECK_FALSE(h.pop_due(from_epoch_ms(99)));
  CHECK(h.pop_due(from_epoch_ms(250)) == 2);
  CHECK(h.pop_due(from_epoch_ms(250)) == 3);
  CHECK_FALSE(h.pop_due(from_epoch_ms(250)));
  CHECK(h.size() == 1);
}

TEST_CASE("re-arming moves a deadline and disarming removes it") {
  deadline_heap h;
  h.arm(1, from_epoch_ms(100));
  h.arm(1, from_epoch_ms(500));
  h.arm(2, from_epoch_ms(200));
  CHECK(h.earliest() == from_epoch_ms(200));
  CHECK(h.deadline_of(1) == from_epoch_ms(500));
  h.disarm(2);
  CHECK(h.earliest() == from_epoch_ms(500));
  CHECK(h.pop_due(from_epoch_ms(1000)) == 1);
  CHECK_FALSE(h.earliest());
  CHECK(h.size() == 0);
}

TEST_CASE("random arms agree with a reference model") {
  std::mt19937_64 rng(42);
  deadline_heap h;
  std::map<std::int64_t, std::int64_t> model;  // id -> at
  for (int i = 0; i < 20000; ++i) {
    const auto id = static_cast<std::int64_t>(rng() % 300);
    const auto at = static_cast<std::int64_t>(rng() % 10000);
    if (rng() % 5 == 0) {
      h.disarm(id);
      model.erase(id);
    } else {
      h.arm(id, from_epoch_ms(at));
      model[id] = at;
    }
  }
  CHECK(h.size() == model.size());
  std::int64_t last = -1;
  while (auto id = h.pop_due(from_epoch_ms(10000))) {
    REQUIRE(model.count(*id) == 1);
    CHECK(model[*id] >= last);
    last = model[*id];
    model.erase(*id);
  }
  CHECK(model.empty());
}
