// Samplers: each sees only a noise predictor (x_t, t, y) -> eps and a schedule. Classifier-free
// guidance is a wrapper around the predictor, so every sampler gets it for free.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "diffusion/schedule.h"

namespace invdiff {

using EpsFn = std::function<at::Tensor(const at::Tensor& x, const at::Tensor& t, const at::Tensor& y)>;

// eps_null + w * (eps_y - eps_null), with the two passes batched into one call. w == 1 returns f.
EpsFn with_cfg(EpsFn f, double scale, int64_t null_class);

enum class SamplerKind { DDPM, DDIM, DPMPP2M };
SamplerKind parse_sampler(const std::string& name);  // "ddpm", "ddim", "dpm++2m" (also "dpmpp2m")
std::string sampler_name(SamplerKind k);

struct SamplerOptions {
  SamplerKind kind = SamplerKind::DDIM;
  int steps = 50;
  double eta = 0.0;       // DDIM only: 0 deterministic, 1 DDPM-like
  bool clip_x0 = true;    // clamp predicted x0 to [-1, 1] (images live there)
  uint64_t seed = 0;
  // Non-empty (one per image of the batch): image i's noise, initial and per step, comes from its
  // own generator seeded image_seeds[i], so an image does not depend on what it is batched with.
  // Empty: one generator seeded `seed` for the whole batch.
  std::vector<uint64_t> image_seeds;
  bool progress = false;
};

// Descending timesteps t_0 > t_1 > ... > t_{S-1} >= 0 spread evenly over [0, T) (trailing).
std::vector<int> sampling_timesteps(int T, int steps);

// One reverse step from t to s < t (s = -1: to the clean image) given eps at (x, t).
// z is the fresh noise (ignored when the step adds none). Exposed for tests.
at::Tensor ddpm_step(const NoiseSchedule& sch, const at::Tensor& x, const at::Tensor& eps, int t, int s,
                     const at::Tensor& z, bool clip_x0);
at::Tensor ddim_step(const NoiseSchedule& sch, const at::Tensor& x, const at::Tensor& eps, int t, int s,
                     double eta, const at::Tensor& z, bool clip_x0);
at::Tensor predict_x0(const NoiseSchedule& sch, const at::Tensor& x, const at::Tensor& eps, int t, bool clip);

// Runs the chosen sampler from pure noise of `shape` for the conditions y; no autograd.
at::Tensor sample(const EpsFn& eps_fn, const NoiseSchedule& sch, const at::Tensor& y,
                  const std::vector<int64_t>& shape, const SamplerOptions& opt);

}  // namespace invdiff
