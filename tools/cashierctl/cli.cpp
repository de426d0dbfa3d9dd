// The cashierctl command line (see cli.hpp). Global options (--db, --config, --json,
// --admin-url, --ca) may come before or after the command.
#include "tools/cashierctl/cli.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <variant>

#include <CLI/CLI.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "orchestrator/daemon/config.hpp"
#include "orchestrator/daemon/store_open.hpp"
#include "orchestrator/engine/payment_view.hpp"
#include "state/store/sqlite_store.hpp"
#include "tools/cashierctl/admin.hpp"
#include "tools/cashierctl/check.hpp"
#include "tools/cashierctl/commands.hpp"
#include "tools/cashierctl/format.hpp"

namespace cashier::ctl {

namespace {

/// Everything the command line can set.
struct cli_options {
  std::string db, config, admin_url, ca, admin_token_file;
  bool json = false;
  std::string status, since;
  std::size_t limit = 100;
  double grace_seconds = 60;
  std::string id;
  std::string before;
  bool yes = false;
  std::string merchant;  ///< --merchant: the id is this merchant's paymentRequestId
  std::string amount;    ///< refund --amount: minor units
  std::string refund_id; ///< refund --refund-request-id
};

/// The parsed command line: the chosen command and its options.
struct parsed {
  std::string command;
  cli_options opt;
};

void add_commands(CLI::App& app, cli_options& o) {
  const auto sub = [&app](const char* name, const char* help) {
    auto* s = app.add_subcommand(name, help);
    s->fallthrough();
    return s;
  };
  auto* list = sub("list", "Payments, newest first");
  list->add_option("--status", o.status,
                   "Only this status: INIT, IN_PROCESS, SUCCESS, FAIL, CANCELLED");
  list->add_option("--since", o.since,
                   "Only payments created since T (ISO 8601 UTC, or 15m / 2h / 7d ago)");
  list->add_option("--limit", o.limit, "At most N payments (default 100)")
      ->check(CLI::PositiveNumber);
  list->add_option("--merchant", o.merchant, "Only this merchant's payments");
  constexpr const char* naming =
      "The payment: its alipayPaymentRequestId, or a merchant's paymentRequestId";
  constexpr const char* merchant_help = "The merchant whose paymentRequestId the id is";
  auto* show = sub("show", "A payment with its timeline, Alipay+ calls and webhook attempts");
  show->add_option("paymentRequestId", o.id, naming)->required();
  show->add_option("--merchant", o.merchant, merchant_help);
  auto* refunds = sub("refunds", "A payment's refunds, oldest first, with the refunded sum");
  refunds->add_option("paymentRequestId", o.id, naming)->required();
  refunds->add_option("--merchant", o.merchant, merchant_help);
  sub("stats", "Counts per status, overdue payments, webhook backlog");
  sub("cluster", "Instances, shards and leases (by the database's clock)");
  sub("stuck", "Open payments past their deadline, dead webhooks, anomalies")
      ->add_option("--limit", o.limit, "At most N rows per section (default 100)")
      ->check(CLI::PositiveNumber);
  sub("check", "Verify the store's invariants (exit 1 on a violation)")
      ->add_option("--grace", o.grace_seconds,
                   "Wall-clock seconds a deadline may be missed by (default 60)")
      ->check(CLI::NonNegativeNumber);
  auto* prune = sub("prune", "Delete the audit rows of payments final before a date (asks first)");
  prune->add_option("--before", o.before,
                    "Payments final before T (ISO 8601 UTC, or 90d / 12h ago)")
      ->required();
  prune->add_flag("--yes", o.yes, "Do not ask for confirmation (scripts)");
  auto* cancel = sub("cancel", "Ask cashierd to cancel a payment");
  cancel->add_option("paymentRequestId", o.id, naming)->required();
  cancel->add_option("--merchant", o.merchant, merchant_help);
  auto* inquire = sub("inquire", "Ask cashierd to send one inquiryPayment");
  inquire->add_option("paymentRequestId", o.id, naming)->required();
  inquire->add_option("--merchant", o.merchant, merchant_help);
  auto* refund = sub("refund", "Ask cashierd to refund part or all of a SUCCESS payment");
  refund->add_option("paymentRequestId", o.id, naming)->required();
  refund->add_option("--amount", o.amount, "Minor units to refund, in the payment's currency (e.g. 500)")->required();
  refund->add_option("--refund-request-id", o.refund_id,
                     "Idempotency key of this refund (default: operator-<n>); repeat it to retry safely");
  refund->add_option("--merchant", o.merchant, merchant_help);
  sub("redeliver", "Ask cashierd to deliver a merchant event again")
      ->add_option("eventId", o.id, "The event")
      ->required();
}

std::unique_ptr<CLI::App> make_app(cli_options& o) {
  auto app = std::make_unique<CLI::App>(
      "Inspect and steer cashierd. Reads the database read-only; actions go "
      "through the daemon's admin API.",
      "cashierctl");
  app->add_option("--db", o.db, "SQLite database (default: the config's store: its database, or PostgreSQL)");
  app->add_option("--config", o.config, "cashierd config file (database, listen, tls, timeScale)");
  app->add_flag("--json", o.json, "Machine-readable output (schema: proto-docs/cashierctl.md)");
  app->add_option("--admin-url", o.admin_url, "Admin API origin, e.g. https://localhost:8443");
  app->add_option("--ca", o.ca,
                  "CA file for the admin API's certificate (default: system trust store)");
  app->add_option("--admin-token-file", o.admin_token_file,
                  "File holding the admin token (default: $CASHIER_ADMIN_TOKEN, else the config's)");
  app->require_subcommand(1);
  add_commands(*app, o);
  return app;
}

/// Parses `args`; the command line, or the exit status when it was help or an error.
std::variant<parsed, exit_status> parse(const std::vector<std::string>& args, std::ostream& out,
                                        std::ostream& err) {
  parsed p;
  auto app = make_app(p.opt);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them reversed
  try {
    app->parse(reversed);
  } catch (const CLI::ParseError& e) {
    return app->exit(e, out, err) == 0 ? exit_status::ok : exit_status::usage;
  }
  p.command = app->get_subcommands().front()->get_name();
  return p;
}

exit_status usage_error(const console& io, const std::string& message) {
  return report_error(io, exit_status::usage, "USAGE", message + " (see cashierctl --help)");
}

/// The config when --config was given; a usage error when it does not load.
std::variant<std::optional<daemon::config>, exit_status> read_config(const console& io,
                                                                     const cli_options& o) {
  if (o.config.empty()) return std::optional<daemon::config>{};
  auto cfg = daemon::load_config(o.config);
  if (!cfg) return usage_error(io, "config " + o.config + ": " + to_string(cfg.error()));
  return std::optional<daemon::config>(std::move(*cfg));
}

/// The admin token given outside the config: --admin-token-file, else $CASHIER_ADMIN_TOKEN (never
/// a command-line value: other users could read it in the process list).
std::variant<std::optional<std::string>, exit_status> explicit_admin_token(const console& io,
                                                                         const cli_options& o) {
  if (!o.admin_token_file.empty()) {
    std::ifstream f(o.admin_token_file, std::ios::binary);
    if (!f) return usage_error(io, "cannot read --admin-token-file " + o.admin_token_file);
    std::ostringstream text;
    text << f.rdbuf();
    std::string token = text.str();
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    return std::optional<std::string>(std::move(token));
  }
  if (const char* env = std::getenv("CASHIER_ADMIN_TOKEN"); env != nullptr && *env != '\0')
    return std::optional<std::string>(env);
  return std::optional<std::string>{};
}

exit_status run_action(const console& io, const parsed& p,
                       const std::optional<daemon::config>& cfg) {
  auto token = explicit_admin_token(io, p.opt);
  if (const auto* status = std::get_if<exit_status>(&token)) return *status;
  const auto target = resolve_admin_target(
      cfg, p.opt.admin_url.empty() ? std::nullopt : std::optional(p.opt.admin_url),
      p.opt.ca.empty() ? std::nullopt : std::optional(p.opt.ca),
      std::get<std::optional<std::string>>(token));
  if (!target) return usage_error(io, target.error());
  const auto action = p.command == "cancel"    ? admin_action::cancel
                      : p.command == "inquire" ? admin_action::inquire
                      : p.command == "refund"  ? admin_action::refund
                                               : admin_action::redeliver;
  const auto merchant =
      p.opt.merchant.empty() ? std::nullopt : std::optional<std::string_view>(p.opt.merchant);
  std::string body;
  if (action == admin_action::refund) {
    if (!parse_minor_units(p.opt.amount) || *parse_minor_units(p.opt.amount) == 0)
      return usage_error(io, "--amount must be a positive integer in minor units, not " + printable(p.opt.amount));
    boost::json::object o{{"value", p.opt.amount}};
    if (!p.opt.refund_id.empty()) o["refundRequestId"] = p.opt.refund_id;
    body = boost::json::serialize(o);
  }
  return cmd_admin(io, *target, action, p.opt.id, std::chrono::seconds(30), merchant, std::move(body));
}

exit_status run_read(const session& s, const parsed& p, double time_scale) {
  const auto& o = p.opt;
  if (p.command == "list") {
    list_args a{.limit = o.limit, .merchant_id = o.merchant};
    if (!o.status.empty()) a.status = parse_payment_status(o.status);
    if (!o.since.empty()) a.since = *parse_time_arg(o.since, s.now);
    return cmd_list(s, a);
  }
  if (p.command == "show")
    return cmd_show(s, o.id, o.merchant.empty() ? std::nullopt : std::optional<std::string_view>(o.merchant));
  if (p.command == "refunds")
    return cmd_refunds(s, o.id, o.merchant.empty() ? std::nullopt : std::optional<std::string_view>(o.merchant));
  if (p.command == "stats") return cmd_stats(s);
  if (p.command == "cluster") return cmd_cluster(s);
  if (p.command == "stuck") return cmd_stuck(s, {.limit = o.limit});
  const auto grace = std::chrono::duration<double, std::milli>(o.grace_seconds * 1000 * time_scale);
  return cmd_check(s, {.grace = std::chrono::duration_cast<duration>(grace)});
}

/// Usage errors of the read commands' arguments, found before the database is opened.
std::optional<exit_status> check_read_args(const console& io, cli_options& o, time_point wall) {
  std::transform(o.status.begin(), o.status.end(), o.status.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  if (!o.status.empty() && !parse_payment_status(o.status))
    return usage_error(io, "--status must be INIT, IN_PROCESS, SUCCESS, FAIL or CANCELLED, not " +
                               printable(o.status));
  if (!o.since.empty() && !parse_time_arg(o.since, wall))
    return usage_error(
        io, "--since must be an ISO 8601 time (2026-11-25T10:00:00Z) or a span like 15m, 2h, 7d");
  if (!o.before.empty() && !parse_time_arg(o.before, wall))
    return usage_error(
        io, "--before must be an ISO 8601 time (2026-11-25T10:00:00Z) or a span like 90d, 12h");
  return std::nullopt;
}

// The store to read: --db's SQLite file, else the configured one (SQLite or PostgreSQL).
// `writable` for prune, the one writer among the commands.
std::unique_ptr<store::payment_store> open_store(const parsed& p, const std::optional<daemon::config>& cfg,
                                                 bool writable) {
  if (!p.opt.db.empty() || cfg->store.engine == daemon::store_engine::sqlite) {
    const std::string path = !p.opt.db.empty() ? p.opt.db : cfg->database;
    if (writable) return store::open_sqlite_store(path, {.background_checkpoint = false});
    return store::open_sqlite_store(path, {.read_only = true});
  }
  return daemon::open_configured_store(*cfg, !writable);
}

exit_status open_and_run(const console& io, const parsed& p,
                         const std::optional<daemon::config>& cfg, time_point wall, std::istream* in) {
  const bool sqlite = !p.opt.db.empty() || (cfg && cfg->store.engine == daemon::store_engine::sqlite);
  const std::string path = !p.opt.db.empty() ? p.opt.db : cfg ? daemon::store_name(*cfg) : std::string();
  if (path.empty()) return usage_error(io, "give --db PATH or --config FILE");
  std::error_code ec;
  if (sqlite && !std::filesystem::exists(path, ec))
    return report_error(io, exit_status::failed, "NO_DATABASE",
                        "no database at " + path + " (cashierctl never creates one)");
  try {
    if (p.command == "prune") {
      // The one writer among the commands; short transactions, so it can run beside the daemon.
      const auto store = open_store(p, cfg, true);
      const double scale = cfg ? cfg->time_scale : 1;
      const auto now = payment_now(store->meta("clock_origin_ms"), scale, wall);
      return cmd_prune(io, *store, {.before = *parse_time_arg(p.opt.before, now), .yes = p.opt.yes, .in = in});
    }
    const auto store = open_store(p, cfg, false);
    const double scale = cfg ? cfg->time_scale : 1;
    const session s{io, *store, payment_now(store->meta("clock_origin_ms"), scale, wall)};
    // checkoutUrl as the daemon shows it: the base it last started with (meta public_url).
    engine::set_checkout_base(store->meta("public_url").value_or(""));
    return run_read(s, p, scale);
  } catch (const store::store_error& e) {
    return report_error(io, exit_status::failed, "DATABASE", "database " + path + ": " + e.what());
  }
}

}  // namespace

exit_status run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                    const cli_environment& env) {
  auto result = parse(args, out, err);
  if (auto* status = std::get_if<exit_status>(&result)) return *status;
  auto& p = std::get<parsed>(result);
  const console io{out, err, p.opt.json, env.color && !p.opt.json};
  auto cfg = read_config(io, p.opt);
  if (auto* status = std::get_if<exit_status>(&cfg)) return *status;
  const auto& config = std::get<std::optional<daemon::config>>(cfg);
  if (p.command == "cancel" || p.command == "inquire" || p.command == "redeliver" || p.command == "refund")
    return run_action(io, p, config);
  if (auto bad = check_read_args(io, p.opt, env.wall_now)) return *bad;
  return open_and_run(io, p, config, env.wall_now, env.in);
}

}  // namespace cashier::ctl
