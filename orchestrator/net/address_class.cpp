// The address classifier (see address_class.hpp): prefix tests on the raw bytes.
#include "orchestrator/net/address_class.hpp"

#include <array>
#include <cstdint>

namespace cashier::net {
namespace {

using v4_bytes = boost::asio::ip::address_v4::bytes_type;
using v6_bytes = boost::asio::ip::address_v6::bytes_type;

address_class classify_v4(const v4_bytes& b) {
  if (b[0] == 127) return address_class::loopback;
  if (b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168))
    return address_class::private_use;
  if (b[0] == 100 && (b[1] & 0xc0) == 64) return address_class::shared;
  if (b[0] == 169 && b[1] == 254) return address_class::link_local;
  if ((b[0] & 0xf0) == 224) return address_class::multicast;
  if (b[0] == 0) return address_class::unspecified;
  if ((b[0] & 0xf0) == 240) return address_class::reserved;
  return address_class::global;
}

/// True when the first `n` bytes of `b` are zero.
bool zeros(const v6_bytes& b, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (b[i] != 0) return false;
  return true;
}

address_class classify_v6(const v6_bytes& b) {
  const v4_bytes tail{b[12], b[13], b[14], b[15]};
  if (zeros(b, 10) && b[10] == 0xff && b[11] == 0xff) return classify_v4(tail);  // ::ffff:a.b.c.d
  if (zeros(b, 15)) return b[15] == 1 ? address_class::loopback : address_class::unspecified;  // ::1, ::
  if (zeros(b, 12)) return classify_v4(tail);  // ::a.b.c.d (deprecated IPv4-compatible form)
  if ((b[0] & 0xfe) == 0xfc) return address_class::private_use;                 // fc00::/7
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return address_class::link_local;  // fe80::/10
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return address_class::private_use; // fec0::/10
  if (b[0] == 0xff) return address_class::multicast;                            // ff00::/8
  return address_class::global;
}

}  // namespace

address_class classify(const boost::asio::ip::address& a) {
  return a.is_v4() ? classify_v4(a.to_v4().to_bytes()) : classify_v6(a.to_v6().to_bytes());
}

std::string_view to_string(address_class c) {
  switch (c) {
    case address_class::global: return "global";
    case address_class::loopback: return "loopback";
    case address_class::private_use: return "private";
    case address_class::shared: return "shared";
    case address_class::link_local: return "link-local";
    case address_class::multicast: return "multicast";
    case address_class::unspecified: return "unspecified";
    case address_class::reserved: return "reserved";
  }
  return "reserved";
}

}  // namespace cashier::net
