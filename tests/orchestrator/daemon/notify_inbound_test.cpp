// Tests of notifyPayment authentication and the signed ack with real RSA keys from
// tools/dev-keys: a valid notify, every refusal reason (flipped body byte, wrong Client-Id checked
// first, missing or malformed Request-Time, missing or malformed Signature, the served path instead of the
// notifyUrl path, a garbled body with a valid signature), key rotation, the ack's signature and
// its per-second cache, the refusal answers and loading settings from the config; an authentic
// notify far from now is ok with its skew noted; the digest, log escaping and log limiting.
#include "tests/orchestrator/net/net_test_support.hpp"
#include "orchestrator/daemon/notify_inbound.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <stdexcept>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/signature_header.hpp"
#include "orchestrator/alipayplus/signer.hpp"
#include "orchestrator/alipayplus/wire_time.hpp"

using namespace cashier;
using namespace cashier::daemon;
using namespace std::chrono_literals;

namespace {

using net::test::keys_dir;

aplus::private_key private_key(const std::string& who) {
  return aplus::load_private_key_file(keys_dir() + "/" + who + "_private.pem").value();
}
aplus::public_key public_key(const std::string& who) {
  return aplus::load_public_key_file(keys_dir() + "/" + who + "_public.pem").value();
}

constexpr std::string_view client_id = "2022000000000001";
constexpr std::string_view notify_path = "/hooks/aplus/notify";
const time_point now = from_epoch_ms(1'767'225'600'123);  // 2026-01-01T00:00:00.123Z

const std::string notify_body =
    R"({"acquirerId":"1111088000000000002","pspId":"1022172000000000001",)"
    R"("paymentResult":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},)"
    R"("paymentRequestId":"pay_1089760038715669","paymentId":"20200101234567890134567",)"
    R"("paymentTime":"2020-01-01T12:01:01+08:30","paymentAmount":{"value":"100","currency":"JPY"},)"
    R"("customerId":"1235678","walletBrandName":"KAKAOPAY"})";

notify_settings settings() {
  notify_settings s;
  s.client_id = client_id;
  REQUIRE(s.keys.add("1", public_key("aplus")).has_value());
  s.signing_path = notify_path;
  s.max_clock_skew = 600s;
  return s;
}

// How a test notify is signed and labelled.
struct notify_spec {
  std::string body = notify_body;
  std::string signer = "aplus";  // whose private key signs
  std::string key_version = "1";
  std::string signed_client_id{client_id};
  std::string header_client_id{client_id};
  std::string signed_path{notify_path};
  time_point request_time = now;
};

net::request make_notify(const notify_spec& n) {
  const auto request_time = aplus::format_wire_time(n.request_time, 480);
  const auto content =
      aplus::request_content("POST", n.signed_path, n.signed_client_id, request_time, n.body);
  net::request req;
  req.method = "POST";
  req.target = "/served/elsewhere";
  req.headers = {{"Content-Type", "application/json"},
                 {"client-id", n.header_client_id},
                 {"request-time", request_time},
                 {"signature", aplus::format_signature_header(
                                   n.key_version, aplus::sign(private_key(n.signer), content))}};
  req.body = n.body;
  return req;
}

void set_header(net::request& req, std::string_view name, std::string value) {
  for (auto& h : req.headers)
    if (h.name.size() == name.size() &&
        std::equal(h.name.begin(), h.name.end(), name.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
      h.value = std::move(value);
}

}  // namespace

TEST_CASE("a valid notify is ok and decoded") {
  const auto check = check_notify(make_notify({}), settings(), now);
  CHECK(check.verification == notify_verification::ok);
  CHECK(check.detail.empty());
  REQUIRE(check.message.has_value());
  CHECK(check.message->payment_request_id == "pay_1089760038715669");
  CHECK(check.message->payment_result.status == 'S');
  CHECK(check.message->payment_amount.minor_units == 100);
  CHECK(check.payment_request_id == "pay_1089760038715669");
  CHECK(to_string(check.verification) == "ok");
}

TEST_CASE("one flipped body byte fails the signature, yet the id is read for the hint inquiry") {
  auto req = make_notify({});
  const auto at = req.body.find("KAKAOPAY");
  req.body[at] = 'X';
  const auto check = check_notify(req, settings(), now);
  CHECK(check.verification == notify_verification::bad_signature);
  CHECK_FALSE(check.message.has_value());
  CHECK(check.payment_request_id == "pay_1089760038715669");
}

TEST_CASE("a notify signed for the served path instead of the notifyUrl path fails") {
  notify_spec n;
  n.signed_path = "/served/elsewhere";
  CHECK(check_notify(make_notify(n), settings(), now).verification ==
        notify_verification::bad_signature);
}

TEST_CASE("another Client-Id, or none, is refused even when Alipay+ signed it") {
  notify_spec n;
  n.signed_client_id = n.header_client_id = "2022000000000999";
  const auto check = check_notify(make_notify(n), settings(), now);
  CHECK(check.verification == notify_verification::wrong_client_id);
  CHECK(check.payment_request_id == "pay_1089760038715669");
  auto req = make_notify({});
  std::erase_if(req.headers, [](const net::header& h) { return h.name == "client-id"; });
  CHECK(check_notify(req, settings(), now).verification == notify_verification::wrong_client_id);
}

TEST_CASE("an authentic notify is ok whatever its Request-Time, a skew beyond the window is noted") {
  notify_spec n;
  for (const auto offset : {-601s, 601s, -86400s * 3}) {
    CAPTURE(offset.count());
    n.request_time = now + offset;
    const auto check = check_notify(make_notify(n), settings(), now);
    CHECK(check.verification == notify_verification::ok);
    REQUIRE(check.message.has_value());
    CHECK(check.message->payment_request_id == "pay_1089760038715669");
    REQUIRE(check.skew.has_value());
    CHECK(check.skew->count() == std::chrono::duration_cast<std::chrono::seconds>(offset < 0s ? -offset : offset).count());
  }
  n.request_time = now - 599s;
  const auto within = check_notify(make_notify(n), settings(), now);
  CHECK(within.verification == notify_verification::ok);
  CHECK_FALSE(within.skew.has_value());
}

TEST_CASE("a missing or malformed Request-Time is bad_request_time") {
  auto req = make_notify({});
  set_header(req, "Request-Time", "yesterday");
  CHECK(check_notify(req, settings(), now).verification == notify_verification::bad_request_time);
  std::erase_if(req.headers, [](const net::header& h) { return h.name == "request-time"; });
  CHECK(check_notify(req, settings(), now).verification == notify_verification::bad_request_time);
}

TEST_CASE("a missing, empty or malformed Signature is refused before any verification") {
  auto req = make_notify({});
  set_header(req, "Signature", "algorithm=RSA256,keyVersion=1");
  CHECK(check_notify(req, settings(), now).verification ==
        notify_verification::bad_signature_header);
  set_header(req, "Signature", "  ");
  CHECK(check_notify(req, settings(), now).verification == notify_verification::missing_signature);
  std::erase_if(req.headers, [](const net::header& h) { return h.name == "signature"; });
  const auto check = check_notify(req, settings(), now);
  CHECK(check.verification == notify_verification::missing_signature);
  CHECK(check.payment_request_id == "pay_1089760038715669");
}

TEST_CASE("during a key rotation both keys of the ring verify") {
  auto s = settings();                                       // "1" = aplus
  REQUIRE(s.keys.add("2", public_key("acqp")).has_value());  // stands in for Alipay+'s next key
  notify_spec n;
  n.signer = "acqp";
  n.key_version = "2";
  CHECK(check_notify(make_notify(n), s, now).verification == notify_verification::ok);
  n.key_version = "";  // no keyVersion: every active key is tried
  CHECK(check_notify(make_notify(n), s, now).verification == notify_verification::ok);
  n.key_version = "1";  // names the other active key: only that one is tried
  CHECK(check_notify(make_notify(n), s, now).verification == notify_verification::bad_signature);
  CHECK(check_notify(make_notify(n), settings(), now).verification ==
        notify_verification::bad_signature);
}

TEST_CASE("a garbled body with a valid signature is garbled, not ok") {
  notify_spec n;
  n.body = R"({"paymentRequestId":"pay_42","paymentResult":{"resultCode":"X","resultStatus":"U"}})";
  auto check = check_notify(make_notify(n), settings(), now);
  CHECK(check.verification == notify_verification::garbled);
  CHECK_FALSE(check.message.has_value());
  CHECK(check.payment_request_id == "pay_42");
  CHECK_FALSE(check.detail.empty());
  n.body = "{\"paymentRequestId\":\"pay_42\"";  // not JSON at all
  check = check_notify(make_notify(n), settings(), now);
  CHECK(check.verification == notify_verification::garbled);
  CHECK(check.payment_request_id.empty());
}

TEST_CASE("the ack is signed over the notifyUrl path and verifies with our public key") {
  ack_builder acks(private_key("acqp"), std::string(client_id), "1", std::string(notify_path));
  const auto ack = acks.build_ack(now);
  CHECK(ack.status == 200);
  CHECK(ack.body ==
        R"({"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}})");
  CHECK(net::find_header(ack.headers, "Client-Id") == client_id);
  const auto response_time = std::string(net::find_header(ack.headers, "Response-Time").value());
  CHECK(response_time == "2026-01-01T00:00:00.000+00:00");
  CHECK(aplus::parse_wire_time(response_time).value() == from_epoch_ms(1'767'225'600'000));
  aplus::verifier_keys ours;
  REQUIRE(ours.add("1", public_key("acqp")).has_value());
  const auto signature = net::find_header(ack.headers, "Signature").value();
  CHECK(aplus::parse_signature_header(signature)->key_version == "1");
  CHECK(aplus::verify_with(ours, signature,
                           aplus::response_content("POST", notify_path, client_id, response_time,
                                                   ack.body)) == aplus::verify_outcome::ok);
  CHECK(aplus::verify_with(ours, signature,
                           aplus::response_content("POST", "/served/elsewhere", client_id,
                                                   response_time, ack.body)) ==
        aplus::verify_outcome::bad_signature);
}

