// Exit codes, error reporting, the payment clock's now and time arguments (see session.hpp).
#include "tools/cashierctl/session.hpp"

#include <charconv>
#include <chrono>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "orchestrator/engine/clock.hpp"

namespace cashier::ctl {

exit_status report_error(const console& io, exit_status status, std::string_view code,
                         std::string_view message) {
  io.err << "cashierctl: " << message << '\n';
  if (io.json) {
    const boost::json::value v = {{"error", {{"code", code}, {"message", message}}}};
    io.out << boost::json::serialize(v) << '\n';
  }
  return status;
}

time_point payment_now(const std::optional<std::string>& clock_origin_ms, double time_scale,
                       time_point wall) {
  if (!clock_origin_ms || time_scale == 1) return wall;
  std::int64_t origin = 0;
  const auto* end = clock_origin_ms->data() + clock_origin_ms->size();
  const auto [ptr, ec] = std::from_chars(clock_origin_ms->data(), end, origin);
  if (ec != std::errc{} || ptr != end) return wall;
  return scaled_clock(from_epoch_ms(origin), time_scale).at_wall(wall);
}

namespace {

/// A cursor over an ISO 8601 text.
struct reader {
  std::string_view text;
  std::size_t pos = 0;

  bool done() const { return pos == text.size(); }
  bool eat(char c) {
    if (done() || text[pos] != c) return false;
    ++pos;
    return true;
  }
  /// Exactly `n` decimal digits.
  std::optional<int> digits(std::size_t n) {
    if (text.size() - pos < n) return std::nullopt;
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const char c = text[pos + i];
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    pos += n;
    return v;
  }
};

std::optional<time_point> parse_date(reader& r) {
  const auto y = r.digits(4);
  if (!y || !r.eat('-')) return std::nullopt;
  const auto m = r.digits(2);
  if (!m || !r.eat('-')) return std::nullopt;
  const auto d = r.digits(2);
  if (!d) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{*y},
                                        std::chrono::month(static_cast<unsigned>(*m)),
                                        std::chrono::day(static_cast<unsigned>(*d))};
  if (!ymd.ok()) return std::nullopt;
  return time_point{std::chrono::sys_days{ymd}};
}

/// "HH:MM[:SS[.mmm]]".
std::optional<duration> parse_clock(reader& r) {
  const auto h = r.digits(2);
  if (!h || *h > 23 || !r.eat(':')) return std::nullopt;
  const auto mi = r.digits(2);
  if (!mi || *mi > 59) return std::nullopt;
  int s = 0, ms = 0;
  if (r.eat(':')) {
    const auto sv = r.digits(2);
    if (!sv || *sv > 59) return std::nullopt;
    s = *sv;
    if (r.eat('.')) {
      const auto f = r.digits(3);
      if (!f) return std::nullopt;
      ms = *f;
    }
  }
  return std::chrono::hours(*h) + std::chrono::minutes(*mi) + std::chrono::seconds(s) +
         duration(ms);
}

/// "Z", "+hh:mm" or "-hh:mm": what to subtract from the local time to get UTC.
std::optional<duration> parse_zone(reader& r) {
  if (r.eat('Z')) return duration{0};
  const bool plus = r.eat('+');
  if (!plus && !r.eat('-')) return std::nullopt;
  const auto h = r.digits(2);
  if (!h || *h > 23 || !r.eat(':')) return std::nullopt;
  const auto m = r.digits(2);
  if (!m || *m > 59) return std::nullopt;
  const duration offset = std::chrono::hours(*h) + std::chrono::minutes(*m);
  return plus ? offset : -offset;
}

std::optional<time_point> parse_iso(std::string_view text) {
  reader r{text};
  auto day = parse_date(r);
  if (!day || r.done()) return day;
  if (!r.eat('T')) return std::nullopt;
  const auto clock = parse_clock(r);
  if (!clock) return std::nullopt;
  const auto zone = parse_zone(r);
  if (!zone || !r.done()) return std::nullopt;
  return *day + *clock - *zone;
}

std::optional<time_point> parse_ago(std::string_view text, time_point now) {
  if (text.size() < 2) return std::nullopt;
  std::int64_t n = 0;
  const auto* end = text.data() + text.size() - 1;
  const auto [ptr, ec] = std::from_chars(text.data(), end, n);
  if (ec != std::errc{} || ptr != end || n < 0 || n > 100'000'000) return std::nullopt;
  switch (text.back()) {
    case 's': return now - std::chrono::seconds(n);
    case 'm': return now - std::chrono::minutes(n);
    case 'h': return now - std::chrono::hours(n);
    case 'd': return now - std::chrono::days(n);
    default: return std::nullopt;
  }
}

}  // namespace

std::optional<time_point> parse_time_arg(std::string_view text, time_point now) {
  if (auto t = parse_iso(text)) return t;
  return parse_ago(text, now);
}

}  // namespace cashier::ctl
