// Opening the SQLite implementation of payment_store: a single file in WAL mode, written by one
// daemon (one writer connection) and readable at the same time by other connections and
// processes (the CLI opens it read-only). Everything SQLite-specific stays behind this call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "state/store/cluster_store.hpp"
#include "state/store/store.hpp"

namespace cashier::store {

/// How long a commit waits for the disk (SQLite `PRAGMA synchronous`).
enum class sync_mode {
  full,    ///< every commit survives power loss (the default)
  normal,  ///< commits survive a process crash, not a power loss; faster
};

/// Options of open_sqlite_store.
struct sqlite_options {
  sync_mode synchronous = sync_mode::full;  ///< durability of each commit
  bool read_only = false;      ///< open read-only (no migration; commit throws store_error)
  int busy_timeout_ms = 5000;  ///< how long to wait for another connection's lock
  /// Read-write only: checkpoint the WAL on a thread of its own instead of inside the commit
  /// that fills it (sqlite_checkpointer.hpp), so commits never stall on a checkpoint.
  bool background_checkpoint = true;
  /// The rejected-notify budget (guarantee 6): notifies whose verification is neither "ok" nor
  /// "garbled" (records.hpp) are kept
  /// at most this many (the oldest evicted first) ...
  std::int64_t rejected_notify_rows = 10000;
  /// ... and within this many stored bytes (body + headers) in total.
  std::int64_t rejected_notify_bytes = 64 * 1024 * 1024;
  /// The database's clock, which judges every lease (cluster_store.hpp): SQLite has none of its
  /// own. Empty = the wall clock (production); the simulation gives its virtual clock.
  std::function<time_point()> clock = {};
};

/// Bytes of a rejected notify's body that are stored (its size and digest are kept whole).
inline constexpr std::size_t rejected_notify_body_prefix = 2048;
/// Bytes of a rejected notify's header text that are stored.
inline constexpr std::size_t rejected_notify_headers_prefix = 1024;

/// Opens (creating and migrating it when read-write) the SQLite store at `path`. The store object
/// must be used by one thread at a time. Throws store_error (cannot_open, schema, corrupt, ...).
std::unique_ptr<payment_store> open_sqlite_store(const std::string& path,
                                                 const sqlite_options& options = {});
/// The same store with its cluster half (shard leases, fenced commit, inbox): one instance owns
/// every shard (claims them with force), or several processes share the file and fence each other.
std::unique_ptr<clustered_store> open_sqlite_clustered(const std::string& path,
                                                       const sqlite_options& options = {});

}  // namespace cashier::store
