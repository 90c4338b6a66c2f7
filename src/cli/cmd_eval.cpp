#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/runtime.h"
#include "eval/evaluate.h"
#include "invdiff/guidance.h"
#include "sampling/generate.h"

namespace invdiff::cli {

void add_eval_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("eval", "Bias, purity, faithfulness, FD, KID, precision/recall of a model or images");
  struct Opts {
    std::string out = "runs/eval", method = "ddim";
    EvalOptions e;
  };
  auto o = std::make_shared<Opts>();
  auto& e = o->e;
  cmd->add_option("--data", e.data_dir, "dataset directory; its reference split is the reference set")->required();
  cmd->add_option("-o,--out", o->out, "output directory (metrics.json, metrics.md, samples.png, per_image.csv)")->capture_default_str();
  auto* m = cmd->add_option("-m,--model", e.model, "model to sample from (checkpoint, guided model or diffusers folder)");
  auto* im = cmd->add_option("--images", e.images_dir, "folder of PNG images to evaluate instead");
  auto* rf = cmd->add_flag("--reference", e.reference, "evaluate half of the real reference split against the other half");
  m->excludes(im)->excludes(rf);
  im->excludes(rf);
  cmd->add_option("--images-csv", e.images_csv, "prompts of --images: CSV with columns file,class_name")->needs(im);
  cmd->add_option("--target", e.target_column, "condition column (default: the manifest's)");
  cmd->add_option("-n,--images-per-prompt", e.n_per_prompt, "images per prompt (with -m)")->check(positive())->capture_default_str();
  add_old_name(cmd, "--num", "--images-per-prompt", e.n_per_prompt)->check(positive());
  cmd->add_option("--sampling-steps", e.gen.sampler.steps, "sampling steps (at most the model's T)")
      ->check(positive())->capture_default_str();
  add_old_name(cmd, "--steps", "--sampling-steps", e.gen.sampler.steps)->check(positive());
  cmd->add_option("--sampling-method", o->method, "ddpm, ddim or dpm++2m")->capture_default_str();
  cmd->add_option("--eta", e.gen.sampler.eta, "DDIM eta")->check(in_range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--cfg-scale", e.gen.cfg_scale, "classifier-free guidance scale (1: off, 0: unconditional)")
      ->check(in_range(0, kMaxCfgScale))->capture_default_str();
  cmd->add_option("--seed", e.seed, "sampling seed; also the --reference halves and KID subsets")
      ->check(whole_number())->capture_default_str();
  cmd->add_option("-b,--batch-size", e.gen.batch_size, "images per network call when sampling")->check(positive())->capture_default_str();
  add_old_name(cmd, "--gen-batch-size", "--batch-size", e.gen.batch_size)->check(positive());
  add_negated_flag(cmd, "--no-ema", e.use_ema, "sample with the raw weights instead of the EMA");
  add_optional(cmd, "--guidance-ratio", e.guidance_ratio, "guided models: override the stored ratio r")
      ->check(in_range(0, kMaxAdditiveRatio));
  cmd->add_option("--classifier", e.classifier,
                  "faithfulness classifier checkpoint (default: OUT/../classifier, trained there on first use)");
  cmd->add_option("--features", e.features,
                  "feature extractor for FD/KID/P-R: TorchScript file or classifier checkpoint (default: --classifier's "
                  "penultimate layer)");
  cmd->add_option("--attr-classifier", e.attr_classifiers,
                  "attribute classifier(s) for Bias, comma-separated, one per attribute (default: the colour oracle)")
      ->delimiter(',');
  cmd->add_option("--ref-split", e.ref_split, "reference split name")->capture_default_str();
  cmd->add_option("--kid-subsets", e.kid.subsets, "KID subsets")->check(positive())->capture_default_str();
  cmd->add_option("--kid-subset-size", e.kid.subset_size, "KID subset size (capped at the smaller set)")->check(in_range(2, 1000000))->capture_default_str();
  cmd->add_option("--pr-k", e.pr_k, "k of precision/recall")->check(positive())->capture_default_str();
  cmd->callback([o, &g, cmd] {
    refuse_given(cmd, parse_sampler(o->method) != SamplerKind::DDIM, {"--eta"}, "it applies to the ddim sampler only");
    setup_runtime(g);
    auto device = parse_device(g.device);
    auto& e = o->e;
    e.gen.sampler.kind = parse_sampler(o->method);
    e.gen.sampler.seed = e.seed;
    e.kid.seed = e.seed;
    e.progress = !g.quiet;
    auto j = evaluate(e, o->out, device);
    auto show = [&](const char* k) {
      return j[k].is_number() ? std::to_string(j[k].get<double>()).substr(0, 6) : std::string("n/a");
    };
    std::printf("bias %s  purity %s  faithfulness %s  FD %.4g  KID %.4g  precision %s  recall %s\n", show("bias").c_str(),
                show("purity").c_str(), show("faithfulness").c_str(), j["fd"].get<double>(), j["kid"].get<double>(),
                show("precision").c_str(), show("recall").c_str());
    std::printf("wrote %s/metrics.json, metrics.md, samples.png, per_image.csv\n", o->out.c_str());
  });
}

}  // namespace invdiff::cli
