// Flat id map with linear probing and backward-shift deletion (see id_map.hpp).
#include "orchestrator/engine/id_map.hpp"

namespace cashier {
namespace {

__extension__ using uint128 = unsigned __int128;

/// Slots per entry at most: 1 / 0.8.
constexpr std::size_t capacity_for(std::size_t n) { return n + n / 4 + 1; }

}  // namespace

std::size_t id_map::home(std::int64_t id) const {
  // Fibonacci hashing spreads consecutive row ids; the multiply-shift maps the hash onto any
  // capacity (not only powers of two), so reserve(n) costs n / 0.8 slots and no more.
  const std::uint64_t h = static_cast<std::uint64_t>(id) * 0x9E3779B97F4A7C15ULL;
  return static_cast<std::size_t>((static_cast<uint128>(h) * slots_.size()) >> 64);
}

std::size_t id_map::position(std::int64_t id) const {
  auto i = home(id);
  while (slots_[i].id != empty && slots_[i].id != id) i = next(i);
  return i;
}

void id_map::reserve(std::size_t n) {
  if (capacity_for(n) > slots_.size()) rehash(capacity_for(n));
}

std::int64_t* id_map::find(std::int64_t id) {
  if (size_ == 0) return nullptr;
  auto& s = slots_[position(id)];
  return s.id == id ? &s.value : nullptr;
}

const std::int64_t* id_map::find(std::int64_t id) const {
  if (size_ == 0) return nullptr;
  const auto& s = slots_[position(id)];
  return s.id == id ? &s.value : nullptr;
}

std::pair<std::int64_t*, bool> id_map::try_emplace(std::int64_t id, std::int64_t value) {
  if (capacity_for(size_ + 1) > slots_.size()) rehash(capacity_for(2 * size_ + 16));
  auto& s = slots_[position(id)];
  if (s.id == id) return {&s.value, false};
  s = {id, value};
  ++size_;
  return {&s.value, true};
}

bool id_map::erase(std::int64_t id) {
  if (size_ == 0) return false;
  auto hole = position(id);
  if (slots_[hole].id != id) return false;
  // Pull back every later entry of the cluster whose home is not between the hole and itself,
  // so no probe sequence ever crosses an empty slot.
  for (auto j = next(hole); slots_[j].id != empty; j = next(j)) {
    const auto k = home(slots_[j].id);
    const bool stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
    if (stays) continue;
    slots_[hole] = slots_[j];
    hole = j;
  }
  slots_[hole].id = empty;
  --size_;
  return true;
}

void id_map::rehash(std::size_t capacity) {
  std::vector<slot> old(capacity, slot{empty, 0});
  old.swap(slots_);
  for (const auto& s : old)
    if (s.id != empty) slots_[position(s.id)] = s;
}

}  // namespace cashier
