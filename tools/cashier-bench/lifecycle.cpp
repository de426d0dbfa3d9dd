// Lifecycle and create loads with the merchant webhook sink (see lifecycle.hpp).
#include "tools/cashier-bench/lifecycle.hpp"

#include <charconv>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>

#include "orchestrator/daemon/webhook_signing.hpp"
#include "tools/cashier-bench/http_conn.hpp"
#include "tools/cashier-bench/payloads.hpp"

namespace cashier::bench {
namespace {

using namespace detail;

/// No payment may take longer than this from create to webhook.
constexpr auto payment_timeout = std::chrono::seconds(30);

/// The merchant: a webhook server on its own thread that verifies and records each delivery.
class webhook_sink {
 public:
  /// Called on the sink thread for each first, valid webhook of a payment.
  using arrival_hook = std::function<void(const std::string& payment_request_id)>;

  webhook_sink(std::uint16_t port, std::string secret) : secrets_{std::move(secret)} {
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), port));
    acceptor_.listen(asio::socket_base::max_listen_connections);
    asio::co_spawn(io_, mini_accept(acceptor_, handler_), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~webhook_sink() {
    io_.stop();
    thread_.join();
  }
  webhook_sink(const webhook_sink&) = delete;
  webhook_sink& operator=(const webhook_sink&) = delete;

  /// Sets the hook (before any payment of the run is created).
  void on_arrival(arrival_hook hook) {
    std::lock_guard lock(mutex_);
    hook_ = std::move(hook);
  }
  /// When the payment's webhook arrived, if it did.
  std::optional<bench_clock::time_point> arrived(const std::string& id) {
    std::lock_guard lock(mutex_);
    const auto it = arrivals_.find(id);
    if (it == arrivals_.end()) return std::nullopt;
    return it->second;
  }
  /// Adds the sink's counters to `out`.
  void put(boost::json::object& out) {
    std::lock_guard lock(mutex_);
    out["webhooks"] = received_;
    out["webhook_duplicates"] = duplicates_;
    out["webhook_bad_signature"] = bad_signature_;
    out["webhook_not_succeeded"] = not_succeeded_;
  }
  /// Deliveries that were not first, valid, payment.succeeded webhooks.
  std::int64_t problems() {
    std::lock_guard lock(mutex_);
    return bad_signature_ + not_succeeded_;
  }

 private:
  void on_webhook(const http::request<http::string_body>& req, http::response<http::string_body>& res) {
    const auto id = req["webhook-id"];
    const auto ts_text = req["webhook-timestamp"];
    std::int64_t ts = 0;
    std::from_chars(ts_text.data(), ts_text.data() + ts_text.size(), ts);
    const bool authentic = daemon::verify_webhook(secrets_, id, ts, req.body(), req["webhook-signature"]);
    boost::system::error_code ec;
    const auto body = boost::json::parse(req.body(), ec);
    const auto* payment = ec ? nullptr : body.find_pointer("/data/payment/paymentRequestId", ec);
    const auto* type = ec ? nullptr : body.find_pointer("/type", ec);
    res.result(authentic && payment && payment->is_string() ? http::status::no_content : http::status::bad_request);
    std::lock_guard lock(mutex_);
    ++received_;
    if (res.result() != http::status::no_content) {
      ++bad_signature_;
      return;
    }
    if (!type || !type->is_string() || type->get_string() != "payment.succeeded") ++not_succeeded_;
    const std::string payment_request_id(payment->get_string());
    if (!arrivals_.emplace(payment_request_id, bench_clock::now()).second) {
      ++duplicates_;
      return;
    }
    if (hook_) hook_(payment_request_id);
  }

  std::vector<std::string> secrets_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_{io_};
  mini_handler handler_ = [this](const auto& req, auto& res) { on_webhook(req, res); };
  std::thread thread_;
  std::mutex mutex_;
  arrival_hook hook_;
  std::unordered_map<std::string, bench_clock::time_point> arrivals_;
  std::int64_t received_ = 0, duplicates_ = 0, bad_signature_ = 0, not_succeeded_ = 0;
};

/// The create request for `id`.
std::string create_request(const http_target& cashierd, const lifecycle_options& o, const std::string& id) {
  http_target t = cashierd;
  t.path = "/v1/payments";
  return build_request("POST", t, {{"Authorization", "Bearer " + o.token}, {"Content-Type", "application/json"}},
                       create_body(id));
}

/// One lifecycle point's shared state (client thread only, except where noted).
struct lifecycle_point {
  lifecycle_point(const lifecycle_options& opts, const std::vector<http_target>& targets, webhook_sink& s,
                  std::string p)
      : o(opts), cashierd(targets), sink(s), prefix(std::move(p)),
        end(start + std::chrono::duration_cast<bench_clock::duration>(std::chrono::duration<double>(opts.seconds))) {
    for (const auto& t : targets) to.emplace_back(asio::ip::make_address(t.host), t.port);
  }
  const lifecycle_options& o;
  const std::vector<http_target>& cashierd;  // client k sends to cashierd[k % size] (cluster mode)
  webhook_sink& sink;
  std::string prefix;
  std::vector<tcp::endpoint> to;
  bench_clock::time_point start = bench_clock::now();
  bench_clock::time_point end;
  std::unordered_map<std::string, asio::steady_timer*> waiting;  // by paymentRequestId
  std::int64_t next = 0, completed = 0, in_window = 0, failed = 0, accepted_202 = 0;
  latencies create, whole;
};

/// Waits for `id`'s webhook; false on timeout.
asio::awaitable<bool> await_webhook(lifecycle_point& pt, const std::string& id, bench_clock::time_point sent) {
  asio::steady_timer signal(co_await asio::this_coro::executor, sent + payment_timeout);
  pt.waiting[id] = &signal;
  // Registered before this check, and the sink's wake-up runs on this thread: none is lost.
  if (!pt.sink.arrived(id)) co_await signal.async_wait(use_tuple);
  pt.waiting.erase(id);
  co_return pt.sink.arrived(id).has_value();
}

/// One client (number `k`): create, wait for the webhook, repeat until the point's end.
asio::awaitable<void> lifecycle_client(lifecycle_point& pt, std::size_t k) {
  const auto& target = pt.cashierd[k % pt.cashierd.size()];
  http_conn conn(co_await asio::this_coro::executor);
  http::response<http::string_body> res;
  while (bench_clock::now() < pt.end) {
    const auto id = pt.prefix + std::to_string(pt.next++);
    const auto request = create_request(target, pt.o, id);
    const auto sent = bench_clock::now();
    // Not `open() ? ... : co_await ...`: GCC 12 miscompiles co_await inside ?:.
    error_code ec;
    if (!conn.open()) ec = co_await conn.connect(pt.to[k % pt.to.size()]);
    if (!ec) ec = co_await conn.exchange(request, res);
    const int status = ec ? 0 : static_cast<int>(res.result_int());
    if (status != 201 && status != 202) {
      ++pt.failed;
      if (ec) co_return;  // cashierd is gone
      continue;
    }
    pt.create.add(bench_clock::now() - sent);
    if (status == 202) ++pt.accepted_202;
    const bool arrived = co_await await_webhook(pt, id, sent);
    if (!arrived) {
      ++pt.failed;
      continue;
    }
    const auto at = *pt.sink.arrived(id);
    pt.whole.add(at - sent);
    ++pt.completed;
    if (at <= pt.end) ++pt.in_window;
  }
}

/// Runs one lifecycle point with `clients` clients; prints its line; true when nothing failed.
bool lifecycle_at(const lifecycle_options& o, const std::vector<http_target>& cashierd, webhook_sink& sink,
                  std::size_t clients) {
  asio::io_context io(1);
  lifecycle_point pt(o, cashierd, sink, o.prefix + "c" + std::to_string(clients) + "-");
  sink.on_arrival([&io, &pt](const std::string& id) {
    asio::post(io, [&pt, id] {
      if (const auto it = pt.waiting.find(id); it != pt.waiting.end()) it->second->cancel();
    });
  });
  // A work guard: a client that waits on nothing but the sink's post must not end run().
  auto guard = asio::make_work_guard(io);
  std::size_t running = clients;
  const double cpu_before = process_cpu_seconds();
  for (std::size_t c = 0; c < clients; ++c)
    asio::co_spawn(io, lifecycle_client(pt, c), [&](std::exception_ptr) {
      if (--running == 0) guard.reset();
    });
  io.run();
  const double cpu = process_cpu_seconds() - cpu_before;
  sink.on_arrival(nullptr);
  boost::json::object out{{"mode", "lifecycle"}, {"clients", clients},      {"payments", pt.completed},
                          {"in_window", pt.in_window}, {"seconds", o.seconds}, {"failed", pt.failed},
                          {"accepted_202", pt.accepted_202},
                          {"rate", static_cast<double>(pt.in_window) / o.seconds},
                          {"client_cpu_us", pt.completed > 0 ? cpu * 1e6 / static_cast<double>(pt.completed) : 0.0}};
  pt.create.put(out, "create_");
  pt.whole.put(out);
  print_result(out);
  return pt.failed == 0;
}

/// Waits until every id in `ids` has its webhook, or `seconds` pass; how many arrived.
std::int64_t await_all(webhook_sink& sink, const std::vector<std::string>& ids, double seconds) {
  const auto until = bench_clock::now() + std::chrono::duration_cast<bench_clock::duration>(std::chrono::duration<double>(seconds));
  std::size_t arrived = 0;
  for (;;) {
    while (arrived < ids.size() && sink.arrived(ids[arrived])) ++arrived;
    if (arrived == ids.size() || bench_clock::now() >= until) break;
    // Polls a condition the sink thread sets, bounded by `until`.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return static_cast<std::int64_t>(arrived);
}

}  // namespace

int run_lifecycle(const lifecycle_options& o) {
  std::vector<http_target> cashierd;
  std::vector<std::string> urls{o.url};
  urls.insert(urls.end(), o.urls.begin(), o.urls.end());
  for (const auto& url : urls) {
    const auto t = parse_http_url(url);
    if (!t) {
      note("lifecycle: --url must be http://127.0.0.1:port");
      return 2;
    }
    cashierd.push_back(*t);
  }
  webhook_sink sink(o.sink_port, o.secret);
  bool ok = true;
  for (const auto c : o.clients) ok = lifecycle_at(o, cashierd, sink, c) && ok;
  return ok && sink.problems() == 0 ? 0 : 1;
}

int run_create(const lifecycle_options& o) {
  const auto cashierd = parse_http_url(o.url);
  if (!cashierd || o.rate <= 0) {
    note("create: --url must be http://127.0.0.1:port and --rate positive");
    return 2;
  }
  webhook_sink sink(o.sink_port, o.secret);
  const auto count = static_cast<std::int64_t>(o.rate * o.seconds);
  std::vector<std::string> ids, requests;
  for (std::int64_t i = 0; i < count; ++i) {
    ids.push_back(o.prefix + "r" + std::to_string(i));
    requests.push_back(create_request(*cashierd, o, ids.back()));
  }
  std::int64_t accepted_202 = 0;
  const load_plan plan{*cashierd, count, o.connections, o.rate, 0};
  auto r = run_load(plan, [&](std::int64_t i) { return std::string_view(requests[static_cast<std::size_t>(i)]); },
                    [&](std::int64_t, const http_answer& a) {
                      accepted_202 += a.status == 202 ? 1 : 0;
                      return a.status == 201 || a.status == 202;
                    });
  const auto webhooks = await_all(sink, ids, o.drain_seconds);
  boost::json::object out{{"mode", "create"},      {"target_rate", o.rate},   {"sent", count},
                          {"created", r.ok},       {"accepted_202", accepted_202},
                          {"rejected", r.rejected}, {"errors", r.errors},    {"seconds", r.seconds},
                          {"rate", r.seconds > 0 ? static_cast<double>(r.ok) / r.seconds : 0.0},
                          {"late_ms_max", r.late_ms_max}, {"payments_completed", webhooks}};
  r.latency.put(out);
  sink.put(out);
  print_result(out);
  return r.ok == count && webhooks == count && sink.problems() == 0 ? 0 : 1;
}

}  // namespace cashier::bench
