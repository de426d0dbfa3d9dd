// cashierctl's entry point: the process environment (wall clock, TTY, NO_COLOR) handed to
// run_cli, whose exit status becomes the process's. Everything else lives in cashier_ctl.
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "orchestrator/engine/clock.hpp"
#include "tools/cashierctl/cli.hpp"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const cashier::ctl::cli_environment env{
      .wall_now = cashier::wall_now(),
      .color = isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr,
      .in = &std::cin,
  };
  try {
    return static_cast<int>(cashier::ctl::run_cli(args, std::cout, std::cerr, env));
  } catch (const std::exception& e) {
    // Infrastructure failures only (out of memory, a broken stream): expected errors are values.
    std::cerr << "cashierctl: " << e.what() << "\n";
    return static_cast<int>(cashier::ctl::exit_status::failed);
  }
}
