// Tests of the route table's matcher: literal and parameterised paths, HEAD on GET routes, the
// Allow list of a known path with another method, the configurable notify path, and the
// percent-decoding of path parameters (ids with '/' or control characters are refused).
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "orchestrator/daemon/routes.hpp"

namespace cashier::daemon {
namespace {

constexpr std::string_view notify = "/alipayplus/notify";

/// The matched route's id and parameters; fails the test when nothing matched.
route_match matched(std::string_view method, std::string_view target) {
  auto r = match_route(method, target, notify);
  REQUIRE(std::holds_alternative<route_match>(r));
  return std::get<route_match>(r);
}

TEST_CASE("every route matches its own pattern and methods and patterns are unique") {
  std::set<std::pair<std::string_view, std::string_view>> seen;
  for (const auto& r : routes()) {
    CHECK(seen.insert({r.method, r.pattern}).second);
    std::string target(r.pattern == notify_pattern ? notify : r.pattern);
    for (auto at = target.find('{'); at != std::string::npos; at = target.find('{'))
      target.replace(at, target.find('}', at) - at + 1, "x1");
    CAPTURE(target);
    CHECK(matched(r.method, target).matched->id == r.id);
  }
}

TEST_CASE("literal segments win over parameters, parameters come back decoded") {
  CHECK(matched("POST", "/v1/payments/consult").matched->id == route_id::consult);
  CHECK(matched("GET", "/v1/payments/consult").matched->id == route_id::get_payment);
  const auto m = matched("GET", "/v1/payments/shop%3A1.a-b_c?events=true");
  CHECK(m.matched->id == route_id::get_payment);
  CHECK(m.params == std::vector<std::string>{"shop:1.a-b_c"});
  const auto a = matched("POST", "/admin/payments/pr%2d%7E1/inquire");
  CHECK(a.matched->id == route_id::admin_inquire);
  CHECK(a.params == std::vector<std::string>{"pr-~1"});
  CHECK(matched("POST", "/admin/events/evt_1_2/redeliver").params ==
        std::vector<std::string>{"evt_1_2"});
}

TEST_CASE("HEAD is served by GET routes, other methods get the path's Allow list") {
  CHECK(matched("HEAD", "/healthz").matched->id == route_id::healthz);
  const auto wrong = match_route("PUT", "/v1/payments/consult", notify);
  REQUIRE(std::holds_alternative<method_mismatch>(wrong));
  CHECK(std::get<method_mismatch>(wrong).allow == "GET, POST");
  const auto admin = match_route("GET", "/admin/payments/p/cancel", notify);
  REQUIRE(std::holds_alternative<method_mismatch>(admin));
  CHECK(std::get<method_mismatch>(admin).allow == "POST");
  CHECK(std::get<method_mismatch>(match_route("GET", notify, notify)).allow == "POST");
}

TEST_CASE("the notify route follows the configured path") {
  CHECK(matched("POST", "/alipayplus/notify?x=1").matched->id == route_id::notify);
  CHECK(std::holds_alternative<no_route>(match_route("POST", "/alipayplus/notify", "/other")));
  CHECK(std::get<route_match>(match_route("POST", "/other", "/other")).matched->id ==
        route_id::notify);
}

TEST_CASE("the refund routes (issue 16) match with their decoded parameters") {
  auto m = std::get<route_match>(match_route("POST", "/v1/payments/pr%3A1/refunds", notify));
  CHECK(m.matched->id == route_id::create_refund);
  m = std::get<route_match>(match_route("GET", "/v1/payments/pr-1/refunds/r%201", notify));
  CHECK(m.matched->id == route_id::get_refund);
  CHECK(m.params == std::vector<std::string>{"pr-1", "r 1"});
  CHECK(std::get<route_match>(match_route("POST", "/admin/payments/pr-1/refund", notify)).matched->id ==
        route_id::admin_refund);
}

TEST_CASE("unknown paths, wrong segment counts and empty parameters match nothing") {
  for (auto target : {"/", "", "/v1", "/v1/nothing", "/v1/payments/a/b/c", "/v1/payments/",
                      "/admin/payments//cancel", "/admin/payments/a/refunds", "/healthz/x",
                      "/v1/payments/a/refunds/", "/v1/payments//refunds",
                      "/v1/payments//cancel", "relative"}) {
    CAPTURE(target);
    CHECK(std::holds_alternative<no_route>(match_route("POST", target, notify)));
    CHECK(std::holds_alternative<no_route>(match_route("GET", target, notify)));
  }
}

TEST_CASE("parameters with '/', control characters or bad escapes are refused by name") {
  for (auto target : {"/admin/payments/a%2Fb/cancel", "/admin/payments/a%2fb/cancel",
                      "/admin/payments/a%00b/inquire", "/admin/payments/a%0D%0Ab/inquire",
                      "/admin/payments/a%7fb/inquire", "/admin/payments/a%zzb/cancel",
                      "/admin/payments/a%2/cancel", "/admin/payments/abc%/cancel"}) {
    CAPTURE(target);
    const auto r = match_route("POST", target, notify);
    REQUIRE(std::holds_alternative<bad_parameter>(r));
    CHECK(std::get<bad_parameter>(r).name == "paymentRequestId");
  }
  const auto e = match_route("POST", "/admin/events/%2F/redeliver", notify);
  REQUIRE(std::holds_alternative<bad_parameter>(e));
  CHECK(std::get<bad_parameter>(e).name == "eventId");
  CHECK(std::get<bad_parameter>(e).message.find("control character") != std::string::npos);
  const auto g = match_route("GET", "/v1/payments/..%2F..%2Fetc", notify);
  REQUIRE(std::holds_alternative<bad_parameter>(g));
}

TEST_CASE("each path belongs to one listener: the merchant API and notify public, the rest ops") {
  CHECK(listener_of_path(notify, notify) == listener::public_api);
  CHECK(listener_of_path("/v1/payments", notify) == listener::public_api);
  CHECK(listener_of_path("/v1/anything", notify) == listener::public_api);
  CHECK(listener_of_path("/pay/abc", notify) == listener::public_api);
  for (auto p : {"/admin/payments/x/cancel", "/admin", "/metrics", "/healthz", "/readyz", "/", "/v1",
                 "/alipayplus/notify/x", "/unknown"}) {
    CAPTURE(p);
    CHECK(listener_of_path(p, notify) == listener::ops);
  }
  // Every route of the table is served by exactly the listener its path says.
  for (const auto& r : routes()) {
    const bool ops = r.id == route_id::healthz || r.id == route_id::readyz || r.id == route_id::metrics ||
                     r.id == route_id::admin_cancel || r.id == route_id::admin_inquire ||
                     r.id == route_id::admin_redeliver || r.id == route_id::admin_refund;
    const std::string path(r.pattern == notify_pattern ? notify : r.pattern);
    CAPTURE(path);
    CHECK(listener_of_path(path, notify) == (ops ? listener::ops : listener::public_api));
  }
}

}  // namespace
}  // namespace cashier::daemon
