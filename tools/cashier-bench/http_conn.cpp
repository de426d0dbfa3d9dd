// cashier-bench's HTTP plumbing (see http_conn.hpp).
#include "tools/cashier-bench/http_conn.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/http/parser.hpp>

#include "orchestrator/net/byte_stream.hpp"

namespace cashier::bench::detail {

using net::detail::read_http;
using net::detail::stream_bytes;

asio::awaitable<error_code> http_conn::connect(tcp::endpoint to) {
  stream_.expires_after(exchange_timeout);
  auto [ec] = co_await stream_.async_connect(to, use_tuple);
  if (!ec) stream_.socket().set_option(tcp::no_delay(true), ec);
  open_ = !ec;
  co_return ec;
}

asio::awaitable<error_code> http_conn::exchange(std::string_view bytes, http::response<http::string_body>& res) {
  stream_.expires_after(exchange_timeout);
  stream_bytes<beast::tcp_stream> io(stream_);
  auto [wec, written] = co_await io.write_all(asio::buffer(bytes.data(), bytes.size()));
  if (wec) co_return fail(wec);
  http::response_parser<http::string_body> parser;
  parser.body_limit(8 * 1024 * 1024);
  const auto rec = co_await read_http(io, buffer_, parser, false);
  if (rec) co_return fail(rec);
  res = parser.release();
  if (!res.keep_alive()) close();
  co_return error_code{};
}

void http_conn::close() {
  stream_.close();
  buffer_.clear();
  open_ = false;
}

namespace {

// Serves one connection until the client leaves.
asio::awaitable<void> mini_session(tcp::socket socket, const mini_handler& handler) {
  beast::tcp_stream stream(std::move(socket));
  error_code ec;
  stream.socket().set_option(tcp::no_delay(true), ec);
  stream_bytes<beast::tcp_stream> io(stream);
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(8 * 1024 * 1024);
    const auto rec = co_await read_http(io, buffer, parser, false);
    if (rec) co_return;
    const auto req = parser.release();
    http::response<http::string_body> res{http::status::ok, 11};
    handler(req, res);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    const auto wire = net::detail::to_wire(res);
    auto [wec, written] = co_await io.write_all(asio::buffer(wire));
    if (wec || !req.keep_alive()) co_return;
  }
}

}  // namespace

asio::awaitable<void> mini_accept(tcp::acceptor& acceptor, const mini_handler& handler) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec) co_return;
    asio::co_spawn(acceptor.get_executor(), mini_session(std::move(socket), handler), asio::detached);
  }
}

tcp::acceptor loopback_acceptor(asio::any_io_executor ex) {
  tcp::acceptor a(ex, tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
  a.listen(asio::socket_base::max_listen_connections);
  return a;
}

}  // namespace cashier::bench::detail
