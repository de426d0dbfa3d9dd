// Formatting and parsing of Alipay+ wire times (see wire_time.hpp). The parser walks the text
// with a small cursor and checks every field's range before any calendar arithmetic.
#include "orchestrator/alipayplus/wire_time.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <optional>

namespace cashier::aplus {
namespace {

using namespace std::chrono;

constexpr int max_offset_minutes = 23 * 60 + 59;

/// Appends `value` with at least `width` digits, zero-padded (a minus sign first if negative).
void append_padded(std::string& out, long long value, int width) {
  if (value < 0) out.push_back('-');
  std::array<char, 24> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), value < 0 ? -value : value);
  const auto digits = static_cast<int>(r.ptr - buf.data());
  out.append(static_cast<std::size_t>(std::max(0, width - digits)), '0');
  out.append(buf.data(), r.ptr);
}

/// A left-to-right reader over the text being parsed.
class cursor {
 public:
  explicit cursor(std::string_view text) : text_(text) {}
  bool done() const { return pos_ == text_.size(); }
  /// Consumes `c` (or, when given, `alt`) if it is next.
  bool take(char c, char alt = '\0') {
    if (done() || (text_[pos_] != c && (alt == '\0' || text_[pos_] != alt))) return false;
    ++pos_;
    return true;
  }
  /// Consumes exactly `n` digits and returns their value, or -1.
  int digits(int n) {
    int value = 0;
    for (int i = 0; i < n; ++i, ++pos_) {
      if (done() || text_[pos_] < '0' || text_[pos_] > '9') return -1;
      value = value * 10 + (text_[pos_] - '0');
    }
    return value;
  }
  /// Whether the next character is a digit.
  bool at_digit() const { return !done() && text_[pos_] >= '0' && text_[pos_] <= '9'; }
  /// Consumes one or more digits and returns the value of the first three, padded with zeros
  /// (the milliseconds of a fraction), or -1 when there is no digit.
  int fraction_ms() {
    if (!at_digit()) return -1;
    int ms = 0;
    for (int i = 0; i < 3; ++i) ms = ms * 10 + (at_digit() ? text_[pos_++] - '0' : 0);
    while (at_digit()) ++pos_;
    return ms;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

signing_result<time_point> error(std::string why) {
  return signing_error{"bad wire time: " + std::move(why)};
}

signing_result<time_point> in_range(time_point t) {
  if (t < min_wire_time || t > max_wire_time) return error("outside 1970..9999");
  return t;
}

signing_result<time_point> parse_epoch_ms(std::string_view text) {
  std::int64_t ms = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (r.ec != std::errc{} || r.ptr != text.data() + text.size())
    return error("epoch milliseconds out of range");
  return in_range(from_epoch_ms(ms));
}

/// Reads the zone designator: `Z`, `±HH:MM`, `±HHMM` or `±HH`; minutes east of UTC or nullopt.
std::optional<int> parse_offset(cursor& c) {
  if (c.take('Z', 'z')) return 0;
  const bool east = c.take('+');
  if (!east && !c.take('-')) return std::nullopt;
  const int hh = c.digits(2);
  int mm = 0;
  if (!c.done()) {
    c.take(':');
    mm = c.digits(2);
  }
  if (hh < 0 || hh > 23 || mm < 0 || mm > 59) return std::nullopt;
  return (east ? 1 : -1) * (hh * 60 + mm);
}

signing_result<time_point> parse_iso(std::string_view text) {
  cursor c(text);
  const int y = c.digits(4);
  const bool date_ok = y >= 0 && c.take('-');
  const int mo = date_ok ? c.digits(2) : -1;
  const int d = mo >= 0 && c.take('-') ? c.digits(2) : -1;
  if (d < 0 || !c.take('T', 't')) return error("expected YYYY-MM-DDTHH:MM:SS");
  const int h = c.digits(2);
  const int mi = h >= 0 && c.take(':') ? c.digits(2) : -1;
  const int s = mi >= 0 && c.take(':') ? c.digits(2) : -1;
  if (s < 0) return error("expected YYYY-MM-DDTHH:MM:SS");
  const int ms = c.take('.') ? c.fraction_ms() : 0;
  if (ms < 0) return error("no digits after the decimal point");
  const auto offset = parse_offset(c);
  if (!offset || !c.done()) return error("expected Z or a UTC offset such as +08:00 at the end");
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                            day{static_cast<unsigned>(d)}};
  if (!date.ok()) return error("no such date");
  if (h > 23 || mi > 59 || s > 59) return error("no such time of day");
  const auto local = sys_days{date} + hours{h} + minutes{mi} + seconds{s} + milliseconds{ms};
  return in_range(local - minutes{*offset});
}

}  // namespace

std::string format_wire_time(time_point t, int offset_minutes) {
  if (std::abs(offset_minutes) > max_offset_minutes) offset_minutes = 0;
  const auto local = t + minutes{offset_minutes};
  const auto day_start = floor<days>(local);
  const year_month_day date{day_start};
  const hh_mm_ss<milliseconds> tod{local - day_start};
  std::string out;
  out.reserve(29);
  append_padded(out, static_cast<int>(date.year()), 4);
  out.push_back('-');
  append_padded(out, static_cast<unsigned>(date.month()), 2);
  out.push_back('-');
  append_padded(out, static_cast<unsigned>(date.day()), 2);
  out.push_back('T');
  append_padded(out, tod.hours().count(), 2);
  out.push_back(':');
  append_padded(out, tod.minutes().count(), 2);
  out.push_back(':');
  append_padded(out, tod.seconds().count(), 2);
  out.push_back('.');
  append_padded(out, tod.subseconds().count(), 3);
  out.push_back(offset_minutes < 0 ? '-' : '+');
  append_padded(out, std::abs(offset_minutes) / 60, 2);
  out.push_back(':');
  append_padded(out, std::abs(offset_minutes) % 60, 2);
  return out;
}

signing_result<time_point> parse_wire_time(std::string_view text) {
  if (text.empty()) return error("empty");
  if (text.find_first_not_of("0123456789") == std::string_view::npos) return parse_epoch_ms(text);
  return parse_iso(text);
}

}  // namespace cashier::aplus
