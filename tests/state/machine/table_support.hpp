// Reading the transition tables of proto-docs/state-machine.md for the tests that replay them
// (transition_table_test.cpp for payments, refund_table_test.cpp for refunds): one table is the
// rows of five cells under a heading, until the next heading of the same or a higher level.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cashier::test {

/// One row: phase | input | next phase | effects | deadline.
struct table_row {
  std::string phase, input, next_phase, effects, deadline;
};

inline std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(' ');
  const auto e = s.find_last_not_of(' ');
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

/// The cells of a Markdown table line, trimmed.
inline std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string cell;
  std::getline(ss, cell, '|');  // before the first bar
  while (std::getline(ss, cell, '|')) out.push_back(trim(cell));
  if (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

/// The rows under `heading` (e.g. "## Transition table"), subsections included.
inline std::vector<table_row> read_table(std::string_view heading) {
  std::ifstream in(CASHIER_SOURCE_DIR "/proto-docs/state-machine.md");
  REQUIRE(in.good());
  const auto level = heading.find_first_not_of('#');
  std::vector<table_row> rows;
  bool in_table = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind('#', 0) == 0 && line.find_first_not_of('#') <= level) in_table = line == heading;
    if (!in_table || line.rfind('|', 0) != 0) continue;
    auto c = cells(line);
    REQUIRE_MESSAGE(c.size() == 5, line);
    if (c[0] == "phase" || c[0].rfind("---", 0) == 0) continue;
    rows.push_back({c[0], c[1], c[2], c[3], c[4]});
  }
  return rows;
}

/// Every row names known phases and inputs, and every (phase, input) pair appears exactly once.
inline void check_every_pair_once(const std::vector<table_row>& rows, const std::vector<std::string>& phases,
                                  const std::vector<std::string>& inputs) {
  std::map<std::pair<std::string, std::string>, int> seen;
  for (const auto& r : rows) {
    INFO("row: " << r.phase << " | " << r.input);
    CHECK(std::find(phases.begin(), phases.end(), r.phase) != phases.end());
    CHECK(std::find(inputs.begin(), inputs.end(), r.input) != inputs.end());
    CHECK(std::find(phases.begin(), phases.end(), r.next_phase) != phases.end());
    ++seen[{r.phase, r.input}];
  }
  for (const auto& ph : phases) {
    for (const auto& in : inputs) {
      INFO("pair: " << ph << " | " << in);
      CHECK(seen[{ph, in}] == 1);
    }
  }
  CHECK(rows.size() == phases.size() * inputs.size());
}

}  // namespace cashier::test
