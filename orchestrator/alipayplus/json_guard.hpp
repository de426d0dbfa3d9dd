// The one door through which untrusted JSON enters: Alipay+ answers and notifies here, the
// merchant API later. parse_untrusted() bounds the body size and nesting depth, insists on
// valid UTF-8, one JSON value and nothing after it, and refuses objects with a repeated key
// (Boost.JSON alone would silently keep the last one, so two readers could see two different
// messages in the same bytes). It also holds the field-level error type and the result type
// every decoder returns. Nothing here throws on bad input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <boost/json/value.hpp>

namespace cashier::aplus {

/// One thing wrong with an input, e.g. {"order.orderAmount.value", "not a non-negative integer"}.
struct field_error {
  std::string path;     ///< dotted path to the field, `[i]` for array elements; empty for the whole body
  std::string message;  ///< what is wrong, in a few words
  friend bool operator==(const field_error&, const field_error&) = default;
};

/// "path: message", or just the message when the error concerns the whole body.
std::string to_string(const field_error& error);
/// Every error as to_string() gives it, joined with "; ".
std::string to_string(const std::vector<field_error>& errors);

/// A decoded T, or the errors that stopped it being one (never an empty list).
template <class T>
class decode_result {
 public:
  /// A success holding `value`.
  decode_result(T value) : state_(std::move(value)) {}
  /// A failure; `errors` must not be empty.
  decode_result(std::vector<field_error> errors) : state_(std::move(errors)) {}

  /// True when a value was decoded.
  bool has_value() const { return state_.index() == 0; }
  /// Same as has_value().
  explicit operator bool() const { return has_value(); }
  /// The value; precondition: has_value().
  T& value() { return std::get<0>(state_); }
  /// The value; precondition: has_value().
  const T& value() const { return std::get<0>(state_); }
  /// The value; precondition: has_value().
  T& operator*() { return value(); }
  /// The value; precondition: has_value().
  const T& operator*() const { return value(); }
  /// The value's members; precondition: has_value().
  T* operator->() { return &value(); }
  /// The value's members; precondition: has_value().
  const T* operator->() const { return &value(); }
  /// The errors; empty when has_value().
  const std::vector<field_error>& errors() const {
    static const std::vector<field_error> none;
    return has_value() ? none : std::get<1>(state_);
  }

 private:
  std::variant<T, std::vector<field_error>> state_;
};

/// Bounds on an untrusted JSON body.
struct json_limits {
  std::size_t max_body_bytes = 64 * 1024;  ///< larger bodies are refused before parsing
  std::size_t max_depth = 32;              ///< arrays and objects nested deeper are refused
};

/// Parses `body` as exactly one JSON value, or says precisely why not: larger than the limit,
/// invalid UTF-8, syntax error, deeper than the limit, a repeated object key (the error's path
/// names it), a number too large for a double, or characters after the value. Never throws on
/// bad input.
decode_result<boost::json::value> parse_untrusted(std::string_view body, const json_limits& limits = {});

/// The offset of the first byte of `text` that is not part of well-formed UTF-8 (RFC 3629: no
/// overlong forms, no surrogates, nothing above U+10FFFF), or text.size() when all is valid.
std::size_t find_invalid_utf8(std::string_view text);

}  // namespace cashier::aplus