TEST_CASE("the signed ack is reused within one second and re-signed in the next") {
  ack_builder acks(private_key("acqp"), std::string(client_id), "1", std::string(notify_path));
  CHECK(acks.signatures() == 0);
  const auto first = acks.build_ack(now);         // .123
  const auto same = acks.build_ack(now + 876ms);  // .999 of the same second
  CHECK(acks.signatures() == 1);
  CHECK(same.headers.size() == first.headers.size());
  CHECK(net::find_header(same.headers, "Signature") ==
        net::find_header(first.headers, "Signature"));
  CHECK(net::find_header(same.headers, "Response-Time") ==
        net::find_header(first.headers, "Response-Time"));
  const auto next = acks.build_ack(now + 877ms);  // the next second
  CHECK(acks.signatures() == 2);
  CHECK(net::find_header(next.headers, "Response-Time") == "2026-01-01T00:00:01.000+00:00");
  CHECK(net::find_header(next.headers, "Signature") !=
        net::find_header(first.headers, "Signature"));
}

TEST_CASE("refusals are unsigned non-200 answers with a resultStatus F") {
  for (const auto v :
       {notify_verification::missing_signature, notify_verification::bad_signature_header,
        notify_verification::bad_signature, notify_verification::bad_request_time, notify_verification::wrong_client_id,
        notify_verification::garbled}) {
    CAPTURE(to_string(v));
    const auto res = reject_response(v);
    CHECK(res.status == (v == notify_verification::garbled ? 400 : 401));
    CHECK_FALSE(net::find_header(res.headers, "Signature").has_value());
    const auto body = aplus::decode_notify_payment_ack(res.body);
    REQUIRE(body.has_value());
    CHECK(body->result.status == 'F');
    CHECK(body->result.code == (v == notify_verification::garbled           ? "PARAM_ILLEGAL"
                                : v == notify_verification::wrong_client_id ? "INVALID_CLIENT"
                                                                            : "INVALID_SIGNATURE"));
  }
}

