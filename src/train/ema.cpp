#include "train/ema.h"

#include <torch/torch.h>

#include <cmath>

namespace invdiff {

double ema_decay_at(double decay, int64_t step) {
  return std::min(decay, (1.0 + static_cast<double>(step)) / (10.0 + static_cast<double>(step)));
}

void ema_update(torch::nn::Module& ema, const torch::nn::Module& model, double d) {
  torch::NoGradGuard ng;
  auto e = ema.parameters();
  auto m = model.parameters();
  TORCH_CHECK(e.size() == m.size(), "EMA and model differ in structure");
  for (size_t i = 0; i < e.size(); ++i) e[i].mul_(d).add_(m[i].detach(), 1.0 - d);
}

void copy_weights(torch::nn::Module& dst, const torch::nn::Module& src) {
  torch::NoGradGuard ng;
  auto d = dst.parameters();
  auto s = src.parameters();
  TORCH_CHECK(d.size() == s.size(), "copy_weights: modules differ in structure");
  for (size_t i = 0; i < d.size(); ++i) d[i].copy_(s[i]);
  auto db = dst.buffers();
  auto sb = src.buffers();
  for (size_t i = 0; i < db.size() && i < sb.size(); ++i) db[i].copy_(sb[i]);
}

double lr_at(int64_t step, double lr, int64_t warmup, int64_t total, double min_ratio) {
  if (warmup > 0 && step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (total <= warmup) return lr;
  double p = std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(total - warmup));
  return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + std::cos(M_PI * p)));
}

void set_adamw_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
}

}  // namespace invdiff
