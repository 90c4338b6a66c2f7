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

}  // namespace invdiff