TEST_CASE("settings, the ack builder and the key ring load from the config") {
  config::alipayplus_config cfg;
  cfg.client_id = client_id;
  cfg.private_key = keys_dir() + "/acqp_private.pem";
  cfg.public_keys = {{keys_dir() + "/aplus_public.pem", "1"},
                     {keys_dir() + "/acqp_public.pem", "2"}};
  cfg.notify_url = "https://acqp.example/hooks/aplus/notify?v=2";
  cfg.max_clock_skew_seconds = 30;
  const auto s = make_notify_settings(cfg);
  REQUIRE(s.has_value());
  CHECK(s->signing_path == "/hooks/aplus/notify?v=2");
  CHECK(s->keys.entries().size() == 2);
  CHECK(s->max_clock_skew == 30s);
  CHECK(s->client_id == client_id);
  CHECK(ack_builder::create(cfg).has_value());
  CHECK(notify_signing_path("https://acqp.example").value() == "/");

  cfg.public_keys = {{keys_dir() + "/aplus_public.pem", "1"},
                     {keys_dir() + "/acqp_public.pem", "1"}};
  CHECK(make_notify_settings(cfg).error().message.find("keyVersion \"1\"") != std::string::npos);
  cfg.public_keys = {{keys_dir() + "/missing.pem", ""}};
  CHECK(load_verifier_keys(cfg.public_keys).error().message.find("missing.pem") !=
        std::string::npos);
  cfg.public_keys = {{keys_dir() + "/aplus_private.pem", ""}};  // a private key is no public key
  CHECK(load_verifier_keys(cfg.public_keys).has_error());
  CHECK(load_verifier_keys({}).has_error());
  cfg.private_key = keys_dir() + "/aplus_public.pem";
  CHECK(ack_builder::create(cfg).error().message.starts_with("alipayplus.privateKey: "));
}

