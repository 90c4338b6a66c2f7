#include <CLI/CLI.hpp>

#include <torch/torch.h>

#include <cmath>
#include <cctype>
#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/fs.h"
#include "core/runtime.h"
#include "data/image_io.h"
#include "sampling/any_model.h"
#include "sampling/generate.h"

namespace invdiff::cli {

void add_sample_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("sample", "Generate images from a trained model");
  struct Opts {
    std::string model, out = "samples.png", per_image_dir, method = "ddim";
    std::vector<std::string> prompts;
    int64_t n = 16;
    int nrow = 0;
    bool ema = true;
    std::optional<double> guidance_ratio;
    GenerateOptions gen;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-m,--model", o->model, "checkpoint file or directory, or a diffusers folder")->required();
  cmd->add_option("-p,--prompt", o->prompts, "class name(s) or 'all' (repeatable)")->required();
  cmd->add_option("-n,--num", o->n, "images per prompt")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("-o,--out", o->out, "PNG grid to write")->capture_default_str();
  cmd->add_option("--steps", o->gen.sampler.steps, "sampling steps")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--sampling-method", o->method, "ddpm, ddim or dpm++2m")->capture_default_str();
  cmd->add_option("--eta", o->gen.sampler.eta, "DDIM eta (0: deterministic)")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--cfg-scale", o->gen.cfg_scale, "classifier-free guidance scale (1: off)")->capture_default_str();
  cmd->add_option("--seed", o->gen.sampler.seed, "sampling seed")->capture_default_str();
  cmd->add_option("--batch-size", o->gen.batch_size, "images per network call")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--nrow", o->nrow, "images per grid row (default: n per prompt, or a square)");
  cmd->add_option("--per-image", o->per_image_dir, "also write one PNG per image into this directory");
  cmd->add_flag("!--no-ema", o->ema, "use the raw weights instead of the EMA");
  add_optional(cmd, "--guidance-ratio", o->guidance_ratio, "guided models: override the stored ratio r");
  cmd->callback([o, &g] {
    setup_runtime(g);
    auto device = parse_device(g.device);
    o->gen.sampler.kind = parse_sampler(o->method);
    o->gen.sampler.progress = !g.quiet;
    LoadModelOptions lo;
    lo.use_ema = o->ema;
    lo.guidance_ratio = o->guidance_ratio;
    auto m = load_any_model(o->model, device, lo);
    std::vector<int64_t> labels;
    std::vector<std::string> names;
    for (const auto& p : o->prompts) {
      if (p == "all") {
        for (const auto& c : m.class_names()) names.push_back(c);
      } else {
        m.class_index(p);  // validates with a helpful message
        names.push_back(m.class_names()[m.class_index(p)]);
      }
    }
    for (const auto& nm : names)
      for (int64_t i = 0; i < o->n; ++i) labels.push_back(m.class_index(nm));
    auto imgs = generate(m.eps, m.schedule(), m.null_class, labels, {m.channels, m.image_size, m.image_size}, o->gen,
                         device, !g.quiet, m.class_names());
    auto params = generation_params(o->model, o->gen);
    params.update(m.describe());  // model kind; guided: variant, mix and the ratio r used
    std::string prompt_list;
    for (const auto& nm : names) prompt_list += (prompt_list.empty() ? "" : ";") + nm;
    params["prompt"] = prompt_list;
    params["n_per_prompt"] = o->n;
    int nrow = o->nrow > 0 ? o->nrow
               : (names.size() > 1 && o->n <= 16) ? static_cast<int>(o->n)
                                                  : static_cast<int>(std::ceil(std::sqrt(double(labels.size()))));
    write_png(o->out, make_grid(imgs, nrow), {{"parameters", params.dump()}});
    if (!o->per_image_dir.empty()) {
      ensure_dir(o->per_image_dir);
      const auto keys = image_keys(labels, m.class_names(), o->gen.sampler.seed);
      for (int64_t i = 0; i < imgs.size(0); ++i) {
        const auto& key = keys[static_cast<size_t>(i)];
        auto p = params;
        p["prompt"] = key.prompt;
        p["index"] = key.index;  // among this prompt's images: with the seed, it names the image's noise
        p["image_seed"] = key.seed;
        std::string safe;
        for (char c : key.prompt) safe += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
        char f[64];
        std::snprintf(f, sizeof f, "-s%llu-%04ld.png", static_cast<unsigned long long>(o->gen.sampler.seed),
                      (long)key.index);
        write_png(join_path(o->per_image_dir, safe + f), imgs[i], {{"parameters", p.dump()}});
      }
    }
    std::printf("wrote %s (%ld images)\n", o->out.c_str(), (long)imgs.size(0));
  });
}

}  // namespace invdiff::cli
