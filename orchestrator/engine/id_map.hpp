// A flat hash map from payment id to one 64-bit value, for the deadline heap's index of live
// deadlines. Open addressing with linear probing in one array of 16-byte slots (at most 80 %
// full) and backward-shift deletion: no allocation per entry, so a million open payments cost
// about 20 MB here instead of the ~40 MB of std::unordered_map's nodes and buckets, and
// recovery fills it without a million mallocs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace cashier {

/// id -> value, for any int64 id but the smallest one.
class id_map {
 public:
  /// Entries held.
  std::size_t size() const { return size_; }
  /// Makes room for `n` entries without growing again.
  void reserve(std::size_t n);
  /// The value of `id`, or null.
  std::int64_t* find(std::int64_t id);
  /// The value of `id`, or null.
  const std::int64_t* find(std::int64_t id) const;
  /// Inserts `id` -> `value` unless `id` is there; the value held and whether it was inserted.
  std::pair<std::int64_t*, bool> try_emplace(std::int64_t id, std::int64_t value);
  /// Starts loading the slot where `id` would be into the cache (bulk inserts: a few ahead).
  void prefetch(std::int64_t id) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[home(id)], 1);
  }
  /// Removes `id`; false when it was not there.
  bool erase(std::int64_t id);
  /// Calls `f(id, value)` for every entry, in no particular order.
  template <class F>
  void for_each(F f) const {
    for (const auto& s : slots_)
      if (s.id != empty) f(s.id, s.value);
  }

 private:
  struct slot {
    std::int64_t id;
    std::int64_t value;
  };
  static constexpr std::int64_t empty = std::numeric_limits<std::int64_t>::min();
  std::size_t home(std::int64_t id) const;
  std::size_t next(std::size_t i) const { return i + 1 == slots_.size() ? 0 : i + 1; }
  std::size_t position(std::int64_t id) const;  // of `id`, or of the empty slot ending its probe
  void rehash(std::size_t capacity);

  std::vector<slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace cashier
