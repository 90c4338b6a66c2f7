// `invdiff bench`: the comparison table with controls over seeds (pipeline/bench.h).
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>

#include "cli/commands.h"
#include "core/runtime.h"
#include "experiment/bench.h"

namespace invdiff::cli {

void add_bench_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("bench", "The comparison table: base, ERM control, official recipe, invdiff, oracle "
                                          "groups, reweighting; mean +- sd over seeds");
  auto o = std::make_shared<BenchOptions>();
  cmd->add_option("-o,--out", o->out, "bench directory")->capture_default_str();
  cmd->add_option("--data", o->data, "cfmnist directory (built if missing)")->capture_default_str();
  cmd->add_option("--preset", o->preset, "quick or full (step budgets)")->check(CLI::IsMember({"quick", "full"}))->capture_default_str();
  cmd->add_option("-m,--base", o->base, "an existing base model (default: train OUT/base)");
  cmd->add_option("--seeds", o->seeds, "seeds 0..N-1")->check(CLI::Range(1, 100))->capture_default_str();
  cmd->add_option("--rows", o->rows, "subset of reference,base,erm,official,invdiff,oracle,reweight")->delimiter(',');
  cmd->add_option("-n,--samples-per-class", o->samples_per_class, "images per prompt in every evaluation")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--debias-steps", o->debias_steps, "G_psi steps of the guided rows (default: the preset's)");
  cmd->add_option("--lambda", o->lambda, "override lambda of the erm/invdiff/oracle rows");
  cmd->add_option("--guidance-ratio", o->guidance_ratio, "sampling-time r for the guided rows (default: stored)");
  cmd->add_option("--variant", o->variant, "G_psi variant of the erm/invdiff/oracle rows")
      ->check(CLI::IsMember({"copy", "small", "lora"}));
  cmd->add_option("-G,--groups", o->groups,
                  "invdiff row: soft std grouper with G groups instead of the recipe's 2-way split per prompt")
      ->check(CLI::Range(2, 64));
  cmd->add_option("--refine-draws", o->refine_draws,
                  "invdiff row: noise draws averaged around the chosen score timestep (default: the recipe's)")
      ->check(CLI::Range(0, 64));
  cmd->add_option("--grouper", o->grouper, "invdiff row: otsu, cluster or std grouper (default: the recipe's)")
      ->check(CLI::IsMember({"otsu", "cluster", "std"}));
  cmd->add_option("--residual-pool", o->residual_pool,
                  "invdiff row: score the residual pooled to P x P (0: the full-resolution MSE; default: the recipe's)")
      ->check(CLI::Range(0, 4096));
  cmd->callback([o, &g] {
    setup_runtime(g);
    auto device = parse_device(g.device);
    o->command_line = "invdiff bench -o " + o->out + " --preset " + o->preset + " --seeds " + std::to_string(o->seeds) +
                      " -n " + std::to_string(o->samples_per_class);
    if (!o->base.empty()) o->command_line += " -m " + o->base;
    if (!o->rows.empty()) {
      std::string r;
      for (const auto& x : o->rows) r += (r.empty() ? "" : ",") + x;
      o->command_line += " --rows " + r;
    }
    if (o->debias_steps > 0) o->command_line += " --debias-steps " + std::to_string(o->debias_steps);
    if (!std::isnan(o->lambda)) o->command_line += " --lambda " + std::to_string(o->lambda);
    if (!std::isnan(o->guidance_ratio)) o->command_line += " --guidance-ratio " + std::to_string(o->guidance_ratio);
    if (!o->variant.empty()) o->command_line += " --variant " + o->variant;
    if (o->groups > 0) o->command_line += " -G " + std::to_string(o->groups);
    if (o->refine_draws >= 0) o->command_line += " --refine-draws " + std::to_string(o->refine_draws);
    if (!o->grouper.empty()) o->command_line += " --grouper " + o->grouper;
    if (o->residual_pool >= 0) o->command_line += " --residual-pool " + std::to_string(o->residual_pool);
    auto b = run_bench(*o, device, !g.quiet);
    const std::string table = b.value("table", std::string("bench"));
    std::printf("\n%s\nwrote %s/%s.md and %s.json\n", bench_markdown(b).c_str(), o->out.c_str(), table.c_str(), table.c_str());
  });
}

}  // namespace invdiff::cli
