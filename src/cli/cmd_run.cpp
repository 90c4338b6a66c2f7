// `invdiff run`: the whole loop on the embedded benchmark (experiment/run.h), each stage resumable.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/runtime.h"
#include "experiment/run.h"

namespace invdiff::cli {

void add_run_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("run", "Run the whole loop on the embedded benchmark (cfmnist), resumably");
  auto o = std::make_shared<RunOptions>();
  cmd->add_option("-o,--out", o->out, "run directory")->capture_default_str();
  cmd->add_option("--data", o->data, "cfmnist directory (built if missing)")->capture_default_str();
  cmd->add_option("--preset", o->preset, "quick (<= 15 min on 2 cores) or full")
      ->check(CLI::IsMember({"quick", "full"}))->capture_default_str();
  add_optional(cmd, "--base-steps", o->base_steps, "base-model training steps (default: the preset's)")->check(positive());
  add_old_name(cmd, "--steps", "--base-steps", o->base_steps)->check(positive());
  add_optional(cmd, "--debias-steps", o->debias_steps, "G_psi training steps (default: the preset's)")
      ->check(positive());
  add_optional(cmd, "-n,--images-per-prompt", o->samples_per_class,
               "images generated per prompt for evaluation (default: the preset's)")->check(positive());
  add_old_name(cmd, "--samples-per-class", "--images-per-prompt", o->samples_per_class)->check(positive());
  cmd->add_option("--seed", o->seed, "seed for every stage")->check(whole_number())->capture_default_str();
  cmd->callback([o, &g] {
    setup_runtime(g);
    auto device = parse_device(g.device);
    o->command_line = g.command_line;
    auto r = run_pipeline(*o, device, !g.quiet);
    const auto& e = r["eval"];
    std::printf("Bias: reference %.3f, base %.3f, guided %.3f (colour purity %.3f -> %.3f, FD %.4f -> %.4f)\n",
                e["reference"]["bias"].get<double>(), e["base"]["bias"].get<double>(), e["guided"]["bias"].get<double>(),
                e["base"]["purity"].get<double>(), e["guided"]["purity"].get<double>(), e["base"]["fd"].get<double>(),
                e["guided"]["fd"].get<double>());
    std::printf("report: %s/report.html (and report.md)\n", o->out.c_str());
  });
}

}  // namespace invdiff::cli
