// The address classifier: every refused range at its edges, both families, and the IPv6 forms
// that carry an IPv4 address (a merchant's host name resolving to ::ffff:127.0.0.1 must be
// refused like 127.0.0.1).
#include "orchestrator/net/address_class.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

using cashier::net::address_class;
using cashier::net::classify;

namespace {

address_class of(const std::string& text) { return classify(boost::asio::ip::make_address(text)); }

}  // namespace

TEST_CASE("address_class: every range, at its edges and just outside") {
  const std::vector<std::pair<std::string, address_class>> cases{
      {"127.0.0.1", address_class::loopback},     {"127.255.255.255", address_class::loopback},
      {"126.255.255.255", address_class::global}, {"128.0.0.0", address_class::global},
      {"10.0.0.0", address_class::private_use},   {"10.255.255.255", address_class::private_use},
      {"11.0.0.0", address_class::global},        {"9.255.255.255", address_class::global},
      {"172.16.0.0", address_class::private_use}, {"172.31.255.255", address_class::private_use},
      {"172.15.255.255", address_class::global},  {"172.32.0.0", address_class::global},
      {"192.168.0.1", address_class::private_use},{"192.169.0.1", address_class::global},
      {"192.167.255.255", address_class::global},
      {"100.64.0.0", address_class::shared},      {"100.127.255.255", address_class::shared},
      {"100.63.255.255", address_class::global},  {"100.128.0.0", address_class::global},
      {"169.254.169.254", address_class::link_local}, {"169.254.0.0", address_class::link_local},
      {"169.253.255.255", address_class::global}, {"169.255.0.0", address_class::global},
      {"224.0.0.1", address_class::multicast},    {"239.255.255.255", address_class::multicast},
      {"223.255.255.255", address_class::global},
      {"0.0.0.0", address_class::unspecified},    {"0.1.2.3", address_class::unspecified},
      {"240.0.0.1", address_class::reserved},     {"255.255.255.255", address_class::reserved},
      {"8.8.8.8", address_class::global},         {"1.1.1.1", address_class::global},
      {"::1", address_class::loopback},           {"::", address_class::unspecified},
      {"::2", address_class::unspecified},        // ::0.0.0.2, an IPv4-compatible form of 0/8
      {"fc00::1", address_class::private_use},    {"fdff:ffff::1", address_class::private_use},
      {"fbff:ffff::1", address_class::global},
      {"fe80::1", address_class::link_local},     {"febf:ffff::1", address_class::link_local},
      {"fec0::1", address_class::private_use},    {"ff02::1", address_class::multicast},
      {"ff0e::1", address_class::multicast},      {"2001:4860:4860::8888", address_class::global},
      {"2606:4700::1111", address_class::global},
      // IPv4-mapped and IPv4-compatible forms are classed as the IPv4 address inside.
      {"::ffff:127.0.0.1", address_class::loopback}, {"::ffff:10.1.2.3", address_class::private_use},
      {"::ffff:169.254.169.254", address_class::link_local}, {"::ffff:100.64.1.1", address_class::shared},
      {"::ffff:0.0.0.0", address_class::unspecified}, {"::ffff:224.0.0.1", address_class::multicast},
      {"::ffff:8.8.8.8", address_class::global},  {"::127.0.0.1", address_class::loopback},
      {"::192.168.1.1", address_class::private_use}, {"::8.8.8.8", address_class::global},
  };
  for (const auto& [text, want] : cases) {
    CAPTURE(text);
    CHECK(to_string(of(text)) == to_string(want));
  }
}

TEST_CASE("address_class: names") {
  CHECK(to_string(address_class::private_use) == "private");
  CHECK(to_string(address_class::link_local) == "link-local");
}
