#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "diffusion/samplers.h"
#include "diffusion/schedule.h"

using namespace invdiff;

TEST(Schedule, LinearMatchesClosedForm) {
  auto s = NoiseSchedule::linear(4, 0.1, 0.4);
  ASSERT_EQ(s.T(), 4);
  std::vector<double> betas{0.1, 0.2, 0.3, 0.4}, abar{0.9, 0.72, 0.504, 0.3024};
  for (int t = 0; t < 4; ++t) {
    EXPECT_NEAR(s.betas[t], betas[t], 1e-12);
    EXPECT_NEAR(s.abar(t), abar[t], 1e-12);
  }
  EXPECT_EQ(s.abar(-1), 1.0);
  auto d = NoiseSchedule::linear(1000);
  EXPECT_NEAR(d.betas[0], 1e-4, 1e-12);
  EXPECT_NEAR(d.betas[999], 0.02, 1e-12);
}

TEST(Schedule, CosineTelescopesToRatioOfF) {
  // Without clipping, abar_t = prod_{s<=t} f(s+1)/f(s) = f(t+1)/f(0).
  const int T = 1000;
  auto s = NoiseSchedule::cosine(T);
  auto f = [&](double t) { return std::pow(std::cos((t / T + 0.008) / 1.008 * M_PI / 2), 2); };
  for (int t : {0, 10, 500, 900}) EXPECT_NEAR(s.abar(t), f(t + 1) / f(0), 1e-9) << t;
  for (double b : s.betas) EXPECT_LE(b, 0.999);
  EXPECT_THROW(NoiseSchedule::make("quadratic", 10), std::invalid_argument);
}

TEST(Schedule, QSampleIsTheForwardFormula) {
  auto s = NoiseSchedule::linear(4, 0.1, 0.4);
  auto x0 = torch::full({2, 1, 1, 1}, 0.5), eps = torch::full({2, 1, 1, 1}, -1.0);
  auto t = torch::tensor({0, 3}, torch::kInt64);
  auto xt = s.q_sample(x0, t, eps);
  EXPECT_NEAR(xt[0].item<float>(), std::sqrt(0.9) * 0.5 - std::sqrt(0.1), 1e-6);
  EXPECT_NEAR(xt[1].item<float>(), std::sqrt(0.3024) * 0.5 - std::sqrt(0.6976), 1e-6);
}

// Hand values (Python, float64) for the schedule above, x = 0.5, eps = 0.2, z = 1.
TEST(Samplers, OneDdimStepMatchesHandComputation) {
  auto s = NoiseSchedule::linear(4, 0.1, 0.4);
  auto x = torch::full({1}, 0.5, torch::kFloat64), e = torch::full({1}, 0.2, torch::kFloat64);
  auto z = torch::ones({1}, torch::kFloat64);
  EXPECT_NEAR(predict_x0(s, x, e, 3, false).item<double>(), 0.6054729880110937, 1e-12);
  EXPECT_NEAR(ddim_step(s, x, e, 3, 1, 0.0, z, false).item<double>(), 0.6195909192200943, 1e-12);
  EXPECT_NEAR(ddim_step(s, x, e, 3, 1, 1.0, z, false).item<double>(), 1.0397044551294976, 1e-12);
}

TEST(Samplers, OneDdpmStepMatchesHandComputation) {
  auto s = NoiseSchedule::linear(4, 0.1, 0.4);
  auto x = torch::full({1}, 0.5, torch::kFloat64), e = torch::full({1}, 0.2, torch::kFloat64);
  auto z = torch::ones({1}, torch::kFloat64);
  EXPECT_NEAR(ddpm_step(s, x, e, 3, 2, z, false).item<double>(), 1.0551374883241476, 1e-12);
}

TEST(Samplers, TimestepsDescendFromTheLastOne) {
  auto ts = sampling_timesteps(1000, 50);
  ASSERT_EQ(ts.size(), 50u);
  EXPECT_EQ(ts.front(), 999);
  EXPECT_EQ(ts[1], 979);
  EXPECT_EQ(ts.back(), 19);
  for (size_t i = 1; i < ts.size(); ++i) EXPECT_LT(ts[i], ts[i - 1]);
  EXPECT_EQ(sampling_timesteps(10, 10).size(), 10u);
  EXPECT_THROW(sampling_timesteps(10, 50), std::invalid_argument);  // refused, not clamped
  EXPECT_THROW(sampling_timesteps(10, 0), std::invalid_argument);
}

// With data concentrated on one point x*, the exact eps is (x_t - sqrt(abar) x*) / sqrt(1 - abar):
// every sampler must land on x* exactly (DDPM's noise vanishes in the final posterior step).
TEST(Samplers, AllSamplersRecoverAPointMass) {
  auto sch = NoiseSchedule::linear(200);
  auto target = torch::tensor({0.3f, -0.7f, 0.9f, 0.0f}).view({1, 1, 2, 2});
  EpsFn exact = [&](const at::Tensor& x, const at::Tensor& t, const at::Tensor&) {
    auto a = sch.sqrt_abar(t, x), b = sch.sqrt_one_minus_abar(t, x);
    return (x - a * target) / b;
  };
  auto y = torch::zeros({3}, torch::kInt64);
  for (auto kind : {SamplerKind::DDPM, SamplerKind::DDIM, SamplerKind::DPMPP2M}) {
    SamplerOptions o;
    o.kind = kind;
    o.steps = 20;
    o.seed = 3;
    auto out = sample(exact, sch, y, {3, 1, 2, 2}, o);
    EXPECT_LT((out - target).abs().max().item<float>(), 1e-4) << sampler_name(kind);
  }
}

TEST(Samplers, SeedDeterminesTheSample) {
  auto sch = NoiseSchedule::linear(50);
  EpsFn zero = [](const at::Tensor& x, const at::Tensor&, const at::Tensor&) { return torch::zeros_like(x); };
  auto y = torch::zeros({2}, torch::kInt64);
  SamplerOptions o;
  o.kind = SamplerKind::DDPM;
  o.steps = 10;
  o.seed = 1;
  auto a = sample(zero, sch, y, {2, 1, 2, 2}, o), b = sample(zero, sch, y, {2, 1, 2, 2}, o);
  EXPECT_TRUE(torch::equal(a, b));
  o.seed = 2;
  EXPECT_FALSE(torch::equal(a, sample(zero, sch, y, {2, 1, 2, 2}, o)));
}

TEST(Samplers, ClassifierFreeGuidanceCombinesBothPasses) {
  // eps = y (as a constant image): cond y = 2, null = 5 -> 5 + 3 * (2 - 5) = -4.
  EpsFn f = [](const at::Tensor& x, const at::Tensor&, const at::Tensor& y) {
    return y.to(torch::kFloat32).view({-1, 1, 1, 1}).expand_as(x).clone();
  };
  auto g = with_cfg(f, 3.0, 5);
  auto out = g(torch::zeros({2, 1, 1, 1}), torch::zeros({2}, torch::kInt64), torch::full({2}, 2, torch::kInt64));
  EXPECT_FLOAT_EQ(out[0].item<float>(), -4.0f);
  EXPECT_FLOAT_EQ(out[1].item<float>(), -4.0f);
  EXPECT_THROW(parse_sampler("euler"), std::invalid_argument);
}
