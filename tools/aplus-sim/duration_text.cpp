// Command-line durations (see duration_text.hpp).
#include "tools/aplus-sim/duration_text.hpp"

#include <charconv>
#include <string>

namespace cashier::sim {

sim_result<duration> parse_duration(std::string_view text) {
  const auto bad = [&] {
    return sim_error{"invalid duration '" + std::string(text) + "' (expected e.g. 500ms, 2s, 5m, 1h)"};
  };
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end == text.data() || n < 0) return bad();
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  constexpr std::int64_t max_hours = 24 * 365;  // far beyond any use, far from overflow
  if (unit == "ms" && n <= max_hours * 3'600'000) return duration{n};
  if (unit == "s" && n <= max_hours * 3600) return std::chrono::seconds{n};
  if (unit == "m" && n <= max_hours * 60) return std::chrono::minutes{n};
  if (unit == "h" && n <= max_hours) return std::chrono::hours{n};
  return bad();
}

sim_result<std::optional<duration>> parse_optional_duration(std::string_view text) {
  if (text == "off") return std::optional<duration>{};
  auto d = parse_duration(text);
  if (!d) return d.error();
  return std::optional<duration>{*d};
}

}  // namespace cashier::sim
