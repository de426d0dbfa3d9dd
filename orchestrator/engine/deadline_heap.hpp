// The one deadline heap of the daemon: (time, payment id) for every payment that wants to be
// woken, driven by a single timer. Payments are not kept in memory between events; an entry
// here is all that stays. Two lanes (rate_budget.hpp): due urgent deadlines (pay, cancel, the
// last polls) come out before due polling ones unless the caller asks for polling first (its
// share), each lane in due-time order, so when the
// outbound budget is short the calls that wait for it wait here, oldest first, never in a queue
// per payment. Re-arming a payment pushes a new entry; the old one is skipped when it surfaces
// (lazy deletion), and the lanes are rebuilt when stale entries outnumber live ones. Memory: 16
// bytes per heap entry plus 20 in the flat index of live deadlines (id_map.hpp), about 36 bytes
// per open payment after recovery.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "orchestrator/engine/id_map.hpp"
#include "orchestrator/engine/rate_budget.hpp"
#include "state/machine/time.hpp"

namespace cashier {

/// A deadline that is due.
struct due_deadline {
  std::int64_t id = 0;            ///< the payment
  time_point at{};                ///< when it was due
  call_lane lane = call_lane::polling;  ///< the lane it waited in
};

/// A min-heap of payment deadlines with one live deadline per payment, in two lanes.
class deadline_heap {
 public:
  /// Arms (or re-arms) `id` at `at` in `lane`; `never` disarms it.
  void arm(std::int64_t id, time_point at, call_lane lane = call_lane::polling);
  /// Disarms `id`.
  void disarm(std::int64_t id) { arm(id, never); }
  /// The earliest live deadline of either lane, if any.
  std::optional<time_point> earliest();
  /// The earliest due deadline of lane `first`, else of the other lane; left armed.
  std::optional<due_deadline> peek_due(time_point now, call_lane first = call_lane::urgent);
  /// Removes `due`, which peek_due just returned.
  void pop(const due_deadline& due);
  /// Removes and returns the id of a live deadline at or before `now`, urgent lane first.
  std::optional<std::int64_t> pop_due(time_point now);
  /// The live deadline of `id`, if armed.
  std::optional<time_point> deadline_of(std::int64_t id) const;
  /// Live deadlines.
  std::size_t size() const { return live_.size(); }
  /// Reserves room for `n` deadlines (recovery knows the count up front).
  void reserve(std::size_t n);
  /// Hints that `id` is armed soon: recovery arms a million ids in deadline order, each a cache
  /// miss in the index unless it is fetched a few arms ahead.
  void prefetch(std::int64_t id) const { live_.prefetch(id); }

 private:
  struct entry {
    std::int64_t key;  // at_ms * 2 + lane (packed, so a live deadline is one integer)
    std::int64_t id;
  };
  std::vector<entry>& lane_heap(call_lane lane);
  void drop_stale_top(std::vector<entry>& heap);
  std::optional<due_deadline> due_top(std::vector<entry>& heap, std::int64_t now_key);
  void compact();

  std::vector<entry> urgent_;   // min-heap on key
  std::vector<entry> polling_;  // min-heap on key
  id_map live_;  // id -> armed key
};

}  // namespace cashier
