// Tests of opening the store on real SQLite files: migrations from an empty file, refusal of a
// newer schema or a foreign file, read-only opening beside a live writer (WAL), and store_error
// for a missing directory, a read-only store and a lock held by another writer.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <chrono>
#include <thread>

#include "state/store/schema.hpp"
#include "state/store/sqlite_checkpointer.hpp"
#include "tests/state/store/store_fixture.hpp"

using namespace cashier;
using namespace cashier::store;
using namespace cashier::store::test;

namespace {

// Runs `f`, which must throw store_error; returns its kind.
template <class F>
std::optional<store_failure> failure_of(F&& f) {
  try {
    f();
  } catch (const store_error& e) {
    MESSAGE(std::string(e.what()));
    return e.kind();
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("an empty file is migrated to the newest schema, in WAL mode") {
  temp_dir dir;
  std::string path = dir.file("empty.db");
  std::ofstream(path).close();
  REQUIRE(std::filesystem::file_size(path) == 0);
  open_sqlite_store(path).reset();
  {
    raw_db raw(path);
    CHECK(raw.text("PRAGMA user_version") == std::to_string(latest_schema_version()));
    CHECK(raw.text("PRAGMA journal_mode") == "wal");
    CHECK(raw.text("PRAGMA application_id") == std::to_string(0x43415348));
    CHECK(raw.text("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
                   "('payments', 'payment_events', 'aplus_calls', 'inbound_notifies', "
                   "'merchant_outbox', 'webhook_attempts', 'anomalies', 'meta')") == "8");
  }
  auto again = open_sqlite_store(path);  // reopening migrates nothing and keeps the data
  insert(*again, sample_payment("r"));
  again.reset();
  CHECK(open_sqlite_store(path)->find("r"));
}

TEST_CASE("a new database and its -wal and -shm files are readable by their owner only, whatever the umask") {
  temp_dir dir;
  const std::string path = dir.file("fresh.db");
  const auto old_mask = ::umask(0);  // the loosest umask: files would be 0644 or 0666
  auto s = open_sqlite_store(path);
  insert(*s, sample_payment("m"));
  ::umask(old_mask);
  for (const auto& f : {path, path + "-wal", path + "-shm"}) {
    CAPTURE(f);
    struct stat st {};
    REQUIRE(::stat(f.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
}

TEST_CASE("a database with a newer schema version is refused, read-write and read-only") {
  temp_dir dir;
  std::string path = dir.file("future.db");
  open_sqlite_store(path).reset();
  {
    raw_db raw(path);
    REQUIRE(raw.exec("PRAGMA user_version = 99") == SQLITE_OK);
  }
  CHECK(failure_of([&] { open_sqlite_store(path); }) == store_failure::schema);
  CHECK(failure_of([&] { open_sqlite_store(path, {.read_only = true}); }) == store_failure::schema);
  raw_db raw(path);
  CHECK(raw.text("PRAGMA user_version") == "99");  // untouched
}

TEST_CASE("a foreign SQLite file is refused") {
  temp_dir dir;
  std::string path = dir.file("foreign.db");
  {
    raw_db raw(path);
    REQUIRE(raw.exec("CREATE TABLE payments (x)") == SQLITE_OK);
  }
  CHECK(failure_of([&] { open_sqlite_store(path); }) == store_failure::corrupt);
}

TEST_CASE("read-only open works while a writer is open (WAL)") {
  temp_dir dir;
  std::string path = dir.file("p.db");
  auto writer = open_sqlite_store(path);
  payment a = insert(*writer, sample_payment("a"));
  auto reader = open_sqlite_store(path, {.read_only = true});
  CHECK(reader->find("a"));
  payment b = insert(*writer, sample_payment("b"));  // the writer is not blocked by the reader
  CHECK(reader->load(b.id));                         // and the reader sees the new commit
  CHECK(reader->open_deadlines().size() == 2);
  CHECK(failure_of([&] { reader->commit_one(create(sample_payment("c"))); }) ==
        store_failure::read_only);
  CHECK(failure_of([&] { reader->set_meta("k", "v"); }) == store_failure::read_only);
  CHECK_FALSE(writer->find("c"));
  CHECK(a.id != b.id);
}

TEST_CASE("read-only open of an unmigrated or missing database fails clearly") {
  temp_dir dir;
  CHECK(failure_of([&] { open_sqlite_store(dir.file("none.db"), {.read_only = true}); }) ==
        store_failure::cannot_open);
  std::string path = dir.file("empty.db");
  std::ofstream(path).close();
  CHECK(failure_of([&] { open_sqlite_store(path, {.read_only = true}); }) == store_failure::schema);
}

TEST_CASE("a read-only database file gives store_error(read_only) when opened read-write") {
  temp_dir dir;
  std::string path = dir.file("p.db");
  open_sqlite_store(path).reset();
  REQUIRE(chmod(path.c_str(), 0444) == 0);
  REQUIRE(chmod(std::filesystem::path(path).parent_path().c_str(), 0755) == 0);
  // Root writes any file, so the open runs in a child that is not root.
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(90);
    std::optional<store_failure> kind;
    try {
      open_sqlite_store(path);
    } catch (const store_error& e) {
      kind = e.kind();
    }
    _exit(!kind ? 91 : *kind == store_failure::read_only ? 0 : 92);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("store_error on a missing directory") {
  temp_dir dir;
  CHECK(failure_of([&] { open_sqlite_store(dir.file("no/such/dir/p.db")); }) ==
        store_failure::cannot_open);
}

TEST_CASE("a lock held by another writer gives store_error and writes nothing of the batch") {
  temp_dir dir;
  std::string path = dir.file("p.db");
  auto s = open_sqlite_store(path, {.busy_timeout_ms = 0});
  payment p = insert(*s, sample_payment("p"));
  raw_db other(path);
  REQUIRE(other.exec("BEGIN IMMEDIATE") == SQLITE_OK);
  payment q = p;
  q.attempt = 2;
  std::vector<transition> batch = {change(p, q), create(sample_payment("n"))};
  CHECK(failure_of([&] { s->commit(batch); }) == store_failure::busy);
  REQUIRE(other.exec("ROLLBACK") == SQLITE_OK);
  CHECK(s->load(p.id)->version == 1);
  CHECK_FALSE(s->find("n"));
  auto out = s->commit(batch);  // the store is usable again and the same batch now commits
  CHECK(out[0].status == commit_status::committed);
  CHECK(out[1].status == commit_status::committed);
}

// A raw SQLite connection in WAL mode with one table t (v BLOB), as a store's writer would be.
static sqlite3* open_wal_writer(const std::string& path) {
  sqlite3* writer = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &writer) == SQLITE_OK);
  REQUIRE(sqlite3_exec(writer, "PRAGMA journal_mode = WAL; CREATE TABLE t (v BLOB)", nullptr, nullptr, nullptr) ==
          SQLITE_OK);
  return writer;
}

TEST_CASE("the WAL is checkpointed on the checkpointer's thread once it passes the threshold") {
  temp_dir dir;
  const std::string path = dir.file("wal.db");
  sqlite3* writer = open_wal_writer(path);
  const auto insert_rows = [&](int n) {
    for (int i = 0; i < n; ++i)
      REQUIRE(sqlite3_exec(writer, "INSERT INTO t VALUES (randomblob(3000))", nullptr, nullptr, nullptr) == SQLITE_OK);
  };
  {
    // 40 pages: the 35 commits below write 2 or 3 frames each, well under the 160 at which the
    // writer would checkpoint itself, so only the thread can have copied them.
    wal_checkpointer checkpointer(path, writer, 40);
    insert_rows(5);  // a few pages: below the threshold
    CHECK(checkpointer.checkpoints() == 0);
    insert_rows(30);  // now past 40 pages: the hook wakes the thread
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (checkpointer.checkpoints() == 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polls the counter, bounded
    CHECK(checkpointer.checkpoints() > 0);
    // The pages were copied into the database file itself (it held only the schema before).
    CHECK(std::filesystem::file_size(path) > 20 * 4096);
  }
  insert_rows(1);  // the hook is gone with the checkpointer; commits go on
  sqlite3_close(writer);
  raw_db raw(path);
  CHECK(raw.text("PRAGMA integrity_check") == "ok");
  CHECK(raw.text("SELECT count(*) FROM t") == "36");
}

TEST_CASE("a writer that never pauses still gets its WAL started over: it stays bounded") {
  temp_dir dir;
  const std::string path = dir.file("busy.db");
  sqlite3* writer = open_wal_writer(path);
  {
    wal_checkpointer checkpointer(path, writer, 20);
    for (int i = 0; i < 600; ++i)  // ~600 pages, commit after commit
      REQUIRE(sqlite3_exec(writer, "INSERT INTO t VALUES (randomblob(3000))", nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  // Without the writer's own checkpoint at 4 x 20 pages the WAL would hold all ~600 pages.
  CHECK(std::filesystem::file_size(path + "-wal") < 200 * 4096);
  sqlite3_close(writer);
}
