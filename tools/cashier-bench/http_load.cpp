// The HTTP load engine and the http-ceiling mode (see http_load.hpp).
#include "tools/cashier-bench/http_load.hpp"

#include <charconv>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>

#include "tools/cashier-bench/http_conn.hpp"

namespace cashier::bench {
namespace {

using namespace detail;

/// The state the connections of one run share (all on one thread).
struct load_run {
  load_run(const load_plan& p, const request_source& s, const answer_check& c)
      : plan(p), source(s), check(c), to(asio::ip::make_address(p.target.host), p.target.port) {}
  const load_plan& plan;
  const request_source& source;
  const answer_check& check;
  tcp::endpoint to;
  bench_clock::time_point start = bench_clock::now();
  bench_clock::time_point stop_sending = bench_clock::time_point::max();
  bench_clock::time_point last_answer = start;
  std::int64_t next = 0;
  load_result result;

  /// When request `i` is due: its place on the schedule, or now at saturation.
  bench_clock::time_point due(std::int64_t i) const {
    if (plan.rate <= 0) return bench_clock::now();
    return start + std::chrono::duration_cast<bench_clock::duration>(
                       std::chrono::duration<double>(static_cast<double>(i) / plan.rate));
  }

  /// The next request index to send, or nothing when the run is over.
  std::optional<std::int64_t> take() {
    if (next >= plan.count || bench_clock::now() >= stop_sending) return std::nullopt;
    return next++;
  }
};

/// Waits until `at` on `timer` (returns at once when it has passed).
asio::awaitable<void> wait_until(asio::steady_timer& timer, bench_clock::time_point at) {
  if (at <= bench_clock::now()) co_return;
  timer.expires_at(at);
  co_await timer.async_wait(use_tuple);
}

/// One connection's loop: take a request, wait for its due time, send, check, repeat.
asio::awaitable<void> drive(load_run& run) {
  const auto ex = co_await asio::this_coro::executor;
  http_conn conn(ex);
  asio::steady_timer timer(ex);
  http::response<http::string_body> res;
  while (const auto i = run.take()) {
    const auto due = run.due(*i);
    co_await wait_until(timer, due);
    const auto sent = bench_clock::now();
    if (run.plan.rate > 0)
      run.result.late_ms_max = std::max(run.result.late_ms_max, std::chrono::duration<double, std::milli>(sent - due).count());
    if (!conn.open()) {
      const auto ec = co_await conn.connect(run.to);
      if (ec) {
        ++run.result.errors;
        co_return;  // the server is gone (or refuses): this connection stops
      }
    }
    const auto ec = co_await conn.exchange(run.source(*i), res);
    const auto done = bench_clock::now();
    if (ec) {
      ++run.result.errors;
      continue;
    }
    run.result.latency.add(done - (run.plan.rate > 0 ? due : sent));
    run.last_answer = done;
    if (run.check(*i, answer_of(res))) ++run.result.ok;
    else ++run.result.rejected;
  }
}

}  // namespace

std::optional<http_target> parse_http_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) return std::nullopt;
  url.remove_prefix(scheme.size());
  const auto slash = url.find('/');
  const auto authority = url.substr(0, slash);
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  http_target t;
  t.host = std::string(authority.substr(0, colon));
  const auto port = authority.substr(colon + 1);
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), t.port);
  if (ec != std::errc{} || end != port.data() + port.size()) return std::nullopt;
  t.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  return t;
}

std::string build_request(std::string_view method, const http_target& target,
                          const std::vector<std::pair<std::string, std::string>>& headers,
                          std::string_view body) {
  std::string out;
  out.reserve(256 + body.size());
  out.append(method).append(" ").append(target.path).append(" HTTP/1.1\r\nHost: ");
  out.append(target.host).append(":").append(std::to_string(target.port)).append("\r\n");
  for (const auto& [name, value] : headers) out.append(name).append(": ").append(value).append("\r\n");
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  out.append(body);
  return out;
}

std::string_view http_answer::header(std::string_view name) const {
  const auto& res = *static_cast<const http::response<http::string_body>*>(message);
  const auto it = res.find(name);
  return it == res.end() ? std::string_view() : std::string_view(it->value());
}

load_result run_load(const load_plan& plan, const request_source& source, const answer_check& check) {
  asio::io_context io(1);
  load_run run(plan, source, check);
  run.result.latency.reserve(static_cast<std::size_t>(std::min<std::int64_t>(plan.count, 2'000'000)));
  if (plan.seconds > 0)
    run.stop_sending = run.start + std::chrono::duration_cast<bench_clock::duration>(
                                       std::chrono::duration<double>(plan.seconds));
  for (std::size_t c = 0; c < plan.connections; ++c) asio::co_spawn(io, drive(run), asio::detached);
  const double cpu_before = process_cpu_seconds();
  io.run();
  run.result.cpu_seconds = process_cpu_seconds() - cpu_before;
  run.result.seconds = std::chrono::duration<double>(run.last_answer - run.start).count();
  return std::move(run.result);
}

int run_http_ceiling(const ceiling_options& o) {
  asio::io_context server_io(1);
  auto acceptor = loopback_acceptor(server_io.get_executor());
  const std::string answer = R"({"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":")" +
                             std::string(o.answer_bytes > 70 ? o.answer_bytes - 70 : 1, 's') + R"("}})";
  const mini_handler handler = [&](const http::request<http::string_body>& req, http::response<http::string_body>& res) {
    boost::system::error_code ec;
    const auto parsed = boost::json::parse(req.body(), ec);  // the work a JSON endpoint does at least
    res.result(ec || !parsed.is_object() ? http::status::bad_request : http::status::ok);
    res.set(http::field::content_type, "application/json");
    res.body() = answer;
  };
  asio::co_spawn(server_io, mini_accept(acceptor, handler), asio::detached);
  std::thread server([&] { server_io.run(); });

  http_target target{"127.0.0.1", acceptor.local_endpoint().port(), "/ceiling"};
  const std::string body = R"({"padding":")" + std::string(o.request_bytes > 14 ? o.request_bytes - 14 : 1, 'x') + R"("})";
  const auto request = build_request("POST", target, {{"Content-Type", "application/json"}}, body);
  load_plan plan{target, std::numeric_limits<std::int64_t>::max(), o.connections, 0, o.seconds};
  auto r = run_load(plan, [&](std::int64_t) { return std::string_view(request); },
                    [](std::int64_t, const http_answer& a) { return a.status == 200; });
  server_io.stop();
  server.join();
  boost::json::object out{{"mode", "http-ceiling"}, {"connections", o.connections},
                          {"requests", r.ok}, {"errors", r.errors + r.rejected},
                          {"rate", static_cast<double>(r.ok) / r.seconds}};
  r.latency.put(out);
  print_result(out);
  return r.errors + r.rejected == 0 ? 0 : 1;
}

}  // namespace cashier::bench
