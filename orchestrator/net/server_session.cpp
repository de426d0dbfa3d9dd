// The server's request loop over a session_stream (see server_session.hpp): compiled once for
// every stream type.
#include "orchestrator/net/server_session.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace cashier::net::detail {
namespace http = beast::http;

namespace {

/// How a session continues after one request.
enum class next_step {
  keep_alive,  ///< wait for the next request on this connection
  close,       ///< an answer with Connection: close was written: shut down gracefully
  drop,        ///< the connection is broken or timed out: just let it go
};

/// Writes `raw` unframed, then resets the connection (the answer to a reset_status handler answer).
asio::awaitable<next_step> write_raw_then_reset(session_stream& stream, session_context& ctx, const std::string& raw) {
  stream.set_timeout(ctx.limits.write_timeout);
  // Whether or not the write completed, the connection ends in a reset.
  [[maybe_unused]] auto written = co_await stream.write_all(asio::buffer(raw));
  stream.reset();
  co_return next_step::drop;
}

/// A JSON error answer produced by the server itself.
response error_response(int status, std::string_view code, std::string_view message) {
  return response{status, {{"Content-Type", "application/json"}}, json_error_body(code, message), {}};
}

/// Why a request's framing is unacceptable (request smuggling guards beyond Beast's own). The
/// only transfer coding accepted is a single "chunked": a list ("identity, chunked") or a second
/// field may be framed differently by a proxy in front.
std::optional<std::string> framing_problem(const http::request_parser<http::string_body>& p) {
  const auto& m = p.get();
  const auto codings = m.count(http::field::transfer_encoding);
  if (codings == 0) return std::nullopt;
  if (m.count(http::field::content_length) > 0) return "Content-Length and Transfer-Encoding conflict";
  if (codings > 1 || !beast::iequals(m[http::field::transfer_encoding], "chunked"))
    return "Transfer-Encoding must be exactly chunked";
  return std::nullopt;
}

/// Where in `data`, from `from` to `to`, the first line break that is not a plain CRLF is: an
/// obs-fold (a CRLF followed by a space or a tab) or a bare LF; npos when there is none.
std::size_t odd_line_break(std::string_view data, std::size_t from, std::size_t to) {
  for (auto at = data.find('\n', from); at < to; at = data.find('\n', at + 1)) {
    if (at == 0 || data[at - 1] != '\r') return at;
    if (at + 1 < to && (data[at + 1] == ' ' || data[at + 1] == '\t')) return at;
  }
  return std::string_view::npos;
}

/// Reads until `buffer` holds the whole header section, then checks what Beast does not: the
/// section's total size (Beast applies header_limit to what one read brings, not to the whole)
/// and obs-fold (Beast unfolds it silently, but a proxy in front may frame such a request
/// differently; RFC 9112 section 5.2 allows a 400). The error answer to send, or nothing:
/// Beast then parses the header and reports bare LFs, broken streams and the like itself.
asio::awaitable<std::optional<response>> check_raw_header(session_stream& stream, beast::flat_buffer& buffer,
                                                          const server_limits& limits) {
  constexpr auto npos = std::string_view::npos;
  for (std::size_t scanned = 0;;) {
    const std::string_view data(static_cast<const char*>(buffer.data().data()), buffer.size());
    const auto end = data.find("\r\n\r\n");
    // Up to the last header line's CRLF: the blank line after it is no fold.
    const auto head = std::min(end == npos ? data.size() : end + 2, limits.header_limit);
    const auto odd = odd_line_break(data, scanned, head);
    if (odd != npos && data[odd - (odd > 0 ? 1 : 0)] == '\r')
      co_return error_response(400, "BAD_REQUEST", "obsolete line folding is not accepted");
    if (odd != npos) co_return std::nullopt;  // a bare LF: Beast refuses it
    if (end != npos && end + 4 <= limits.header_limit) co_return std::nullopt;
    if (end != npos || data.size() >= limits.header_limit)
      co_return error_response(431, "HEADER_TOO_LARGE", "request headers are too large");
    scanned = head < 2 ? 0 : head - 2;
    auto [ec, n] = co_await stream.read_some(buffer.prepare(4096));
    buffer.commit(n);
    if (ec) co_return std::nullopt;
  }
}

/// The answer to a failed header or body read, or nothing when the connection is just gone.
std::optional<response> read_error_response(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit) return error_response(431, "HEADER_TOO_LARGE", "request headers are too large");
  if (ec == http::error::body_limit) return error_response(413, "BODY_TOO_LARGE", "request body is too large");
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) return std::nullopt;
  if (ec.category() == make_error_code(http::error::bad_version).category())
    return error_response(400, "BAD_REQUEST", "malformed request: " + ec.message());
  return std::nullopt;
}

