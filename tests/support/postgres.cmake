# The throwaway PostgreSQL of the tests labelled `postgres`: the ctest fixture "postgres" starts
# one server (tests/support/pg_scratch) before the first such test and removes it after the
# last. Its directory is derived from the build directory, so its conninfo is known here and
# every test that requires the fixture gets it as CASHIER_TEST_PG. Each test makes its own
# schema (or database) in it, so tests stay independent and may run in parallel.
string(MD5 cashier_pg_hash "${CMAKE_BINARY_DIR}")
string(SUBSTRING "${cashier_pg_hash}" 0 12 cashier_pg_hash)
# Under /tmp: the server runs as the unprivileged `postgres` user, which must reach its socket.
set(CASHIER_PG_DIR "/tmp/cashier-pg-${cashier_pg_hash}")
set(CASHIER_TEST_PG_CONNINFO "host=${CASHIER_PG_DIR} port=5432 user=postgres dbname=postgres")
set(CASHIER_PG_SCRATCH "${PROJECT_SOURCE_DIR}/tests/support/pg_scratch")

add_test(NAME postgres/start COMMAND ${CASHIER_PG_SCRATCH} start ${CASHIER_PG_DIR})
set_tests_properties(postgres/start PROPERTIES FIXTURES_SETUP postgres LABELS postgres)
add_test(NAME postgres/stop COMMAND ${CASHIER_PG_SCRATCH} stop ${CASHIER_PG_DIR})
set_tests_properties(postgres/stop PROPERTIES FIXTURES_CLEANUP postgres LABELS postgres)

# The properties of a test that runs against the fixture's server.
set(CASHIER_POSTGRES_TEST_PROPERTIES
  LABELS postgres
  FIXTURES_REQUIRED postgres
  ENVIRONMENT "CASHIER_TEST_PG=${CASHIER_TEST_PG_CONNINFO}")
