// The SQLite schema of the payment store and its forward migrations, versioned with
// `PRAGMA user_version`. proto-docs/schema.md documents the tables and their invariants; keep
// the two in step. Migrations only ever move forward: a database newer than this build is
// refused, never downgraded.
#pragma once

#include <string_view>

#include "state/store/sqlite_db.hpp"

namespace cashier::store {

/// The newest schema version this build knows.
int latest_schema_version();
/// Applies every missing migration step in order, in one transaction. Throws store_error
/// (kind `schema`) when the database is newer than this build or not a cashierd database.
void migrate(sqlite_db& db);
/// Like migrate, but stops at schema version `target` (tests of a migration step use it to
/// build a database as an older cashierd left it).
void migrate_to(sqlite_db& db, int target);
/// The schema version a named migration step brings a database to ("settle_track", ...), or 0
/// when there is no such step; tests use it instead of hard-coding step numbers.
int schema_version_after(std::string_view step_name);
/// For a read-only connection: throws store_error unless the schema is exactly the newest.
void check_schema(sqlite_db& db);

}  // namespace cashier::store