TEST_CASE("headers are kept as Name: value lines") {
  CHECK(format_headers({{"Client-Id", "a"}, {"Signature", "x=1, y=2"}}) ==
        "Client-Id: a\nSignature: x=1, y=2\n");
  CHECK(format_headers({}).empty());
}

TEST_CASE("the Client-Id is checked first: a foreign notify needs no signature check to be refused") {
  auto req = make_notify({});
  CHECK(client_id_ok(req, settings()));
  set_header(req, "Client-Id", "2022000000000999");
  CHECK_FALSE(client_id_ok(req, settings()));
  set_header(req, "Signature", "garbage");  // would be bad_signature_header if it were looked at
  CHECK(check_notify(req, settings(), now).verification == notify_verification::wrong_client_id);
  std::erase_if(req.headers, [](const net::header& h) { return h.name == "client-id"; });
  CHECK_FALSE(client_id_ok(req, settings()));
}

TEST_CASE("the digest identifies a notify by its body and Signature header") {
  const auto a = make_notify({});
  const auto check = check_notify(a, settings(), now);
  CHECK(check.digest.size() == 32);
  CHECK(check.digest == notify_digest(a.body, *net::find_header(a.headers, "Signature")));
  CHECK(check_notify(a, settings(), now).digest == check.digest);  // a re-send: the same digest
  auto b = a;
  set_header(b, "Signature", "algorithm=RSA256,keyVersion=1,signature=junk");
  CHECK(check_notify(b, settings(), now).digest != check.digest);
  CHECK(notify_digest("ab", "c") != notify_digest("a", "bc"));  // the separator counts
}

TEST_CASE("header bytes are logged escaped: no control bytes, no invalid UTF-8, bounded") {
  CHECK(log_safe("2022-ok_ID") == "2022-ok_ID");
  CHECK(log_safe(std::string("a\xff\x00\n\"\\b", 7)) == "a\\xff\\x00\\x0a\"\\x5cb");
  CHECK(log_safe(std::string(300, 'x'), 4) == "xxxx...");
}

TEST_CASE("the log limiter lets one line through per interval and counts the others") {
  log_limiter limiter(10s);
  const auto t = std::chrono::steady_clock::time_point{} + 1000s;
  CHECK(limiter.admit(t) == std::optional<std::uint64_t>(0));
  CHECK_FALSE(limiter.admit(t + 1s).has_value());
  CHECK_FALSE(limiter.admit(t + 9s).has_value());
  CHECK(limiter.admit(t + 10s) == std::optional<std::uint64_t>(2));
  CHECK(limiter.admit(t + 30s) == std::optional<std::uint64_t>(0));
}

TEST_CASE("a verified notify with a malformed informational field is ok, the field set aside") {
  notify_spec n;
  n.body = notify_body;
  n.body.replace(n.body.find("\"1235678\""), 9, "\"" + std::string(80, '7') + "\"");
  n.body.replace(n.body.find("2020-01-01T12:01:01+08:30"), 25, "yesterday at noon");
  const auto check = check_notify(make_notify(n), settings(), now);
  CHECK(check.verification == notify_verification::ok);
  REQUIRE(check.message.has_value());
  CHECK_FALSE(check.message->customer_id.has_value());
  CHECK_FALSE(check.message->payment_time.has_value());
  CHECK(check.set_aside == std::vector<std::string>{"paymentTime", "customerId"});
}
