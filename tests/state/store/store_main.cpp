// The doctest main of the store conformance suite, compiled once per engine
// (CASHIER_STORE_TESTS_ON_POSTGRES 0 or 1) and linked with the same test objects: the SQLite
// runner leaves out the PostgreSQL-only test cases, the PostgreSQL runner the SQLite-only ones,
// so each lists (for ctest) and runs exactly its engine's suite.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

namespace cashier::store::test {
extern const bool store_tests_on_postgres = CASHIER_STORE_TESTS_ON_POSTGRES;
}  // namespace cashier::store::test

int main(int argc, char** argv) {
  doctest::Context context;
  context.addFilter("test-suite-exclude", CASHIER_STORE_TESTS_ON_POSTGRES ? "sqlite_only" : "postgres_only");
  context.applyCommandLine(argc, argv);
  return context.run();
}
