// `invdiff run`: the whole loop on the embedded benchmark or any dataset (experiment/run.h), each
// stage resumable.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/runtime.h"
#include "experiment/run.h"
#include "experiment/run_report.h"

namespace invdiff::cli {

void add_run_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("run", "Run the whole loop on the embedded benchmark (cfmnist) or any dataset, resumably");
  auto o = std::make_shared<RunOptions>();
  cmd->add_option("-o,--out", o->out, "run directory")->capture_default_str();
  cmd->add_option("--data", o->data, "dataset directory (metadata.csv + images); cfmnist is built there when it holds none")
      ->capture_default_str();
  cmd->add_option("-m,--model", o->model, "an existing base model or diffusers folder (default: train OUT/base)");
  cmd->add_option("--target", o->target, "condition column (default: the manifest's)");
  cmd->add_option("--attribute", o->attributes,
                  "attribute column(s) Bias is judged on, by a classifier trained on the ref split (repeat or "
                  "comma-separate; default: the manifest's; cfmnist's colour: its exact oracle)")
      ->delimiter(',');
  cmd->add_option("--preset", o->preset, "quick (about 15 min on 2 cores) or full")
      ->check(CLI::IsMember({"quick", "full"}))->capture_default_str();
  add_optional(cmd, "--base-steps", o->base_steps, "base-model training steps (default: the preset's)")->check(positive());
  add_old_name(cmd, "--steps", "--base-steps", o->base_steps)->check(positive());
  add_optional(cmd, "--debias-steps", o->debias_steps, "G_psi training steps (default: the preset's)")
      ->check(positive());
  add_optional(cmd, "-n,--images-per-prompt", o->samples_per_class,
               "images generated per prompt for evaluation (default: the preset's)")->check(positive());
  add_old_name(cmd, "--samples-per-class", "--images-per-prompt", o->samples_per_class)->check(positive());
  cmd->add_option("--seed", o->seed, "seed for every stage")->check(whole_number())->capture_default_str();
  cmd->add_flag("--always-debias", o->always_debias, "train G_psi even when the label-free groups show no clear "
                "structure (default: the base is left as it is)");
  cmd->callback([o, &g, cmd] {
    refuse_given(cmd, !o->model.empty(), {"--base-steps", "--steps"}, "-m gives the base model, nothing is trained");
    setup_runtime(g);
    auto device = parse_device(g.device);
    o->command_line = g.command_line;
    auto r = run_pipeline(*o, device, !g.quiet);
    const auto& e = r["eval"];
    const std::string judges = bias_judges(e["base"]);
    if (judges.empty())
      std::printf("Bias: not measured: %s has no attribute labels; Bias needs labelled reference data (--attribute COL, "
                  "a column labelled in the ref split)\n",
                  o->data.c_str());
    else
      std::printf("Bias, judged by %s: reference %s, base %s, guided %s\n", judges.c_str(), fmt_num(e["reference"]["bias"]).c_str(),
                  fmt_num(e["base"]["bias"]).c_str(), fmt_num(e["guided"]["bias"]).c_str());
    std::printf("FD %s -> %s, faithfulness %s -> %s", fmt_num(e["base"]["fd"], 4).c_str(),
                fmt_num(e["guided"]["fd"], 4).c_str(), fmt_num(e["base"]["faithfulness"]).c_str(),
                fmt_num(e["guided"]["faithfulness"]).c_str());
    if (e["base"]["purity"].is_number())
      std::printf(", colour purity %s -> %s", fmt_num(e["base"]["purity"]).c_str(), fmt_num(e["guided"]["purity"]).c_str());
    std::printf(" (base -> guided)\n");
    const auto& st = r["groups"].value("structure", nlohmann::json::object());
    if (st.is_object() && st.contains("clear") && !st["clear"].get<bool>())
      std::printf("no clear group structure: %s; %s\n", st["reason"].get<std::string>().c_str(),
                  r["guided_train"].contains("skipped") ? "the min step was skipped, the guided model is the base"
                                                        : "the guided model is not a debiasing claim");
    std::printf("report: %s/report.html (and report.md)\n", o->out.c_str());
  });
}

}  // namespace invdiff::cli
