// The route table and its matcher (see routes.hpp).
#include "orchestrator/daemon/routes.hpp"

#include <algorithm>
#include <array>
#include <optional>

namespace cashier::daemon {
namespace {

constexpr std::array<route, 15> table{{
    {route_id::notify, "POST", notify_pattern},
    {route_id::create_payment, "POST", "/v1/payments"},
    {route_id::consult, "POST", "/v1/payments/consult"},
    {route_id::get_payment, "GET", "/v1/payments/{paymentRequestId}"},
    {route_id::cancel_payment, "POST", "/v1/payments/{paymentRequestId}/cancel"},
    {route_id::create_refund, "POST", "/v1/payments/{paymentRequestId}/refunds"},
    {route_id::get_refund, "GET", "/v1/payments/{paymentRequestId}/refunds/{refundRequestId}"},
    {route_id::events_feed, "GET", "/v1/events"},
    {route_id::healthz, "GET", "/healthz"},
    {route_id::readyz, "GET", "/readyz"},
    {route_id::metrics, "GET", "/metrics"},
    {route_id::admin_cancel, "POST", "/admin/payments/{paymentRequestId}/cancel"},
    {route_id::admin_inquire, "POST", "/admin/payments/{paymentRequestId}/inquire"},
    {route_id::admin_refund, "POST", "/admin/payments/{paymentRequestId}/refund"},
    {route_id::admin_redeliver, "POST", "/admin/events/{eventId}/redeliver"},
}};

/// The '/'-separated segments of `path` after its leading '/' (still percent-encoded).
std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  for (;;) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    path.remove_prefix(slash + 1);
  }
}

bool is_parameter(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

/// The raw (encoded) parameter values when `path` fits `pattern`, else nothing.
std::optional<std::vector<std::string_view>> fit(std::string_view pattern, std::string_view path,
                                                 std::string_view notify_path) {
  if (pattern == notify_pattern) {
    if (path != notify_path) return std::nullopt;
    return std::vector<std::string_view>{};
  }
  const auto want = segments(pattern);
  const auto got = segments(path);
  if (want.size() != got.size()) return std::nullopt;
  std::vector<std::string_view> raw;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (!is_parameter(want[i])) {
      if (want[i] != got[i]) return std::nullopt;
    } else if (got[i].empty()) {
      return std::nullopt;
    } else {
      raw.push_back(got[i]);
    }
  }
  return raw;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// `text` with every %XX decoded; nothing when a '%' is not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    const int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

/// The names of `pattern`'s parameters, in order.
std::vector<std::string_view> parameter_names(std::string_view pattern) {
  std::vector<std::string_view> names;
  for (auto s : segments(pattern))
    if (is_parameter(s)) names.push_back(s.substr(1, s.size() - 2));
  return names;
}

/// The decoded parameters of a matched route, or the first unusable one.
match_result decode(const route& r, const std::vector<std::string_view>& raw) {
  const auto names = parameter_names(r.pattern);
  route_match m{&r, {}};
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const std::string name(names[i]);
    auto value = percent_decode(raw[i]);
    if (!value) return bad_parameter{name, name + ": invalid percent-encoding"};
    if (value->find('/') != std::string::npos || std::any_of(value->begin(), value->end(), is_control))
      return bad_parameter{name, name + ": contains '/' or a control character once percent-decoded"};
    m.params.push_back(std::move(*value));
  }
  return m;
}

bool method_fits(std::string_view route_method, std::string_view method) {
  return method == route_method || (method == "HEAD" && route_method == "GET");
}

}  // namespace

std::span<const route> routes() { return table; }

listener listener_of_path(std::string_view path, std::string_view notify_path) {
  if (path == notify_path || path.starts_with("/v1/") || path.starts_with("/pay/")) return listener::public_api;
  return listener::ops;
}

match_result match_route(std::string_view method, std::string_view target,
                         std::string_view notify_path) {
  const auto path = target.substr(0, target.find('?'));
  std::vector<std::string_view> allowed;
  for (const auto& r : table) {
    const auto raw = fit(r.pattern, path, notify_path);
    if (!raw) continue;
    if (method_fits(r.method, method)) return decode(r, *raw);
    allowed.push_back(r.method);
  }
  if (allowed.empty()) return no_route{};
  std::sort(allowed.begin(), allowed.end());
  allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
  std::string allow;
  for (auto m : allowed) allow += (allow.empty() ? "" : ", ") + std::string(m);
  return method_mismatch{allow};
}

}  // namespace cashier::daemon
