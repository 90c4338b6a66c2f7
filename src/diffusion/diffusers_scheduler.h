// diffusers' DDPMScheduler / DDIMScheduler as far as a pixel-space epsilon model needs them: the
// training schedule from scheduler_config.json (betas and alphas_cumprod computed as diffusers
// computes them, in float32), and diffusers' own step() of each, so parity with diffusers can be
// tested number for number. invdiff's samplers (diffusion/samplers.h) run on the NoiseSchedule
// this gives; the steps here are the reference, not the sampling path.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/json.h"
#include "diffusion/schedule.h"

namespace invdiff {

// scheduler_config.json; defaults are DDPMScheduler's / DDIMScheduler's (diffusers 0.27.2).
// Unknown keys are ignored (a DDIM config made from a DDPM one keeps variance_type).
struct DiffusersSchedulerConfig {
  std::string _class_name = "DDPMScheduler";
  int num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  std::string beta_schedule = "linear";
  std::optional<std::vector<double>> trained_betas;
  std::string variance_type = "fixed_small";  // DDPM only
  bool clip_sample = true;
  double clip_sample_range = 1.0;
  std::string prediction_type = "epsilon";
  bool thresholding = false;
  bool set_alpha_to_one = true;  // DDIM only
  int steps_offset = 0;
  std::string timestep_spacing = "leading";
  bool rescale_betas_zero_snr = false;

  bool ddim() const { return _class_name == "DDIMScheduler"; }
  // Throws std::invalid_argument "<key> <value> is not supported (...)".
  void validate() const;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DiffusersSchedulerConfig, _class_name, num_train_timesteps, beta_start,
                                                beta_end, beta_schedule, trained_betas, variance_type, clip_sample,
                                                clip_sample_range, prediction_type, thresholding, set_alpha_to_one,
                                                steps_offset, timestep_spacing, rescale_betas_zero_snr)

// The DDPMScheduler config that gives `s`: beta_schedule linear with its ends for a linear
// schedule, else its betas as trained_betas (exact whatever the kind). clip_sample true, as
// invdiff's samplers clip the predicted x0 by default.
DiffusersSchedulerConfig diffusers_scheduler_of(const NoiseSchedule& s);

// Reads and validates a scheduler_config.json (errors name the file).
DiffusersSchedulerConfig read_diffusers_scheduler_config(const std::string& path);

class DiffusersScheduler {
 public:
  explicit DiffusersScheduler(const DiffusersSchedulerConfig& cfg);
  const DiffusersSchedulerConfig& config() const { return cfg_; }
  // float32 [T], as diffusers holds them.
  const at::Tensor& betas() const { return betas_; }
  const at::Tensor& alphas_cumprod() const { return alphas_cumprod_; }
  double final_alpha_cumprod() const { return final_alpha_cumprod_; }
  // The training schedule for invdiff's samplers and losses (the float32 values, widened).
  NoiseSchedule schedule() const;
  // set_timesteps(n) with "leading" spacing: descending, steps_offset added.
  std::vector<int64_t> timesteps(int num_inference_steps) const;

  struct Step {
    at::Tensor prev_sample, pred_original_sample;
  };
  // DDPMScheduler.step with the full T-step schedule (prev_t = t - 1); noise is the draw added
  // for t > 0 (ignored at t = 0).
  Step ddpm_step(const at::Tensor& model_output, int64_t t, const at::Tensor& sample, const at::Tensor& noise) const;
  // DDIMScheduler.step after set_timesteps(num_inference_steps); variance_noise used when eta > 0.
  Step ddim_step(const at::Tensor& model_output, int64_t t, const at::Tensor& sample, int num_inference_steps,
                 double eta, const at::Tensor& variance_noise) const;

 private:
  DiffusersSchedulerConfig cfg_;
  at::Tensor betas_, alphas_cumprod_;
  double final_alpha_cumprod_ = 1.0;
  at::Tensor clip(const at::Tensor& x0) const;
};

}  // namespace invdiff
