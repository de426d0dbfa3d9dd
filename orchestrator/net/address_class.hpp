// Which kind of IP address a host name resolved to, for the outbound requests whose destination
// a merchant chooses (webhooks): a destination in loopback, private, link-local, multicast,
// unspecified or reserved space would let a merchant make cashierd reach its own admin API,
// cloud metadata endpoints or internal services (server-side request forgery). Pure functions
// over Asio's address type; no I/O, no name resolution.
#pragma once

#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace cashier::net {

/// The class of an address; everything but `global` is refused for merchant-chosen destinations.
enum class address_class {
  global,       ///< an ordinary routable unicast address
  loopback,     ///< 127.0.0.0/8, ::1
  private_use,  ///< RFC 1918 (10/8, 172.16/12, 192.168/16), fc00::/7 unique local, fec0::/10 site-local
  shared,       ///< 100.64.0.0/10, carrier-grade NAT (RFC 6598)
  link_local,   ///< 169.254.0.0/16 (cloud metadata lives here), fe80::/10
  multicast,    ///< 224.0.0.0/4, ff00::/8
  unspecified,  ///< 0.0.0.0/8 ("this network"), ::
  reserved,     ///< 240.0.0.0/4 incl. 255.255.255.255 broadcast
};

/// The class of `a`; an IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible (::a.b.c.d) IPv6
/// address is classed as the IPv4 address it carries.
address_class classify(const boost::asio::ip::address& a);

/// "global", "loopback", "private", "shared", "link-local", "multicast", "unspecified",
/// "reserved" (for logs and webhook attempt errors).
std::string_view to_string(address_class c);

}  // namespace cashier::net
