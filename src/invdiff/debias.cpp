#include "invdiff/debias.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "core/fs.h"
#include "core/hash.h"
#include "invdiff/group_loss.h"
#include "invdiff/guided_checkpoint.h"
#include "invdiff/t_profile.h"
#include "train/checkpoint.h"
#include "train/ema.h"

namespace invdiff {

at::Tensor balanced_draw_probabilities(const at::Tensor& W, int64_t n, const at::Tensor& labels) {
  if (!W.defined()) return torch::full({n}, 1.0 / static_cast<double>(n), torch::kFloat64);
  if (W.dim() != 2 || W.size(0) != n) throw std::invalid_argument("balanced batches: group weights must be [N, G]");
  auto w = W.to(torch::kFloat64);
  at::Tensor p;
  if (!labels.defined()) {
    p = (w / w.sum(0).clamp_min(1e-300)).sum(1);
  } else {
    if (labels.dim() != 1 || labels.size(0) != n) throw std::invalid_argument("balanced batches: labels must be [N]");
    const auto lab = labels.to(torch::kInt64);
    p = torch::zeros({n}, torch::kFloat64);
    for (int64_t c = 0, C = lab.numel() ? lab.max().item<int64_t>() + 1 : 0; c < C; ++c) {
      const auto rows = (lab == c).nonzero().squeeze(1);
      if (rows.numel() == 0) continue;
      const auto wc = w.index_select(0, rows);
      const auto mass = wc.sum(0);
      const double k = (mass > 0).sum().item<double>();
      if (k == 0) continue;
      const double share = static_cast<double>(rows.numel()) / static_cast<double>(n);
      p.index_copy_(0, rows, (wc / mass.clamp_min(1e-300)).sum(1) * (share / k));
    }
  }
  const double total = p.sum().item<double>();
  if (!(total > 0) || !std::isfinite(total)) throw std::invalid_argument("balanced batches: the groups have no mass");
  return p / total;
}

DebiasResult debias_train(const ImageDataset& data, const at::Tensor& W_in, const std::string& base_path_in,
                          const GuidanceConfig& gcfg_in, const DebiasConfig& cfg_in, const std::string& out_dir,
                          bool resume, const c10::Device& device, const nlohmann::json& groups_info, bool progress,
                          int64_t stop_after) {
  GuidanceConfig gcfg = gcfg_in;
  DebiasConfig cfg = cfg_in;
  // The frozen base: an invdiff checkpoint or an imported diffusers folder.
  const GuidanceBase gbase = load_guidance_base(base_path_in, device, /*use_ema=*/true);
  const std::string& base_path = gbase.path;
  if (W_in.defined() && (W_in.dim() != 2 || W_in.size(0) != data.size()))
    throw std::invalid_argument("debias: group weights must be [" + std::to_string(data.size()) + ", G]");
  // Float32 weights on the device: they are multiplied into float32 losses every step.
  at::Tensor W = W_in.defined() ? W_in.to(torch::kFloat32) : at::Tensor();
  const std::string& base_fp = gbase.fingerprint;

  gcfg.ratio = gcfg.effective_ratio();  // stored resolved: the r sampling uses by default
  TrainingRun run("debias", out_dir, {"mean_term", "var_term", "groups_present"}, resume);
  nlohmann::json& meta = run.meta();
  int64_t step = run.start_step();
  if (run.resuming()) {
    if (meta.value("kind", std::string()) != "guided") throw std::runtime_error(run.checkpoint() + ": not a guided checkpoint");
    // The stored configuration wins: a resumed run is the same run. Only the step budget may grow.
    gcfg = meta.at("guidance").get<GuidanceConfig>();
    int64_t want = cfg.steps;
    cfg = meta.at("debias").get<DebiasConfig>();
    if (cfg.t_hi && *cfg.t_hi < 0) cfg.t_hi.reset();  // runs begun before t_hi was optional wrote -1
    cfg.steps = std::max(cfg.steps, want);
    if (meta.at("base").value("fingerprint", std::string()) != base_fp)
      throw std::runtime_error(out_dir + ": the base checkpoint changed since this run started; start a new -o");
    auto was = meta.value("groups", nlohmann::json::object());
    if (was.value("mode", std::string()) != groups_info.value("mode", std::string()) ||
        was.value("fingerprint", std::string()) != groups_info.value("fingerprint", std::string()) ||
        was.value("hard", false) != groups_info.value("hard", false) ||
        was.value("cross_class", false) != groups_info.value("cross_class", false))
      throw std::runtime_error(out_dir + ": resumed with other groups than the run started with");
  }

  const DiffusionModel& base = gbase.model;
  const auto& sched = base.schedule;
  check_class_names(base.class_names, "the base model " + base_path, data, "debias");
  if (data.images.size(1) != gbase.channels || data.images.size(2) != gbase.image_size ||
      data.images.size(3) != gbase.image_size)
    throw std::runtime_error("debias: the dataset's image shape differs from the base model's");
  const int t_hi = cfg.t_hi.value_or(sched.T());
  if (!(0 <= cfg.t_lo && cfg.t_lo < t_hi && t_hi <= sched.T()))
    throw std::invalid_argument("debias: --t-range must satisfy 0 <= lo < hi <= T = " + std::to_string(sched.T()));
  if (cfg.steps <= 0 || cfg.batch_size <= 0) throw std::invalid_argument("debias: steps and batch size must be positive");

  torch::manual_seed(cfg.seed);  // G's own init (small variant, lora A matrices)
  auto gmp = gbase.guided(gcfg);
  GuidedModel& gm = *gmp;
  gm.g->train();
  auto named = gm.g->trainable_parameters();
  std::vector<at::Tensor> params, ema;
  for (auto& kv : named) {
    params.push_back(kv.second);
    ema.push_back(kv.second.detach().clone());
  }
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
  if (step > 0) {
    load_guided_tensors(run.checkpoint(), "model", gm.g, params);
    load_guided_tensors(run.checkpoint(), "ema", gm.g, ema);
    load_optimizer(run.checkpoint(), opt);
  }

  const at::Tensor group_condition =
      cfg.variance_within_condition && W.defined() ? group_conditions(W, data.labels) : at::Tensor();
  BatchSampler sampler(data.size(), cfg.batch_size, cfg.seed);
  const at::Tensor draw_p =
      cfg.balance_batches
          ? balanced_draw_probabilities(W, data.size(), cfg.balance_within_condition ? data.labels : at::Tensor())
          : at::Tensor();
  // Where t is drawn: measured once on the frozen base (a resumed run keeps its stored profile).
  std::optional<TimestepProfile> profile;
  if (cfg.t_sampling == TimestepSampling::Profile && W.defined()) {
    if (meta.contains("t_profile")) {
      profile = meta.at("t_profile").get<TimestepProfile>();
    } else {
      const at::Tensor p = draw_p.defined() ? draw_p : balanced_draw_probabilities(at::Tensor(), data.size());
      auto eps = [&](const at::Tensor& x, const at::Tensor& t, const at::Tensor& y) { return gm.base_eps(x, t, y); };
      profile = measure_timestep_profile(eps, sched, data, W, p, cfg.t_lo, t_hi, cfg.profile_bins, cfg.profile_samples,
                                         cfg.batch_size, {cfg.profile_floor, cfg.profile_power}, cfg.seed, device);
      meta["t_profile"] = *profile;  // written with the rest of the meta below
    }
    if (progress) {
      std::string line;
      for (size_t b = 0; b < profile->probability.size(); ++b)
        line += (b ? " " : "") + std::to_string(profile->edges[b]) + ":" +
                std::to_string(static_cast<int>(std::lround(100 * profile->probability[b]))) + "%";
      std::fprintf(stderr, "t drawn by the base's group-loss spread (bin start: share of draws): %s\n", line.c_str());
    }
  }

  nlohmann::json base_meta = base.meta;
  meta["kind"] = "guided";
  meta["base"] = {{"path", base_path}, {"fingerprint", base_fp}, {"weights", "ema"},
                  {"step", base_meta.value("step", int64_t(0))}, {"unet", gbase.unet_config()}};
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
    save_guided_checkpoint(run.checkpoint(), gm.g, ema, &opt, meta);
  };

