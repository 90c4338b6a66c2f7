#include "train/trainer.h"

#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/fs.h"
#include "diffusion/schedule.h"
#include "train/checkpoint.h"
#include "train/ema.h"

namespace invdiff {

namespace {
// The architecture a fine-tune starts from: the source's. Refuses a source trained on other
// classes (or another order: condition k would change meaning) or another image shape, and an
// architecture asked for that differs from the source's (a field at its default counts as not asked for).
UNetConfig init_from_config(const std::string& src, const UNetConfig& asked, const ImageDataset& data) {
  auto meta = read_checkpoint_meta(src);
  check_class_names(meta.value("class_names", std::vector<std::string>{}), src, data, "train --init-from");
  auto have = meta.at("unet").get<UNetConfig>();
  if (have.image_size != data.images.size(2) || have.in_channels != data.images.size(1))
    throw std::invalid_argument("train --init-from: " + src + " takes " + std::to_string(have.in_channels) + "x" +
                                std::to_string(have.image_size) + "x" + std::to_string(have.image_size) +
                                " images but the dataset's are " + std::to_string(data.images.size(1)) + "x" +
                                std::to_string(data.images.size(2)) + "x" + std::to_string(data.images.size(3)));
  nlohmann::json a = asked, h = have, d = UNetConfig{};
  for (const char* k : {"in_channels", "out_channels", "image_size", "num_classes"}) a.erase(k), h.erase(k), d.erase(k);
  for (auto it = a.begin(); it != a.end(); ++it)
    if (it.value() != d[it.key()] && it.value() != h[it.key()])  // asked for (not the default), and not the source's
      throw std::invalid_argument("train --init-from: the architecture is the source's (" + it.key() + " " +
                                  h[it.key()].dump() + " in " + src + "), not " + it.value().dump() +
                                  " as asked: drop the architecture flags");
  return have;
}
}  // namespace

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

  TrainingRun run("train", out_dir, {}, resume);
  nlohmann::json& meta = run.meta();
  int64_t step = run.start_step();
  if (run.resuming()) {
    // The stored configuration wins: a resumed run is the same run. Only the step budget may grow.
    unet_cfg = meta.at("unet").get<UNetConfig>();
    int64_t want_steps = cfg.steps;
    cfg = meta.at("train").get<TrainConfig>();
    cfg.steps = std::max({cfg.steps, want_steps, step});
  }

  auto sched = NoiseSchedule::make(cfg.schedule, cfg.T);
  // Fine-tuning starts from the source's EMA weights (what it samples with); the architecture
  // must match them, so the source's UNet config wins over the flags.
  std::string init_src = cfg.init_from.empty() ? "" : checkpoint_path(cfg.init_from);
  if (!init_src.empty() && step == 0) unet_cfg = init_from_config(init_src, unet_cfg_in, data);
  torch::manual_seed(cfg.seed);  // weight init
  UNet model(unet_cfg), ema(unet_cfg);
  if (!init_src.empty() && step == 0) load_module(init_src, "ema", *model);
  copy_weights(*ema, *model);
  for (auto& p : ema->parameters()) p.set_requires_grad(false);
  torch::optim::AdamW opt(model->parameters(),
                          torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
  if (step > 0) {
    load_module(run.checkpoint(), "model", *model);
    load_module(run.checkpoint(), "ema", *ema);
    load_optimizer(run.checkpoint(), opt);
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
    save_checkpoint(run.checkpoint(), *model, ema.get(), &opt, meta);
  };

  BatchSampler sampler(data.size(), cfg.batch_size, cfg.seed);
  const int64_t null_class = unet_cfg.null_class();
  run.start(cfg.steps, progress);
  for (; step < cfg.steps; ++step) {
    auto gen = step_generator(cfg.seed, step);
    auto idx = sampler.batch_tensor(step);
    auto x0 = data.batch(idx);
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
    run.check_finite(loss_v, step, "try a lower --lr");
    if (cfg.grad_clip > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), cfg.grad_clip);
    opt.step();
    ema_update(*ema, *model, ema_decay_at(cfg.ema_decay, step));

    run.log(step, loss_v, {}, lr);
    if (run.end_step(step, cfg, stop_after, save)) return run.result();
  }
  return run.finish();
}

}  // namespace invdiff
