// The HTTP load engine of cashier-bench, free of Asio and Beast in its interface: requests are
// complete HTTP/1.1 messages prepared in advance (so the client spends its time sending, not
// formatting), sent over N keep-alive connections either at saturation (each connection sends
// its next request as soon as the previous answer is in) or open-loop on a fixed schedule
// (request i is due at start + i / rate, an absolute instant, so lateness never accumulates;
// its latency counts from that instant, so a stalled server cannot hide queueing delay). Also
// the http-ceiling mode: a minimal Beast server on its own thread, answered by the same client.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tools/cashier-bench/stats.hpp"

namespace cashier::bench {

/// Where requests go: an http:// URL split up.
struct http_target {
  std::string host = "127.0.0.1";  ///< numeric address
  std::uint16_t port = 0;          ///< TCP port
  std::string path = "/";          ///< path and query
};

/// `url` ("http://127.0.0.1:8080/path") split up, or nothing when it is not such a URL.
std::optional<http_target> parse_http_url(std::string_view url);

/// A complete HTTP/1.1 request (keep-alive, Content-Length set) to `target`.
std::string build_request(std::string_view method, const http_target& target,
                          const std::vector<std::pair<std::string, std::string>>& headers,
                          std::string_view body);

/// An answer as the checker sees it; valid only during the check.
struct http_answer {
  int status = 0;          ///< HTTP status
  std::string_view body;   ///< body bytes
  const void* message = nullptr;  ///< the parsed message (implementation detail)
  /// The value of the first header named `name` (case-insensitive), "" when absent.
  std::string_view header(std::string_view name) const;
};

/// Request `i` (0-based) as bytes; must stay valid until its answer is checked.
using request_source = std::function<std::string_view(std::int64_t i)>;
/// Whether the answer to request `i` is right.
using answer_check = std::function<bool(std::int64_t i, const http_answer& answer)>;

/// How to send.
struct load_plan {
  http_target target;              ///< where (path unused: the requests carry it)
  std::int64_t count = 0;          ///< requests in all
  std::size_t connections = 16;    ///< keep-alive connections
  double rate = 0;                 ///< requests per second; 0 = saturation
  double seconds = 0;              ///< stop sending after this long (0: only `count` limits)
};

/// What came back.
struct load_result {
  std::int64_t ok = 0;          ///< answers the check accepted
  std::int64_t rejected = 0;    ///< answers the check refused
  std::int64_t errors = 0;      ///< requests without an answer (connection failures)
  double seconds = 0;           ///< wall time from the first send to the last answer
  double late_ms_max = 0;       ///< open loop: the latest a request was sent after its due time
  double cpu_seconds = 0;       ///< CPU time the client used while sending (this process)
  latencies latency;            ///< per answered request
};

/// Sends requests 0 … count-1 as `plan` says, on the calling thread.
load_result run_load(const load_plan& plan, const request_source& source, const answer_check& check);

/// What `cashier-bench http-ceiling` measures with.
struct ceiling_options {
  std::size_t request_bytes = 480;   ///< request body size (a notify's)
  std::size_t answer_bytes = 80;     ///< answer body size (an ack's)
  std::size_t connections = 64;      ///< client connections
  double seconds = 2;                ///< how long to load it
};

/// Starts a minimal one-thread Beast server that parses each JSON request and answers a JSON
/// body, loads it at saturation from this thread; prints {"mode":"http-ceiling",...}.
int run_http_ceiling(const ceiling_options& o);

}  // namespace cashier::bench
