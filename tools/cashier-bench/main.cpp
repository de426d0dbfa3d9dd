// cashier-bench: the load generator and ceiling probes behind tools/bench (see
// proto-docs/performance.md). One subcommand per mode; each prints its results as one JSON
// object per line on stdout and progress on stderr. Exit codes: 0 ok, 1 a check failed (an
// answer was wrong, a payment did not finish), 2 bad usage or set-up.
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

#include "tools/cashier-bench/ceilings.hpp"
#include "tools/cashier-bench/http_load.hpp"
#include "tools/cashier-bench/lifecycle.hpp"
#include "tools/cashier-bench/notify_load.hpp"
#include "tools/cashier-bench/seed.hpp"

namespace {

using namespace cashier::bench;

void add_rsa(CLI::App& app, rsa_options& o) {
  auto* c = app.add_subcommand("rsa", "RSA256 sign/s and verify/s through the project's signer, one core and all");
  c->add_option("--keys", o.keys_dir, "tools/dev-keys directory")->required();
  c->add_option("--seconds", o.seconds, "per figure")->capture_default_str();
  c->add_option("--threads", o.threads, "threads for the all-cores figures (0: every core)")->capture_default_str();
}

void add_sqlite(CLI::App& app, sqlite_options& o) {
  auto* c = app.add_subcommand("sqlite", "raw SQLite durable commits/s with the store's pragmas, schema and row sizes");
  c->add_option("--dir", o.dir, "scratch directory (same disk as the daemon's database)")->capture_default_str();
  c->add_option("--seconds", o.seconds, "per batch size")->capture_default_str();
  c->add_option("--batch", o.batch, "transitions per commit of the batched figure")->capture_default_str();
}

void add_ceiling(CLI::App& app, ceiling_options& o) {
  auto* c = app.add_subcommand("http-ceiling", "a minimal Beast server on one thread, loaded at saturation");
  c->add_option("--connections", o.connections, "client connections")->capture_default_str();
  c->add_option("--seconds", o.seconds, "how long")->capture_default_str();
  c->add_option("--request-bytes", o.request_bytes, "request body size")->capture_default_str();
}

void add_seed(CLI::App& app, seed_options& o) {
  auto* c = app.add_subcommand("seed", "put IN_PROCESS payments into a cashierd database (daemon stopped)");
  c->add_option("--db", o.database, "the database")->required();
  c->add_option("--prefix", o.prefix, "paymentRequestId prefix")->capture_default_str();
  c->add_option("--first", o.first, "first index")->capture_default_str();
  c->add_option("--count", o.count, "payments")->required();
  c->add_option("--merchant", o.merchant_id, "merchant id")->capture_default_str();
  c->add_option("--notify-url", o.notify_url, "cashierd's alipayplus.notifyUrl")->required();
}

void add_notify(CLI::App& app, notify_options& o) {
  auto* c = app.add_subcommand("notify", "POST signed notifyPayment for seeded payments; verify every ack");
  c->add_option("--url", o.url, "cashierd's notify URL, http://127.0.0.1:port/path")->required();
  c->add_option("--keys", o.keys_dir, "tools/dev-keys directory")->required();
  c->add_option("--client-id", o.client_id, "the ACQP's Client-Id")->required();
  c->add_option("--prefix", o.prefix, "paymentRequestId prefix of the seeded payments")->capture_default_str();
  c->add_option("--first", o.first, "first index")->capture_default_str();
  c->add_option("--count", o.count, "notifies (one per payment)")->required();
  c->add_option("--connections", o.connections, "keep-alive connections")->capture_default_str();
  c->add_option("--rate", o.rate, "notifies per second (0: saturation)")->capture_default_str();
  c->add_option("--sign-threads", o.sign_threads, "pre-signing threads (0: every core)")->capture_default_str();
  c->add_option("--acked-out", o.acked_out, "write the paymentRequestId of every acked notify here");
}

void add_check(CLI::App& app, std::string& db, std::string& acked) {
  auto* c = app.add_subcommand("check-acked", "every acked notify's payment is SUCCESS with its notify recorded");
  c->add_option("--db", db, "the database (read-only)")->required();
  c->add_option("--acked", acked, "the --acked-out file of notify")->required();
}

void add_common(CLI::App* c, lifecycle_options& o) {
  c->add_option("--url", o.url, "cashierd's base URL, http://127.0.0.1:port")->required();
  c->add_option("--token", o.token, "the merchant's Bearer token")->required();
  c->add_option("--secret", o.secret, "the merchant's notifySecret (whsec_...)")->required();
  c->add_option("--sink-port", o.sink_port, "the webhook sink's port (the merchant notifyUrl's)")->required();
  c->add_option("--prefix", o.prefix, "paymentRequestId prefix, unique per run")->capture_default_str();
  c->add_option("--seconds", o.seconds, "per point / of the schedule")->capture_default_str();
  c->add_option("--drain-seconds", o.drain_seconds, "wait for the last webhooks at most")->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cashier-bench: load generator and ceilings for cashierd (see proto-docs/performance.md)"};
  app.require_subcommand(1);
  rsa_options rsa;
  sqlite_options sqlite;
  ceiling_options ceiling;
  seed_options seed;
  notify_options notify;
  lifecycle_options lifecycle, create;
  std::string check_db, check_acked;
  add_rsa(app, rsa);
  add_sqlite(app, sqlite);
  add_ceiling(app, ceiling);
  add_seed(app, seed);
  add_notify(app, notify);
  add_check(app, check_db, check_acked);
  auto* lc = app.add_subcommand("lifecycle", "create -> pay -> notify -> webhook, C clients each, a point per C");
  add_common(lc, lifecycle);
  lc->add_option("--clients", lifecycle.clients, "concurrent clients, one point each (e.g. 1 2 4)")->capture_default_str();
  lc->add_option("--also-url", lifecycle.urls,
                 "another cashierd instance's base URL (cluster mode; repeatable): client k sends to the k-th URL, "
                 "--url first, round robin");
  auto* cr = app.add_subcommand("create", "open-loop creates at a fixed rate; latency to the pay answer");
  add_common(cr, create);
  cr->add_option("--rate", create.rate, "creates per second")->capture_default_str();
  cr->add_option("--connections", create.connections, "keep-alive connections")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (app.got_subcommand("rsa")) return run_rsa(rsa);
  if (app.got_subcommand("sqlite")) return run_sqlite(sqlite);
  if (app.got_subcommand("http-ceiling")) return run_http_ceiling(ceiling);
  if (app.got_subcommand("seed")) return run_seed(seed);
  if (app.got_subcommand("notify")) return run_notify(notify);
  if (app.got_subcommand("check-acked")) return run_check_acked(check_db, check_acked);
  if (app.got_subcommand("lifecycle")) return run_lifecycle(lifecycle);
  if (app.got_subcommand("create")) return run_create(create);
  return 2;
}
