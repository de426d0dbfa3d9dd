// Human output helpers of cashierctl (see format.hpp).
#include "tools/cashierctl/format.hpp"

#include <algorithm>
#include <cstdio>

#include "orchestrator/engine/payment_view.hpp"

namespace cashier::ctl {

std::string paint(std::string_view text, tint t, bool use_color) {
  std::string_view code;
  switch (t) {
    case tint::none: return std::string(text);
    case tint::green: code = "32"; break;
    case tint::red: code = "31"; break;
    case tint::yellow: code = "33"; break;
    case tint::cyan: code = "36"; break;
    case tint::dim: code = "2"; break;
    case tint::bold: code = "1"; break;
  }
  if (!use_color || text.empty()) return std::string(text);
  return "\x1b[" + std::string(code) + "m" + std::string(text) + "\x1b[0m";
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b != 0x7f) {
      out += c;
      continue;
    }
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", b);
    out += buf;
  }
  return out;
}

std::size_t display_width(std::string_view text) {
  // Continuation bytes (10xxxxxx) do not start a code point.
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

text_table::text_table(std::vector<std::string> headings) : headings_(std::move(headings)) {}

void text_table::add(std::vector<cell> row) {
  row.resize(headings_.size());
  for (auto& c : row) c.text = printable(c.text);
  rows_.push_back(std::move(row));
}

void text_table::print(std::ostream& out, bool use_color, std::size_t indent, bool headings) const {
  std::vector<std::size_t> widths;
  for (const auto& h : headings_) widths.push_back(headings ? display_width(h) : 0);
  for (const auto& row : rows_)
    for (std::size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], display_width(row[i].text));
  const auto line = [&](const std::vector<cell>& cells) {
    std::string text(indent, ' ');
    for (std::size_t i = 0; i < cells.size(); ++i) {
      text += paint(cells[i].text, cells[i].color, use_color);
      if (i + 1 < cells.size())
        text += std::string(widths[i] - display_width(cells[i].text) + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << '\n';
  };
  std::vector<cell> head;
  for (const auto& h : headings_) head.push_back({h, tint::bold});
  if (headings) line(head);
  for (const auto& row : rows_) line(row);
}

namespace {

/// "5m" for 5 minutes: the largest unit that fits, floored.
std::string coarse(duration d) {
  using namespace std::chrono;
  const auto ms = d.count();
  if (ms < 1000) return std::to_string(ms) + "ms";
  if (d < minutes(2)) return std::to_string(duration_cast<seconds>(d).count()) + "s";
  if (d < hours(2)) return std::to_string(duration_cast<minutes>(d).count()) + "m";
  if (d < hours(48)) return std::to_string(duration_cast<hours>(d).count()) + "h";
  return std::to_string(duration_cast<days>(d).count()) + "d";
}

/// Two units, the second zero-padded: "5m03s", "3h05m", "2d04h".
std::string two_units(std::int64_t big, std::string_view big_unit, std::int64_t small,
                      std::string_view small_unit) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld%.*s%02lld%.*s", static_cast<long long>(big),
                static_cast<int>(big_unit.size()), big_unit.data(), static_cast<long long>(small),
                static_cast<int>(small_unit.size()), small_unit.data());
  return buf;
}

}  // namespace

std::string relative_time(time_point t, time_point now) {
  if (t == never || t == time_point{}) return "-";
  const auto d = now - t;
  if (d > duration{-1000} && d < duration{1000}) return "now";
  if (d > duration{0}) return coarse(d) + " ago";
  return "in " + coarse(-d);
}

std::string span_text(duration d) {
  using namespace std::chrono;
  if (d < duration{0}) return "-" + span_text(-d);
  const auto ms = d.count();
  if (ms < 1000) return std::to_string(ms) + "ms";
  const auto s = ms / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return two_units(s / 60, "m", s % 60, "s");
  if (s < 86400) return two_units(s / 3600, "h", s % 3600 / 60, "m");
  return two_units(s / 86400, "d", s % 86400 / 3600, "h");
}

std::string offset_text(duration d) {
  const auto ms = d.count();
  if (ms >= 1000 && ms < 60'000) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "+%lld.%03llds", static_cast<long long>(ms / 1000),
                  static_cast<long long>(ms % 1000));
    return buf;
  }
  const auto text = span_text(d);
  return text.front() == '-' ? text : "+" + text;
}

std::string latency_text(std::int64_t latency_us) {
  if (latency_us < 1000) return "<1ms";
  if (latency_us < 10'000'000) return std::to_string(latency_us / 1000) + "ms";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(latency_us) / 1e6);
  return buf;
}

std::string time_text(time_point t) {
  if (t == never || t == time_point{}) return "-";
  return engine::iso8601(t);
}

std::string amount_text(const money& m) {
  return format_minor_units(m.minor_units) + " " + m.currency.str();
}

std::string state_text(payment_status s, pending_action a) {
  std::string text(to_string(s));
  if (a != pending_action::none) text += "/" + std::string(to_string(a));
  return text;
}

tint state_tint(payment_status s, pending_action a) {
  if (a == pending_action::cancel) return tint::yellow;
  switch (s) {
    case payment_status::init:
    case payment_status::in_process: return tint::cyan;
    case payment_status::success: return tint::green;
    case payment_status::fail: return tint::red;
    case payment_status::cancelled: return tint::yellow;
  }
  return tint::none;
}

}  // namespace cashier::ctl
