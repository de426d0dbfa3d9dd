// `cashierctl cluster`: the cluster port's view of the store (proto-docs/cluster.md): the
// instances holding shards (from the shard table's owners; how many instances are live comes
// from their presence rows), and every shard with its owner, epoch and lease, each lease judged
// by the DATABASE's clock that the same read returned (never this machine's). On SQLite a single
// cashierd holds every shard; on PostgreSQL it is the shared table.
#include <algorithm>
#include <map>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/engine/payment_view.hpp"
#include "state/store/cluster_store.hpp"
#include "tools/cashierctl/commands.hpp"
#include "tools/cashierctl/format.hpp"

namespace cashier::ctl {
namespace json = boost::json;

namespace {

/// What one owner holds.
struct holding {
  std::int64_t shards = 0;          ///< how many shards
  std::int64_t lapsed = 0;          ///< of which the lease has lapsed
  time_point lease_until{};         ///< the latest lease of them
  std::int64_t min_epoch = 0;       ///< the lowest epoch of them
  std::int64_t max_epoch = 0;       ///< the highest
};

bool lapsed(const store::shard_lease& row, time_point db_now) { return row.lease_until < db_now; }

}  // namespace

exit_status cmd_cluster(const session& s) {
  auto* cluster = dynamic_cast<store::cluster_store*>(&s.store);
  if (cluster == nullptr)
    return report_error(s.io, exit_status::failed, "NO_CLUSTER", "this store has no shard table");
  const auto a = cluster->shards();
  std::map<std::string, holding> owners;  // by owner, "" = free
  for (const auto& row : a.table) {
    auto& h = owners[row.owner];
    h.min_epoch = h.shards == 0 ? row.epoch : std::min(h.min_epoch, row.epoch);
    h.max_epoch = std::max(h.max_epoch, row.epoch);
    h.lease_until = std::max(h.lease_until, row.lease_until);
    ++h.shards;
    if (lapsed(row, a.db_now)) ++h.lapsed;
  }
  if (s.io.json) {
    json::array instances, shards;
    for (const auto& [owner, h] : owners) {
      if (owner.empty()) continue;
      instances.push_back(json::object{{"instance", owner},
                                       {"shards", h.shards},
                                       {"lapsed", h.lapsed},
                                       {"minEpoch", h.min_epoch},
                                       {"maxEpoch", h.max_epoch},
                                       {"leaseUntil", engine::iso8601(h.lease_until)}});
    }
    for (const auto& row : a.table) {
      json::object o{{"shard", row.shard}, {"epoch", row.epoch}};
      o["owner"] = row.owner.empty() ? json::value(nullptr) : json::value(row.owner);
      o["leaseUntil"] = row.owner.empty() ? json::value(nullptr) : json::value(engine::iso8601(row.lease_until));
      o["lapsed"] = !row.owner.empty() && lapsed(row, a.db_now);
      shards.push_back(std::move(o));
    }
    json::object doc{{"databaseNow", engine::iso8601(a.db_now)},
                     {"shardCount", static_cast<std::int64_t>(a.table.size())},
                     {"freeShards", owners.count("") != 0 ? owners.at("").shards : 0},
                     {"liveInstances", a.live_instances},
                     {"instances", std::move(instances)},
                     {"shards", std::move(shards)}};
    s.io.out << json::serialize(doc) << '\n';
    return exit_status::ok;
  }
  text_table inst({"INSTANCE", "SHARDS", "EPOCHS", "LEASE"});
  for (const auto& [owner, h] : owners) {
    const auto epochs = h.min_epoch == h.max_epoch ? std::to_string(h.min_epoch)
                                                   : std::to_string(h.min_epoch) + "-" + std::to_string(h.max_epoch);
    std::string lease = owner.empty() ? "-" : relative_time(h.lease_until, a.db_now);
    if (!owner.empty() && h.lapsed > 0) lease += " (" + std::to_string(h.lapsed) + " lapsed)";
    inst.add({{owner.empty() ? "(free)" : printable(owner), owner.empty() ? tint::dim : tint::none},
              {std::to_string(h.shards)},
              {epochs},
              {lease, !owner.empty() && h.lapsed > 0 ? tint::yellow : tint::none}});
  }
  inst.print(s.io.out, s.io.color);
  s.io.out << a.table.size() << " shards, " << a.live_instances
           << (a.live_instances == 1 ? " live instance" : " live instances") << ", database clock "
           << engine::iso8601(a.db_now) << "\n\n";
  text_table t({"SHARD", "OWNER", "EPOCH", "LEASE"});
  for (const auto& row : a.table) {
    const bool free = row.owner.empty();
    t.add({{std::to_string(row.shard)},
           {free ? "(free)" : printable(row.owner), free ? tint::dim : tint::none},
           {std::to_string(row.epoch)},
           {free ? "-" : relative_time(row.lease_until, a.db_now) + (lapsed(row, a.db_now) ? " (lapsed)" : ""),
            !free && lapsed(row, a.db_now) ? tint::yellow : tint::none}});
  }
  t.print(s.io.out, s.io.color);
  return exit_status::ok;
}

}  // namespace cashier::ctl
