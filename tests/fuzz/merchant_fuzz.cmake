# Fuzz target of the merchant API's JSON bodies (included from tests/fuzz/CMakeLists.txt).
cashier_add_fuzzer(fuzz_merchant_json merchant_fuzz/merchant_json.cpp cashier_merchant)
