// Opening the PostgreSQL implementation of payment_store: one libpq connection per store object,
// to a database (and schema, via the conninfo's search_path) that several cashierd processes
// and the CLI may share. Everything PostgreSQL-specific stays behind this call; the semantics
// are those of store.hpp, the same as the SQLite engine's (the conformance suite in
// tests/state/store runs against both).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "state/store/cluster_store.hpp"

namespace cashier::store {

/// Options of open_postgres_store.
struct postgres_options {
  /// Open read-only: every transaction is READ ONLY, no migration; commit throws store_error.
  bool read_only = false;
  /// How long a write waits for a row lock another connection holds before it fails with
  /// store_failure::busy (PostgreSQL lock_timeout; as sqlite_options::busy_timeout_ms).
  int lock_timeout_ms = 5000;
  /// Send a batch's writes in libpq pipeline mode (one round trip per 128 statements instead of
  /// one per statement) where their outcome is known in advance (pg_store.cpp).
  bool pipeline = true;
  /// The rejected-notify budget (as sqlite_options): at most this many rejected notifies ...
  std::int64_t rejected_notify_rows = 10000;
  /// ... within this many stored bytes (body + headers) in total.
  std::int64_t rejected_notify_bytes = 64 * 1024 * 1024;
  /// Test hook only: when set, added to the database's clock each time a cluster call reads it
  /// (claim, renew, release, shards, post_inbox), so a test moves every connection's view of the
  /// database's time without sleeping. A daemon never sets it (the store's config has no key).
  std::function<duration()> clock_offset{};
  /// Test hook only: when set, the database's clock for the cluster calls is this instead of
  /// the server's clock_timestamp() (the simulation's virtual clock, as sqlite_options::clock).
  std::function<time_point()> clock{};
};

/// True when `conninfo` parses as a libpq connection string (checked without connecting).
bool postgres_conninfo_valid(const std::string& conninfo);

/// Connects with libpq `conninfo` ("host=... dbname=..." or a postgresql:// URI) and, read-write,
/// creates or migrates the schema. The store object must be used by one thread at a time. Throws
/// store_error (cannot_open, schema, corrupt, io, ...); no message carries the conninfo. Both
/// halves: payment_store and the cluster port (cluster_store.hpp, pg_cluster.cpp).
std::unique_ptr<clustered_store> open_postgres_store(const std::string& conninfo,
                                                     const postgres_options& options = {});

}  // namespace cashier::store
