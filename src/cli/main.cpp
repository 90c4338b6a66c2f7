#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "core/interrupt.h"
#include "core/runtime.h"

using namespace invdiff;

void cli::setup_runtime(const GlobalOptions& g) {
  auto info = init_runtime(g.threads);
  if (!g.quiet && !info.blas_optimised)
    std::fprintf(stderr, "warning: BLAS is %s, not an optimised one; run scripts/setup.sh (libopenblas0-openmp)\n",
                 info.blas.empty() ? "unknown" : info.blas.c_str());
  (void)parse_device(g.device);
}

int main(int argc, char** argv) {
  CLI::App app{"invdiff: label-free bias mitigation for diffusion models (InvDiff)"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags (--threads, --device, -q) may follow the subcommand
  cli::GlobalOptions g;
  app.add_option("--threads", g.threads, "CPU threads for libtorch (default: all cores)")->check(CLI::NonNegativeNumber);
  app.add_option("--device", g.device, "cpu or cuda[:N]");
  app.add_flag("-q,--quiet", g.quiet, "no progress bars");
  cli::add_data_command(app, g);
  cli::add_train_command(app, g);
  cli::add_groups_command(app, g);
  cli::add_debias_command(app, g);
  cli::add_sample_command(app, g);
  cli::add_run_command(app, g);
  cli::add_info_command(app, g);
  cli::add_classifier_command(app, g);
  cli::add_eval_command(app, g);
  cli::add_bench_command(app, g);
  g.command_line = "invdiff";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+@%") == std::string::npos;
    if (!plain) {
      std::string q = "'";
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      a = q + "'";
    }
    g.command_line += " " + a;
  }
  install_interrupt_handler();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    auto nl = msg.find('\n');  // libtorch messages carry a stack trace after the first line
    std::fprintf(stderr, "invdiff: error: %s\n", msg.substr(0, nl).c_str());
    return 1;
  }
  return 0;
}
