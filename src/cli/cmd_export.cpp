#include <CLI/CLI.hpp>

#include <torch/torch.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/runtime.h"
#include "sampling/export.h"

namespace invdiff::cli {

void add_export_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("export", "Write a model as diffusers folders (UNet2DModel; guided: base + G_psi + mix)");
  struct Opts {
    std::string model, out;
    bool ema = true;
    std::optional<double> guidance_ratio;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-m,--model", o->model, "a diffusers folder, or a guided model debiased from one")->required();
  cmd->add_option("-o,--out", o->out, "output directory")->required();
  cmd->add_flag("!--no-ema", o->ema, "guided: export G_psi's raw weights instead of the EMA");
  add_optional(cmd, "--guidance-ratio", o->guidance_ratio, "guided: the r written to guidance.json (default: stored)");
  cmd->callback([o, &g] {
    setup_runtime(g);
    LoadModelOptions lo;
    lo.use_ema = o->ema;
    lo.guidance_ratio = o->guidance_ratio;
    auto m = load_any_model(o->model, torch::kCPU, lo);
    auto res = export_diffusers(m, o->out);
    std::printf("%s\n", res.dump(2).c_str());
  });
}

}  // namespace invdiff::cli
