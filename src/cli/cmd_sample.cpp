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
#include "invdiff/guidance.h"
#include "sampling/any_model.h"
#include "sampling/generate.h"

namespace invdiff::cli {

void add_sample_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("sample", "Generate images from a trained model");
  struct Opts {
    std::string model, out = "samples.png", per_image_dir, method = "ddim";
    std::vector<std::string> prompts;
    int64_t n = 16;
    int nrow = 0, scale = 0;
    bool labels = false;
    bool ema = true;
    std::optional<double> guidance_ratio;
    GenerateOptions gen;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-m,--model", o->model, "checkpoint file or directory, or a diffusers folder")->required();
  cmd->add_option("-p,--prompt", o->prompts, "class name(s) or 'all' (comma-separated or repeated)")
      ->required()->delimiter(',');
  cmd->add_option("-n,--images-per-prompt", o->n, "images per prompt")->check(positive())->capture_default_str();
  add_old_name(cmd, "--num", "--images-per-prompt", o->n)->check(positive());
  cmd->add_option("-o,--out", o->out, "PNG grid to write")->check(png_path())->capture_default_str();
  cmd->add_option("--sampling-steps", o->gen.sampler.steps, "sampling steps (at most the model's T)")
      ->check(positive())->capture_default_str();
  add_old_name(cmd, "--steps", "--sampling-steps", o->gen.sampler.steps)->check(positive());
  cmd->add_option("--sampling-method", o->method, "ddpm, ddim or dpm++2m")->capture_default_str();
  cmd->add_option("--eta", o->gen.sampler.eta, "DDIM eta (0: deterministic)")->check(in_range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--cfg-scale", o->gen.cfg_scale, "classifier-free guidance scale (1: off, 0: unconditional)")
      ->check(in_range(0, kMaxCfgScale))->capture_default_str();
  cmd->add_option("--seed", o->gen.sampler.seed, "sampling seed")->check(whole_number())->capture_default_str();
  cmd->add_option("-b,--batch-size", o->gen.batch_size, "images per network call")->check(positive())->capture_default_str();
  cmd->add_option("--nrow", o->nrow, "images per grid row (default: n per prompt, or a square)")->check(non_negative());
  cmd->add_option("--scale", o->scale, "grid: each pixel a K x K block (0: the smallest K giving >= 512 px wide)")
      ->check(in_range(0, 64))->capture_default_str();
  cmd->add_flag("--labels", o->labels, "grid: one prompt per row, its name written at the left");
  cmd->add_option("--per-image", o->per_image_dir, "also write one PNG per image into this directory");
  add_negated_flag(cmd, "--no-ema", o->ema, "use the raw weights instead of the EMA");
  add_optional(cmd, "--guidance-ratio", o->guidance_ratio, "guided models: override the stored ratio r")
      ->check(in_range(0, kMaxAdditiveRatio));
  cmd->callback([o, &g, cmd] {
    refuse_given(cmd, parse_sampler(o->method) != SamplerKind::DDIM, {"--eta"}, "it applies to the ddim sampler only");
    if (o->labels && o->nrow > 0 && o->n % o->nrow != 0)
      usage_error("--labels needs every prompt to fill whole rows: --nrow " + std::to_string(o->nrow) +
                  " does not divide -n " + std::to_string(o->n));
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
               : ((names.size() > 1 && o->n <= 16) || o->labels)
                   ? static_cast<int>(std::min<int64_t>(o->n, 16))
                   : static_cast<int>(std::ceil(std::sqrt(double(labels.size()))));
    if (o->labels && o->n % nrow != 0) nrow = static_cast<int>(o->n);  // -n > 16 not a multiple of 16: one row
    at::Tensor grid;
    if (o->labels) {
      std::vector<std::string> row_labels;  // each prompt's name on the first of its rows
      for (const auto& nm : names) {
        row_labels.push_back(nm);
        for (int64_t r = 1; r < o->n / nrow; ++r) row_labels.emplace_back();
      }
      grid = make_labelled_grid(imgs, nrow, row_labels);
    } else {
      grid = make_grid(imgs, nrow);
    }
    const int scale = o->scale > 0 ? o->scale : static_cast<int>(std::min<int64_t>(64, (512 + grid.size(2) - 1) / grid.size(2)));
    params["grid"] = {{"nrow", nrow}, {"scale", scale}, {"labels", o->labels}};
    write_png(o->out, upscale_nearest(grid, scale), {{"parameters", params.dump()}});
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
