// The one deadline heap of the daemon: (time, payment id) for every payment that wants to be
// woken, driven by a single timer. Payments are not kept in memory between events; an entry
// here is all that stays (about 16 bytes in the heap plus one hash-map node). Re-arming a
// payment pushes a new entry; the old one is skipped when it surfaces (lazy deletion), and the
// heap is rebuilt when stale entries outnumber live ones.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "state/machine/time.hpp"

namespace cashier::daemon {

/// A min-heap of payment deadlines with one live deadline per payment.
class deadline_heap {
 public:
  /// Arms (or re-arms) `id` at `at`; `never` disarms it.
  void arm(std::int64_t id, time_point at);
  /// Disarms `id`.
  void disarm(std::int64_t id) { arm(id, never); }
  /// The earliest live deadline, if any.
  std::optional<time_point> earliest();
  /// Removes and returns the id of a live deadline at or before `now`, if any.
  std::optional<std::int64_t> pop_due(time_point now);
  /// The live deadline of `id`, if armed.
  std::optional<time_point> deadline_of(std::int64_t id) const;
  /// Live deadlines.
  std::size_t size() const { return live_.size(); }
  /// Reserves room for `n` deadlines (recovery knows the count up front).
  void reserve(std::size_t n);

 private:
  struct entry {
    std::int64_t at_ms;
    std::int64_t id;
  };
  void drop_stale_top();
  void compact();

  std::vector<entry> heap_;                           // min-heap on at_ms
  std::unordered_map<std::int64_t, std::int64_t> live_;  // id -> armed at_ms
};

}  // namespace cashier::daemon
