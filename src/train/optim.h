// What the base trainer and the debias loop share of their configuration: the optimiser (AdamW
// with linear warm-up then cosine decay, gradient clipping), the EMA, condition dropout, the seed
// and the checkpoint cadence. Each loop's config derives from it and adds its own fields.
#pragma once
#include <cstdint>

#include "core/json.h"

namespace torch::optim { class Optimizer; }

namespace invdiff {

struct OptimConfig {
  int64_t steps = 3500;
  int64_t batch_size = 64;
  double lr = 1e-3;
  int64_t warmup = 200;
  double min_lr_ratio = 0.1;
  double weight_decay = 0.0;
  double grad_clip = 1.0;         // gradient norm clip (0: off)
  double ema_decay = 0.999;
  double p_uncond = 0.1;          // condition dropout, for classifier-free guidance
  uint64_t seed = 0;
  int64_t checkpoint_every = 500;
  // Keep a copy of the checkpoint every N steps as OUT/snapshots/step_<N>.pt (0: none). Why: a
  // metric against optimiser updates (Bias of G_psi, FD of the base) from one run, each snapshot
  // loadable and evaluable like the final checkpoint.
  int64_t snapshot_every = 0;
};
// The member list, for the derived configs' NLOHMANN_DEFINE_TYPE_* lines (their JSON stays flat).
#define INVDIFF_OPTIM_FIELDS \
  steps, batch_size, lr, warmup, min_lr_ratio, weight_decay, grad_clip, ema_decay, p_uncond, seed, checkpoint_every, snapshot_every
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(OptimConfig, INVDIFF_OPTIM_FIELDS)

// Warm-up (linear from 0) then cosine decay to min_ratio * lr at total_steps.
double lr_at(int64_t step, double lr, int64_t warmup, int64_t total_steps, double min_ratio);
// Sets the learning rate of every parameter group of an AdamW optimiser.
void set_adamw_lr(torch::optim::Optimizer& opt, double lr);

}  // namespace invdiff
