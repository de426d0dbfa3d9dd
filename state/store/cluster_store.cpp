// The engine-neutral part of the cluster port (cluster_store.hpp): the shard function every
// engine and every build must compute alike.
#include "state/store/cluster_store.hpp"

namespace cashier::store {

shard_id shard_of(std::string_view alipay_payment_request_id, shard_id shard_count) {
  // FNV-1a, 64-bit: byte-order free and defined here, never std::hash (which differs between
  // standard libraries and may change between releases of one).
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : alipay_payment_request_id) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  if (shard_count <= 0) return 0;
  return static_cast<shard_id>(h % static_cast<std::uint64_t>(shard_count));
}

}  // namespace cashier::store
