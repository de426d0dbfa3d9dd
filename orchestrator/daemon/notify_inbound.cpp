// notifyPayment authentication, the signed ack and the shared Alipay+ adapter helpers
// (see notify_inbound.hpp).
#include "orchestrator/daemon/notify_inbound.hpp"

#include <array>
#include <utility>

#include <boost/url/parse.hpp>
#include <openssl/evp.h>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/signature_header.hpp"
#include "orchestrator/alipayplus/signer.hpp"
#include "orchestrator/alipayplus/wire_time.hpp"

namespace cashier::daemon {
namespace {

constexpr std::size_t max_payment_request_id_chars = 64;

notify_check refused(notify_verification v, std::string detail) {
  notify_check out;
  out.verification = v;
  out.detail = std::move(detail);
  return out;
}

// The paymentRequestId of an unverified body, read from a parse that is never trusted: it only
// prompts an inquiry (which asks Alipay+ itself) and labels the audit record.
std::string untrusted_payment_request_id(std::string_view body) {
  const auto parsed = aplus::parse_untrusted(body);
  if (!parsed || !parsed->is_object()) return {};
  const auto* id = parsed->get_object().if_contains("paymentRequestId");
  if (id == nullptr || !id->is_string()) return {};
  const std::string_view text = id->get_string();
  if (aplus::count_chars(text) > max_payment_request_id_chars) return {};
  return std::string(text);
}

// Client-Id, Signature, Request-Time and the signature itself, in that order (cheap checks
// first). Request-Time only has to be readable: it is signed, so an authentic notify far from now
// is Alipay+'s own content, late or replayed, and applying it again changes nothing; the skew is
// noted for the anomaly record instead of refusing the ack (which would make Alipay+ retry for a
// day against a skewed clock).
std::optional<notify_check> authenticate(const net::request& req, const notify_settings& s,
                                         time_point wall_now,
                                         std::optional<std::chrono::seconds>& skew_out) {
  if (!client_id_ok(req, s)) {
    const auto client_id = net::find_header(req.headers, "Client-Id");
    return refused(notify_verification::wrong_client_id,
                   "Client-Id '" + std::string(client_id.value_or("")) + "' is not ours");
  }
  const auto signature = net::find_header(req.headers, "Signature");
  if (!signature || signature->find_first_not_of(" \t") == std::string_view::npos)
    return refused(notify_verification::missing_signature, "no Signature header");
  const auto request_time_text = net::find_header(req.headers, "Request-Time");
  if (!request_time_text)
    return refused(notify_verification::bad_request_time, "no Request-Time header");
  const auto request_time = aplus::parse_wire_time(*request_time_text);
  if (!request_time)
    return refused(notify_verification::bad_request_time, request_time.error().message);
  const auto content =
      aplus::request_content("POST", s.signing_path, s.client_id, *request_time_text, req.body);
  switch (aplus::verify_with(s.keys, *signature, content)) {
    case aplus::verify_outcome::ok:
      break;
    case aplus::verify_outcome::missing_header:
      return refused(notify_verification::missing_signature, "empty Signature header");
    case aplus::verify_outcome::bad_header:
      return refused(notify_verification::bad_signature_header, "malformed Signature header");
    case aplus::verify_outcome::no_key:
    case aplus::verify_outcome::bad_signature:
      return refused(notify_verification::bad_signature, "signature does not verify");
  }
  const auto skew = wall_now > *request_time ? wall_now - *request_time : *request_time - wall_now;
  if (skew > s.max_clock_skew)
    skew_out = std::chrono::duration_cast<std::chrono::seconds>(skew);
  return std::nullopt;
}

// The refusal body: a Result with status F, shaped like the ack so Alipay+'s client reads it.
std::string refusal_body(std::string_view code, std::string_view message) {
  aplus::notify_payment_ack body;
  body.result.code = code;
  body.result.status = 'F';
  body.result.message = message;
  return aplus::encode(body);
}

}  // namespace

boost::system::result<aplus::verifier_keys, net::setup_error> load_verifier_keys(
    const std::vector<public_key_config>& keys) {
  aplus::verifier_keys ring;
  for (const auto& k : keys) {
    auto key = aplus::load_public_key_file(k.path);
    if (!key) return net::setup_error{"alipayplus.alipayplusPublicKey: " + key.error().message};
    if (auto added = ring.add(k.key_version, std::move(*key)); !added)
      return net::setup_error{"alipayplus.alipayplusPublicKey: " + added.error().message};
  }
  if (ring.entries().empty())
    return net::setup_error{"alipayplus.alipayplusPublicKey: no key configured"};
  return ring;
}

boost::system::result<std::string, net::setup_error> notify_signing_path(
    std::string_view notify_url) {
  const auto url = boost::urls::parse_absolute_uri(notify_url);
  if (!url) return net::setup_error{"alipayplus.notifyUrl: not an absolute URL"};
  std::string path(url->encoded_path());
  if (path.empty()) path = "/";
  if (url->has_query()) path += "?" + std::string(url->encoded_query());
  // in_place_value: setup_error is constructible from a string too.
  return {boost::system::in_place_value, std::move(path)};
}

std::string format_headers(const net::header_list& headers) {
  std::string out;
  for (const auto& h : headers) out += h.name + ": " + h.value + "\n";
  return out;
}

std::string_view to_string(notify_verification v) {
  switch (v) {
    case notify_verification::ok:
      return "ok";
    case notify_verification::missing_signature:
      return "missing_signature";
    case notify_verification::bad_signature_header:
      return "bad_signature_header";
    case notify_verification::bad_signature:
      return "bad_signature";
    case notify_verification::wrong_client_id:
      return "wrong_client_id";
    case notify_verification::bad_request_time:
      return "bad_request_time";
    case notify_verification::garbled:
      return "garbled";
  }
  return "unknown";  // unreachable: every enumerator is handled above
}

boost::system::result<notify_settings, net::setup_error> make_notify_settings(
    const config::alipayplus_config& cfg) {
  auto keys = load_verifier_keys(cfg.public_keys);
  if (!keys) return keys.error();
  auto path = notify_signing_path(cfg.notify_url);
  if (!path) return path.error();
  return notify_settings{cfg.client_id, std::move(*keys), std::move(*path),
                         std::chrono::seconds(cfg.max_clock_skew_seconds)};
}

bool client_id_ok(const net::request& req, const notify_settings& settings) {
  return net::find_header(req.headers, "Client-Id") == std::string_view(settings.client_id);
}

std::string notify_digest(std::string_view body, std::string_view signature) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int n = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, body.data(), body.size()) == 1 &&
                  EVP_DigestUpdate(ctx, "", 1) == 1 &&
                  EVP_DigestUpdate(ctx, signature.data(), signature.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, md.data(), &n) == 1;
  EVP_MD_CTX_free(ctx);
  // Without a digest the notify is simply stored (no de-duplication); it still counts.
  if (!ok) return {};
  return std::string(reinterpret_cast<const char*>(md.data()), n);
}

