#include "experiment/run.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include "core/dir_lock.h"
#include "core/fs.h"
#include "experiment/experiment.h"
#include "experiment/run_report.h"

namespace invdiff {

nlohmann::json run_pipeline(const RunOptions& opt, const c10::Device& device, bool progress) {
  auto t0 = std::chrono::steady_clock::now();
  Preset pr = get_preset(opt.preset);
  pr.base_steps = opt.base_steps.value_or(pr.base_steps);
  pr.debias_steps = opt.debias_steps.value_or(pr.debias_steps);
  pr.samples_per_class = opt.samples_per_class.value_or(pr.samples_per_class);
  const DirLock claim(opt.out, "run");  // creates OUT; one run per directory, or its stages run twice
  Experiment ex(DataSpec{opt.data, opt.target, opt.attributes}, device, progress);
  auto step = [](int i, const std::string& what) { std::printf("[%d/6] %s\n", i, what.c_str()); };

  ex.ensure_dataset();
  ex.check_attributes();  // before anything trains or prints: a bad column is one line
  step(1, "data: " + opt.data);

  nlohmann::json run;
  std::string base = opt.model;
  if (base.empty()) {
    base = join_path(opt.out, "base");
    TrainConfig tc = opt.train;
    tc.steps = pr.base_steps;
    tc.seed = opt.seed;
    step(2, "base model (" + std::to_string(tc.steps) + " steps): " + base);
    run["base_train"] = ex.base(base, opt.unet, tc);
  } else {
    step(2, "base model: " + base + " (given, not trained)");
  }
  run["base"] = base;

  step(3, "evaluation classifier: " + join_path(opt.out, "classifier"));
  run["classifier"] = ex.classifier(join_path(opt.out, "classifier"));
  run["attribute_classifiers"] = ex.attribute_classifiers(opt.out);

  Recipe recipe = run_recipe(pr, opt.seed);
  if (opt.always_debias) recipe.min_step_needs_structure = false;
  step(4, "label-free groups and G_psi (" + std::to_string(recipe.debias.steps) + " steps): " + opt.out +
              "/{groups,guided}");
  run["recipe"] = recipe;
  auto made = ex.make_model(opt.out, base, recipe);
  run["groups"] = made["groups"];
  run["guided_train"] = made["train"];
  if (made.value("skipped", false))
    std::printf("      min step skipped, %s; the guided model is the base (--always-debias trains it anyway)\n",
                made["train"]["skipped"].get<std::string>().c_str());

  const uint64_t sample_seed = 1000 + opt.seed;
  step(5, "evaluation: reference split, base and guided models (" + std::to_string(pr.samples_per_class) +
              " images per prompt)");
  run["eval"]["reference"] = ex.evaluate(join_path(opt.out, "eval_ref"), "", pr.samples_per_class, sample_seed);
  run["eval"]["base"] = ex.evaluate(join_path(opt.out, "eval_base"), base, pr.samples_per_class, sample_seed);
  run["eval"]["guided"] = ex.evaluate(join_path(opt.out, "eval_guided"), made["model"].get<std::string>(),
                                      pr.samples_per_class, sample_seed);

  step(6, "report: " + join_path(opt.out, "report.html"));
  run["preset"] = {{"name", pr.name}, {"base_steps", pr.base_steps}, {"debias_steps", pr.debias_steps},
                   {"samples_per_class", pr.samples_per_class}, {"score_timesteps", pr.score_timesteps}};
  run["seed"] = opt.seed;
  run["data"] = opt.data;
  run["target_column"] = ex.target_column();
  run["attribute_columns"] = ex.attribute_columns();
  run["threads"] = torch::get_num_threads();
  run["device"] = device.str();
  run["command"] = opt.command_line;
  run["seconds_this_call"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_run_report(opt.out, run);
  return run;
}

}  // namespace invdiff
