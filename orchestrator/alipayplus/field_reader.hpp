// Walking a parsed JSON object into a typed struct, collecting field-level errors with their
// paths instead of stopping at the first. The Alipay+ codec is built on it and the merchant API
// can reuse it. The rules are Alipay+'s: every non-array value is a JSON string, an optional
// field is either absent or valid, and keys the struct does not know are kept aside (in the
// struct's `extra_fields`) so the message re-encodes to the same JSON value. Never throws on
// bad input.
//
// Informational fields (customerId, paymentTime, settlement data, ...) may be read leniently: a
// value that breaks its rule is then not an error but set aside, i.e. left in `extra_fields`
// exactly as received (so the message still re-encodes to the same JSON value), and the field
// reads as absent. Callers find what was set aside with set_aside().
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "orchestrator/alipayplus/json_guard.hpp"

namespace cashier::aplus {

/// A field errors list that stops growing at `max_errors` (later errors are dropped).
class error_list {
 public:
  static constexpr std::size_t max_errors = 20;  ///< enough to fix a request in one go
  /// Records `message` for `path`, unless the list is full.
  void add(std::string path, std::string message);
  /// True when nothing was recorded.
  bool empty() const { return errors_.empty(); }
  /// Hands the errors over, leaving the list empty.
  std::vector<field_error> take() { return std::move(errors_); }

 private:
  std::vector<field_error> errors_;
};

/// Checks a string's content: returns "" when `text` is acceptable, else the error message.
using text_check = std::string_view (*)(std::string_view text);

/// How a string field is validated.
struct text_rule {
  std::size_t max_chars = 0;   ///< at most this many characters (UTF-8 code points, not bytes)
  text_check check = nullptr;  ///< content check applied after the length check, or none
};

/// The number of characters (UTF-8 code points) in valid UTF-8 `text`.
std::size_t count_chars(std::string_view text);

/// Reads the fields of one JSON object, recording what is missing or wrong in an error_list.
class object_reader {
 public:
  /// A reader of `object`, found at `path` ("" for the body), reporting into `errors`.
  object_reader(const boost::json::object& object, std::string path, error_list& errors);

  /// Reads required string `key` (non-empty); false (error recorded) when missing or invalid.
  bool text(std::string_view key, std::string& out, const text_rule& rule);
  /// Reads optional string `key` (may be empty); false when present but invalid.
  bool text(std::string_view key, std::optional<std::string>& out, const text_rule& rule);
  /// Reads optional informational string `key` leniently: when present but invalid it is set
  /// aside (kept raw in extra_fields, `out` left empty) instead of being an error. False then.
  bool lenient_text(std::string_view key, std::optional<std::string>& out, const text_rule& rule);
  /// Reads optional informational object `key` leniently with read(object_reader&, T&): when
  /// any of its fields is invalid the whole object is set aside (kept raw), `out` left empty.
  template <class T>
  void lenient_object(std::string_view key, std::optional<T>& out);
  /// Reads optional `key`, which must be the string "true" or "false".
  void flag(std::string_view key, std::optional<bool>& out);
  /// Reads required object `key` with read(object_reader&, T&).
  template <class T>
  void object(std::string_view key, T& out);
  /// Reads optional object `key` with read(object_reader&, T&).
  template <class T>
  void object(std::string_view key, std::optional<T>& out);
  /// Reads optional array `key` of objects, each with read(object_reader&, T&).
  template <class T>
  void array(std::string_view key, std::optional<std::vector<T>>& out);
  /// Reads optional array `key` of strings, each checked with `rule`.
  void array(std::string_view key, std::optional<std::vector<std::string>>& out, const text_rule& rule);

  /// Records an error on `key` of this object (for checks across fields).
  void error(std::string_view key, std::string message);
  /// The path of `key` inside this object, e.g. "order.orderAmount" for key "orderAmount".
  std::string path_of(std::string_view key) const;
  /// Copies every key that no read call above asked for into `extra`.
  void keep_unknown(boost::json::object& extra) const;
  /// The error list this reader reports into.
  error_list& errors() { return errors_; }

 private:
  /// Marks `key` as known and returns its value, or null (recording "missing" if `required`).
  const boost::json::value* take(std::string_view key, bool required);
  /// Checks `value` as a string field at `path`; false (error recorded in `errors`) when it is
  /// not valid.
  static bool check_text(const boost::json::value& value, const std::string& path,
                         const text_rule& rule, error_list& errors);

  const boost::json::object& object_;
  std::string path_;
  error_list& errors_;
  std::vector<std::string_view> known_;
};

/// Reads `value` (found at `path`) into `out` with read(object_reader&, T&), then keeps its
/// unknown keys in `out.extra_fields`. False (error recorded) when `value` is not an object.
template <class T>
bool read_object(const boost::json::value& value, std::string path, error_list& errors, T& out) {
  const boost::json::object* object = value.if_object();
  if (object == nullptr) {
    errors.add(std::move(path), "not an object");
    return false;
  }
  object_reader reader(*object, std::move(path), errors);
  read(reader, out);
  reader.keep_unknown(out.extra_fields);
  return true;
}

template <class T>
void object_reader::object(std::string_view key, T& out) {
  if (const boost::json::value* v = take(key, true)) read_object(*v, path_of(key), errors_, out);
}

template <class T>
void object_reader::object(std::string_view key, std::optional<T>& out) {
  if (const boost::json::value* v = take(key, false)) read_object(*v, path_of(key), errors_, out.emplace());
}

template <class T>
void object_reader::lenient_object(std::string_view key, std::optional<T>& out) {
  const boost::json::value* v = object_.if_contains(key);
  if (v == nullptr) return;
  error_list scratch;
  T value;
  if (!read_object(*v, path_of(key), scratch, value) || !scratch.empty()) return;  // set aside
  known_.push_back(key);
  out = std::move(value);
}

template <class T>
void object_reader::array(std::string_view key, std::optional<std::vector<T>>& out) {
  const boost::json::value* v = take(key, false);
  if (v == nullptr) return;
  const boost::json::array* items = v->if_array();
  if (items == nullptr) return error(key, "not an array");
  auto& list = out.emplace(items->size());
  for (std::size_t i = 0; i < items->size(); ++i) {
    read_object((*items)[i], path_of(key) + '[' + std::to_string(i) + ']', errors_, list[i]);
  }
}

/// The keys of `extra_fields` that name one of `informational` fields: what a lenient read set
/// aside (a key this build knows is only there when its value broke the rule). For the log.
std::vector<std::string> set_aside(const boost::json::object& extra_fields,
                                   std::initializer_list<std::string_view> informational);

}  // namespace cashier::aplus