std::string log_safe(std::string_view bytes, std::size_t max_bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  const auto shown = bytes.substr(0, max_bytes);
  out.reserve(shown.size());
  for (const char ch : shown) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += ch;
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  if (bytes.size() > max_bytes) out += "...";
  return out;
}

std::optional<std::uint64_t> log_limiter::admit(std::chrono::steady_clock::time_point now) {
  if (last_ && now - *last_ < interval_) {
    ++dropped_;
    return std::nullopt;
  }
  last_ = now;
  return std::exchange(dropped_, 0);
}

notify_check check_notify(const net::request& req, const notify_settings& settings,
                          time_point wall_now) {
  std::optional<std::chrono::seconds> skew;
  auto refusal = authenticate(req, settings, wall_now, skew);
  const auto signature = net::find_header(req.headers, "Signature").value_or("");
  if (refusal) {
    refusal->payment_request_id = untrusted_payment_request_id(req.body);
    refusal->digest = notify_digest(req.body, signature);
    return std::move(*refusal);
  }
  auto decoded = aplus::decode_notify_payment_request(req.body);
  if (!decoded) {
    auto out = refused(notify_verification::garbled, aplus::to_string(decoded.errors()));
    out.payment_request_id = untrusted_payment_request_id(req.body);
    out.digest = notify_digest(req.body, signature);
    return out;
  }
  notify_check out;
  out.verification = notify_verification::ok;
  out.payment_request_id = decoded->payment_request_id;
  out.message = std::move(*decoded);
  out.skew = skew;
  out.set_aside = aplus::informational_set_aside(*out.message);
  out.digest = notify_digest(req.body, signature);
  return out;
}

net::response reject_response(notify_verification v) {
  net::response res;
  res.status = 401;
  res.headers = {{"Content-Type", "application/json; charset=UTF-8"}};
  switch (v) {
    case notify_verification::ok:  // a caller bug; still refuse rather than ack unverified
    case notify_verification::missing_signature:
    case notify_verification::bad_signature_header:
    case notify_verification::bad_signature:
      res.body = refusal_body("INVALID_SIGNATURE", "The signature is invalid.");
      break;
    case notify_verification::bad_request_time:
      res.body = refusal_body("INVALID_SIGNATURE", "Request-Time is missing or malformed.");
      break;
    case notify_verification::wrong_client_id:
      res.body = refusal_body("INVALID_CLIENT", "The Client-Id is not accepted here.");
      break;
    case notify_verification::garbled:
      res.status = 400;
      res.body =
          refusal_body("PARAM_ILLEGAL", "The notify body is not a valid notifyPayment request.");
      break;
  }
  return res;
}

ack_builder::ack_builder(aplus::private_key key, std::string client_id, std::string key_version,
                         std::string signing_path)
    : key_(std::move(key)),
      client_id_(std::move(client_id)),
      key_version_(std::move(key_version)),
      signing_path_(std::move(signing_path)),
      body_(aplus::encode(aplus::success_ack())) {}

boost::system::result<ack_builder, net::setup_error> ack_builder::create(
    const config::alipayplus_config& cfg) {
  auto key = aplus::load_private_key_file(cfg.private_key);
  if (!key) return net::setup_error{"alipayplus.privateKey: " + key.error().message};
  auto path = notify_signing_path(cfg.notify_url);
  if (!path) return path.error();
  return ack_builder(std::move(*key), cfg.client_id, cfg.key_version, std::move(*path));
}

net::response ack_builder::build_ack(time_point wall_now) {
  const auto ms = to_epoch_ms(wall_now);
  const std::int64_t second = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;  // floor
  if (second_ == second) return cached_;
  const auto response_time = aplus::format_wire_time(from_epoch_ms(second * 1000));
  const auto signature = aplus::sign(
      key_, aplus::response_content("POST", signing_path_, client_id_, response_time, body_));
  ++signatures_;
  cached_.status = 200;
  cached_.headers = {{"Content-Type", "application/json; charset=UTF-8"},
                     {"Client-Id", client_id_},
                     {"Response-Time", response_time},
                     {"Signature", aplus::format_signature_header(key_version_, signature)}};
  cached_.body = body_;
  second_ = second;
  return cached_;
}

}  // namespace cashier::daemon
