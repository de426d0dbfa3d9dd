// The notifyPayment endpoint's authentication, without sockets: check_notify() decides whether an
// inbound notify is Alipay+'s (our Client-Id, signature over the raw body bytes) before the codec
// reads it, and notes a Request-Time beyond the allowed skew (an authentic notify is acked
// whatever its Request-Time; the skew is an anomaly); ack_builder signs the ack;
// reject_response() words the refusal. Also what keeps a flood of junk cheap: the Client-Id
// check the network thread runs before anything is written, the digest that lets an identical
// re-sent notify be counted instead of stored, a log-line rate limiter and an escaper for header
// bytes in logs. And the helpers the Alipay+ adapters share: loading the Alipay+ public key ring
// from the config, the signed path of notifyUrl, and headers as audit text. Only plain net
// message types appear here; no Asio, no store, no payment state.
#pragma once

#include <boost/system/result.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/alipayplus/key_ring.hpp"
#include "orchestrator/alipayplus/keys.hpp"
#include "orchestrator/alipayplus/messages.hpp"
#include "orchestrator/daemon/config.hpp"
#include "orchestrator/net/http_types.hpp"
#include "state/machine/time.hpp"

namespace cashier::daemon {

/// Loads the configured Alipay+ public keys into a key ring; the error names the file or the
/// conflicting keyVersion (the daemon prints it and exits 2).
boost::system::result<aplus::verifier_keys, net::setup_error> load_verifier_keys(
    const std::vector<public_key_config>& keys);

/// The path (with `?query` when there is one) of `notify_url`: what Alipay+ signs notifies over
/// and what our acks are signed over, whatever path the listener serves.
boost::system::result<std::string, net::setup_error> notify_signing_path(
    std::string_view notify_url);

/// Header fields as audit text: one "Name: value" line per field, in wire order.
std::string format_headers(const net::header_list& headers);

/// Why an inbound notify was or was not accepted; stored as notify_record::verification.
enum class notify_verification {
  ok,                    ///< authentic, ours and decodable (whatever its Request-Time)
  missing_signature,     ///< no Signature header (or an empty one)
  bad_signature_header,  ///< a Signature header that does not parse (or names another algorithm)
  bad_signature,         ///< the signature verifies under no active Alipay+ key
  wrong_client_id,       ///< Client-Id absent or not ours (refused before anything is written)
  bad_request_time,      ///< Request-Time absent or not a wire time
  garbled,               ///< authentic, but the body is not a valid notifyPayment request
};

/// The snake_case name of `v` ("stale_request_time"), for the notify record, logs and metrics.
std::string_view to_string(notify_verification v);

/// What check_notify needs to know.
struct notify_settings {
  std::string client_id;                     ///< our Client-Id; a notify must carry it
  aplus::verifier_keys keys;                 ///< the active Alipay+ public keys
  std::string signing_path;                  ///< the path of notifyUrl (NOT the served path)
  std::chrono::seconds max_clock_skew{600};  ///< alipayplus.maxClockSkewSeconds
};

/// notify_settings from the config's alipayplus section (loads the public keys).
boost::system::result<notify_settings, net::setup_error> make_notify_settings(
    const config::alipayplus_config& cfg);

/// The verdict on one inbound notify.
struct notify_check {
  notify_verification verification = notify_verification::garbled;  ///< the verdict
  std::optional<aplus::notify_payment_request> message;  ///< the decoded notify, only when ok
  /// When ok, the decoded paymentRequestId. Otherwise whatever a never-trusted parse of the body
  /// found (possibly empty): good only for the rate-limited hint inquiry and the audit record.
  std::string payment_request_id;
  std::string detail;  ///< why it was refused, for the log ("" when ok)
  /// When ok: how far Request-Time is from now, if further than the allowed skew (a clock skew or
  /// a replay: recorded as a `clock_skew` anomaly, never a reason to refuse).
  std::optional<std::chrono::seconds> skew;
  /// When ok: informational fields that broke their rule, set aside raw (not applied; logged).
  std::vector<std::string> set_aside;
  /// The notify's identity for de-duplication: SHA-256 of the body and the Signature header
  /// (binary, 32 bytes). An identical re-send (authentic or not) has the same digest.
  std::string digest;
};

/// True when `req` carries our Client-Id: the one check the network thread runs before anything
/// is written (a notify that fails it is refused and only counted).
bool client_id_ok(const net::request& req, const notify_settings& settings);

/// SHA-256 over `body`, a NUL and `signature` (binary): the digest of notify_check.
std::string notify_digest(std::string_view body, std::string_view signature);

/// `bytes` made safe for a log line: printable ASCII kept, everything else (control bytes,
/// invalid or non-ASCII UTF-8) as \xNN, cut at `max_bytes` of input with "..." appended.
std::string log_safe(std::string_view bytes, std::size_t max_bytes = 128);

/// At most one log line per `interval` for a kind of event that an outsider can repeat at will
/// (rejected notifies); the others are counted and reported with the next line. One thread.
class log_limiter {
 public:
  /// A limiter letting one line through per `interval` (steady clock).
  explicit log_limiter(std::chrono::steady_clock::duration interval) : interval_(interval) {}
  /// Nothing when the line must be dropped (it is counted); else how many were dropped since
  /// the last line that went through.
  std::optional<std::uint64_t> admit(std::chrono::steady_clock::time_point now);

