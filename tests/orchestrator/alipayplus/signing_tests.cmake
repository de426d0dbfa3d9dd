# Tests of the Alipay+ RSA256 signing (paths relative to tests/orchestrator/alipayplus/). The
# openssl_cli helper drives the `openssl` command-line tool as an independent implementation.
set(CASHIER_SIGNING_TEST_SOURCES
  openssl_cli.cpp
  base64_test.cpp
  keys_test.cpp
  signer_test.cpp
  signature_header_test.cpp
  key_ring_test.cpp
  wire_time_test.cpp
)
