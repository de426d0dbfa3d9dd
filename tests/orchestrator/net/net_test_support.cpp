// Implementation of the orchestrator/net test helpers (see net_test_support.hpp).
#include "tests/orchestrator/net/net_test_support.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>

namespace cashier::net::test {
namespace asio = boost::asio;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Beside the running test binary: each runner has its own (this library is compiled once for all).
const std::string& keys_dir() {
  static const std::string dir = [] {
    const auto self = std::filesystem::read_symlink("/proc/self/exe");
    const std::string d = (self.parent_path() / "dev-keys").string();
    const std::string cmd = std::string("'") + CASHIER_SOURCE_DIR + "/tools/dev-keys' '" + d + "' >/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("tools/dev-keys failed: " + cmd);
    return d;
  }();
  return dir;
}

void run(asio::io_context& ioc, asio::awaitable<void> task) {
  bool done = false;
  std::exception_ptr failure;
  asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e) {
    done = true;
    failure = e;
    ioc.stop();
  });
  ioc.restart();
  ioc.run_for(std::chrono::seconds(30));
  if (failure) std::rethrow_exception(failure);
  REQUIRE_MESSAGE(done, "the test coroutine did not finish within 30 s");
}

request make_request(std::string method, std::string target, std::string body) {
  return request{std::move(method), std::move(target), {}, std::move(body)};
}

asio::awaitable<std::string> read_head(tcp::socket& socket) {
  std::string data;
  co_await asio::async_read_until(socket, asio::dynamic_buffer(data), "\r\n\r\n", use_tuple);
  co_return data;
}

asio::awaitable<std::string> read_to_end(tcp::socket& socket) {
  std::string data;
  co_await asio::async_read(socket, asio::dynamic_buffer(data), use_tuple);
  co_return data;
}

asio::awaitable<void> write_all(tcp::socket& socket, std::string bytes) {
  co_await asio::async_write(socket, asio::buffer(bytes), use_tuple);
}

asio::awaitable<tcp::socket> connect_raw(std::uint16_t port) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::use_awaitable);
  co_return socket;
}

asio::awaitable<std::string> raw_exchange(std::uint16_t port, std::string bytes) {
  auto socket = co_await connect_raw(port);
  co_await write_all(socket, std::move(bytes));
  co_return co_await read_to_end(socket);
}

int status_of(const std::string& raw_response) {
  if (raw_response.size() < 12 || raw_response.compare(0, 5, "HTTP/") != 0) return 0;
  return std::atoi(raw_response.substr(9, 3).c_str());
}

}  // namespace cashier::net::test
