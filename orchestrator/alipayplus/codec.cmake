# Sources of the Alipay+ message codec (relative to orchestrator/alipayplus/).
set(CASHIER_CODEC_SOURCES)
