# Sources of the Alipay+ RSA256 signing (relative to orchestrator/alipayplus/): Base64, keys,
# the string to sign and RSA256 sign/verify, the Signature header, the Alipay+ key ring, and
# wire times (Request-Time / Response-Time).
set(CASHIER_SIGNING_SOURCES
  base64.cpp
  keys.cpp
  signer.cpp
  signature_header.cpp
  key_ring.cpp
  wire_time.cpp
)
