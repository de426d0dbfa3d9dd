// Deadline heap with lazy deletion (see deadline_heap.hpp).
#include "orchestrator/daemon/deadline_heap.hpp"

#include <algorithm>

namespace cashier::daemon {
namespace {
// std::*_heap build a max-heap; ordering by "later first" makes the top the earliest.
constexpr auto later = [](const auto& a, const auto& b) { return a.at_ms > b.at_ms; };
}  // namespace

void deadline_heap::arm(std::int64_t id, time_point at) {
  if (at == never) {
    live_.erase(id);
    return;
  }
  const auto ms = to_epoch_ms(at);
  auto [it, inserted] = live_.try_emplace(id, ms);
  if (!inserted) {
    if (it->second == ms) return;
    it->second = ms;
  }
  heap_.push_back({ms, id});
  std::push_heap(heap_.begin(), heap_.end(), later);
  if (heap_.size() > 64 && heap_.size() > 2 * live_.size()) compact();
}

void deadline_heap::drop_stale_top() {
  while (!heap_.empty()) {
    const auto& top = heap_.front();
    const auto it = live_.find(top.id);
    if (it != live_.end() && it->second == top.at_ms) return;
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
  }
}

std::optional<time_point> deadline_heap::earliest() {
  drop_stale_top();
  if (heap_.empty()) return std::nullopt;
  return from_epoch_ms(heap_.front().at_ms);
}

std::optional<std::int64_t> deadline_heap::pop_due(time_point now) {
  drop_stale_top();
  if (heap_.empty() || heap_.front().at_ms > to_epoch_ms(now)) return std::nullopt;
  const auto id = heap_.front().id;
  std::pop_heap(heap_.begin(), heap_.end(), later);
  heap_.pop_back();
  live_.erase(id);
  return id;
}

std::optional<time_point> deadline_heap::deadline_of(std::int64_t id) const {
  const auto it = live_.find(id);
  if (it == live_.end()) return std::nullopt;
  return from_epoch_ms(it->second);
}

void deadline_heap::reserve(std::size_t n) {
  heap_.reserve(n);
  live_.reserve(n);
}

void deadline_heap::compact() {
  heap_.clear();
  for (const auto& [id, ms] : live_) heap_.push_back({ms, id});
  std::make_heap(heap_.begin(), heap_.end(), later);
}

}  // namespace cashier::daemon