 private:
  std::chrono::steady_clock::duration interval_;
  std::optional<std::chrono::steady_clock::time_point> last_;
  std::uint64_t dropped_ = 0;
};

/// Checks `req` (the notify as received, raw body) against `settings` at wall-clock `wall_now`:
/// Client-Id ours, Signature present, Request-Time readable, signature valid over the raw
/// bytes, and only then the body decoded; a Request-Time beyond the skew is noted in `skew`.
/// Never throws on bad input.
notify_check check_notify(const net::request& req, const notify_settings& settings,
                          time_point wall_now);

/// The unsigned non-200 answer to a notify refused with `v` (401 for authentication failures,
/// 400 for a garbled body), so that Alipay+ retries. `v` must not be ok.
net::response reject_response(notify_verification v);

/// Builds signed notifyPayment acks. Use from one thread: the network thread (cashierd-net) owns
/// it (proto-docs/threads-and-owners.md).
///
/// One RSA signature per second, not per notify: the ack's signed content is the notify path,
/// our Client-Id, Response-Time and the fixed success body, so it only changes when
/// Response-Time does, and RSASSA-PKCS1-v1_5 signatures are deterministic. Response-Time is
/// therefore sent in whole seconds (`.000`) and the signed ack is cached for that second
/// (LIMITS.md: a sign costs ~210 µs, which would otherwise cap notify intake near 4,800/s).
class ack_builder {
 public:
  /// Signs with `key` as `client_id`, keyVersion `key_version`, over the path `signing_path`.
  ack_builder(aplus::private_key key, std::string client_id, std::string key_version,
              std::string signing_path);
  /// An ack_builder from the config's alipayplus section (loads our private key).
  static boost::system::result<ack_builder, net::setup_error> create(
      const config::alipayplus_config& cfg);

  /// The HTTP 200 signed ack {"result":{"resultCode":"SUCCESS","resultStatus":"S",
  /// "resultMessage":"success"}} with Client-Id, Response-Time (now, whole seconds) and Signature.
  net::response build_ack(time_point wall_now);
  /// RSA signatures computed so far (one per distinct Response-Time second).
  std::uint64_t signatures() const { return signatures_; }

 private:
  aplus::private_key key_;
  std::string client_id_;
  std::string key_version_;
  std::string signing_path_;
  std::string body_;                    // the ack body, encoded once
  std::optional<std::int64_t> second_;  // the epoch second `cached_` was signed for
  net::response cached_;
  std::uint64_t signatures_ = 0;
};

}  // namespace cashier::daemon
