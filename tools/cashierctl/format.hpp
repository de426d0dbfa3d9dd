// Human output of cashierctl: aligned text tables, ANSI colours (only when asked, i.e. on a
// TTY), relative times ("5m ago", "in 2h"), offsets on a payment's timeline and amounts.
// Every string that came from the database or the wire goes through printable() before it
// reaches a terminal, so a hostile notify body cannot move the cursor or change colours.
// Nothing here reads a clock: `now` is always handed in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "state/machine/money.hpp"
#include "state/machine/payment.hpp"
#include "state/machine/time.hpp"

namespace cashier::ctl {

/// A terminal colour for one piece of text (ignored when colour is off).
enum class tint {
  none,    ///< the terminal's default
  green,   ///< settled well: SUCCESS, delivered, check passed
  red,     ///< needs attention: FAIL, dead webhooks, violations, overdue
  yellow,  ///< in between: CANCELLED, cancel pending, pending webhooks
  cyan,    ///< open: INIT, IN_PROCESS
  dim,     ///< secondary detail
  bold,    ///< headings
};

/// `text` wrapped in the ANSI sequence for `t` when `use_color`, else `text` unchanged.
std::string paint(std::string_view text, tint t, bool use_color);

/// `text` with every control byte (C0, DEL) written as `\xNN`; UTF-8 is kept as is.
std::string printable(std::string_view text);

/// The number of terminal columns `text` takes (UTF-8 code points; no escape sequences).
std::size_t display_width(std::string_view text);

/// One table cell: its text (printable) and colour.
struct cell {
  std::string text;         ///< what is shown
  tint color = tint::none;  ///< how it is painted
};

/// An aligned text table with a header row; the last column is not padded.
class text_table {
 public:
  /// A table with these column headings.
  explicit text_table(std::vector<std::string> headings);
  /// Appends one row (missing cells are empty, extra cells are ignored).
  void add(std::vector<cell> row);
  /// True when no row was added.
  bool empty() const { return rows_.empty(); }
  /// Writes the table, each line indented by `indent` spaces, with the heading row or without.
  void print(std::ostream& out, bool use_color, std::size_t indent = 0, bool headings = true) const;

 private:
  std::vector<std::string> headings_;
  std::vector<std::vector<cell>> rows_;
};

/// `t` relative to `now`: "now", "12s ago", "5m ago", "3h ago", "2d ago", "in 5m"; "-" for
/// `never` and for the zero instant (not set).
std::string relative_time(time_point t, time_point now);

/// A compact span: "850ms", "12s", "5m03s", "3h05m", "2d04h" (negative spans get a '-').
std::string span_text(duration d);

/// An offset on a timeline: "+0ms", "+1.234s", "+5m03s", "+3h05m".
std::string offset_text(duration d);

/// A latency in microseconds as "152ms" or "1.2s" ("<1ms" below a millisecond).
std::string latency_text(std::int64_t latency_us);

/// ISO 8601 UTC with milliseconds, or "-" for `never` and the zero instant.
std::string time_text(time_point t);

/// "1234 USD": the Alipay+ minor-unit string and the currency.
std::string amount_text(const money& m);

/// "SUCCESS" or "SUCCESS/CANCEL": the status, and the pending action when there is one.
std::string state_text(payment_status s, pending_action a);

/// The colour of a payment in this state.
tint state_tint(payment_status s, pending_action a);

}  // namespace cashier::ctl
