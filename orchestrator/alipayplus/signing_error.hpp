// The error value of the signing layer (keys, signature headers, wire times): a sentence that
// says what was expected and what was found, ready for a log line or a config error. Expected
// failures travel as `signing_result<T>`; nothing in this layer throws on bad input.
#pragma once

#include <stdexcept>
#include <string>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

namespace cashier::aplus {

/// Why a key, a Signature header or a wire time was rejected.
struct signing_error {
  std::string message;  ///< human-readable, names what was expected and what was found
  friend bool operator==(const signing_error&, const signing_error&) = default;
};

/// A value or the reason it could not be produced.
template <class T>
using signing_result = boost::system::result<T, signing_error>;

/// Called by `signing_result::value()` on an error: a caller that skipped the check broke an
/// invariant, so this throws std::runtime_error carrying the message.
[[noreturn]] inline void throw_exception_from_error(const signing_error& e,
                                                    const boost::source_location&) {
  throw std::runtime_error(e.message);
}

}  // namespace cashier::aplus
