#include "diffusion/diffusers_scheduler.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

#include "core/config_file.h"
#include "core/fs.h"

namespace invdiff {

namespace {
[[noreturn]] void unsupported(const std::string& key, const nlohmann::json& value, const std::string& why) {
  throw std::invalid_argument(key + " " + value.dump() + " is not supported (" + why + ")");
}
}  // namespace

void DiffusersSchedulerConfig::validate() const {
  if (_class_name != "DDPMScheduler" && _class_name != "DDIMScheduler")
    unsupported("_class_name", _class_name, "DDPMScheduler or DDIMScheduler");
  if (num_train_timesteps < 2) unsupported("num_train_timesteps", num_train_timesteps, "must be >= 2");
  if (trained_betas) {
    if (static_cast<int>(trained_betas->size()) != num_train_timesteps)
      unsupported("trained_betas", trained_betas->size(), "needs num_train_timesteps entries");
    for (double b : *trained_betas)
      if (!(b > 0 && b < 1)) unsupported("trained_betas", b, "every beta must be in (0, 1)");
  } else if (beta_schedule != "linear" && beta_schedule != "scaled_linear" && beta_schedule != "squaredcos_cap_v2") {
    unsupported("beta_schedule", beta_schedule, "linear, scaled_linear or squaredcos_cap_v2");
  } else if (beta_schedule != "squaredcos_cap_v2" && !(beta_start > 0 && beta_start <= beta_end && beta_end < 1)) {
    unsupported("beta_end", beta_end, "needs 0 < beta_start <= beta_end < 1");
  }
  if (!ddim() && variance_type != "fixed_small" && variance_type != "fixed_large")
    unsupported("variance_type", variance_type, "fixed_small or fixed_large");
  if (prediction_type != "epsilon")
    unsupported("prediction_type", prediction_type,
                "invdiff's samplers and its debiasing objective use epsilon prediction");
  if (thresholding) unsupported("thresholding", thresholding, "dynamic thresholding is not implemented");
  if (rescale_betas_zero_snr) unsupported("rescale_betas_zero_snr", rescale_betas_zero_snr, "not implemented");
  if (timestep_spacing != "leading") unsupported("timestep_spacing", timestep_spacing, "only leading");
  if (clip_sample && !(clip_sample_range > 0)) unsupported("clip_sample_range", clip_sample_range, "must be positive");
}

DiffusersSchedulerConfig read_diffusers_scheduler_config(const std::string& path) {
  if (!file_exists(path)) throw std::runtime_error(path + ": not found");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text(path));
  } catch (const nlohmann::json::exception&) {
    throw std::runtime_error(path + ": not valid JSON");
  }
  return config_from_json<DiffusersSchedulerConfig>(j, path);
}

DiffusersScheduler::DiffusersScheduler(const DiffusersSchedulerConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  const int64_t T = cfg_.num_train_timesteps;
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  if (cfg_.trained_betas) {
    betas_ = torch::tensor(*cfg_.trained_betas, torch::kFloat64).to(torch::kFloat32);
  } else if (cfg_.beta_schedule == "linear") {
    betas_ = torch::linspace(cfg_.beta_start, cfg_.beta_end, T, f32);
  } else if (cfg_.beta_schedule == "scaled_linear") {
    betas_ = torch::linspace(std::sqrt(cfg_.beta_start), std::sqrt(cfg_.beta_end), T, f32).pow(2);
  } else {  // squaredcos_cap_v2: Python float math, then float32
    auto abar = [](double t) {
      double v = std::cos((t + 0.008) / 1.008 * M_PI / 2);
      return v * v;
    };
    std::vector<double> b;
    for (int64_t i = 0; i < T; ++i)
      b.push_back(std::min(1.0 - abar(double(i + 1) / T) / abar(double(i) / T), 0.999));
    betas_ = torch::tensor(b, torch::kFloat64).to(torch::kFloat32);
  }
  alphas_cumprod_ = torch::cumprod(1.0 - betas_, 0);
  final_alpha_cumprod_ = cfg_.set_alpha_to_one ? 1.0 : alphas_cumprod_[0].item<double>();
}

