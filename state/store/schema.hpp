// The SQLite schema of the payment store and its forward migrations, versioned with
// `PRAGMA user_version`. proto-docs/schema.md documents the tables and their invariants; keep
// the two in step. Migrations only ever move forward: a database newer than this build is
// refused, never downgraded.
#pragma once

#include "state/store/sqlite_db.hpp"

namespace cashier::store {

/// The newest schema version this build knows.
int latest_schema_version();
/// Applies every missing migration step in order, in one transaction. Throws store_error
/// (kind `schema`) when the database is newer than this build or not a cashierd database.
void migrate(sqlite_db& db);
/// Applies the missing steps up to `version` only (tests build databases of an older schema,
/// with rows, to check that later steps migrate them).
void migrate_to(sqlite_db& db, int version);
/// For a read-only connection: throws store_error unless the schema is exactly the newest.
void check_schema(sqlite_db& db);

}  // namespace cashier::store
