// A connection's bytes behind two virtual calls, and HTTP/1.1 message reading and writing on
// top of them. Internal to orchestrator/net (it includes Beast).
//
// Why: Beast's http::async_read and http::async_write are composed operations templated on the
// stream, and a coroutine chain that calls them for a TCP and a TLS stream compiled both
// chains in full, for the client and for the server: the four costliest instantiations of the
// build. Here the parsing and the answer loop are compiled once, over byte_stream; each stream
// type instantiates only read_some and write_all (stream_bytes below). The parser and the
// limits are Beast's own, fed the same way Beast's read operation feeds them.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <string>
#include <tuple>

namespace cashier::net::detail {

/// The byte stream under one HTTP connection (TCP, TLS over TCP, or a test stream).
class byte_stream {
 public:
  using io_result = std::tuple<boost::system::error_code, std::size_t>;
  virtual ~byte_stream() = default;
  /// Reads what is there (at least one byte), into `into`.
  virtual boost::asio::awaitable<io_result> read_some(boost::asio::mutable_buffer into) = 0;
  /// Writes all of `bytes`, or fails.
  virtual boost::asio::awaitable<io_result> write_all(boost::asio::const_buffer bytes) = 0;
};

inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

/// A byte_stream over a stream object it does not own.
template <class Stream>
class stream_bytes : public byte_stream {
 public:
  explicit stream_bytes(Stream& s) : stream_(s) {}
  boost::asio::awaitable<io_result> read_some(boost::asio::mutable_buffer into) override {
    co_return co_await stream_.async_read_some(into, use_tuple);
  }
  boost::asio::awaitable<io_result> write_all(boost::asio::const_buffer bytes) override {
    co_return co_await boost::asio::async_write(stream_, bytes, use_tuple);
  }
  Stream& stream() { return stream_; }

 private:
  Stream& stream_;
};

/// Feeds `parser` what `buffer` holds and what `stream` brings until the header (header_only)
/// or the whole message is parsed, as http::async_read_header / http::async_read do: the same
/// errors (end_of_stream when the peer closed before a byte, partial_message when it closed
/// mid-message, the parser's header_limit, body_limit and syntax errors, the stream's own).
template <bool isRequest>
boost::asio::awaitable<boost::system::error_code> read_http(byte_stream& stream, boost::beast::flat_buffer& buffer,
                                                            boost::beast::http::basic_parser<isRequest>& parser,
                                                            bool header_only);

extern template boost::asio::awaitable<boost::system::error_code> read_http<true>(
    byte_stream&, boost::beast::flat_buffer&, boost::beast::http::basic_parser<true>&, bool);
extern template boost::asio::awaitable<boost::system::error_code> read_http<false>(
    byte_stream&, boost::beast::flat_buffer&, boost::beast::http::basic_parser<false>&, bool);

/// The message as it goes on the wire: start line, fields, blank line, body, framed as its
/// fields say (the caller has framed it, e.g. with prepare_payload).
std::string to_wire(const boost::beast::http::request<boost::beast::http::string_body>& msg);
/// The message as it goes on the wire (see above).
std::string to_wire(const boost::beast::http::response<boost::beast::http::string_body>& msg);

}  // namespace cashier::net::detail
