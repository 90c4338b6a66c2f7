#include "diffusion/samplers.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

#include "core/progress.h"

namespace invdiff {

EpsFn with_cfg(EpsFn f, double scale, int64_t null_class) {
  if (scale == 1.0) return f;
  return [f, scale, null_class](const at::Tensor& x, const at::Tensor& t, const at::Tensor& y) {
    auto n = x.size(0);
    auto out = f(torch::cat({x, x}), torch::cat({t, t}), torch::cat({y, torch::full_like(y, null_class)}));
    auto eps_c = out.narrow(0, 0, n), eps_u = out.narrow(0, n, n);
    return eps_u + scale * (eps_c - eps_u);
  };
}

SamplerKind parse_sampler(const std::string& name) {
  if (name == "ddpm") return SamplerKind::DDPM;
  if (name == "ddim") return SamplerKind::DDIM;
  if (name == "dpm++2m" || name == "dpmpp2m" || name == "dpm++") return SamplerKind::DPMPP2M;
  throw std::invalid_argument("unknown sampling method '" + name + "' (expected ddpm, ddim or dpm++2m)");
}

std::string sampler_name(SamplerKind k) {
  switch (k) {
    case SamplerKind::DDPM: return "ddpm";
    case SamplerKind::DDIM: return "ddim";
    case SamplerKind::DPMPP2M: return "dpm++2m";
  }
  return "?";
}

std::vector<int> sampling_timesteps(int T, int steps) {
  if (steps < 1) throw std::invalid_argument("sampling steps must be >= 1");
  if (steps > T)  // clamping would record steps the sampler never took
    throw std::invalid_argument("sampling steps (" + std::to_string(steps) + ") exceed the model's T = " +
                                std::to_string(T) + " diffusion timesteps");
  std::vector<int> ts;
  for (int i = 0; i < steps; ++i) {
    // trailing spacing: starts at T-1 exactly and ends at T/steps - 1
    int t = static_cast<int>(std::llround(T - 1 - static_cast<double>(i) * T / steps));
    if (ts.empty() || t < ts.back()) ts.push_back(std::max(t, 0));
  }
  return ts;
}

at::Tensor predict_x0(const NoiseSchedule& sch, const at::Tensor& x, const at::Tensor& eps, int t, bool clip) {
  double a = sch.abar(t);
  auto x0 = (x - std::sqrt(1 - a) * eps) / std::sqrt(a);
  return clip ? x0.clamp(-1, 1) : x0;
}

at::Tensor ddpm_step(const NoiseSchedule& sch, const at::Tensor& x, const at::Tensor& eps, int t, int s,
                     const at::Tensor& z, bool clip_x0) {
  double at_ = sch.abar(t), as = sch.abar(s);
  double alpha = at_ / as, beta = 1 - alpha;
  auto x0 = predict_x0(sch, x, eps, t, clip_x0);
  // posterior q(x_s | x_t, x0) of the (possibly strided) chain
  auto mean = (std::sqrt(as) * beta / (1 - at_)) * x0 + (std::sqrt(alpha) * (1 - as) / (1 - at_)) * x;
  if (s < 0) return mean;
  double var = (1 - as) / (1 - at_) * beta;
  return mean + std::sqrt(var) * z;
}

at::Tensor ddim_step(const NoiseSchedule& sch, const at::Tensor& x, const at::Tensor& eps, int t, int s,
                     double eta, const at::Tensor& z, bool clip_x0) {
  double at_ = sch.abar(t), as = sch.abar(s);
  auto x0 = predict_x0(sch, x, eps, t, clip_x0);
  // with a clipped x0 the direction term uses the eps consistent with it
  auto e = clip_x0 ? (x - std::sqrt(at_) * x0) / std::sqrt(1 - at_) : eps;
  double sigma = eta * std::sqrt((1 - as) / (1 - at_)) * std::sqrt(1 - at_ / as);
  auto out = std::sqrt(as) * x0 + std::sqrt(std::max(0.0, 1 - as - sigma * sigma)) * e;
  if (sigma > 0 && s >= 0) out = out + sigma * z;
  return out;
}

at::Tensor sample(const EpsFn& eps_fn, const NoiseSchedule& sch, const at::Tensor& y,
                  const std::vector<int64_t>& shape, const SamplerOptions& opt) {
  torch::NoGradGuard no_grad;
  auto dev = y.device();
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  std::vector<at::Generator> gens;
  if (opt.image_seeds.empty()) {
    gens.push_back(at::detail::createCPUGenerator(opt.seed));
  } else {
    if (static_cast<int64_t>(opt.image_seeds.size()) != shape.at(0))
      throw std::invalid_argument("sample: one image seed per image is needed");
    for (uint64_t s : opt.image_seeds) gens.push_back(at::detail::createCPUGenerator(s));
  }
  const std::vector<int64_t> one(shape.begin() + 1, shape.end());
  auto noise = [&](void) {
    if (opt.image_seeds.empty()) return torch::randn(shape, gens[0], f32).to(dev);
    std::vector<at::Tensor> xs;
    xs.reserve(gens.size());
    for (auto& g : gens) xs.push_back(torch::randn(one, g, f32));
    return torch::stack(xs).to(dev);
  };
  auto x = noise();
  auto ts = sampling_timesteps(sch.T(), opt.steps);
  ProgressBar bar("sample " + sampler_name(opt.kind), static_cast<int64_t>(ts.size()), 0, opt.progress);
  at::Tensor prev_x0;
  double prev_h = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    int t = ts[i], s = i + 1 < ts.size() ? ts[i + 1] : -1;
    auto tt = torch::full({shape[0]}, t, torch::TensorOptions().dtype(torch::kInt64).device(dev));
    auto eps = eps_fn(x, tt, y);
    switch (opt.kind) {
      case SamplerKind::DDPM:
        x = ddpm_step(sch, x, eps, t, s, s >= 0 ? noise() : at::Tensor(), opt.clip_x0);
        break;
      case SamplerKind::DDIM:
        x = ddim_step(sch, x, eps, t, s, opt.eta, (opt.eta > 0 && s >= 0) ? noise() : at::Tensor(), opt.clip_x0);
        break;
      case SamplerKind::DPMPP2M: {
        // DPM-Solver++(2M) in data prediction, lambda = log(alpha / sigma); first-order on the
        // first step and on the final step to the clean image (lower_order_final).
        auto x0 = predict_x0(sch, x, eps, t, opt.clip_x0);
        if (s < 0) { x = x0; break; }
        double at_ = sch.abar(t), as = sch.abar(s);
        double al_t = std::sqrt(at_), si_t = std::sqrt(1 - at_), al_s = std::sqrt(as), si_s = std::sqrt(1 - as);
        double h = std::log(al_s / si_s) - std::log(al_t / si_t);
        at::Tensor D = x0;
        if (prev_x0.defined()) {
          double r = prev_h / h;
          D = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * prev_x0;
        }
        x = (si_s / si_t) * x - al_s * std::expm1(-h) * D;
        prev_x0 = x0;
        prev_h = h;
        break;
      }
    }
    bar.update(static_cast<int64_t>(i + 1));
  }
  bar.finish();
  return x;
}

}  // namespace invdiff
