// object_reader and error_list (see field_reader.hpp).
#include "orchestrator/alipayplus/field_reader.hpp"

#include <algorithm>

namespace cashier::aplus {

namespace json = boost::json;

void error_list::add(std::string path, std::string message) {
  if (errors_.size() < max_errors) errors_.push_back({std::move(path), std::move(message)});
}

std::size_t count_chars(std::string_view text) {
  // Every code point has exactly one byte that is not a continuation byte (10xxxxxx).
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

object_reader::object_reader(const json::object& object, std::string path, error_list& errors)
    : object_(object), path_(std::move(path)), errors_(errors) {}

std::string object_reader::path_of(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  std::string path = path_;
  path += '.';
  path += key;
  return path;
}

void object_reader::error(std::string_view key, std::string message) {
  errors_.add(path_of(key), std::move(message));
}

const json::value* object_reader::take(std::string_view key, bool required) {
  known_.push_back(key);
  const json::value* value = object_.if_contains(key);
  if (value == nullptr && required) error(key, "missing");
  return value;
}

bool object_reader::check_text(const json::value& value, const std::string& path, const text_rule& rule,
                               error_list& errors) {
  const json::string* s = value.if_string();
  if (s == nullptr) {
    errors.add(path, "not a string");
    return false;
  }
  if (count_chars(*s) > rule.max_chars) {
    errors.add(path, "longer than " + std::to_string(rule.max_chars) + " characters");
    return false;
  }
  if (rule.check == nullptr) return true;
  const std::string_view problem = rule.check(*s);
  if (!problem.empty()) errors.add(path, std::string(problem));
  return problem.empty();
}

bool object_reader::lenient_text(std::string_view key, std::optional<std::string>& out, const text_rule& rule) {
  const json::value* v = object_.if_contains(key);
  if (v == nullptr) return true;
  error_list scratch;
  if (!check_text(*v, path_of(key), rule, scratch)) return false;  // set aside: not marked known
  known_.push_back(key);
  out = std::string(v->get_string());
  return true;
}

std::vector<std::string> set_aside(const json::object& extra_fields,
                                   std::initializer_list<std::string_view> informational) {
  std::vector<std::string> out;
  for (const auto key : informational)
    if (extra_fields.contains(key)) out.emplace_back(key);
  return out;
}

bool object_reader::text(std::string_view key, std::string& out, const text_rule& rule) {
  const json::value* v = take(key, true);
  if (v == nullptr || !check_text(*v, path_of(key), rule, errors_)) return false;
  if (v->get_string().empty()) {
    error(key, "empty");
    return false;
  }
  out = v->get_string();
  return true;
}

bool object_reader::text(std::string_view key, std::optional<std::string>& out, const text_rule& rule) {
  const json::value* v = take(key, false);
  if (v == nullptr) return true;
  if (!check_text(*v, path_of(key), rule, errors_)) return false;
  out = std::string(v->get_string());
  return true;
}

void object_reader::flag(std::string_view key, std::optional<bool>& out) {
  const json::value* v = take(key, false);
  if (v == nullptr) return;
  const json::string* s = v->if_string();
  if (s == nullptr) return error(key, "not a string");
  if (*s != "true" && *s != "false") return error(key, "not \"true\" or \"false\"");
  out = *s == "true";
}

void object_reader::array(std::string_view key, std::optional<std::vector<std::string>>& out,
                          const text_rule& rule) {
  const json::value* v = take(key, false);
  if (v == nullptr) return;
  const json::array* items = v->if_array();
  if (items == nullptr) return error(key, "not an array");
  auto& list = out.emplace();
  for (std::size_t i = 0; i < items->size(); ++i) {
    const json::value& item = (*items)[i];
    if (check_text(item, path_of(key) + '[' + std::to_string(i) + ']', rule, errors_)) {
      list.emplace_back(item.get_string());
    }
  }
}

void object_reader::keep_unknown(json::object& extra) const {
  for (const auto& field : object_) {
    const std::string_view key = field.key();
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) extra.emplace(key, field.value());
  }
}

}  // namespace cashier::aplus