NoiseSchedule DiffusersScheduler::schedule() const {
  auto b = betas_.to(torch::kFloat64), a = alphas_cumprod_.to(torch::kFloat64);
  std::string kind = cfg_.trained_betas ? "trained_betas" : cfg_.beta_schedule;
  return NoiseSchedule::from_tables(std::vector<double>(b.data_ptr<double>(), b.data_ptr<double>() + b.numel()),
                                    std::vector<double>(a.data_ptr<double>(), a.data_ptr<double>() + a.numel()),
                                    "diffusers:" + kind, cfg_.beta_start, cfg_.beta_end);
}

std::vector<int64_t> DiffusersScheduler::timesteps(int n) const {
  const int T = cfg_.num_train_timesteps;
  if (n < 1 || n > T) throw std::invalid_argument("scheduler: inference steps must be in [1, " + std::to_string(T) + "]");
  const int ratio = T / n;
  std::vector<int64_t> out;
  for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<int64_t>(i) * ratio + cfg_.steps_offset);
  return out;
}

at::Tensor DiffusersScheduler::clip(const at::Tensor& x0) const {
  return cfg_.clip_sample ? x0.clamp(-cfg_.clip_sample_range, cfg_.clip_sample_range) : x0;
}

// diffusers does this arithmetic on 0-dim float32 tensors; so does this, for the same rounding.
DiffusersScheduler::Step DiffusersScheduler::ddpm_step(const at::Tensor& eps, int64_t t, const at::Tensor& x,
                                                       const at::Tensor& noise) const {
  if (t < 0 || t >= cfg_.num_train_timesteps) throw std::invalid_argument("ddpm_step: t out of range");
  auto one = torch::ones({}, torch::kFloat32);
  auto a_t = alphas_cumprod_[t];
  auto a_prev = t > 0 ? alphas_cumprod_[t - 1] : one;
  auto b_t = 1 - a_t, b_prev = 1 - a_prev;
  auto cur_alpha = a_t / a_prev, cur_beta = 1 - cur_alpha;
  Step s;
  s.pred_original_sample = clip((x - b_t.pow(0.5) * eps) / a_t.pow(0.5));
  auto c0 = (a_prev.pow(0.5) * cur_beta) / b_t, c1 = cur_alpha.pow(0.5) * b_prev / b_t;
  s.prev_sample = c0 * s.pred_original_sample + c1 * x;
  if (t > 0) {
    auto var = cfg_.variance_type == "fixed_large" ? cur_beta : (b_prev / b_t * cur_beta).clamp_min(1e-20);
    s.prev_sample = s.prev_sample + var.pow(0.5) * noise;
  }
  return s;
}

DiffusersScheduler::Step DiffusersScheduler::ddim_step(const at::Tensor& eps, int64_t t, const at::Tensor& x, int n,
                                                       double eta, const at::Tensor& noise) const {
  if (t < 0 || t >= cfg_.num_train_timesteps) throw std::invalid_argument("ddim_step: t out of range");
  const int64_t prev = t - cfg_.num_train_timesteps / n;
  auto a_t = alphas_cumprod_[t];
  auto a_prev = prev >= 0 ? alphas_cumprod_[prev] : torch::full({}, final_alpha_cumprod_, torch::kFloat32);
  auto b_t = 1 - a_t;
  Step s;
  s.pred_original_sample = clip((x - b_t.pow(0.5) * eps) / a_t.pow(0.5));
  auto var = ((1 - a_prev) / b_t) * (1 - a_t / a_prev);
  auto std_t = eta * var.pow(0.5);
  auto dir = (1 - a_prev - std_t.pow(2)).pow(0.5) * eps;
  s.prev_sample = a_prev.pow(0.5) * s.pred_original_sample + dir;
  if (eta > 0) s.prev_sample = s.prev_sample + std_t * noise;
  return s;
}

DiffusersSchedulerConfig diffusers_scheduler_of(const NoiseSchedule& s) {
  DiffusersSchedulerConfig c;
  c.num_train_timesteps = s.T();
  if (s.kind() == "linear") {
    c.beta_schedule = "linear";
    c.beta_start = s.beta_start;
    c.beta_end = s.beta_end;
  } else {
    c.beta_schedule = "linear";  // ignored by diffusers when trained_betas is given
    c.trained_betas = s.betas;
  }
  c.clip_sample = true;
  return c;
}

}  // namespace invdiff
