# Fuzz target of the cluster inbox's codec (included from tests/fuzz/CMakeLists.txt).
cashier_add_fuzzer(fuzz_inbox_codec inbox_fuzz/inbox_codec.cpp cashier_engine)
