# Tests of the Alipay+ message codec (relative to tests/orchestrator/alipayplus/).
set(CASHIER_CODEC_TEST_SOURCES
  json_guard_test.cpp
  codec_test.cpp
  refund_codec_test.cpp
)
