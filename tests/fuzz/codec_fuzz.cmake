# libFuzzer targets of the Alipay+ codec: one per decoder, plus the untrusted-JSON guard.
# Sources in codec_fuzz/, seed corpora in corpus/<target>/.
cashier_add_fuzzer(fuzz_json_guard codec_fuzz/json_guard.cpp cashier_alipayplus)
cashier_add_fuzzer(fuzz_decode_pay_request codec_fuzz/pay_request.cpp cashier_alipayplus)
cashier_add_fuzzer(fuzz_decode_pay_response codec_fuzz/pay_response.cpp cashier_alipayplus)
cashier_add_fuzzer(fuzz_decode_inquiry_request codec_fuzz/inquiry_request.cpp cashier_alipayplus)
cashier_add_fuzzer(fuzz_decode_inquiry_response codec_fuzz/inquiry_response.cpp cashier_alipayplus)
cashier_add_fuzzer(fuzz_decode_cancel_response codec_fuzz/cancel_response.cpp cashier_alipayplus)
cashier_add_fuzzer(fuzz_decode_consult_response codec_fuzz/consult_response.cpp cashier_alipayplus)
cashier_add_fuzzer(fuzz_decode_notify_request codec_fuzz/notify_request.cpp cashier_alipayplus)
