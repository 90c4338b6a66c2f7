// Exponential moving average of weights, with warm-up: the effective decay is
// min(decay, (1 + step) / (10 + step)), so early averages are not anchored to the random init.
#pragma once
#include <torch/nn/module.h>

namespace torch::optim { class Optimizer; }

namespace invdiff {

double ema_decay_at(double decay, int64_t step);
// ema <- d * ema + (1 - d) * model, parameter by parameter (same structure required).
void ema_update(torch::nn::Module& ema, const torch::nn::Module& model, double d);
// ema <- model
void copy_weights(torch::nn::Module& dst, const torch::nn::Module& src);

// Warm-up (linear from 0) then cosine decay to min_ratio * lr at total_steps.
double lr_at(int64_t step, double lr, int64_t warmup, int64_t total_steps, double min_ratio);
// Sets the learning rate of every parameter group of an AdamW optimiser.
void set_adamw_lr(torch::optim::Optimizer& opt, double lr);

}  // namespace invdiff
