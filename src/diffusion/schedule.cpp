#include "diffusion/schedule.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace invdiff {

NoiseSchedule NoiseSchedule::make(const std::string& kind, int T, double b0, double b1) {
  if (kind == "linear") return linear(T, b0, b1);
  if (kind == "cosine") return cosine(T);
  throw std::invalid_argument("unknown noise schedule '" + kind + "' (expected linear or cosine)");
}

NoiseSchedule NoiseSchedule::linear(int T, double b0, double b1) {
  if (T < 2) throw std::invalid_argument("schedule: T must be >= 2");
  if (!(b0 > 0 && b1 < 1 && b0 <= b1)) throw std::invalid_argument("schedule: need 0 < beta_start <= beta_end < 1");
  NoiseSchedule s;
  s.kind_ = "linear";
  s.beta_start = b0;
  s.beta_end = b1;
  double abar = 1.0;
  for (int t = 0; t < T; ++t) {
    double b = b0 + (b1 - b0) * t / (T - 1);
    abar *= 1.0 - b;
    s.betas.push_back(b);
    s.alphas_cumprod.push_back(abar);
  }
  return s;
}

NoiseSchedule NoiseSchedule::cosine(int T, double sc) {
  if (T < 2) throw std::invalid_argument("schedule: T must be >= 2");
  NoiseSchedule s;
  s.kind_ = "cosine";
  auto f = [&](double t) {
    double v = std::cos((t / T + sc) / (1 + sc) * M_PI / 2);
    return v * v;
  };
  double abar = 1.0;
  for (int t = 0; t < T; ++t) {
    double b = std::min(1.0 - f(t + 1) / f(t), 0.999);
    abar *= 1.0 - b;
    s.betas.push_back(b);
    s.alphas_cumprod.push_back(abar);
  }
  return s;
}

NoiseSchedule NoiseSchedule::from_tables(std::vector<double> betas, std::vector<double> abar, std::string kind,
                                         double b0, double b1) {
  if (betas.size() < 2 || betas.size() != abar.size())
    throw std::invalid_argument("schedule: need T >= 2 betas and as many alphas_cumprod");
  NoiseSchedule s;
  s.kind_ = std::move(kind);
  s.betas = std::move(betas);
  s.alphas_cumprod = std::move(abar);
  s.beta_start = b0;
  s.beta_end = b1;
  return s;
}

at::Tensor NoiseSchedule::gather(const std::vector<double>& v, const at::Tensor& t, const at::Tensor& like,
                                 bool sqrt_one_minus) const {
  auto table = torch::tensor(v, torch::kFloat64);
  table = sqrt_one_minus ? (1.0 - table).sqrt() : table.sqrt();
  auto out = table.index_select(0, t.to(torch::kCPU, torch::kInt64)).to(like.scalar_type());
  return out.to(like.device()).view({-1, 1, 1, 1});
}

at::Tensor NoiseSchedule::sqrt_abar(const at::Tensor& t, const at::Tensor& like) const {
  return gather(alphas_cumprod, t, like, false);
}
at::Tensor NoiseSchedule::sqrt_one_minus_abar(const at::Tensor& t, const at::Tensor& like) const {
  return gather(alphas_cumprod, t, like, true);
}

at::Tensor NoiseSchedule::q_sample(const at::Tensor& x0, const at::Tensor& t, const at::Tensor& eps) const {
  return sqrt_abar(t, x0) * x0 + sqrt_one_minus_abar(t, x0) * eps;
}

at::Tensor per_sample_mse(const at::Tensor& eps_pred, const at::Tensor& eps) {
  return (eps_pred - eps).pow(2).flatten(1).mean(1);
}

}  // namespace invdiff
