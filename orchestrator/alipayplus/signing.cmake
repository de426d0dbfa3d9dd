# Sources of the Alipay+ RSA256 signing (relative to orchestrator/alipayplus/).
set(CASHIER_SIGNING_SOURCES)
