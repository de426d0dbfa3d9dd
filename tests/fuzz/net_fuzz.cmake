# Fuzz targets of orchestrator/net (included from tests/fuzz/CMakeLists.txt).
cashier_add_fuzzer(fuzz_http_request net_fuzz/fuzz_http_request.cpp cashier_net_base)
