// cashierd: the entry point. Parses the command line, validates the configuration
// (`--check-config` stops there: exit 0 valid, 2 invalid with the offending key named) and runs
// the daemon until SIGTERM or SIGINT, which drain in-flight work and exit 0. Two hidden flags
// print the route table and the config keys (tests/docs compares them with proto-docs).
#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "orchestrator/daemon/app.hpp"
#include "orchestrator/daemon/checkout_pages.hpp"
#include "orchestrator/daemon/config.hpp"
#include "orchestrator/daemon/routes.hpp"

int main(int argc, char** argv) {
  CLI::App cli{"cashierd: Alipay+ Cashier Payment orchestrator for an Acquiring Service Provider.\n"
               "Merchants create payments through its HTTP API; it calls Alipay+, receives signed\n"
               "notifyPayment webhooks, drives each payment to one final state, keeps everything\n"
               "in SQLite and tells the merchant by signed webhook.",
               "cashierd"};
  std::string config_path;
  std::string check_path;
  auto* run_opt = cli.add_option("--config", config_path, "Run the daemon with this JSON config file");
  auto* check_opt = cli.add_option("--check-config", check_path,
                                   "Validate this config file and exit: 0 valid, 2 invalid");
  run_opt->excludes(check_opt);
  bool print_routes = false;
  bool print_config_keys = false;
  cli.add_flag("--print-routes", print_routes, "Print every served route (METHOD PATTERN) and exit")
      ->group("");
  cli.add_flag("--print-config-keys", print_config_keys, "Print every config key and exit")
      ->group("");
  cli.set_version_flag("--version", std::string("cashierd ") + CASHIER_VERSION);
  cli.footer("Exit codes: 0 ok (or SIGTERM drained), 1 runtime failure, 2 bad usage or config.\n"
             "Docs: proto-docs/operations.md, proto-docs/merchant-api.yaml.");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e) == 0 ? 0 : 2;
  }
  if (print_routes || print_config_keys) {
    if (print_routes) {
      for (const auto& r : cashier::daemon::routes()) std::cout << r.method << ' ' << r.pattern << '\n';
      for (const auto& r : cashier::daemon::checkout_routes()) std::cout << r.method << ' ' << r.pattern << '\n';
    }
    if (print_config_keys)
      for (const auto& k : cashier::daemon::config_keys()) std::cout << k << '\n';
    return 0;
  }
  const auto& path = check_path.empty() ? config_path : check_path;
  if (path.empty()) {
    std::cerr << "cashierd: --config FILE is required (or --check-config FILE); see --help\n";
    return 2;
  }
  auto cfg = cashier::daemon::load_config(path);
  if (!cfg) {
    std::cerr << "cashierd: invalid config " << path << ": " << to_string(cfg.error()) << "\n";
    return 2;
  }
  if (!check_path.empty()) {
    // Load the keys and certificates too: a config that names a bad key is not valid.
    if (auto problem = cashier::daemon::check_resources(*cfg)) {
      std::cerr << "cashierd: invalid config " << path << ": " << to_string(*problem) << "\n";
      return 2;
    }
    std::cout << "cashierd: config " << path << " is valid\n";
    return 0;
  }
  return cashier::daemon::run_daemon(*cfg);
}
