// Tests for the deadline heap: ordering, re-arming, disarming, compaction, and the two lanes
// (due urgent deadlines first, each lane by due time; re-arming may move a payment across).
#include <doctest/doctest.h>

#include <random>
#include <map>

#include "orchestrator/engine/deadline_heap.hpp"

using namespace cashier;
using cashier::call_lane;
using cashier::deadline_heap;

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

TEST_CASE("due urgent deadlines come out before due polling ones, each lane by due time") {
  deadline_heap h;
  h.arm(1, from_epoch_ms(100));
  h.arm(2, from_epoch_ms(150));
  h.arm(3, from_epoch_ms(300), call_lane::urgent);
  h.arm(4, from_epoch_ms(200), call_lane::urgent);
  h.arm(5, from_epoch_ms(900), call_lane::urgent);
  CHECK(h.earliest() == from_epoch_ms(100));
  // At 250 only urgent 4 is due in its lane: it goes before the older polling deadlines.
  const auto top = h.peek_due(from_epoch_ms(250));
  REQUIRE(top);
  CHECK(top->id == 4);
  CHECK(top->at == from_epoch_ms(200));
  CHECK(top->lane == call_lane::urgent);
  CHECK(h.pop_due(from_epoch_ms(250)) == 4);
  CHECK(h.pop_due(from_epoch_ms(250)) == 1);
  CHECK(h.pop_due(from_epoch_ms(400)) == 3);
  CHECK(h.pop_due(from_epoch_ms(400)) == 2);
  CHECK_FALSE(h.peek_due(from_epoch_ms(400)));
  CHECK(h.earliest() == from_epoch_ms(900));
  CHECK(h.size() == 1);
}

TEST_CASE("the caller may ask for the polling lane first") {
  deadline_heap h;
  h.arm(1, from_epoch_ms(100), call_lane::urgent);
  h.arm(2, from_epoch_ms(200));
  CHECK(h.peek_due(from_epoch_ms(300), call_lane::polling)->id == 2);
  CHECK(h.peek_due(from_epoch_ms(300))->id == 1);
  CHECK(h.peek_due(from_epoch_ms(150), call_lane::polling)->id == 1);  // no poll due yet
  const auto top = h.peek_due(from_epoch_ms(300), call_lane::polling);
  h.pop(*top);
  CHECK(h.size() == 1);
  CHECK(h.pop_due(from_epoch_ms(300)) == 1);
}

TEST_CASE("re-arming moves a payment between lanes") {
  deadline_heap h;
  h.arm(1, from_epoch_ms(100), call_lane::urgent);
  h.arm(2, from_epoch_ms(50));
  h.arm(1, from_epoch_ms(100));  // same time, now polling: the urgent entry is stale
  const auto top = h.peek_due(from_epoch_ms(100));
  REQUIRE(top);
  CHECK(top->id == 2);
  CHECK(h.pop_due(from_epoch_ms(100)) == 2);
  CHECK(h.peek_due(from_epoch_ms(100))->lane == call_lane::polling);
  h.arm(1, from_epoch_ms(80), call_lane::urgent);
  CHECK(h.peek_due(from_epoch_ms(100))->lane == call_lane::urgent);
  CHECK(h.pop_due(from_epoch_ms(100)) == 1);
  CHECK_FALSE(h.pop_due(from_epoch_ms(100)));
  CHECK(h.size() == 0);
}

TEST_CASE("random arms in both lanes agree with a reference model") {
  std::mt19937_64 rng(7);
  deadline_heap h;
  std::map<std::int64_t, std::pair<std::int64_t, call_lane>> model;  // id -> (at, lane)
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 2000; ++i) {
      const auto id = static_cast<std::int64_t>(rng() % 500);
      const auto at = static_cast<std::int64_t>(rng() % 10000);
      const auto lane = rng() % 3 == 0 ? call_lane::urgent : call_lane::polling;
      if (rng() % 7 == 0) {
        h.disarm(id);
        model.erase(id);
      } else {
        h.arm(id, from_epoch_ms(at), lane);
        model[id] = {at, lane};
      }
    }
    // Pop what is due at a random instant: urgent ones first, each lane in time order.
    const auto now = static_cast<std::int64_t>(rng() % 10000);
    std::int64_t last_at = -1;
    call_lane last_lane = call_lane::urgent;
    while (const auto due = h.peek_due(from_epoch_ms(now))) {
      REQUIRE(h.pop_due(from_epoch_ms(now)) == due->id);
      REQUIRE(model.count(due->id) == 1);
      const auto [at, lane] = model[due->id];
      CHECK(from_epoch_ms(at) == due->at);
      CHECK(lane == due->lane);
      CHECK(at <= now);
      if (lane != last_lane) {
        CHECK(lane == call_lane::polling);  // urgent ones are all out before the first polling
        last_at = -1;
      }
      CHECK(at >= last_at);
      last_at = at;
      last_lane = lane;
      model.erase(due->id);
    }
    for (const auto& [id, v] : model) CHECK(v.first > now);
    CHECK(h.size() == model.size());
  }
}
