// The notify load (see notify_load.hpp).
#include "tools/cashier-bench/notify_load.hpp"

#include <fstream>
#include <thread>
#include <unordered_set>
#include <vector>

#include "orchestrator/alipayplus/codec.hpp"
#include "orchestrator/alipayplus/key_ring.hpp"
#include "orchestrator/alipayplus/signature_header.hpp"
#include "orchestrator/alipayplus/signer.hpp"
#include "orchestrator/alipayplus/wire_time.hpp"
#include "orchestrator/engine/clock.hpp"
#include "tools/cashier-bench/http_load.hpp"
#include "tools/cashier-bench/payloads.hpp"

namespace cashier::bench {
namespace {

/// Signs the notifies of payments [first, first+count) on `threads` threads.
std::vector<std::string> presign(const notify_options& o, const http_target& target,
                                 const aplus::private_key& key, unsigned threads) {
  std::vector<std::string> requests(static_cast<std::size_t>(o.count));
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (auto i = static_cast<std::size_t>(t); i < requests.size(); i += threads) {
        const auto id = payment_request_id(o.prefix, o.first + static_cast<std::int64_t>(i));
        const auto body = notify_body(id);
        const auto time = aplus::format_wire_time(wall_now());
        const auto signature = aplus::sign(key, aplus::request_content("POST", target.path, o.client_id, time, body));
        requests[i] = build_request("POST", target,
                                    {{"Content-Type", "application/json; charset=UTF-8"},
                                     {"Client-Id", o.client_id},
                                     {"Request-Time", time},
                                     {"Signature", aplus::format_signature_header("1", signature)}},
                                    body);
      }
    });
  for (auto& t : pool) t.join();
  return requests;
}

/// Checks acks: a fully verified answer once per distinct (Response-Time, Signature, body).
class ack_checker {
 public:
  ack_checker(const notify_options& o, const http_target& target, aplus::verifier_keys keys)
      : client_id_(o.client_id), path_(target.path), keys_(std::move(keys)) {}

  bool operator()(const http_answer& a) {
    if (a.status != 200) return false;
    const auto client_id = a.header("Client-Id");
    if (!client_id.empty() && client_id != client_id_) return false;
    std::string key(a.header("Response-Time"));
    key.append("\n").append(a.header("Signature")).append("\n").append(a.body);
    if (verified_.contains(key)) return true;
    if (!verify(a)) return false;
    ++rsa_verifies_;
    verified_.insert(std::move(key));
    return true;
  }
  /// RSA verifications done (distinct acks seen).
  std::int64_t rsa_verifies() const { return rsa_verifies_; }

 private:
  bool verify(const http_answer& a) const {
    const auto time = a.header("Response-Time");
    if (time.empty()) return false;
    const auto content = aplus::response_content("POST", path_, client_id_, time, a.body);
    if (aplus::verify_with(keys_, a.header("Signature"), content) != aplus::verify_outcome::ok) return false;
    const auto ack = aplus::decode_notify_payment_ack(a.body);
    return ack && ack->result.status == 'S';
  }

  std::string client_id_;
  std::string path_;
  aplus::verifier_keys keys_;
  std::unordered_set<std::string> verified_;
  std::int64_t rsa_verifies_ = 0;
};

}  // namespace

int run_notify(const notify_options& o) {
  const auto target = parse_http_url(o.url);
  auto key = aplus::load_private_key_file(o.keys_dir + "/aplus_private.pem");
  auto acqp = aplus::load_public_key_file(o.keys_dir + "/acqp_public.pem");
  aplus::verifier_keys keys;
  if (!target || !key || !acqp || !keys.add("1", std::move(*acqp))) {
    note("notify: need an http://host:port/path URL and the keys in " + o.keys_dir);
    return 2;
  }
  const unsigned threads = o.sign_threads > 0 ? o.sign_threads : std::max(1u, std::thread::hardware_concurrency());
  auto presign_start = bench_clock::now();
  const auto requests = presign(o, *target, *key, threads);
  const double presign_s = seconds_since(presign_start);

  ack_checker check_ack(o, *target, std::move(keys));
  std::vector<char> acked(requests.size(), 0);
  const load_plan plan{*target, o.count, o.connections, o.rate, 0};
  auto r = run_load(plan, [&](std::int64_t i) { return std::string_view(requests[static_cast<std::size_t>(i)]); },
                    [&](std::int64_t i, const http_answer& a) {
                      const bool ok = check_ack(a);
                      acked[static_cast<std::size_t>(i)] = ok ? 1 : 0;
                      return ok;
                    });
  if (!o.acked_out.empty()) {
    std::ofstream out(o.acked_out);
    for (std::size_t i = 0; i < acked.size(); ++i)
      if (acked[i]) out << payment_request_id(o.prefix, o.first + static_cast<std::int64_t>(i)) << '\n';
  }
  boost::json::object out{{"mode", "notify"},        {"target_rate", o.rate},
                          {"connections", o.connections}, {"sent", o.count},
                          {"acked", r.ok},           {"rejected", r.rejected},
                          {"errors", r.errors},      {"seconds", r.seconds},
                          {"rate", r.seconds > 0 ? static_cast<double>(r.ok + r.rejected) / r.seconds : 0.0},
                          {"late_ms_max", r.late_ms_max}, {"ack_rsa_verifies", check_ack.rsa_verifies()},
                          {"presign_seconds", presign_s},
                          {"client_cpu_us", r.ok + r.rejected > 0 ? r.cpu_seconds * 1e6 / static_cast<double>(r.ok + r.rejected) : 0.0}};
  r.latency.put(out);
  print_result(out);
  return r.ok == o.count ? 0 : 1;
}

}  // namespace cashier::bench
