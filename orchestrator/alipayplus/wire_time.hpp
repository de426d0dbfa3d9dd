// Times in Alipay+ headers (Request-Time, Response-Time): what cashierd sends (ISO 8601 with
// milliseconds and a UTC offset) and everything it accepts (ISO 8601 with an offset or `Z` and
// any fraction of a second, or epoch milliseconds). Pure calendar arithmetic with
// std::chrono::year_month_day: no locale, no time zone database, no C library time functions.
#pragma once

#include <string>
#include <string_view>

#include "orchestrator/alipayplus/signing_error.hpp"
#include "state/machine/time.hpp"

namespace cashier::aplus {

/// The earliest instant parse_wire_time accepts: 1970-01-01T00:00:00.000Z.
inline constexpr time_point min_wire_time = time_point{};
/// The latest instant parse_wire_time accepts: 9999-12-31T23:59:59.999Z.
inline constexpr time_point max_wire_time = from_epoch_ms(253'402'300'799'999);

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmm±HH:MM`, shown in local time at `offset_minutes` east of UTC
/// (e.g. 510 → `+08:30`). An offset beyond ±23:59 is ignored (UTC is shown), so the string
/// always names the instant `t`. Instants whose year is outside 0000..9999 give a string that
/// does not parse back.
std::string format_wire_time(time_point t, int offset_minutes = 0);

/// Parses a wire time: `YYYY-MM-DDTHH:MM:SS[.fraction]` followed by `Z` or an offset `±HH:MM`,
/// `±HHMM` or `±HH` (`T`/`Z` of either case; the fraction of any length, truncated to
/// milliseconds), or epoch milliseconds as decimal digits only. Errors for any other shape, an
/// out-of-range field (month 13, February 30, hour 24, second 60, offset hour 24) or an instant
/// outside [min_wire_time, max_wire_time].
signing_result<time_point> parse_wire_time(std::string_view text);

}  // namespace cashier::aplus
