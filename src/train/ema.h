// Exponential moving average of weights, with warm-up: the effective decay is
// min(decay, (1 + step) / (10 + step)), so early averages are not anchored to the random init.
#pragma once
#include <torch/nn/module.h>

namespace invdiff {

double ema_decay_at(double decay, int64_t step);
// ema <- d * ema + (1 - d) * model, parameter by parameter (same structure required).
void ema_update(torch::nn::Module& ema, const torch::nn::Module& model, double d);
// ema <- model
void copy_weights(torch::nn::Module& dst, const torch::nn::Module& src);

}  // namespace invdiff
