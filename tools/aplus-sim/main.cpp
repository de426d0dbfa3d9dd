// aplus-sim: a stand-alone Alipay+ for development, tests and benchmarks. Parses the command
// line (CLI11), loads the keys and certificates, starts the simulator on one io_context and
// runs until SIGINT or SIGTERM. Exit codes: 0 after a signal, 2 for bad usage or set-up.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json/object.hpp>

#include "tools/aplus-sim/duration_text.hpp"
#include "tools/aplus-sim/sim_core.hpp"
#include "tools/aplus-sim/simulator.hpp"

namespace {

namespace asio = boost::asio;
using namespace cashier;

struct cli_args {
  std::string listen = "127.0.0.1:9443";
  std::string cert, key;
  bool plain_http = false;
  std::string private_key, acqp_public_key, client_id;
  std::string key_version = "1";
  std::string notify_ca;
  std::string auto_pay_after = "off";
  std::string refund_window = "8760h";
  double time_scale = 1.0;
  std::string public_url;
  std::string timeout_hold = "20s";
  std::string notify_timeout = "10s";
};

void add_flags(CLI::App& app, cli_args& a) {
  app.add_option("--listen", a.listen, "host:port to listen on")->capture_default_str();
  app.add_option("--cert", a.cert, "TLS server certificate chain (PEM), e.g. server.pem from tools/dev-keys");
  app.add_option("--key", a.key, "TLS server private key (PEM)");
  app.add_flag("--plain-http", a.plain_http, "serve plain HTTP instead of HTTPS (no --cert/--key)");
  app.add_option("--private-key", a.private_key, "the simulated Alipay+'s RSA private key (PEM): signs answers and notifies")
      ->required();
  app.add_option("--acqp-public-key", a.acqp_public_key,
                 "the ACQP's RSA public key (PEM): verifies requests and notify acks")
      ->required();
  app.add_option("--client-id", a.client_id, "the ACQP's Client-Id (requests with another are refused)")->required();
  app.add_option("--key-version", a.key_version, "keyVersion in our Signature headers")->capture_default_str();
  app.add_option("--notify-ca", a.notify_ca, "CA bundle (PEM) trusted for https notify URLs (default: system store)");
  app.add_option("--auto-pay-after", a.auto_pay_after,
                 "the payer pays this long (payment clock) after pay, e.g. 2s; off: wait for a checkout click")
      ->capture_default_str();
  app.add_option("--refund-window", a.refund_window,
                 "refunds are accepted this long (payment clock) after the payer paid, e.g. 720h")
      ->capture_default_str();
  app.add_option("--time-scale", a.time_scale, "payment clock speed-up (>= 1): notify retries, auto-pay, cancel window")
      ->capture_default_str();
  app.add_option("--public-url", a.public_url, "base URL of the checkout pages in normalUrl (default: from --listen)");
  app.add_option("--timeout-hold", a.timeout_hold, "wall time a *-timeout fault holds the answer")->capture_default_str();
  app.add_option("--notify-timeout", a.notify_timeout, "wall-time limit of one notify request")->capture_default_str();
}

[[noreturn]] void fail(const std::string& message) {
  std::cerr << "aplus-sim: " << message << '\n';
  std::exit(2);
}

template <class T, class E>
T or_fail(boost::system::result<T, E> r) {
  if (!r) fail(r.error().message);
  return std::move(*r);
}

sim::signing_setup load_keys(const cli_args& a) {
  auto acqp = or_fail(aplus::load_public_key_file(a.acqp_public_key));
  sim::signing_setup keys{or_fail(aplus::load_private_key_file(a.private_key)), {}, a.client_id, a.key_version};
  if (auto added = keys.acqp_keys.add(a.key_version, std::move(acqp)); !added) fail(added.error().message);
  return keys;
}

sim::sim_options make_options(const cli_args& a) {
  if (a.plain_http && (!a.cert.empty() || !a.key.empty())) fail("--plain-http excludes --cert and --key");
  if (!a.plain_http && (a.cert.empty() || a.key.empty())) fail("HTTPS needs --cert and --key (or give --plain-http)");
  sim::sim_options o;
  o.listen = a.listen;
  if (!a.plain_http) o.tls = or_fail(net::make_server_context(a.cert, a.key));
  o.notify_tls = or_fail(net::make_client_context(a.notify_ca.empty() ? std::nullopt : std::optional(a.notify_ca)));
  o.public_url = a.public_url;
  o.auto_pay_after = or_fail(sim::parse_optional_duration(a.auto_pay_after));
  o.refund_window = or_fail(sim::parse_duration(a.refund_window));
  o.time_scale = a.time_scale;
  o.timeout_hold = or_fail(sim::parse_duration(a.timeout_hold));
  o.notify_timeout = or_fail(sim::parse_duration(a.notify_timeout));
  return o;
}

void log_start(const sim::simulator& s, const sim::sim_options& o) {
  boost::json::object fields{{"listen", o.listen},
                             {"baseUrl", s.base_url()},
                             {"tls", static_cast<bool>(o.tls)},
                             {"timeScale", o.time_scale},
                             {"autoPayAfterMs", o.auto_pay_after ? boost::json::value(o.auto_pay_after->count())
                                                                 : boost::json::value(nullptr)}};
  if (o.time_scale != 1.0) {
    char text[128];
    std::snprintf(text, sizeof text, "TIME SCALED: the payment clock runs %g times faster than the wall clock",
                  o.time_scale);
    fields["warning"] = text;
  }
  sim::log_event("start", std::move(fields));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"aplus-sim: a simulated Alipay+ (pay, inquiryPayment, cancelPayment, consultPayment, checkout, "
               "notifyPayment) with per-payment fault injection. See proto-docs/aplus-sim.md."};
  cli_args args;
  add_flags(app, args);
  CLI11_PARSE(app, argc, argv);
  const auto options = make_options(args);
  asio::io_context ioc;
  auto sim = or_fail(sim::simulator::start(ioc.get_executor(), options, load_keys(args)));
  log_start(sim, options);
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    sim::log_event("stop", {});
    asio::co_spawn(ioc, sim.stop(), [&](std::exception_ptr) { ioc.stop(); });
  });
  ioc.run();
  return 0;
}