  const int64_t null_class = gbase.null_class;  // -1: the base has none, no condition dropout
  const double r = gcfg.effective_ratio();
  DebiasResult res;
  res.parameters = gm.parameter_counts();
  res.guidance = gcfg;
  if (progress)
    std::fprintf(stderr, "G_psi %s (%s mix, r = %g): %ld trainable, %ld frozen parameters\n",
                 enum_name(gcfg.variant).c_str(), enum_name(gcfg.mix).c_str(), r,
                 (long)gm.num_trainable(), (long)gm.num_frozen());
  auto done = [&](const LoopResult& lr) {
    static_cast<LoopResult&>(res) = lr;
    return res;
  };

  run.start(cfg.steps, progress);
  for (; step < cfg.steps; ++step) {
    auto gen = step_generator(cfg.seed, step);
    // The balanced draw has its own stream (salt 1): t, eps and dropout stay those of the uniform run.
    auto idx = draw_p.defined() ? torch::multinomial(draw_p, cfg.batch_size, /*replacement=*/true,
                                                     step_generator(cfg.seed, step, 1))
                                : sampler.batch_tensor(step);
    auto x0 = data.batch(idx);
    auto y = data.labels.index_select(0, idx);
    auto t = profile ? draw_timesteps(*profile, cfg.batch_size, gen)
                     : torch::randint(cfg.t_lo, t_hi, {cfg.batch_size}, gen, torch::kInt64);
    auto eps = torch::randn(x0.sizes(), gen, torch::kFloat32);
    auto drop = torch::rand({cfg.batch_size}, gen, torch::kFloat32) < cfg.p_uncond;
    if (null_class >= 0) y = torch::where(drop, torch::full_like(y, null_class), y);
    at::Tensor w = W.defined() ? W.index_select(0, idx).to(device) : at::Tensor();
    x0 = x0.to(device); y = y.to(device); t = t.to(device); eps = eps.to(device);

    double lr = lr_at(step, cfg.lr, cfg.warmup, cfg.steps, cfg.min_lr_ratio);
    set_adamw_lr(opt, lr);
    auto xt = sched.q_sample(x0, t, eps);
    auto eps_hat = gm.forward(xt, t, y, r);  // base under NoGradGuard inside
    auto obj = group_objective(per_sample_mse(eps_hat, eps), w, cfg.lambda, cfg.relative_variance, group_condition);
    opt.zero_grad();
    obj.total.backward();
    double loss_v = obj.total.item<double>();
    run.check_finite(loss_v, step, "try a lower --lr or --lambda");
    if (cfg.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, cfg.grad_clip);
    opt.step();
    {
      torch::NoGradGuard ng;
      double d = ema_decay_at(cfg.ema_decay, step);
      for (size_t i = 0; i < params.size(); ++i) ema[i].mul_(d).add_(params[i].detach(), 1.0 - d);
    }

    const double var = obj.var_term.item<double>();
    char post[32];
    std::snprintf(post, sizeof post, " var %.2e", var);
    run.log(step, loss_v, {obj.mean_term.item<double>(), var, static_cast<double>(obj.present)}, lr, post);
    if (run.end_step(step, cfg, stop_after, save)) return done(run.result());
  }
  return done(run.finish());
}

}  // namespace invdiff
