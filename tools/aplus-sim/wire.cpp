// Signing, verifying and faulting messages for aplus-sim (see wire.hpp).
#include "tools/aplus-sim/wire.hpp"

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/signature_header.hpp"
#include "orchestrator/alipayplus/signer.hpp"
#include "orchestrator/alipayplus/wire_time.hpp"
#include "tools/aplus-sim/truth.hpp"

namespace cashier::sim {
namespace {

constexpr int utc8_minutes = 480;
constexpr std::string_view json_type = "application/json; charset=UTF-8";

std::string header_or_empty(const net::header_list& headers, std::string_view name) {
  const auto value = net::find_header(headers, name);
  return value ? std::string(*value) : std::string();
}

std::string signature_value(const signing_setup& keys, const std::string& content) {
  return aplus::format_signature_header(keys.key_version, aplus::sign(keys.aplus_private, content));
}

net::response unsigned_answer(const signing_setup& keys, int status, std::string body, const std::string& time) {
  net::response r;
  r.status = status;
  r.headers = {{"Content-Type", std::string(json_type)}, {"Client-Id", keys.client_id}, {"Response-Time", time}};
  r.body = std::move(body);
  return r;
}

net::response with_signature(net::response r, const std::string& signature) {
  r.headers.push_back({"Signature", signature});
  return r;
}

// The first bytes of `r` as it would go on the wire: the whole head, then half the body.
std::string first_half_on_wire(const net::response& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " OK\r\n";
  for (const auto& h : r.headers) out += h.name + ": " + h.value + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n";
  return out + r.body.substr(0, r.body.size() / 2);
}

}  // namespace

std::optional<request_refusal> check_request(const signing_setup& keys, const net::request& req) {
  const std::string client_id = header_or_empty(req.headers, "Client-Id");
  if (client_id != keys.client_id)
    return request_refusal{401, make_result('F', "INVALID_CLIENT", "Client-Id is missing or unknown.")};
  const std::string time = header_or_empty(req.headers, "Request-Time");
  const std::string signature = header_or_empty(req.headers, "Signature");
  const auto content = aplus::request_content("POST", req.target, client_id, time, req.body);
  const auto outcome = aplus::verify_with(keys.acqp_keys, signature, content);
  if (time.empty() || outcome != aplus::verify_outcome::ok) {
    const std::string why = time.empty() ? "missing_request_time" : std::string(aplus::to_string(outcome));
    return request_refusal{401, make_result('F', "INVALID_SIGNATURE", "The signature is invalid: " + why + ".")};
  }
  return std::nullopt;
}

std::string result_body(const aplus::api_result& result) {
  aplus::notify_payment_ack only;
  only.result = result;
  return aplus::encode(only);
}

net::response signed_answer(const signing_setup& keys, std::string_view target, int status, std::string body,
                            time_point wall_now) {
  const std::string time = aplus::format_wire_time(wall_now, utc8_minutes);
  const auto content = aplus::response_content("POST", target, keys.client_id, time, body);
  return with_signature(unsigned_answer(keys, status, std::move(body), time), signature_value(keys, content));
}

net::response faulted_answer(const signing_setup& keys, std::string_view target, std::string body,
                             std::optional<answer_fault> fault, time_point wall_now) {
  if (!fault) return signed_answer(keys, target, 200, std::move(body), wall_now);
  const std::string time = aplus::format_wire_time(wall_now, utc8_minutes);
  switch (*fault) {
    case answer_fault::timeout:
    case answer_fault::delay:
    case answer_fault::drop: return signed_answer(keys, target, 200, std::move(body), wall_now);
    case answer_fault::reset: {
      const auto full = signed_answer(keys, target, 200, std::move(body), wall_now);
      return net::response{net::reset_status, {}, first_half_on_wire(full), {}};
    }
    case answer_fault::http_500:
      return net::response{500, {{"Content-Type", std::string(json_type)}},
                           result_body(make_result('U', "UNKNOWN_EXCEPTION", "Internal server error.")), {}};
    case answer_fault::unknown:
      return signed_answer(keys, target, 200,
                           result_body(make_result('U', "UNKNOWN_EXCEPTION", "An unknown exception occurred.")),
                           wall_now);
    case answer_fault::server_error: {
      net::response r{502, {{"Content-Type", "text/html"}}, "<html><body>502 Bad Gateway</body></html>\n", {}};
      return r;
    }
    case answer_fault::garbled: body.resize(body.size() / 2); return signed_answer(keys, target, 200, std::move(body), wall_now);
    case answer_fault::unsigned_body: return unsigned_answer(keys, 200, std::move(body), time);
    case answer_fault::bad_signature: {
      // A real signature, but over other bytes: well formed, and wrong for this answer.
      const auto other = aplus::response_content("POST", target, keys.client_id, time, body + " ");
      return with_signature(unsigned_answer(keys, 200, std::move(body), time), signature_value(keys, other));
    }
  }
  return signed_answer(keys, target, 200, std::move(body), wall_now);
}

net::request signed_notify(const signing_setup& keys, std::string target, std::string body,
                           const notify_signing& how, time_point wall_now) {
  const std::string time = how.request_time.empty() ? aplus::format_wire_time(wall_now, utc8_minutes) : how.request_time;
  const std::string client_id = how.client_id.empty() ? keys.client_id : how.client_id;
  const auto content = aplus::request_content("POST", target, client_id, time,
                                              how.bad_signature ? body + " " : std::string_view(body));
  net::request r;
  r.method = "POST";
  r.headers = {{"Content-Type", std::string(json_type)},
               {"Client-Id", client_id},
               {"Request-Time", time},
               {"Signature", signature_value(keys, content)}};
  r.target = std::move(target);
  r.body = std::move(body);
  return r;
}

std::optional<std::string> ack_problem(const signing_setup& keys, std::string_view target, const net::response& res) {
  if (res.status != 200) return "HTTP " + std::to_string(res.status);
  const std::string client_id = header_or_empty(res.headers, "Client-Id");
  if (!client_id.empty() && client_id != keys.client_id) return "ack from another Client-Id";
  const std::string time = header_or_empty(res.headers, "Response-Time");
  if (time.empty()) return "ack without Response-Time";
  const auto content = aplus::response_content("POST", target, keys.client_id, time, res.body);
  const auto outcome = aplus::verify_with(keys.acqp_keys, header_or_empty(res.headers, "Signature"), content);
  if (outcome != aplus::verify_outcome::ok) return "ack signature: " + std::string(aplus::to_string(outcome));
  const auto ack = aplus::decode_notify_payment_ack(res.body);
  if (!ack) return "ack body: " + aplus::to_string(ack.errors());
  if (ack->result.status != 'S') return "ack result " + std::string(1, ack->result.status) + " " + ack->result.code;
  return std::nullopt;
}

}  // namespace cashier::sim
