// Deadline heap with two lanes and lazy deletion (see deadline_heap.hpp).
#include "orchestrator/engine/deadline_heap.hpp"

#include <algorithm>

namespace cashier {
namespace {
// std::*_heap build a max-heap; ordering by "later first" makes the top the earliest.
constexpr auto later = [](const auto& a, const auto& b) { return a.key > b.key; };

constexpr std::int64_t lane_bit(call_lane lane) {
  switch (lane) {
    case call_lane::urgent: return 0;
    case call_lane::polling: return 1;
  }
  return 1;
}
constexpr std::int64_t key_of(time_point at, call_lane lane) {
  return to_epoch_ms(at) * 2 + lane_bit(lane);
}
constexpr time_point at_of(std::int64_t key) { return from_epoch_ms(key >> 1); }
constexpr call_lane lane_of_key(std::int64_t key) {
  return (key & 1) == 0 ? call_lane::urgent : call_lane::polling;
}
}  // namespace

std::vector<deadline_heap::entry>& deadline_heap::lane_heap(call_lane lane) {
  return lane == call_lane::urgent ? urgent_ : polling_;
}

void deadline_heap::arm(std::int64_t id, time_point at, call_lane lane) {
  if (at == never) {
    live_.erase(id);
    return;
  }
  const auto key = key_of(at, lane);
  auto [live, inserted] = live_.try_emplace(id, key);
  if (!inserted) {
    if (*live == key) return;
    *live = key;
  }
  auto& heap = lane_heap(lane);
  heap.push_back({key, id});
  std::push_heap(heap.begin(), heap.end(), later);
  const auto entries = urgent_.size() + polling_.size();
  if (entries > 64 && entries > 2 * live_.size()) compact();
}

void deadline_heap::drop_stale_top(std::vector<entry>& heap) {
  while (!heap.empty()) {
    const auto& top = heap.front();
    const auto* live = live_.find(top.id);
    if (live != nullptr && *live == top.key) return;
    std::pop_heap(heap.begin(), heap.end(), later);
    heap.pop_back();
  }
}

std::optional<time_point> deadline_heap::earliest() {
  drop_stale_top(urgent_);
  drop_stale_top(polling_);
  std::optional<std::int64_t> ms;
  for (const auto* heap : {&urgent_, &polling_})
    if (!heap->empty()) ms = std::min(ms.value_or(INT64_MAX), heap->front().key >> 1);
  if (!ms) return std::nullopt;
  return from_epoch_ms(*ms);
}

std::optional<due_deadline> deadline_heap::due_top(std::vector<entry>& heap, std::int64_t now_key) {
  drop_stale_top(heap);
  if (heap.empty() || (heap.front().key >> 1) > now_key) return std::nullopt;
  const auto& top = heap.front();
  return due_deadline{top.id, at_of(top.key), lane_of_key(top.key)};
}

std::optional<due_deadline> deadline_heap::peek_due(time_point now, call_lane first) {
  const auto now_ms = to_epoch_ms(now);
  const auto second = first == call_lane::urgent ? call_lane::polling : call_lane::urgent;
  if (auto d = due_top(lane_heap(first), now_ms)) return d;
  return due_top(lane_heap(second), now_ms);
}

void deadline_heap::pop(const due_deadline& due) {
  auto& heap = lane_heap(due.lane);
  std::pop_heap(heap.begin(), heap.end(), later);
  heap.pop_back();
  live_.erase(due.id);
}

std::optional<std::int64_t> deadline_heap::pop_due(time_point now) {
  const auto d = peek_due(now);
  if (!d) return std::nullopt;
  pop(*d);
  return d->id;
}

std::optional<time_point> deadline_heap::deadline_of(std::int64_t id) const {
  const auto* live = live_.find(id);
  if (live == nullptr) return std::nullopt;
  return at_of(*live);
}

void deadline_heap::reserve(std::size_t n) {
  polling_.reserve(n);
  live_.reserve(n);
}

void deadline_heap::compact() {
  urgent_.clear();
  polling_.clear();
  live_.for_each([this](std::int64_t id, std::int64_t key) { lane_heap(lane_of_key(key)).push_back({key, id}); });
  std::make_heap(urgent_.begin(), urgent_.end(), later);
  std::make_heap(polling_.begin(), polling_.end(), later);
}

}  // namespace cashier
