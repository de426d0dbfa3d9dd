// Durations as people write them on the command line: "500ms", "2s", "5m", "1h" (a whole
// number and a unit), or "off" where a feature can be turned off. Pure parsing.
#pragma once

#include <optional>
#include <string_view>

#include "state/machine/time.hpp"
#include "tools/aplus-sim/scenario.hpp"

namespace cashier::sim {

/// Parses "<digits><unit>" with unit ms, s, m or h (e.g. "2s" → 2000 ms); errors quote the text.
sim_result<duration> parse_duration(std::string_view text);

/// As parse_duration, but "off" gives nothing.
sim_result<std::optional<duration>> parse_optional_duration(std::string_view text);

}  // namespace cashier::sim
