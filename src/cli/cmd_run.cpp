// `invdiff run`: the whole loop on the embedded benchmark, each stage resumable. Until the
// method lands it builds the data, trains the base model and evaluates its samples.
#include <CLI/CLI.hpp>

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/csv.h"
#include "core/fs.h"
#include "core/runtime.h"
#include "data/cfmnist.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "eval/bias.h"
#include "eval/colour.h"
#include "pipeline/generate.h"
#include "train/trainer.h"

namespace invdiff::cli {

namespace {
struct Preset {
  int64_t train_steps;
  int64_t samples_per_class;
};
Preset preset(const std::string& name) {
  if (name == "quick") return {3500, 200};
  if (name == "full") return {12000, 1000};
  throw std::invalid_argument("unknown preset '" + name + "' (quick or full)");
}

std::vector<Colour> palette_from_manifest(const std::string& dir) {
  auto m = nlohmann::json::parse(read_text(join_path(dir, "manifest.json")));
  std::vector<Colour> p;
  for (const auto& c : m.at("palette")) {
    auto rgb = c.at("rgb").get<std::vector<float>>();
    p.push_back({c.at("name").get<std::string>(), rgb.at(0), rgb.at(1), rgb.at(2)});
  }
  return p;
}
}  // namespace

void add_run_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("run", "Run the whole loop on the embedded benchmark (cfmnist), resumably");
  struct Opts {
    std::string out = "runs/demo", data = "data/cfmnist", preset = "quick";
    uint64_t seed = 0;
    int64_t steps = 0, samples = 0;
    UNetConfig unet;
    TrainConfig train;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-o,--out", o->out, "run directory")->capture_default_str();
  cmd->add_option("--data", o->data, "cfmnist directory (built if missing)")->capture_default_str();
  cmd->add_option("--preset", o->preset, "quick or full")->check(CLI::IsMember({"quick", "full"}))->capture_default_str();
  cmd->add_option("--seed", o->seed, "seed for every stage")->capture_default_str();
  cmd->add_option("--steps", o->steps, "base-model training steps (default: the preset's)");
  cmd->add_option("--samples-per-class", o->samples, "images generated per class for evaluation (default: the preset's)");
  cmd->callback([o, &g] {
    setup_runtime(g);
    auto device = parse_device(g.device);
    Preset pr = preset(o->preset);
    if (o->steps > 0) pr.train_steps = o->steps;
    if (o->samples > 0) pr.samples_per_class = o->samples;
    ensure_dir(o->out);

    // Stage 1: data (the manifest is written last, so its presence means complete).
    if (!file_exists(join_path(o->data, "manifest.json"))) {
      std::printf("[1/3] building cfmnist in %s\n", o->data.c_str());
      build_cfmnist(CfmnistConfig{}, o->data, !g.quiet);
    } else {
      std::printf("[1/3] cfmnist present in %s\n", o->data.c_str());
    }

    // Stage 2: base model (resumes an unfinished checkpoint; skips a finished one).
    std::string base = join_path(o->out, "base");
    std::string ckpt = join_path(base, "checkpoint.pt");
    TrainConfig tc = o->train;
    tc.steps = pr.train_steps;
    tc.seed = o->seed;
    bool done = file_exists(ckpt) && read_checkpoint_meta(ckpt).value("step", int64_t(0)) >= tc.steps;
    if (done) {
      std::printf("[2/3] base model finished in %s\n", base.c_str());
    } else {
      std::printf("[2/3] training the base model (%ld steps) in %s\n", (long)tc.steps, base.c_str());
      auto data = load_dataset(o->data, {});
      auto r = train_diffusion(data, o->unet, tc, base, true, device, !g.quiet);
      std::printf("      %ld steps, %.2f steps/s, final loss %.4f\n", (long)r.steps_done, r.steps_per_second, r.final_loss);
    }

    // Stage 3: samples and the colour metrics of the base model.
    std::printf("[3/3] sampling %ld images per class\n", (long)pr.samples_per_class);
    auto t_sample = std::chrono::steady_clock::now();
    auto m = load_diffusion_model(base, device);
    auto palette = palette_from_manifest(o->data);
    const auto& u = m.unet->config();
    std::vector<int64_t> labels;
    for (size_t c = 0; c < m.class_names.size(); ++c)
      for (int64_t i = 0; i < pr.samples_per_class; ++i) labels.push_back(static_cast<int64_t>(c));
    GenerateOptions gen;
    gen.sampler.seed = o->seed + 1000;
    auto imgs = generate(model_eps_fn(m), m.schedule, u.null_class(), labels,
                         {u.in_channels, u.image_size, u.image_size}, gen, device, !g.quiet);
    double sample_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_sample).count();
    auto attr_t = oracle_colours(imgs, palette);
    auto purity_t = colour_purity(imgs, palette);
    std::vector<int64_t> attr(attr_t.data_ptr<int64_t>(), attr_t.data_ptr<int64_t>() + attr_t.numel());
    auto br = bias_report(labels, attr, static_cast<int64_t>(m.class_names.size()), static_cast<int64_t>(palette.size()));

    nlohmann::json metrics;
    metrics["model"] = base;
    metrics["generation"] = generation_params(base, gen);
    metrics["samples_per_class"] = pr.samples_per_class;
    metrics["bias"] = br.mean;
    metrics["purity"] = purity_t.mean().item<double>();
    // Training time is cumulative over resumes (loss.csv keeps it); sampling time is this run's.
    auto loss_log = read_csv(join_path(base, "loss.csv"));
    double train_seconds = loss_log.rows.empty() ? 0.0 : std::stod(loss_log.rows.back()[loss_log.column("seconds")]);
    metrics["seconds"] = {{"train_base", train_seconds}, {"sample", sample_seconds}};
    metrics["threads"] = torch::get_num_threads();
    auto fmt = [](double v, int digits) {
      char b[32];
      std::snprintf(b, sizeof b, "%.*f", digits, v);
      return std::string(b);
    };
    auto f3 = [&](double v) { return fmt(v, 3); };
    std::string md = "# invdiff run: " + o->out + "\n\nBase model `" + base + "`, " + std::to_string(pr.samples_per_class) +
                     " samples per class, " + sampler_name(gen.sampler.kind) + " " + std::to_string(gen.sampler.steps) +
                     " steps, seed " + std::to_string(gen.sampler.seed) + ".\n\n| class | purity | ";
    for (const auto& c : palette) md += c.name + " share | ";
    md += "Bias |\n|---|---|";
    for (size_t k = 0; k <= palette.size(); ++k) md += "---|";
    md += "\n";
    for (size_t c = 0; c < m.class_names.size(); ++c) {
      auto mask = torch::tensor(labels) == static_cast<int64_t>(c);
      double pur = purity_t.masked_select(mask).mean().item<double>();
      md += "| " + m.class_names[c] + " | " + f3(pur) + " | ";
      for (double f : br.shares[c]) md += f3(f) + " | ";
      md += f3(br.per_prompt[c]) + " |\n";
      metrics["per_prompt"][m.class_names[c]] = {{"purity", pur}, {"shares", br.shares[c]}, {"bias", br.per_prompt[c]}};
    }
    md += "| **mean** | " + f3(metrics["purity"].get<double>()) + " | ";
    for (size_t k = 0; k < palette.size(); ++k) md += " | ";
    md += "**" + f3(br.mean) + "** |\n";
    md += "\nBase training " + fmt(train_seconds / 60, 1) + " min, sampling " + fmt(sample_seconds / 60, 1) +
          " min on " + std::to_string(torch::get_num_threads()) + " threads.\n";
    md += "\n![samples](samples.png)\n";
    // Grid: the first 16 samples of every class, one class per row pair.
    std::vector<int64_t> show;
    for (size_t c = 0; c < m.class_names.size(); ++c)
      for (int64_t i = 0; i < std::min<int64_t>(16, pr.samples_per_class); ++i)
        show.push_back(static_cast<int64_t>(c) * pr.samples_per_class + i);
    write_png(join_path(o->out, "samples.png"),
              make_grid(imgs.index_select(0, torch::tensor(show)), static_cast<int>(std::min<int64_t>(16, pr.samples_per_class))),
              {{"parameters", metrics["generation"].dump()}});
    atomic_write_text(join_path(o->out, "metrics.json"), metrics.dump(2) + "\n");
    atomic_write_text(join_path(o->out, "report.md"), md);
    std::printf("%s\nreport: %s/report.md\n", md.c_str(), o->out.c_str());
  });
}

}  // namespace invdiff::cli
