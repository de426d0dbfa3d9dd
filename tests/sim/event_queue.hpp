// The virtual clock and its agenda: a min-heap of (instant, sequence number, action). Running
// an action may schedule more; the clock jumps straight to the next instant when nothing is
// runnable now. Ties run in scheduling order, so a run is a pure function of its seed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "state/machine/time.hpp"

namespace cashier::sim {

/// A discrete-event agenda over a virtual clock.
class event_queue {
 public:
  /// An empty agenda whose clock reads `start`.
  explicit event_queue(time_point start) : now_(start) {}
  /// The virtual now.
  time_point now() const { return now_; }
  /// Runs `fn` at `t` (at now when `t` is in the past).
  void at(time_point t, std::function<void()> fn) {
    items_.push_back({std::max(t, now_), next_seq_++, std::move(fn)});
    std::push_heap(items_.begin(), items_.end(), later);
  }
  /// Runs `fn` after `d`.
  void after(duration d, std::function<void()> fn) { at(now_ + d, std::move(fn)); }
  /// Advances the clock to the earliest action and runs it; false when nothing is left.
  bool run_one() {
    if (items_.empty()) return false;
    std::pop_heap(items_.begin(), items_.end(), later);
    item it = std::move(items_.back());
    items_.pop_back();
    now_ = it.at;
    it.fn();
    return true;
  }
  /// Actions waiting.
  std::size_t size() const { return items_.size(); }

 private:
  struct item {
    time_point at;
    std::uint64_t seq;
    std::function<void()> fn;
  };
  static bool later(const item& a, const item& b) {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  }
  time_point now_;
  std::uint64_t next_seq_ = 0;
  std::vector<item> items_;
};

}  // namespace cashier::sim
