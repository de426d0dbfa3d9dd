// aplus-sim's side of the Alipay+ signatures: checking the ACQP's signed requests, signing
// answers (and faulting them on purpose: U, 5xx, garbled, unsigned, badly signed), building
// signed notifyPayment requests and deciding whether a notify ack counts. Reuses the
// orchestrator's signer; the transport times (Request-Time, Response-Time) are wall-clock
// instants handed in. No sockets here: messages are the plain net types.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "orchestrator/alipayplus/key_ring.hpp"
#include "orchestrator/alipayplus/keys.hpp"
#include "orchestrator/alipayplus/messages.hpp"
#include "orchestrator/net/http_types.hpp"
#include "state/machine/time.hpp"
#include "tools/aplus-sim/scenario.hpp"

namespace cashier::sim {

/// The keys and names the simulator signs and verifies with.
struct signing_setup {
  aplus::private_key aplus_private;  ///< the simulated Alipay+'s key: signs answers and notifies
  aplus::verifier_keys acqp_keys;    ///< the ACQP's public key: verifies requests and acks
  std::string client_id;             ///< the ACQP's Client-Id, expected on requests and sent back
  std::string key_version;           ///< keyVersion put in our Signature headers ("" to omit)
};

/// Why a request is refused before it is processed: an HTTP status and the F result to answer.
struct request_refusal {
  int http_status = 401;      ///< 401 for signature and client problems
  aplus::api_result result;   ///< F INVALID_SIGNATURE or F INVALID_CLIENT
};

/// Checks an API request: Client-Id must be ours and the Signature must verify over
/// `POST <target>\n<Client-Id>.<Request-Time>.<body>` with the ACQP key. Nothing when it does.
std::optional<request_refusal> check_request(const signing_setup& keys, const net::request& req);

/// {"result": result}: the body of an answer that carries only a result.
std::string result_body(const aplus::api_result& result);

/// An answer with `status` and JSON `body`, signed over `POST <target>\n<client id>.<Response-Time>.<body>`
/// with Client-Id, Response-Time (`wall_now`, shown at UTC+8) and Signature headers.
net::response signed_answer(const signing_setup& keys, std::string_view target, int status, std::string body,
                            time_point wall_now);

/// The answer to send when `fault` hits a call whose real answer is `body` (HTTP 200). timeout,
/// delay and drop, and no fault, give the real answer signed: the server withholds it itself.
/// reset gives a net::reset_status answer whose body is the signed answer's first bytes (the
/// whole head and half the body).
net::response faulted_answer(const signing_setup& keys, std::string_view target, std::string body,
                             std::optional<answer_fault> fault, time_point wall_now);

/// How a notify is signed: normally, or with the deviations a test asks for.
struct notify_signing {
  bool bad_signature = false;  ///< sign other content: a well-formed, wrong signature
  std::string client_id;       ///< Client-Id sent and signed ("" for ours)
  std::string request_time;    ///< Request-Time sent and signed ("" for wall_now at UTC+8)
};

/// A notifyPayment request for `target` (the notify URL's path and query) carrying `body`,
/// signed with the Alipay+ key as `how` says.
net::request signed_notify(const signing_setup& keys, std::string target, std::string body,
                           const notify_signing& how, time_point wall_now);

/// Whether a notify answer is an ack: HTTP 200, a body whose result.resultStatus is S, our
/// Client-Id (when present) and a valid signature by the ACQP key over the notify's target.
/// Nothing when it is; otherwise why not, in a few words.
std::optional<std::string> ack_problem(const signing_setup& keys, std::string_view target, const net::response& res);

}  // namespace cashier::sim
