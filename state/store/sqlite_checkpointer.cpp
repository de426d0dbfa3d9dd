// The background WAL checkpointer (see sqlite_checkpointer.hpp).
#include "state/store/sqlite_checkpointer.hpp"

#include <pthread.h>
#include <sqlite3.h>

#include "state/store/store.hpp"

namespace cashier::store {

wal_checkpointer::wal_checkpointer(const std::string& path, sqlite3* writer, int wal_pages)
    : writer_(writer), wal_pages_(wal_pages) {
  // Its own connection, used only on its own thread (SQLITE_OPEN_NOMUTEX, like the writer's).
  const int rc = sqlite3_open_v2(path.c_str(), &own_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string what = "open " + path + " for checkpoints: " + sqlite3_errstr(rc);
    sqlite3_close_v2(own_);
    throw store_error(store_failure::cannot_open, what);
  }
  sqlite3_busy_timeout(own_, 5000);
  // A connection learns that the database is in WAL mode (and opens the WAL) only when it first
  // reads it. Until then SQLite 3.40's sqlite3_wal_checkpoint_v2 returns SQLITE_OK having
  // copied nothing (-1 frames), so read once: every checkpoint of this connection then works.
  if (const int read = sqlite3_exec(own_, "SELECT count(*) FROM sqlite_schema", nullptr, nullptr, nullptr);
      read != SQLITE_OK) {
    const std::string what = "read " + path + " for checkpoints: " + sqlite3_errstr(read);
    sqlite3_close_v2(own_);
    throw store_error(store_failure::cannot_open, what);
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "wal-checkpoint");  // for top -H, perf and tools/bench
    run();
  });
  // Replaces SQLite's automatic checkpoint (itself a WAL hook) on the writer connection.
  sqlite3_wal_hook(writer_, &wal_checkpointer::on_commit, this);
}

wal_checkpointer::~wal_checkpointer() {
  sqlite3_wal_hook(writer_, nullptr, nullptr);
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
  sqlite3_close_v2(own_);
}

std::uint64_t wal_checkpointer::checkpoints() const {
  std::lock_guard lock(mutex_);
  return checkpoints_;
}

// Called by SQLite on the writer's thread after each commit, with the WAL's size in pages.
int wal_checkpointer::on_commit(void* self, sqlite3* writer, const char*, int pages) {
  auto* c = static_cast<wal_checkpointer*>(self);
  if (pages < c->wal_pages_) return SQLITE_OK;
  if (pages >= 4 * c->wal_pages_) {
    // The background checkpoints fell behind a writer that never pauses (see the header). The
    // thread is not woken again: its passes would keep the checkpoint lock from this one. BUSY
    // (its last pass is still running) is fine: the next commit tries again.
    sqlite3_wal_checkpoint_v2(writer, "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    return SQLITE_OK;
  }
  {
    std::lock_guard lock(c->mutex_);
    if (c->due_) return SQLITE_OK;  // already asked; the thread has not run it yet
    c->due_ = true;
  }
  c->wake_.notify_one();
  return SQLITE_OK;
}

void wal_checkpointer::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return due_ || stop_; });
    if (stop_) return;
    due_ = false;
    lock.unlock();
    // PASSIVE: copies what no reader still needs, takes no lock a writer or reader waits for.
    // A failure (I/O, disk full) only leaves the WAL longer; the next one tries again.
    int frames = 0;
    int copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(own_, "main", SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
    lock.lock();
    if (rc == SQLITE_OK && copied > 0) ++checkpoints_;
  }
}

}  // namespace cashier::store
