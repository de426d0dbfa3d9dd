// Shared helpers for the aplus-sim tests: the development keys on both sides (the simulator's
// and the ACQP's), pay request bodies, requests signed as cashierd signs them, and checks of
// the simulator's answer signatures.
#pragma once

#include <string>
#include <string_view>

#include "orchestrator/alipayplus/key_ring.hpp"
#include "orchestrator/net/http_types.hpp"
#include "tools/aplus-sim/wire.hpp"

namespace cashier::sim::test {

/// The Client-Id the tests use.
inline constexpr std::string_view client_id = "TEST_CLIENT";

/// A pay request body for `id`: USD `value`, notify URL `notify_url`, orderDescription
/// `description`.
std::string pay_body(std::string_view id, std::string_view description = "Coffee",
                     std::string_view value = "450", std::string_view notify_url = "https://127.0.0.1:9/notify");

/// The simulator's keys: the dev-keys Alipay+ private key, the ACQP public key, client_id, "1".
signing_setup sim_keys();

/// The ACQP's view of the keys: its private key and the Alipay+ public key (key version "1").
struct acqp_side {
  aplus::private_key private_key;  ///< signs requests and notify acks
  aplus::verifier_keys aplus_keys;  ///< verifies answers and notifies
};
/// The ACQP side, loaded once.
const acqp_side& acqp();

/// A POST of `body` to `target`, signed by the ACQP as cashierd signs it.
net::request acqp_request(std::string target, std::string body, std::string_view as_client = client_id);

/// True when `res` has a Signature that verifies with the Alipay+ key over `target`.
bool signed_by_aplus(const net::response& res, std::string_view target);

/// A notify ack with `status` and `result_status` ('S' or other), signed by the ACQP for `target`.
net::response acqp_ack(std::string_view target, char result_status, int status = 200);

}  // namespace cashier::sim::test
