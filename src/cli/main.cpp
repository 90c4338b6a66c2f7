#include <CLI/CLI.hpp>

#include <torch/cuda.h>
#include <torch/version.h>

#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "git_commit.h"  // generated at build time (scripts/git_commit.cmake): INVDIFF_GIT_COMMIT
#include "cli/options.h"
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

namespace {
std::string version_string() {
  return std::string("invdiff ") + INVDIFF_VERSION + " (commit " + INVDIFF_GIT_COMMIT + "), libtorch " + TORCH_VERSION +
         ", BLAS " + blas_label(active_blas_library(), openblas_core_name()) + ", CUDA " +
         (torch::cuda::is_available() ? std::to_string(torch::cuda::device_count()) + " device(s)" : "not available");
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"invdiff: label-free bias mitigation for diffusion models (InvDiff)", "invdiff"};  // help: "Usage: invdiff ...", not argv[0]
  app.require_subcommand(1);
  app.fallthrough();  // global flags (--threads, --device, -q) may follow the subcommand
  cli::GlobalOptions g;
  app.add_option("--threads", g.threads, "CPU threads for libtorch (default: all cores)")->check(cli::non_negative());
  app.add_option("--device", g.device, "cpu or cuda[:N]")->check(cli::device_name());
  app.add_flag("-q,--quiet", g.quiet, "no progress bars");
  app.set_version_flag("--version", version_string, "print version, commit, libtorch, BLAS and CUDA, and exit");
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
  cli::add_export_command(app, g);
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
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // Usage errors: the same one-line form as every other error, exit code 2 (bad input: 1).
    std::string msg = e.what();
    std::fprintf(stderr, "invdiff: error: %s (see --help)\n", msg.substr(0, msg.find('\n')).c_str());
    return 2;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    auto nl = msg.find('\n');  // libtorch messages carry a stack trace after the first line
    std::fprintf(stderr, "invdiff: error: %s\n", msg.substr(0, nl).c_str());
    return 1;
  }
  return 0;
}
