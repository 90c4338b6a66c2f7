// `invdiff bench`: the comparison table with controls over seeds (experiment/bench.h).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/runtime.h"
#include "experiment/bench.h"
#include "invdiff/guidance.h"

namespace invdiff::cli {

void add_bench_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("bench", "The comparison table: base, ERM control, official recipe, invdiff, oracle "
                                          "groups, reweighting; mean +- sd over seeds");
  auto o = std::make_shared<BenchOptions>();
  cmd->add_option("-o,--out", o->out, "bench directory")->capture_default_str();
  cmd->add_option("--data", o->data, "dataset directory (metadata.csv + images); cfmnist is built there when it holds none")
      ->capture_default_str();
  cmd->add_option("--target", o->target, "condition column (default: the manifest's)");
  cmd->add_option("--attribute", o->attributes,
                  "attribute column(s) for Bias (a classifier trained on the ref split each) and the oracle rows "
                  "(repeat or comma-separate; default: the manifest's)")
      ->delimiter(',');
  cmd->add_option("--preset", o->preset, "quick or full (step budgets)")->check(CLI::IsMember({"quick", "full"}))->capture_default_str();
  cmd->add_option("-m,--model", o->base, "an existing base model, or a diffusers folder (default: train OUT/base)");
  add_old_name(cmd, "--base", "--model", o->base);
  cmd->add_option("--seeds", o->seeds, "seeds 0..N-1")->check(in_range(1, 100))->capture_default_str();
  cmd->add_option_function<std::vector<std::string>>(
         "--rows",
         [o](const std::vector<std::string>& names) {
           for (const auto& n : names) o->rows.push_back(parse_enum<BenchRow>(n));
         },
         "subset of reference,base,erm,official,invdiff,oracle,reweight")
      ->delimiter(',');
  cmd->add_option("-n,--images-per-prompt", o->samples_per_class, "images per prompt in every evaluation")
      ->check(positive())->capture_default_str();
  add_old_name(cmd, "--samples-per-class", "--images-per-prompt", o->samples_per_class)->check(positive());
  add_optional(cmd, "--debias-steps", o->debias_steps, "G_psi steps of the guided rows (default: the preset's)")
      ->check(positive());
  add_optional(cmd, "--lambda", o->lambda, "override lambda of the erm/invdiff/oracle rows")->check(non_negative());
  add_optional(cmd, "--guidance-ratio", o->guidance_ratio, "sampling-time r for the guided rows (default: stored)")
      ->check(in_range(0, kMaxAdditiveRatio));
  add_enum(cmd, "--variant", o->variant, "G_psi variant of the erm/invdiff/oracle rows");
  add_optional(cmd, "-G,--groups", o->groups,
               "invdiff row: soft std grouper with G groups instead of the recipe's 2-way split per prompt")
      ->check(in_range(2, 64));
  add_optional(cmd, "--refine-draws", o->refine_draws,
               "invdiff row: noise draws averaged around the chosen score timestep (default: the recipe's)")
      ->check(in_range(0, 64));
  add_enum(cmd, "--grouper", o->grouper, "invdiff row: otsu, cluster or std grouper (default: the recipe's)");
  add_optional(cmd, "--residual-pool", o->residual_pool,
               "invdiff row: score the residual pooled to P x P (0: the full-resolution MSE; default: the recipe's)")
      ->check(in_range(0, 4096));
  cmd->add_option("--set", o->settings,
                  "KEY=VALUE on the recipe (repeatable): groups_cfg.* for the invdiff row's max step, "
                  "debias.* / guidance.* for the erm, invdiff and oracle rows (e.g. debias.lr=3e-4)");
  cmd->callback([o, &g] {
    setup_runtime(g);
    auto device = parse_device(g.device);
    o->command_line = g.command_line;
    auto b = run_bench(*o, device, !g.quiet);
    const std::string table = b.value("table", std::string("bench"));
    std::printf("\n%s\nwrote %s/%s.md and %s.json\n", bench_markdown(b).c_str(), o->out.c_str(), table.c_str(), table.c_str());
  });
}

}  // namespace invdiff::cli
