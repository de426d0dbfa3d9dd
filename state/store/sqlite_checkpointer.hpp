// Checkpoints the WAL of the store's database on a thread of its own. SQLite's automatic
// checkpoint runs inside the COMMIT that pushes the WAL past 1000 pages, on the committing
// thread: it copies every committed page back into the database file and fsyncs it, a stall of
// several milliseconds every few dozen commits under load (the daemon's reactor thread, all
// requests waiting). The writer connection hands that job to this thread instead: its WAL hook
// wakes the thread when the WAL has grown past `wal_pages`, and the thread runs a PASSIVE
// checkpoint on its own connection, which never blocks the writer or readers. Durability is
// unchanged: every commit is still synced to the WAL before it returns.
//
// SQLite starts the WAL over only after a checkpoint that copied every frame; a background one
// never catches up with a writer that commits without pause, so under sustained load the WAL
// would grow without bound (measured: 600 MB in a minute), and with it crash recovery. At four
// times `wal_pages` the hook therefore checkpoints on the writer itself, right after its
// commit, and stops waking the thread (whose passes would hold the checkpoint lock): the thread
// has copied most frames by then, so this one copies the rest, and the next transaction starts
// the WAL over. Below that, the thread's passes usually catch up by themselves: each copies what
// was committed during the one before, fewer frames every time, until one copies them all.
//
// The thread's connection reads the database once when it opens: a connection that has read
// nothing does not know the database is in WAL mode, and its checkpoints silently copy nothing.
// (Before 2026-11-26 it did not read, so every checkpoint ran on the writer at 4 x `wal_pages`:
// a 12–19 ms stall of the reactor every ~1.5 s at 2,875 notifies/s, and seconds with a million
// rows.) Internal to state/store.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

struct sqlite3;

namespace cashier::store {

/// A background WAL checkpointer for one writer connection.
class wal_checkpointer {
 public:
  /// Opens its own connection to `path` and takes over checkpointing from `writer` (whose WAL
  /// hook it sets): a PASSIVE checkpoint whenever the WAL holds `wal_pages` pages or more.
  /// Throws store_error when its connection cannot be opened.
  wal_checkpointer(const std::string& path, sqlite3* writer, int wal_pages = 1000);
  /// Stops the thread (after the checkpoint under way) and closes its connection.
  ~wal_checkpointer();
  wal_checkpointer(const wal_checkpointer&) = delete;
  wal_checkpointer& operator=(const wal_checkpointer&) = delete;

  /// Checkpoints run so far on this thread that found frames copied into the database (for tests).
  std::uint64_t checkpoints() const;

 private:
  static int on_commit(void* self, sqlite3* db, const char* schema, int pages);
  void run();

  sqlite3* own_ = nullptr;
  sqlite3* writer_ = nullptr;
  int wal_pages_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool due_ = false;
  bool stop_ = false;
  std::uint64_t checkpoints_ = 0;
  std::thread thread_;
};

}  // namespace cashier::store
