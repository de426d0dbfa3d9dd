// Fuzz target: decode_cancel_payment_response() on arbitrary bytes (see round_trip.hpp for the property checked).
#include "tests/fuzz/codec_fuzz/round_trip.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return cashier::aplus::fuzz::round_trip(cashier::aplus::decode_cancel_payment_response, data, size);
}
