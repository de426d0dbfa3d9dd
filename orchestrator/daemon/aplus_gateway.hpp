// The real Alipay+ adapter behind the `gateway` port: pay, inquiryPayment and cancelPayment for
// the driver, consultPayment for the merchant API. Each call is signed (RSA256 over
// `POST <path>\n<clientId>.<Request-Time>.<body>`), sent over one keep-alive HTTPS client, and
// its answer is verified on the raw bytes before the codec reads it; only a verified, decodable
// answer becomes an answer event, everything else becomes a no-answer event with its reason.
// A verified answer must also be fresh (Response-Time within ±maxClockSkewSeconds of the wall
// clock) and about the payment asked for (the paymentRequestId and paymentId it carries, if any,
// equal the request's; an S inquiry answer must name the payment): otherwise it counts as no
// answer, so an old or misrouted signed answer can never settle a payment.
// Every call is written up as a store::call_record (the metrics count calls from those, through
// the driver's observers). No payment state is kept or changed here.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "orchestrator/alipayplus/json_guard.hpp"
#include "orchestrator/alipayplus/key_ring.hpp"
#include "orchestrator/alipayplus/keys.hpp"
#include "orchestrator/alipayplus/messages.hpp"
#include "orchestrator/engine/clock.hpp"
#include "orchestrator/daemon/config.hpp"
#include "orchestrator/daemon/gateway.hpp"
#include "orchestrator/daemon/refund_gateway.hpp"
#include "orchestrator/net/http_client.hpp"

namespace boost::asio {
class thread_pool;
}

namespace cashier::daemon {

/// The Alipay+ APIs cashierd calls.
enum class aplus_api {
  pay,      ///< /aps/api/v1/payments/pay
  inquiry,  ///< /aps/api/v1/payments/inquiryPayment
  cancel,   ///< /aps/api/v1/payments/cancelPayment
  consult,  ///< /aps/api/v1/payments/consultPayment
  refund,   ///< /aps/api/v1/payments/refund
};
/// "pay", "inquiryPayment", "cancelPayment", "consultPayment" or "refund" (call_record::api,
/// metrics label).
std::string_view to_string(aplus_api api);
/// The request path of `api`, e.g. "/aps/api/v1/payments/pay".
std::string_view path_of(aplus_api api);

/// How one call ended, as counted in metrics: the answer's resultStatus, or why there was none.
enum class call_outcome {
  s,                ///< a verified answer with result S
  f,                ///< a verified answer with result F
  u,                ///< a verified answer with result U
  timeout,          ///< no answer within requestTimeoutMs
  transport_error,  ///< connection, TLS or HTTP framing failure
  server_error,     ///< HTTP status other than 200
  unsigned_answer,  ///< an answer without a Signature
  bad_signature,    ///< an answer whose signature does not verify (or is not for our Client-Id)
  garbled,          ///< a verified answer that is not the expected message
  stale_answer,     ///< a verified answer whose Response-Time is outside ±maxClockSkewSeconds
  mismatched_answer,  ///< a verified answer naming another payment than the request (ids differ)
};
/// "S", "F", "U", or the no_answer_reason name ("timeout", ...), a metrics label.
std::string_view to_string(call_outcome outcome);

/// What consultPayment produced.
struct consult_result {
  /// The verified answer (any result status), or why there is none.
  std::variant<aplus::consult_payment_response, no_answer_reason> answer;
  store::call_record call;  ///< the raw call and answer (payment_id 0)
};

/// Knobs of the adapter beyond the config.
struct gateway_options {
  /// Threads that compute request signatures (0: on the caller's thread). With 1 or 2 the
  /// ~0.2 ms RSA sign leaves the reactor thread; the call resumes on the caller's executor.
  std::size_t sign_threads = 0;
  std::size_t max_connections = 16;  ///< open connections to the gateway at most
};

/// Calls Alipay+ over HTTPS with signed requests and verified answers.
class aplus_gateway final : public gateway, public refund_gateway {
 public:
  /// An adapter for the config's alipayplus section on `executor` (used only from it), reading
  /// payment-clock time from `clock` (which must outlive it); or an error naming the key, CA
  /// file or URL that cannot be used.
  static boost::system::result<std::unique_ptr<aplus_gateway>, net::setup_error> create(
      boost::asio::any_io_executor executor, const config::alipayplus_config& cfg,
      const payment_clock& clock, gateway_options options = {});
  /// Waits for signatures still being computed on the pool, then closes everything.
  ~aplus_gateway() override;
  /// Not copyable: it owns a connection pool and a thread pool.
  aplus_gateway(const aplus_gateway&) = delete;
  /// Not copyable.
  aplus_gateway& operator=(const aplus_gateway&) = delete;

  /// Sends `p.pay_request`, byte for byte.
  boost::asio::awaitable<call_result> pay(const payment& p) override;
  /// Sends {"paymentRequestId": store::alipay_request_id(p)} (cashierd's own id) to inquiryPayment.
  boost::asio::awaitable<call_result> inquiry(const payment& p) override;
  /// Sends {"paymentRequestId": store::alipay_request_id(p)} (cashierd's own id) to cancelPayment.
  boost::asio::awaitable<call_result> cancel(const payment& p) override;
  /// Sends `r.request` byte for byte to refund. A verified answer must name no other payment
  /// than the request (paymentRequestId / paymentId, when it echoes them), else it is no answer.
  boost::asio::awaitable<refund_call_result> refund(const payment& p, const cashier::refund& r) override;
  /// Sends `body` (a consultPayment request, exact bytes) to consultPayment.
  boost::asio::awaitable<consult_result> consult(std::string body);

 private:
  struct settings {
    std::string path_prefix;  // the gateway URL's path without its trailing '/', often ""
    std::string client_id;
    std::string key_version;
    aplus::private_key key;
    aplus::verifier_keys alipayplus_keys;
    std::chrono::seconds max_clock_skew{600};  // alipayplus.maxClockSkewSeconds
  };
  aplus_gateway(net::http_client client, settings s, const payment_clock& clock,
                std::size_t sign_threads);

  template <class T>
  using answer_or = std::variant<T, call_outcome>;
  template <class T>
  using decoder = aplus::decode_result<T> (*)(std::string_view, const aplus::json_limits&);

  template <class T>
  boost::asio::awaitable<answer_or<T>> call(aplus_api api, std::string body, decoder<T> decode,
                                            store::call_record& rec);
  boost::asio::awaitable<std::optional<call_outcome>> exchange(aplus_api api, std::string body,
                                                               store::call_record& rec);
  std::optional<call_outcome> verify_answer(std::string_view path, const net::header_list& headers,
                                            std::string_view body) const;
  boost::asio::awaitable<std::string> sign(std::string content);
  void finish(aplus_api api, store::call_record& rec, call_outcome no_answer);
  void finish(aplus_api api, store::call_record& rec, const aplus_result& result,
              std::string outcome);

  net::http_client client_;
  settings s_;
  const payment_clock& clock_;
  std::unique_ptr<boost::asio::thread_pool> signers_;
};

}  // namespace cashier::daemon
