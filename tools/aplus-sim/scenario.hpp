// The faults aplus-sim can inject into one payment, and their parsing. A scenario is chosen per
// paymentRequestId, by tags in order.orderDescription (`[sim:pay-u:2,notify-late]`) or by the
// control endpoint (`POST /sim/scenario`); the names are the contract documented in
// proto-docs/aplus-sim.md. Answer faults are consumed call by call, in the order given; the
// others are flags. Pure data and parsing: no I/O, no clock.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/assert/source_location.hpp>
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include "state/machine/time.hpp"

namespace cashier::sim {

/// An expected failure of the simulator's own logic (bad fault name, bad flag value), worded
/// for the user.
struct sim_error {
  std::string message;  ///< e.g. "unknown fault 'pay-slow'"
  friend bool operator==(const sim_error&, const sim_error&) = default;
};

/// Writes the message (so results print in test failures).
std::ostream& operator<<(std::ostream& os, const sim_error& e);

/// A value or a sim_error.
template <class T>
using sim_result = boost::system::result<T, sim_error>;

/// Lets sim_result::value() throw std::runtime_error when a caller skipped the check.
[[noreturn]] void throw_exception_from_error(const sim_error& e, const boost::source_location& loc);

/// The Alipay+ APIs whose answers can be faulted.
enum class sim_api {
  pay,      ///< /aps/api/v1/payments/pay
  inquiry,  ///< /aps/api/v1/payments/inquiryPayment
  cancel,   ///< /aps/api/v1/payments/cancelPayment
  refund,   ///< /aps/api/v1/payments/refund
};

/// What goes wrong with one answer. The request is always processed first (the order exists,
/// a cancel takes effect), as when a real answer is lost on the way back.
enum class answer_fault {
  timeout,        ///< hold the answer past the client's timeout, then send it
  drop,           ///< close the connection without answering
  unknown,        ///< answer result U / UNKNOWN_EXCEPTION instead of the real answer
  server_error,   ///< answer HTTP 502 with an unsigned HTML body
  garbled,        ///< answer signed bytes that are not valid JSON (the real body, cut short)
  unsigned_body,  ///< answer the real body without a Signature header
  bad_signature,  ///< answer the real body with a well-formed but wrong signature
  http_500,       ///< answer HTTP 500 with an unsigned JSON error body
  reset,          ///< send the first part of the real answer, then reset the TCP connection
  delay,          ///< hold the real answer exactly fault_step::hold (wall), then send it
};

/// What the simulated payer does with the checkout when nobody clicks.
enum class payer_script {
  automatic,  ///< pays after --auto-pay-after, or waits for a click when that is off
  fail,       ///< fails the payment (wallet declines) after the payer delay
  abandon,    ///< abandons the checkout after the payer delay: never pays
};

/// One queued answer fault and how many more calls it applies to.
struct fault_step {
  answer_fault fault;  ///< what happens to the answer
  std::int32_t remaining = 1;  ///< calls left
  std::chrono::milliseconds hold{0};  ///< delay: how long the answer is held (wall time)
  friend bool operator==(const fault_step&, const fault_step&) = default;
};

/// Every fault chosen for one payment.
struct scenario {
  std::array<std::deque<fault_step>, 4> answers;  ///< per sim_api, consumed front first
  bool cancel_window_exceeded = false;  ///< every cancel answers F CANCEL_WINDOW_EXCEED
  bool refund_window_exceeded = false;  ///< every new refund answers F REFUND_WINDOW_EXCEED
  std::int32_t notify_copies = 1;       ///< every notify attempt is sent this many times
  bool notify_late = false;             ///< the first notify goes out at the 1 h retry
  std::optional<duration> notify_after;  ///< every notify attempt is this much later (payment clock)
  bool notify_none = false;             ///< never notify
  std::int32_t notify_bad_signatures = 0;  ///< this many notify attempts are badly signed
  payer_script payer = payer_script::automatic;  ///< what the payer does unless clicked
  bool pay_success_immediately = false;  ///< pay answers S at once (the payer already paid)
  bool redirect_lost = false;            ///< the checkout never sends the payer back (paymentRedirectUrl)
  std::vector<std::string> names;        ///< the faults as given, for the truth JSON
  friend bool operator==(const scenario&, const scenario&) = default;
};

/// The lower-case API name used in fault names ("pay", "inquiry", "cancel", "refund").
std::string_view to_string(sim_api api);
/// The fault-name suffix of `fault` ("timeout", "drop", "u", "5xx", ...).
std::string_view to_string(answer_fault fault);

/// Adds one fault, written `name` or `name:N` (N in 1..1000 calls or attempts; only answer
/// faults, notify-badsig and notify-duplicate take a count), `<api>-delay:<ms>` (1..600000 ms)
/// or `notify-after:<duration>` ("90s", "24h"). Errors name the unknown fault or bad argument.
sim_result<void> add_fault(scenario& s, std::string_view spec);

/// Adds every fault of every `[sim:...]` tag in `description` (comma-separated inside a tag,
/// several tags allowed); text outside tags is ignored. Stops at the first bad fault.
sim_result<void> add_description_tags(scenario& s, std::string_view description);

/// A scenario from a list of fault specs (the control endpoint's "faults").
sim_result<scenario> parse_faults(std::span<const std::string> specs);

/// Appends `more`'s faults after `s`'s (flags are or-ed, counts added).
void merge(scenario& s, const scenario& more);

/// Takes the fault for the next `api` call, if one is queued, and counts it down (the step
/// returned carries the calls left after this one).
std::optional<fault_step> take_answer_fault(scenario& s, sim_api api);

/// True when the next notify attempt (counted from 0) is to be badly signed.
bool notify_badly_signed(const scenario& s, std::int32_t attempt);

/// {"faults": [names as given], "pending": ["pay-u:2", ...]}: what is still to come.
boost::json::value to_json(const scenario& s);

}  // namespace cashier::sim
