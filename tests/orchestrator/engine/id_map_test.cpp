// Tests for the deadline heap's flat id map: agreement with std::unordered_map under random
// inserts, updates and erases (erasing inside probe clusters included), growth, reserve.
#include <doctest/doctest.h>

#include <random>
#include <unordered_map>

#include "orchestrator/engine/id_map.hpp"

using cashier::id_map;

TEST_CASE("the id map agrees with std::unordered_map under random use") {
  std::mt19937_64 rng(11);
  id_map m;
  std::unordered_map<std::int64_t, std::int64_t> model;
  for (int i = 0; i < 200000; ++i) {
    // Few distinct ids, some negative and zero: long clusters, many erases inside them.
    const auto id = static_cast<std::int64_t>(rng() % 3000) - 100;
    switch (rng() % 4) {
      case 0: {
        const bool erased = m.erase(id);
        CHECK(erased == (model.erase(id) == 1));
        break;
      }
      case 1: {
        const auto v = static_cast<std::int64_t>(rng());
        auto [held, inserted] = m.try_emplace(id, v);
        auto [it, model_inserted] = model.try_emplace(id, v);
        CHECK(inserted == model_inserted);
        CHECK(*held == it->second);
        *held = it->second = v + 1;
        break;
      }
      default: {
        const auto* v = m.find(id);
        const auto it = model.find(id);
        REQUIRE((v != nullptr) == (it != model.end()));
        if (v != nullptr) CHECK(*v == it->second);
      }
    }
    REQUIRE(m.size() == model.size());
  }
  std::size_t seen = 0;
  m.for_each([&](std::int64_t id, std::int64_t v) {
    ++seen;
    CHECK(model.at(id) == v);
  });
  CHECK(seen == model.size());
}

TEST_CASE("the id map grows past what was reserved and keeps every entry") {
  id_map m;
  CHECK(m.find(1) == nullptr);
  CHECK_FALSE(m.erase(1));
  m.reserve(100);
  for (std::int64_t id = 1; id <= 100000; ++id) REQUIRE(m.try_emplace(id, -id).second);
  CHECK(m.size() == 100000);
  for (std::int64_t id = 1; id <= 100000; id += 2) REQUIRE(m.erase(id));
  for (std::int64_t id = 1; id <= 100000; ++id) {
    const auto* v = m.find(id);
    REQUIRE((v != nullptr) == (id % 2 == 0));
    if (v != nullptr) REQUIRE(*v == -id);
  }
  CHECK(m.size() == 50000);
}