/// The server-side message for `res`, or a 500 when the handler's answer cannot be framed. The
/// answer to HEAD keeps its Content-Length but carries no body bytes.
http::response<http::string_body> to_message(response res, bool keep_alive, bool head, const log_function& log) {
  bool valid = res.status >= 200 && res.status <= 999;
  for (const auto& h : res.headers) valid = valid && is_valid_header(h.name, h.value);
  if (!valid) {
    log("handler answered with an invalid status or header; sending 500");
    res = error_response(500, "INTERNAL_ERROR", "internal error");
  }
  http::response<http::string_body> msg;
  msg.version(11);
  msg.result(static_cast<unsigned>(res.status));
  for (const auto& h : res.headers) msg.insert(h.name, h.value);
  msg.erase(http::field::content_length);
  msg.erase(http::field::transfer_encoding);
  msg.erase(http::field::connection);
  if (res.status != 204 && res.status != 304) msg.body() = std::move(res.body);
  msg.keep_alive(keep_alive);
  msg.prepare_payload();
  if (head) {
    const auto length = msg.body().size();
    msg.body().clear();
    msg.content_length(length);
  }
  return msg;
}

/// The plain request handed to the handler.
request to_request(http::request<http::string_body>&& m) {
  request r;
  r.method = std::string(m.method_string());
  r.target = std::string(m.target());
  for (const auto& f : m) r.headers.push_back({std::string(f.name_string()), std::string(f.value())});
  r.body = std::move(m.body());
  return r;
}

