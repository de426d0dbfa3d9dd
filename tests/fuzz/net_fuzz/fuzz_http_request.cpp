// libFuzzer target: arbitrary bytes arrive on a server connection. They go through the real
// session loop (server_session.hpp: request parsing under the default server_limits, framing
// checks, 100-continue, error answers, keep-alive) over Beast's test::stream, with a handler
// that echoes the request. Must never crash, hang or leak; every answer must be HTTP.
#include "orchestrator/net/server_session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using namespace cashier::net;

asio::awaitable<response> echo(request req, const peer_info&) {
  co_return response{200, {{"X-Method", req.method}}, req.target + "|" + req.body, {}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static asio::io_context ioc;
  static const server_limits limits;
  static const request_handler handler = echo;
  static const log_function log = [](std::string_view) {};
  static const bool stopping = false;
  beast::test::stream server(ioc), client(ioc);
  server.connect(client);
  server.append(std::string_view(reinterpret_cast<const char*>(data), size));
  server.close_remote();
  detail::session_context ctx{limits, handler, log, stopping, peer_info{"127.0.0.1", 1, true}};
  bool done = false;
  asio::co_spawn(ioc, detail::serve(server, ctx), [&](std::exception_ptr e) {
    if (e) std::abort();  // the session must turn every bad input into an answer or a close
    done = true;
  });
  ioc.restart();
  ioc.run();
  if (!done) std::abort();
  const auto out = client.str();
  if (!out.empty() && !out.starts_with("HTTP/1.1 ")) std::abort();
  return 0;
}
