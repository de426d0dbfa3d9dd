# libFuzzer targets of the Alipay+ signing layer: the Signature header parser (with the Base64
# and percent-encoding helpers) and the wire-time parser. Seeds in corpus/fuzz_<name>/.
cashier_add_fuzzer(fuzz_signature_header signing_fuzz/signature_header_fuzz.cpp cashier_alipayplus)
cashier_add_fuzzer(fuzz_wire_time signing_fuzz/wire_time_fuzz.cpp cashier_alipayplus)
