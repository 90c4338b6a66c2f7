// Noise schedules and the forward process. Knows nothing of any model.
#pragma once
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace invdiff {

class NoiseSchedule {
 public:
  // kind: "linear" (beta from beta_start to beta_end) or "cosine" (Nichol & Dhariwal, s = 0.008).
  static NoiseSchedule make(const std::string& kind, int T, double beta_start = 1e-4, double beta_end = 0.02);
  static NoiseSchedule linear(int T, double beta_start = 1e-4, double beta_end = 0.02);
  static NoiseSchedule cosine(int T, double s = 0.008);
  // Given tables (e.g. an imported diffusers schedule); kind names where they came from.
  static NoiseSchedule from_tables(std::vector<double> betas, std::vector<double> alphas_cumprod, std::string kind,
                                   double beta_start = 0, double beta_end = 0);

  int T() const { return static_cast<int>(betas.size()); }
  const std::string& kind() const { return kind_; }
  // abar_t for t in [0, T); abar(-1) = 1 (the clean image), used by samplers' final step.
  double abar(int t) const { return t < 0 ? 1.0 : alphas_cumprod[t]; }

  // x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, with t [B] int64.
  at::Tensor q_sample(const at::Tensor& x0, const at::Tensor& t, const at::Tensor& eps) const;
  // [B] -> [B, 1, 1, 1] sqrt(abar_t) and sqrt(1 - abar_t) on x's device.
  at::Tensor sqrt_abar(const at::Tensor& t, const at::Tensor& like) const;
  at::Tensor sqrt_one_minus_abar(const at::Tensor& t, const at::Tensor& like) const;

  std::vector<double> betas, alphas_cumprod;
  double beta_start = 1e-4, beta_end = 0.02;

 private:
  std::string kind_;
  at::Tensor gather(const std::vector<double>& v, const at::Tensor& t, const at::Tensor& like, bool sqrt_one_minus) const;
};

// Per-sample denoising loss: mean over C,H,W of (eps_pred - eps)^2 -> [B].
at::Tensor per_sample_mse(const at::Tensor& eps_pred, const at::Tensor& eps);

}  // namespace invdiff
