// The admin token gate: only one exact `Authorization: Bearer <adminToken>` passes; anything else,
// and everything when no token is configured, is a 401 with a JSON error.
#include <doctest/doctest.h>

#include <string>

#include "orchestrator/daemon/admin_auth.hpp"

namespace cashier::daemon {
namespace {

const std::string token = "admin_token_0123456789abcdef";

net::request with(net::header_list headers) {
  net::request r;
  r.method = "POST";
  r.target = "/admin/payments/x/cancel";
  r.headers = std::move(headers);
  return r;
}

TEST_CASE("admin_gate: the configured token passes, everything else is 401") {
  const admin_gate gate(token);
  CHECK_FALSE(gate.refuse(with({{"Authorization", "Bearer " + token}})).has_value());
  CHECK_FALSE(gate.refuse(with({{"authorization", "bearer " + token}})).has_value());
  for (const auto& headers : std::vector<net::header_list>{
           {},
           {{"Authorization", "Bearer " + token + "x"}},
           {{"Authorization", "Bearer " + token.substr(1)}},
           {{"Authorization", "Bearer "}},
           {{"Authorization", token}},
           {{"Authorization", "Basic " + token}},
           {{"Authorization", "Bearer " + token}, {"Authorization", "Bearer " + token}},
           {{"X-Admin-Token", token}},
       }) {
    const auto r = gate.refuse(with(headers));
    REQUIRE(r.has_value());
    CHECK(r->status == 401);
    CHECK(r->body.find("\"UNAUTHORIZED\"") != std::string::npos);
  }
}

TEST_CASE("admin_gate: without a configured token admin actions are disabled") {
  const admin_gate gate("");
  const auto r = gate.refuse(with({{"Authorization", "Bearer "}}));
  REQUIRE(r.has_value());
  CHECK(r->status == 401);
  CHECK(r->body.find("ADMIN_DISABLED") != std::string::npos);
  CHECK(gate.refuse(with({{"Authorization", "Bearer anything_at_all_0123"}})).has_value());
}

TEST_CASE("is_admin_path covers /admin and everything below it, nothing else") {
  CHECK(is_admin_path("/admin"));
  CHECK(is_admin_path("/admin/"));
  CHECK(is_admin_path("/admin/payments/x/cancel"));
  CHECK(is_admin_path("/admin/nothing-here"));
  CHECK_FALSE(is_admin_path("/administrator"));
  CHECK_FALSE(is_admin_path("/metrics"));
  CHECK_FALSE(is_admin_path("/v1/admin/x"));
}

}  // namespace
}  // namespace cashier::daemon
