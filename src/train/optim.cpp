#include "train/optim.h"

#include <torch/torch.h>

#include <cmath>

namespace invdiff {

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