/// Runs the handler; an exception becomes a logged 500 so one request cannot end the session.
asio::awaitable<response> call_handler(session_context& ctx, request req) {
  std::string failure;
  try {
    co_return co_await ctx.handler(std::move(req), ctx.peer);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  ctx.log("handler failed for " + ctx.peer.address + ": " + failure);
  co_return error_response(500, "INTERNAL_ERROR", "internal error");
}

/// Writes `res`; closing answers lead to a graceful shutdown.
asio::awaitable<next_step> write_answer(session_stream& stream, session_context& ctx, response res, bool keep_alive,
                                        bool head = false) {
  const auto wire = to_wire(to_message(std::move(res), keep_alive, head, ctx.log));
  stream.set_timeout(ctx.limits.write_timeout);
  auto [ec, n] = co_await stream.write_all(asio::buffer(wire));
  if (ec) co_return next_step::drop;
  co_return keep_alive ? next_step::keep_alive : next_step::close;
}

/// Tells an HTTP/1.1 client that sent "Expect: 100-continue" to go on with the body.
asio::awaitable<bool> send_continue_if_expected(session_stream& stream, const http::request_parser<http::string_body>& p) {
  const auto& m = p.get();
  const auto expect = m[http::field::expect];
  if (m.version() < 11 || !beast::iequals(expect, "100-continue") || p.is_done()) co_return true;
  static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
  auto [ec, n] = co_await stream.write_all(asio::buffer(go_on));
  co_return !ec;
}

/// Answers a failed header or body read with a closing error, or drops the connection.
/// (No co_await inside ?: or && in this file: GCC 12 miscompiles it, evaluating both sides.)
asio::awaitable<next_step> answer_read_error(session_stream& stream, session_context& ctx,
                                             const boost::system::error_code& ec) {
  auto answer = read_error_response(ec);
  if (!answer) co_return next_step::drop;
  co_return co_await write_answer(stream, ctx, std::move(*answer), false);
}

/// Reads and answers one request whose first bytes are in `buffer`.
asio::awaitable<next_step> serve_one(session_stream& stream, beast::flat_buffer& buffer, session_context& ctx) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(ctx.limits.header_limit));
  parser.body_limit(ctx.limits.body_limit);
  // The first request's head must be complete by its deadline, counted from accept; a later
  // request's from its first byte.
  if (ctx.first_head_deadline) stream.set_deadline(*ctx.first_head_deadline);
  else stream.set_timeout(ctx.limits.header_timeout);
  auto refusal = co_await check_raw_header(stream, buffer, ctx.limits);
  if (refusal) co_return co_await write_answer(stream, ctx, std::move(*refusal), false);
  const auto hec = co_await read_http(stream, buffer, parser, true);
  if (hec) co_return co_await answer_read_error(stream, ctx, hec);
  ctx.first_head_deadline.reset();
  if (auto problem = framing_problem(parser))
    co_return co_await write_answer(stream, ctx, error_response(400, "BAD_REQUEST", *problem), false);
  const bool may_continue = co_await send_continue_if_expected(stream, parser);
  if (!may_continue) co_return next_step::drop;
  stream.set_timeout(ctx.limits.body_timeout);
  const auto bec = co_await read_http(stream, buffer, parser, false);
  if (bec) co_return co_await answer_read_error(stream, ctx, bec);
  const bool keep_alive = parser.keep_alive();
  const bool head = parser.get().method() == http::verb::head;
  auto res = co_await call_handler(ctx, to_request(parser.release()));
  // Whoever waits for this answer to be on the wire (a notify ack holding back a cancel) hears.
  const auto after_write = std::move(res.after_write);
  const bool reset = res.status == reset_status;
  auto step = next_step::drop;
  if (reset) step = co_await write_raw_then_reset(stream, ctx, res.body);
  else if (res.status != no_answer_status)
    step = co_await write_answer(stream, ctx, std::move(res), keep_alive && !ctx.stopping, head);
  if (after_write) after_write(step != next_step::drop && !reset);
  co_return step;
}

/// Waits (idle timeout) for the first byte of the next request; false when none comes.
asio::awaitable<bool> await_request(session_stream& stream, beast::flat_buffer& buffer, session_context& ctx) {
  ctx.idle = true;
  if (ctx.first_head_deadline) stream.set_deadline(*ctx.first_head_deadline);
  else stream.set_timeout(ctx.limits.idle_timeout);
  auto [ec, n] = co_await stream.read_some(buffer.prepare(4096));
  ctx.idle = false;
  if (ec) co_return false;
  buffer.commit(n);
  co_return true;
}

}  // namespace

asio::awaitable<void> serve_connection(session_stream& stream, session_context& ctx) {
  // A plain connection's first-request deadline starts now (a TLS one's before its handshake).
  if (!ctx.first_head_deadline) ctx.first_head_deadline = std::chrono::steady_clock::now() + ctx.limits.first_request_timeout;
  beast::flat_buffer buffer;
  for (;;) {
    if (ctx.stopping) co_return;
    if (buffer.size() == 0) {
      const bool got_request = co_await await_request(stream, buffer, ctx);
      if (!got_request) co_return;
    }
    const auto next = co_await serve_one(stream, buffer, ctx);  // not in the switch (coding-rules.md)
    switch (next) {
      case next_step::keep_alive: break;
      case next_step::close: co_await stream.shut_down(ctx.limits); co_return;
      case next_step::drop: co_return;
    }
  }
}

}  // namespace cashier::net::detail
