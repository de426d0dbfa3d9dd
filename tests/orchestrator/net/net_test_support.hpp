// Shared helpers for the orchestrator/net tests: development certificates made once per build
// by tools/dev-keys, a runner that drives one coroutine on an io_context with a safety limit,
// tiny raw-socket peers for scripting misbehaving clients and servers, and request builders.
#pragma once

#include "orchestrator/net/http_types.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <string>

namespace cashier::net::test {

/// The directory holding ca.pem, server.pem, server.key, ...: dev-keys/ beside the test binary
/// (made by tools/dev-keys on first use).
const std::string& keys_dir();

/// Runs `task` on `ioc` until it finishes (rethrowing its exception); fails the test if it has
/// not finished after 30 s of wall time, so a bug cannot hang the suite.
void run(boost::asio::io_context& ioc, boost::asio::awaitable<void> task);

/// A request with the given method, target and body and no extra headers.
request make_request(std::string method, std::string target, std::string body = {});

/// Reads from `socket` until the end of a request or response head ("\r\n\r\n"); returns the
/// bytes read so far (the head and possibly more), or what arrived before EOF.
boost::asio::awaitable<std::string> read_head(boost::asio::ip::tcp::socket& socket);

/// Reads from `socket` until EOF or an error; returns everything read.
boost::asio::awaitable<std::string> read_to_end(boost::asio::ip::tcp::socket& socket);

/// Writes all of `bytes` to `socket`, ignoring errors (the peer may have gone).
boost::asio::awaitable<void> write_all(boost::asio::ip::tcp::socket& socket, std::string bytes);

/// Connects a raw TCP socket to 127.0.0.1:port.
boost::asio::awaitable<boost::asio::ip::tcp::socket> connect_raw(std::uint16_t port);

/// Connects to 127.0.0.1:port, writes `bytes`, and returns what the server sends until it closes.
boost::asio::awaitable<std::string> raw_exchange(std::uint16_t port, std::string bytes);

/// The decimal HTTP status of a raw response ("HTTP/1.1 413 ..." gives 413), or 0.
int status_of(const std::string& raw_response);

}  // namespace cashier::net::test
