// `cashier-bench notify`: plays Alipay+'s notify side against a running cashierd whose database
// was seeded (seed.hpp). Every notifyPayment is signed with the Alipay+ key before the clock
// starts (on every core: real Alipay+ signs on its own machines, so the client's signing must
// not compete with the daemon), then they are POSTed over N keep-alive connections at
// saturation or on an open-loop schedule. Every answer is checked: HTTP 200, a body with result
// S, our Client-Id, and a signature that verifies with the ACQP public key. The ack signature
// is deterministic per Response-Time second, so each distinct (Response-Time, Signature, body)
// is verified with RSA once and later acks are compared byte for byte with a verified one: every
// ack is verified, at the cost of a few RSA verifies per second. No Asio here.
#pragma once

#include <cstdint>
#include <string>

namespace cashier::bench {

/// What to send.
struct notify_options {
  std::string url;                  ///< cashierd's notify URL (http://127.0.0.1:port/path): also the signed path
  std::string keys_dir;             ///< tools/dev-keys output: aplus_private.pem, acqp_public.pem
  std::string client_id;            ///< the ACQP's Client-Id
  std::string prefix = "bench-";    ///< seeded payments are <prefix><index>
  std::int64_t first = 0;           ///< first index to notify
  std::int64_t count = 0;           ///< notifies to send (one per payment)
  std::size_t connections = 64;     ///< keep-alive connections
  double rate = 0;                  ///< notifies per second; 0 = saturation
  unsigned sign_threads = 0;        ///< threads that pre-sign (0 = every core)
  std::string acked_out;            ///< file: the paymentRequestId of every acked notify, one a line
};

/// Sends the notifies; prints {"mode":"notify","rate","acked","rejected","errors",...}.
/// Returns 0 when every notify was acked with a valid signature, 1 otherwise.
int run_notify(const notify_options& o);

}  // namespace cashier::bench
