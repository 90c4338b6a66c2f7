#include "train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/csv.h"
#include "core/fs.h"
#include "core/interrupt.h"
#include "core/progress.h"
#include "diffusion/schedule.h"
#include "train/checkpoint.h"
#include "train/ema.h"

namespace invdiff {

void to_json(nlohmann::json& j, const TrainConfig& c) {
  j = {{"steps", c.steps}, {"batch_size", c.batch_size}, {"lr", c.lr}, {"warmup", c.warmup},
       {"min_lr_ratio", c.min_lr_ratio}, {"weight_decay", c.weight_decay}, {"grad_clip", c.grad_clip},
       {"ema_decay", c.ema_decay}, {"p_uncond", c.p_uncond}, {"seed", c.seed},
       {"checkpoint_every", c.checkpoint_every}, {"schedule", c.schedule}, {"T", c.T},
       {"init_from", c.init_from}};
}

void from_json(const nlohmann::json& j, TrainConfig& c) {
  TrainConfig d;
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
  c.schedule = j.value("schedule", d.schedule);
  c.T = j.value("T", d.T);
  c.init_from = j.value("init_from", d.init_from);
}

TrainResult train_diffusion(const ImageDataset& data, const UNetConfig& unet_cfg_in, const TrainConfig& cfg_in,
                            const std::string& out_dir, bool resume, const c10::Device& device, bool progress,
                            int64_t stop_after, const at::Tensor& sample_weights) {
  if (sample_weights.defined() && (sample_weights.dim() != 1 || sample_weights.size(0) != data.size()))
    throw std::invalid_argument("train: sample weights must be [N] with N = the dataset size");
  UNetConfig unet_cfg = unet_cfg_in;
  TrainConfig cfg = cfg_in;
  unet_cfg.num_classes = static_cast<int>(data.class_names.size());
  unet_cfg.in_channels = unet_cfg.out_channels = static_cast<int>(data.images.size(1));
  unet_cfg.image_size = static_cast<int>(data.images.size(2));
  if (data.images.size(2) != data.images.size(3)) throw std::invalid_argument("train: images must be square");
  if (cfg.steps <= 0 || cfg.batch_size <= 0) throw std::invalid_argument("train: steps and batch size must be positive");

  const std::string ckpt = join_path(out_dir, "checkpoint.pt");
  const std::string loss_csv = join_path(out_dir, "loss.csv");
  ensure_dir(out_dir);

  int64_t step = 0;
  CsvTable log;
  log.header = {"step", "loss", "lr", "seconds"};
  nlohmann::json meta;
  if (file_exists(ckpt)) {
    if (!resume)
      throw std::runtime_error(out_dir + " already holds a checkpoint: pass --resume to continue it, or choose another -o");
    meta = read_checkpoint_meta(ckpt);
    // The stored configuration wins: a resumed run is the same run. Only the step budget may grow.
    unet_cfg = meta.at("unet").get<UNetConfig>();
    int64_t want_steps = cfg.steps;
    cfg = meta.at("train").get<TrainConfig>();
    cfg.steps = std::max(cfg.steps, want_steps);
    step = meta.at("step").get<int64_t>();
    if (step > cfg.steps) cfg.steps = step;
    if (file_exists(loss_csv)) {
      auto old = read_csv(loss_csv);
      for (auto& r : old.rows)
        if (std::stoll(r[0]) <= step) log.rows.push_back(r);
    }
  }

  auto sched = NoiseSchedule::make(cfg.schedule, cfg.T);
  // Fine-tuning starts from the source's EMA weights (what it samples with); the architecture
  // must match them, so the source's UNet config wins over the flags.
  std::string init_src = cfg.init_from.empty() ? "" : checkpoint_path(cfg.init_from);
  if (!init_src.empty() && step == 0) unet_cfg = read_checkpoint_meta(init_src).at("unet").get<UNetConfig>();
  torch::manual_seed(cfg.seed);  // weight init
  UNet model(unet_cfg), ema(unet_cfg);
  if (!init_src.empty() && step == 0) load_module(init_src, "ema", *model);
  copy_weights(*ema, *model);
  for (auto& p : ema->parameters()) p.set_requires_grad(false);
  torch::optim::AdamW opt(model->parameters(),
                          torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
  if (step > 0) {
    load_module(ckpt, "model", *model);
    load_module(ckpt, "ema", *ema);
    load_optimizer(ckpt, opt);
  }
  model->to(device);
  ema->to(device);
  model->train();

  meta["kind"] = "diffusion";
  meta["unet"] = unet_cfg;
  meta["train"] = cfg;
  meta["schedule"] = {{"kind", sched.kind()}, {"T", sched.T()}, {"beta_start", sched.beta_start}, {"beta_end", sched.beta_end}};
  meta["class_names"] = data.class_names;
  meta["dataset"] = {{"root", data.root}, {"split", data.split}, {"target_column", data.target_column}, {"size", data.size()}};
  meta["parameters"] = model->num_parameters();
  atomic_write_text(join_path(out_dir, "config.json"), meta.dump(2) + "\n");

  auto save = [&](int64_t s) {
    meta["step"] = s;
    save_checkpoint(ckpt, *model, ema.get(), &opt, meta);
    write_csv(loss_csv, log);
  };

  BatchSampler sampler(data.size(), cfg.batch_size, cfg.seed);
  const int64_t null_class = unet_cfg.null_class();
  auto t0 = std::chrono::steady_clock::now();
  double seconds_before = log.rows.empty() ? 0.0 : std::stod(log.rows.back()[3]);
  ProgressBar bar("train", cfg.steps, step, progress);
  std::deque<double> recent;
  const int64_t start_step = step;

  for (; step < cfg.steps; ++step) {
    // Everything random in a step comes from (seed, step): resuming replays the same stream.
    auto gen = at::detail::createCPUGenerator(cfg.seed * 1000003ull + static_cast<uint64_t>(step));
    auto idx = sampler.batch_tensor(step);
    auto x0 = data.images.index_select(0, idx);
    auto w = sample_weights.defined() ? sample_weights.index_select(0, idx).to(torch::kFloat32) : at::Tensor();
    auto y = data.labels.index_select(0, idx);
    auto t = torch::randint(0, sched.T(), {cfg.batch_size}, gen, torch::kInt64);
    auto eps = torch::randn(x0.sizes(), gen, torch::kFloat32);
    auto drop = torch::rand({cfg.batch_size}, gen, torch::kFloat32) < cfg.p_uncond;
    y = torch::where(drop, torch::full_like(y, null_class), y);
    x0 = x0.to(device); y = y.to(device); t = t.to(device); eps = eps.to(device);
    if (w.defined()) w = w.to(device);

    double lr = lr_at(step, cfg.lr, cfg.warmup, cfg.steps, cfg.min_lr_ratio);
    set_adamw_lr(opt, lr);
    auto xt = sched.q_sample(x0, t, eps);
    auto pred = model->forward(xt, t, y);
    auto loss = w.defined() ? (per_sample_mse(pred, eps) * w).sum() / w.sum().clamp_min(1e-12)
                            : torch::mse_loss(pred, eps);
    opt.zero_grad();
    loss.backward();
    double loss_v = loss.item<double>();
    if (!std::isfinite(loss_v)) {
      throw std::runtime_error("train: loss became " + std::to_string(loss_v) + " at step " + std::to_string(step) +
                               "; the last checkpoint in " + out_dir + " is intact (try a lower --lr)");
    }
    if (cfg.grad_clip > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), cfg.grad_clip);
    opt.step();
    ema_update(*ema, *model, ema_decay_at(cfg.ema_decay, step));

    double secs = seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char lbuf[32], rbuf[32], sbuf[32];
    std::snprintf(lbuf, sizeof lbuf, "%.6g", loss_v);
    std::snprintf(rbuf, sizeof rbuf, "%.6g", lr);
    std::snprintf(sbuf, sizeof sbuf, "%.3f", secs);
    log.rows.push_back({std::to_string(step + 1), lbuf, rbuf, sbuf});
    recent.push_back(loss_v);
    if (recent.size() > 100) recent.pop_front();
    double avg = 0;
    for (double v : recent) avg += v;
    avg /= recent.size();
    char post[64];
    std::snprintf(post, sizeof post, "loss %.4f lr %.2e", avg, lr);
    bar.update(step + 1, post);

    bool last = step + 1 == cfg.steps;
    bool stop = (stop_after > 0 && step + 1 - start_step >= stop_after) || interrupted();
    if (last || stop || (cfg.checkpoint_every > 0 && (step + 1) % cfg.checkpoint_every == 0)) save(step + 1);
    if (stop && !last) {
      bar.finish(post);
      TrainResult r;
      r.steps_done = step + 1;
      r.final_loss = avg;
      if (interrupted())
        throw std::runtime_error("interrupted at step " + std::to_string(step + 1) + "; checkpoint written to " + ckpt +
                                 " (rerun with --resume to continue)");
      return r;
    }
  }
  bar.finish();
  TrainResult r;
  r.steps_done = step;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.steps_per_second = r.seconds > 0 ? (step - start_step) / r.seconds : 0;
  for (double v : recent) r.final_loss += v;
  if (!recent.empty()) r.final_loss /= recent.size();
  return r;
}

}  // namespace invdiff
