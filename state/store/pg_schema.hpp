// The PostgreSQL schema of the payment store and its forward migrations: a list of its own (the
// SQLite steps are in schema.cpp), versioned in the one-row table `cashier_schema`. Tables go
// into the first schema of the connection's search_path, so one database can hold several
// stores (the tests give each test case a schema of its own). proto-docs/schema.md documents
// both dialects; keep them in step.
#pragma once

#include <string_view>

#include "state/store/pg_db.hpp"

namespace cashier::store {

/// The newest PostgreSQL schema version this build knows.
int latest_pg_schema_version();
/// The version a migration step (by name, e.g. "cluster") brings the schema to; 0 when unknown.
int pg_schema_version_after(std::string_view step_name);
/// Applies every missing migration step in order, in one transaction, serialized against other
/// instances migrating the same schema. Throws store_error (kind `schema`) when the database is
/// newer than this build, `corrupt` when the schema holds cashierd-like tables but no version.
void pg_migrate(pg_db& db);
/// For a read-only connection: throws store_error unless the schema is exactly the newest.
void pg_check_schema(pg_db& db);

}  // namespace cashier::store
