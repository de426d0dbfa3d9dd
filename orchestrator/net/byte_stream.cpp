// HTTP/1.1 reading and writing over a byte_stream (see byte_stream.hpp).
#include "orchestrator/net/byte_stream.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <sstream>

namespace cashier::net::detail {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

// How much to ask the stream for: what the buffer can take without growing, at least 512 bytes
// and at most 64 KiB (Beast's read_size rule).
std::size_t read_size(const boost::beast::flat_buffer& buffer) {
  return std::clamp<std::size_t>(buffer.capacity() - buffer.size(), 512, 65536);
}

// Beast's own serializer, run synchronously: the bytes http::async_write would send.
template <bool isRequest>
std::string wire_of(const http::message<isRequest, http::string_body>& msg) {
  std::ostringstream out;
  out << msg;
  return std::move(out).str();
}

}  // namespace

template <bool isRequest>
asio::awaitable<error_code> read_http(byte_stream& stream, boost::beast::flat_buffer& buffer,
                                      http::basic_parser<isRequest>& parser, bool header_only) {
  parser.eager(!header_only);
  for (;;) {
    if (header_only ? parser.is_header_done() : parser.is_done()) co_return error_code{};
    if (buffer.size() > 0) {
      error_code ec;
      const auto used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec && ec != http::error::need_more) co_return ec;
      if (!ec && used > 0) continue;
    }
    auto [ec, n] = co_await stream.read_some(buffer.prepare(read_size(buffer)));
    buffer.commit(n);
    if (ec == asio::error::eof) {
      if (!parser.got_some()) co_return http::error::end_of_stream;
      error_code eof;
      parser.put_eof(eof);  // completes a message delimited by the close, or partial_message
      if (eof) co_return eof;
      continue;
    }
    if (ec) co_return ec;
  }
}

template asio::awaitable<error_code> read_http<true>(byte_stream&, boost::beast::flat_buffer&,
                                                     http::basic_parser<true>&, bool);
template asio::awaitable<error_code> read_http<false>(byte_stream&, boost::beast::flat_buffer&,
                                                      http::basic_parser<false>&, bool);

std::string to_wire(const http::request<http::string_body>& msg) { return wire_of(msg); }

std::string to_wire(const http::response<http::string_body>& msg) { return wire_of(msg); }

}  // namespace cashier::net::detail
