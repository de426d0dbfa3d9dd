// open_configured_store and store_name (store_open.hpp).
#include "orchestrator/daemon/store_open.hpp"

#include "state/store/pg_store.hpp"
#include "state/store/sqlite_store.hpp"

namespace cashier::daemon {

std::unique_ptr<store::payment_store> open_configured_store(const config& cfg, bool read_only) {
  switch (cfg.store.engine) {
    case store_engine::sqlite:
      if (read_only) return store::open_sqlite_store(cfg.database, {.read_only = true});
      // The clustered half too: a single instance claims every shard and fences its commits.
      return store::open_sqlite_clustered(
          cfg.database, {.synchronous = cfg.synchronous_full ? store::sync_mode::full : store::sync_mode::normal});
    case store_engine::postgres:
      return store::open_postgres_store(cfg.store.postgres_conninfo, {.read_only = read_only});
  }
  throw store::store_error(store::store_failure::internal, "unknown store engine");
}

std::string store_name(const config& cfg) {
  switch (cfg.store.engine) {
    case store_engine::sqlite:
      return cfg.database;
    case store_engine::postgres:
      return "PostgreSQL (store.postgres)";
  }
  return "?";
}

}  // namespace cashier::daemon
