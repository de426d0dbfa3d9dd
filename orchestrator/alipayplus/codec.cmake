# Sources of the Alipay+ message codec (relative to orchestrator/alipayplus/): the untrusted-JSON
# guard, the field reader the decoders are built on, decoding and encoding.
set(CASHIER_CODEC_SOURCES
  json_guard.cpp
  field_reader.cpp
  codec.cpp
  codec_encode.cpp
  refund_codec.cpp
)
