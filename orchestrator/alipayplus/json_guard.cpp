// parse_untrusted(): Boost.JSON's basic_parser driven by our own handler, which builds the value
// with a value_stack (as boost::json::parser does) and, in the same single pass, remembers the
// keys of every open object so a repeated key is refused with its full path. See json_guard.hpp.
#include "orchestrator/alipayplus/json_guard.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

namespace cashier::aplus {
namespace {

namespace json = boost::json;
using boost::system::error_code;

/// One open array or object, for duplicate detection and for naming paths.
struct open_container {
  bool is_object = false;
  std::size_t done = 0;           ///< arrays: elements completed so far (= index of the current one)
  std::vector<std::string> keys;  ///< objects: every key so far, the current one last
};

/// The basic_parser handler: builds the value and checks what Boost.JSON does not.
class guard_handler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  guard_handler() { stack_.reset(); }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) { return open(true); }
  bool on_array_begin(error_code&) { return open(false); }
  bool on_object_end(std::size_t n, error_code& ec) {
    if (!keys_unique(ec)) return false;
    open_.pop_back();
    stack_.push_object(n);
    return completed();
  }
  bool on_array_end(std::size_t n, error_code&) {
    open_.pop_back();
    stack_.push_array(n);
    return completed();
  }
  bool on_key_part(json::string_view s, std::size_t, error_code&) {
    stack_.push_chars(s);
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, error_code&) {
    stack_.push_key(s);
    key_.append(s.data(), s.size());
    open_.back().keys.push_back(std::move(key_));
    key_.clear();
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, error_code&) {
    stack_.push_string(s);
    return completed();
  }
  bool on_number_part(json::string_view s, error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view, error_code&) {
    number_.clear();
    stack_.push_int64(i);
    return completed();
  }
  bool on_uint64(std::uint64_t u, json::string_view, error_code&) {
    number_.clear();
    stack_.push_uint64(u);
    return completed();
  }
  bool on_double(double, json::string_view s, error_code& ec) {
    // Boost.JSON 1.81 converts long mantissas inexactly, so the same text could come back a
    // different double after a write and a read; from_chars rounds correctly. A number beyond
    // a double (1e999, 1e-400) could not be written back at all, so it is refused.
    number_.append(s.data(), s.size());
    double d = 0;
    const auto [end, err] = std::from_chars(number_.data(), number_.data() + number_.size(), d);
    const bool exact = err == std::errc() && end == number_.data() + number_.size() && std::isfinite(d);
    number_.clear();
    if (!exact) return fail(ec, path_here(), "number out of range");
    stack_.push_double(d);
    return completed();
  }
  bool on_bool(bool b, error_code&) {
    stack_.push_bool(b);
    return completed();
  }
  bool on_null(error_code&) {
    stack_.push_null();
    return completed();
  }
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }

  /// The error this handler stopped the parse for, if any.
  const std::optional<field_error>& error() const { return error_; }
  /// The finished value.
  json::value release() { return stack_.release(); }

 private:
  bool open(bool is_object) {
    open_.push_back({is_object, 0, {}});
    return true;
  }
  bool completed() {
    if (!open_.empty() && !open_.back().is_object) ++open_.back().done;
    return true;
  }
  bool keys_unique(error_code& ec) {
    auto& keys = open_.back().keys;  // sorting is harmless: the object is finished
    std::sort(keys.begin(), keys.end());
    const auto twin = std::adjacent_find(keys.begin(), keys.end());
    if (twin == keys.end()) return true;
    return fail(ec, join(path_of_parent(), *twin), "duplicate key");
  }
  bool fail(error_code& ec, std::string path, std::string message) {
    error_ = field_error{std::move(path), std::move(message)};
    ec = boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    return false;
  }
  static std::string join(std::string path, std::string_view key) {
    if (!path.empty()) path += '.';
    path += key;
    return path;
  }
  static void append_step(std::string& path, const open_container& c) {
    if (c.is_object) {
      path = join(std::move(path), c.keys.back());
    } else {
      path += '[' + std::to_string(c.done) + ']';
    }
  }
  /// The path of the innermost open container.
  std::string path_of_parent() const {
    std::string path;
    for (std::size_t i = 0; i + 1 < open_.size(); ++i) append_step(path, open_[i]);
    return path;
  }
  /// The path of the value being parsed now.
  std::string path_here() const {
    std::string path;
    for (const auto& c : open_) append_step(path, c);
    return path;
  }

  json::value_stack stack_;
  std::vector<open_container> open_;
  std::string key_;     ///< the key being read, when split into parts
  std::string number_;  ///< the number being read, when split into parts
  std::optional<field_error> error_;
};

decode_result<json::value> body_error(std::string message) {
  return std::vector<field_error>{{"", std::move(message)}};
}

/// The length of the UTF-8 sequence that `lead` starts, or 0 when no sequence starts so.
std::size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

/// True when the continuation bytes after `lead` are in range (RFC 3629, table 3-7).
bool sequence_valid(const unsigned char* p, std::size_t n) {
  unsigned char lo = 0x80, hi = 0xBF;
  if (p[0] == 0xE0) lo = 0xA0;  // overlong
  if (p[0] == 0xED) hi = 0x9F;  // surrogates
  if (p[0] == 0xF0) lo = 0x90;  // overlong
  if (p[0] == 0xF4) hi = 0x8F;  // above U+10FFFF
  if (n > 1 && (p[1] < lo || p[1] > hi)) return false;
  for (std::size_t i = 2; i < n; ++i) {
    if (p[i] < 0x80 || p[i] > 0xBF) return false;
  }
  return true;
}

}  // namespace

std::string to_string(const field_error& error) {
  if (error.path.empty()) return error.message;
  return error.path + ": " + error.message;
}

std::string to_string(const std::vector<field_error>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += to_string(e);
  }
  return out;
}

std::size_t find_invalid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t n = sequence_length(p[i]);
    if (n == 0 || n > text.size() - i || !sequence_valid(p + i, n)) return i;
    i += n;
  }
  return text.size();
}

decode_result<json::value> parse_untrusted(std::string_view body, const json_limits& limits) {
  if (body.size() > limits.max_body_bytes) {
    return body_error("body larger than " + std::to_string(limits.max_body_bytes) + " bytes");
  }
  if (const std::size_t bad = find_invalid_utf8(body); bad != body.size()) {
    return body_error("not valid UTF-8 at byte " + std::to_string(bad));
  }
  json::parse_options options;
  options.max_depth = limits.max_depth;
  json::basic_parser<guard_handler> parser(options);
  error_code ec;
  const std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
  if (parser.handler().error()) return std::vector<field_error>{*parser.handler().error()};
  if (ec == json::error::too_deep) {
    return body_error("nested deeper than " + std::to_string(limits.max_depth) + " levels");
  }
  if (ec == json::error::extra_data || (!ec && used != body.size())) {
    return body_error("characters after the JSON value at byte " + std::to_string(used));
  }
  if (ec) return body_error("invalid JSON: " + ec.message() + " at byte " + std::to_string(used));
  return parser.handler().release();
}

}  // namespace cashier::aplus
