// Opening the store a configuration names (`store.engine`): the SQLite file `database`, or the
// PostgreSQL database of `store.postgres`. The daemon and cashierctl --config both open it
// here, so the two can never disagree on which database is meant.
#pragma once

#include <memory>
#include <string>

#include "orchestrator/daemon/config.hpp"
#include "state/store/store.hpp"

namespace cashier::daemon {

/// Opens the configured store: read-write (creating or migrating it, the daemon's writer) or
/// read-only (no migration, every write refused). Throws store::store_error.
std::unique_ptr<store::payment_store> open_configured_store(const config& cfg, bool read_only);

/// How logs and messages name the configured store: the SQLite path, or "PostgreSQL
/// (store.postgres)": never the conninfo, which may hold a password.
std::string store_name(const config& cfg);

}  // namespace cashier::daemon
