#include "invdiff/debias.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <stdexcept>

#include "core/csv.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/interrupt.h"
#include "core/progress.h"
#include "invdiff/group_loss.h"
#include "invdiff/guided_checkpoint.h"
#include "train/checkpoint.h"
#include "train/ema.h"

namespace invdiff {

void to_json(nlohmann::json& j, const DebiasConfig& c) {
  j = {{"steps", c.steps}, {"batch_size", c.batch_size}, {"lr", c.lr}, {"warmup", c.warmup},
       {"min_lr_ratio", c.min_lr_ratio}, {"weight_decay", c.weight_decay}, {"grad_clip", c.grad_clip},
       {"ema_decay", c.ema_decay}, {"p_uncond", c.p_uncond}, {"seed", c.seed},
       {"checkpoint_every", c.checkpoint_every}, {"lambda", c.lambda},
       {"relative_variance", c.relative_variance}, {"t_lo", c.t_lo}, {"t_hi", c.t_hi}};
}

void from_json(const nlohmann::json& j, DebiasConfig& c) {
  DebiasConfig d;
  c.steps = j.value("steps", d.steps);
  c.batch_size = j.value("batch_size", d.batch_size);
  c.lr = j.value("lr", d.lr);
  c.warmup = j.value("warmup", d.warmup);
  c.min_lr_ratio = j.value("min_lr_ratio", d.min_lr_ratio);
  c.weight_decay = j.value("weight_decay", d.weight_decay);
  c.grad_clip = j.value("grad_clip", d.grad_clip);
  c.ema_decay = j.value("ema_decay", d.ema_decay);
  c.p_uncond = j.value("p_uncond", d.p_uncond);
  c.seed = j.value("seed", d.seed);
  c.checkpoint_every = j.value("checkpoint_every", d.checkpoint_every);
  c.lambda = j.value("lambda", d.lambda);
  c.relative_variance = j.value("relative_variance", d.relative_variance);
  c.t_lo = j.value("t_lo", d.t_lo);
  c.t_hi = j.value("t_hi", d.t_hi);
}

namespace {
std::string fmt(const char* f, double v) {
  char b[32];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
}  // namespace

DebiasResult debias_train(const ImageDataset& data, const at::Tensor& W_in, const std::string& base_path_in,
                          const GuidanceConfig& gcfg_in, const DebiasConfig& cfg_in, const std::string& out_dir,
                          bool resume, const c10::Device& device, const nlohmann::json& groups_info, bool progress,
                          int64_t stop_after) {
  GuidanceConfig gcfg = gcfg_in;
  DebiasConfig cfg = cfg_in;
  const std::string base_path = std::filesystem::absolute(checkpoint_path(base_path_in)).lexically_normal().string();
  const std::string ckpt = join_path(out_dir, "checkpoint.pt");
  const std::string loss_csv = join_path(out_dir, "loss.csv");
  if (W_in.defined() && (W_in.dim() != 2 || W_in.size(0) != data.size()))
    throw std::invalid_argument("debias: group weights must be [" + std::to_string(data.size()) + ", G]");
  // Float32 weights on the device: they are multiplied into float32 losses every step.
  at::Tensor W = W_in.defined() ? W_in.to(torch::kFloat32) : at::Tensor();
  const std::string base_fp = file_fingerprint(base_path);

  int64_t step = 0;
  CsvTable log;
  log.header = {"step", "loss", "mean_term", "var_term", "groups_present", "lr", "seconds"};
  nlohmann::json meta;
  if (file_exists(ckpt)) {
    if (!resume)
      throw std::runtime_error(out_dir + " already holds a checkpoint: pass --resume to continue it, or choose another -o");
    meta = read_checkpoint_meta(ckpt);
    if (meta.value("kind", std::string()) != "guided") throw std::runtime_error(ckpt + ": not a guided checkpoint");
    // The stored configuration wins: a resumed run is the same run. Only the step budget may grow.
    gcfg = meta.at("guidance").get<GuidanceConfig>();
    int64_t want = cfg.steps;
    cfg = meta.at("debias").get<DebiasConfig>();
    cfg.steps = std::max(cfg.steps, want);
    step = meta.at("step").get<int64_t>();
    if (meta.at("base").value("fingerprint", std::string()) != base_fp)
      throw std::runtime_error(out_dir + ": the base checkpoint changed since this run started; start a new -o");
    auto was = meta.value("groups", nlohmann::json::object());
    if (was.value("mode", std::string()) != groups_info.value("mode", std::string()) ||
        was.value("fingerprint", std::string()) != groups_info.value("fingerprint", std::string()) ||
        was.value("hard", false) != groups_info.value("hard", false) ||
        was.value("cross_class", false) != groups_info.value("cross_class", false))
      throw std::runtime_error(out_dir + ": resumed with other groups than the run started with");
    if (file_exists(loss_csv)) {
      auto old = read_csv(loss_csv);
      for (auto& r : old.rows)
        if (std::stoll(r[0]) <= step) log.rows.push_back(r);
    }
  }
  ensure_dir(out_dir);

  DiffusionModel base = load_diffusion_model(base_path, device, /*use_ema=*/true);
  const auto& sched = base.schedule;
  const UNetConfig& ucfg = base.unet->config();
  if (base.class_names != data.class_names)
    throw std::runtime_error("debias: the dataset's classes differ from the base model's (train on the same dataset)");
  if (data.images.size(1) != ucfg.in_channels || data.images.size(2) != ucfg.image_size ||
      data.images.size(3) != ucfg.image_size)
    throw std::runtime_error("debias: the dataset's image shape differs from the base model's");
  const int t_hi = cfg.t_hi < 0 ? sched.T() : cfg.t_hi;
  if (!(0 <= cfg.t_lo && cfg.t_lo < t_hi && t_hi <= sched.T()))
    throw std::invalid_argument("debias: --t-range must satisfy 0 <= lo < hi <= T = " + std::to_string(sched.T()));
  if (cfg.steps <= 0 || cfg.batch_size <= 0) throw std::invalid_argument("debias: steps and batch size must be positive");

  torch::manual_seed(cfg.seed);  // G's own init (small variant, lora A matrices)
  GuidedModel gm(base.unet, gcfg);
  gm.g->train();
  auto named = gm.g->trainable_parameters();
  std::vector<at::Tensor> params, ema;
  for (auto& kv : named) {
    params.push_back(kv.second);
    ema.push_back(kv.second.detach().clone());
  }
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
  if (step > 0) {
    load_guided_tensors(ckpt, "model", gm.g, params);
    load_guided_tensors(ckpt, "ema", gm.g, ema);
    load_optimizer(ckpt, opt);
  }

  nlohmann::json base_meta = base.meta;
  meta["kind"] = "guided";
  meta["base"] = {{"path", base_path}, {"fingerprint", base_fp}, {"weights", "ema"},
                  {"step", base_meta.value("step", int64_t(0))}, {"unet", base_meta.at("unet")}};
  meta["guidance"] = gcfg;
  meta["debias"] = cfg;
  meta["groups"] = groups_info;
  meta["class_names"] = base.class_names;
  meta["schedule"] = base_meta.value("schedule", nlohmann::json::object());
  meta["dataset"] = {{"root", data.root}, {"split", data.split}, {"target_column", data.target_column}, {"size", data.size()}};
  meta["parameters"] = gm.parameter_counts();
  atomic_write_text(join_path(out_dir, "config.json"), meta.dump(2) + "\n");

  auto save = [&](int64_t s) {
    meta["step"] = s;
    save_guided_checkpoint(ckpt, gm.g, ema, &opt, meta);
    write_csv(loss_csv, log);
  };

  BatchSampler sampler(data.size(), cfg.batch_size, cfg.seed);
  const int64_t null_class = ucfg.null_class();
  auto t0 = std::chrono::steady_clock::now();
  double seconds_before = log.rows.empty() ? 0.0 : std::stod(log.rows.back()[6]);
  ProgressBar bar("debias", cfg.steps, step, progress);
  std::deque<double> recent;
  const int64_t start_step = step;
  const double r = gcfg.effective_ratio();
  DebiasResult res;
  res.parameters = gm.parameter_counts();
  res.guidance = gcfg;
  if (progress)
    std::fprintf(stderr, "G_psi %s (%s mix, r = %g): %ld trainable, %ld frozen parameters\n",
                 guidance_variant_name(gcfg.variant).c_str(), mix_mode_name(gcfg.mix).c_str(), r,
                 (long)gm.num_trainable(), (long)gm.num_frozen());

  for (; step < cfg.steps; ++step) {
    auto gen = at::detail::createCPUGenerator(cfg.seed * 1000003ull + static_cast<uint64_t>(step));
    auto idx = sampler.batch_tensor(step);
    auto x0 = data.images.index_select(0, idx);
    auto y = data.labels.index_select(0, idx);
    auto t = torch::randint(cfg.t_lo, t_hi, {cfg.batch_size}, gen, torch::kInt64);
    auto eps = torch::randn(x0.sizes(), gen, torch::kFloat32);
    auto drop = torch::rand({cfg.batch_size}, gen, torch::kFloat32) < cfg.p_uncond;
    y = torch::where(drop, torch::full_like(y, null_class), y);
    at::Tensor w = W.defined() ? W.index_select(0, idx).to(device) : at::Tensor();
    x0 = x0.to(device); y = y.to(device); t = t.to(device); eps = eps.to(device);

    double lr = lr_at(step, cfg.lr, cfg.warmup, cfg.steps, cfg.min_lr_ratio);
    set_adamw_lr(opt, lr);
    auto xt = sched.q_sample(x0, t, eps);
    auto eps_hat = gm.forward(xt, t, y, r);  // base under NoGradGuard inside
    auto obj = group_objective(per_sample_mse(eps_hat, eps), w, cfg.lambda, cfg.relative_variance);
    opt.zero_grad();
    obj.total.backward();
    double loss_v = obj.total.item<double>();
    if (!std::isfinite(loss_v))
      throw std::runtime_error("debias: loss became " + std::to_string(loss_v) + " at step " + std::to_string(step) +
                               "; the last checkpoint in " + out_dir + " is intact (try a lower --lr or --lambda)");
    if (cfg.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, cfg.grad_clip);
    opt.step();
    {
      torch::NoGradGuard ng;
      double d = ema_decay_at(cfg.ema_decay, step);
      for (size_t i = 0; i < params.size(); ++i) ema[i].mul_(d).add_(params[i].detach(), 1.0 - d);
    }

    double secs = seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log.rows.push_back({std::to_string(step + 1), fmt("%.6g", loss_v), fmt("%.6g", obj.mean_term.item<double>()),
                        fmt("%.6g", obj.var_term.item<double>()), std::to_string(obj.present), fmt("%.6g", lr),
                        fmt("%.3f", secs)});
    recent.push_back(loss_v);
    if (recent.size() > 100) recent.pop_front();
    double avg = 0;
    for (double v : recent) avg += v;
    avg /= recent.size();
    char post[96];
    std::snprintf(post, sizeof post, "loss %.4f var %.2e lr %.2e", avg, obj.var_term.item<double>(), lr);
    bar.update(step + 1, post);

    bool last = step + 1 == cfg.steps;
    bool stop = (stop_after > 0 && step + 1 - start_step >= stop_after) || interrupted();
    if (last || stop || (cfg.checkpoint_every > 0 && (step + 1) % cfg.checkpoint_every == 0)) save(step + 1);
    if (stop && !last) {
      bar.finish(post);
      res.steps_done = step + 1;
      res.final_loss = avg;
      if (interrupted())
        throw std::runtime_error("interrupted at step " + std::to_string(step + 1) + "; checkpoint written to " + ckpt +
                                 " (rerun with --resume to continue)");
      return res;
    }
  }
  bar.finish();
  res.steps_done = step;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.steps_per_second = res.seconds > 0 ? (step - start_step) / res.seconds : 0;
  for (double v : recent) res.final_loss += v;
  if (!recent.empty()) res.final_loss /= recent.size();
  return res;
}

}  // namespace invdiff
