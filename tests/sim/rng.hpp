// The simulation's only source of randomness: xoshiro256** seeded through splitmix64, so one
// 64-bit seed replays a whole run bit for bit. Nothing in the simulator may read a clock, a
// random device or the iteration order of an unordered container to make a decision.
#pragma once

#include <cstdint>

#include "state/machine/time.hpp"

namespace cashier::sim {

/// A small, fast, seedable PRNG (xoshiro256**).
class rng {
 public:
  /// A generator whose whole sequence is fixed by `seed`.
  explicit rng(std::uint64_t seed) {
    for (auto& s : s_) s = splitmix(seed);
  }
  /// The next 64 random bits.
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  /// A uniform double in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// True with probability `p`.
  bool chance(double p) { return unit() < p; }
  /// A uniform integer in [lo, hi] (hi ≥ lo).
  std::int64_t uniform(std::int64_t lo, std::int64_t hi) {
    const auto span = static_cast<std::uint64_t>(hi - lo) + 1;
    return lo + static_cast<std::int64_t>(next() % span);
  }
  /// A uniform duration in [lo, hi].
  duration between(duration lo, duration hi) { return duration{uniform(lo.count(), hi.count())}; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t s_[4]{};
};

}  // namespace cashier::sim
