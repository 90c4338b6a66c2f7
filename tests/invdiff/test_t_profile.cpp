// Where the min step draws t: the within-condition spread of group losses by hand, the draw
// probabilities, the draw itself, and a measured profile on a toy eps whose groups differ only
// at low t (invdiff/t_profile.h).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "data/dataset.h"
#include "invdiff/t_profile.h"

using namespace invdiff;

namespace {
at::Tensor one_hot(std::vector<int64_t> g, int64_t G) {
  return torch::one_hot(torch::tensor(g, torch::kInt64), G).to(torch::kFloat64);
}
}  // namespace

// Condition 0: group 0 rows [1, 1], group 1 rows [3, 3] -> L = 1, 3, no sampling noise:
//   unbiased variance (1 - 2)^2 + (3 - 2)^2 = 2.  Condition 1: groups 2, 3 all at 2 -> 0.
//   Mean over conditions 1, root 1.
TEST(TimestepProfile, SpreadByHandWithoutNoise) {
  auto l = torch::tensor({1.0, 1.0, 3.0, 3.0, 2.0, 2.0, 2.0, 2.0}, torch::kFloat64);
  auto y = torch::tensor({0, 0, 0, 0, 1, 1, 1, 1}, torch::kInt64);
  auto w = one_hot({0, 0, 1, 1, 2, 2, 3, 3}, 4);
  EXPECT_NEAR(within_condition_spread(l, y, w), 1.0, 1e-12);
  // Class differences are not a spread: condition 1 at 10 changes nothing.
  auto l2 = l.clone();
  l2.slice(0, 4).fill_(10.0);
  EXPECT_NEAR(within_condition_spread(l2, y, w), 1.0, 1e-12);
  // One group per condition: nothing to compare.
  EXPECT_EQ(within_condition_spread(l, y, one_hot({0, 0, 0, 0, 1, 1, 1, 1}, 2)), 0.0);
}

// Group 0 rows [0, 2]: L = 1, within variance 1, sampling variance 1 * 2 / 4 = 0.5; group 1
// rows [3, 3]: L = 3, 0. Unbiased variance 2 minus the mean sampling variance 0.25 = 1.75;
// condition 1 as above gives 0: root of 1.75 / 2.
TEST(TimestepProfile, SpreadSubtractsSamplingNoise) {
  auto l = torch::tensor({0.0, 2.0, 3.0, 3.0, 2.0, 2.0, 2.0, 2.0}, torch::kFloat64);
  auto y = torch::tensor({0, 0, 0, 0, 1, 1, 1, 1}, torch::kInt64);
  auto w = one_hot({0, 0, 1, 1, 2, 2, 3, 3}, 4);
  EXPECT_NEAR(within_condition_spread(l, y, w), std::sqrt(1.75 / 2), 1e-12);
  // A group is owned by the condition holding most of its weight: a little of group 1 in
  // condition 1 (weight .1 on a row at 2) moves its mean, not its owner.
  auto ws = w.clone();
  ws[4][1] = 0.1;
  // L_1 = (3 + 3 + .2) / 2.1; its sampling variance: s^2 * (1 + 1 + .01) / 2.1^2.
  const double L1 = 6.2 / 2.1, s2 = (2 * std::pow(3 - L1, 2) + 0.1 * std::pow(2 - L1, 2)) / 2.1;
  const double nv1 = s2 * 2.01 / (2.1 * 2.1), m = (1 + L1) / 2;
  const double d0 = std::pow(1 - m, 2) + std::pow(L1 - m, 2) - (0.5 + nv1) / 2;
  EXPECT_NEAR(within_condition_spread(l, y, ws), std::sqrt(d0 / 2), 1e-12);
  EXPECT_THROW(within_condition_spread(l, y, w.slice(0, 0, 4)), std::invalid_argument);
}

TEST(TimestepProfile, ProbabilitiesFollowTheSpreadWithAFloor) {
  auto p = profile_probabilities({0.0, 1.0, 3.0}, {0.1, 1.0});
  ASSERT_EQ(p.size(), 3u);
  EXPECT_NEAR(p[0], 0.1 / 3, 1e-12);
  EXPECT_NEAR(p[1], 0.9 * 0.25 + 0.1 / 3, 1e-12);
  EXPECT_NEAR(p[2], 0.9 * 0.75 + 0.1 / 3, 1e-12);
  for (double v : profile_probabilities({0.0, 0.0}, {0.0, 1.0})) EXPECT_EQ(v, 0.5);  // no spread: uniform
  EXPECT_THROW(profile_probabilities({1.0, -1.0}, {0.1, 1.0}), std::invalid_argument);
  EXPECT_THROW(profile_probabilities({1.0, NAN}, {0.1, 1.0}), std::invalid_argument);
  EXPECT_THROW(profile_probabilities({1.0}, {1.5, 1.0}), std::invalid_argument);
  // Power 2: weights 0, 1, 9 -> 0.9 * (0, 0.1, 0.9) + the floor's 0.1 / 3 each.
  auto q = profile_probabilities({0.0, 1.0, 3.0}, {0.1, 2.0});
  EXPECT_NEAR(q[1], 0.9 * 0.1 + 0.1 / 3, 1e-12);
  EXPECT_NEAR(q[2], 0.9 * 0.9 + 0.1 / 3, 1e-12);
  EXPECT_THROW(profile_probabilities({1.0}, {0.1, 0.0}), std::invalid_argument);
  EXPECT_THROW(profile_probabilities({1.0}, {0.1, NAN}), std::invalid_argument);
}

TEST(TimestepProfile, DrawStaysInItsBinsInProportion) {
  TimestepProfile p;
  p.edges = {0, 10, 20, 30};
  p.probability = {0.0, 0.25, 0.75};
  auto gen = at::detail::createCPUGenerator(3);
  auto t = draw_timesteps(p, 8000, gen);
  EXPECT_EQ(t.scalar_type(), torch::kInt64);
  EXPECT_GE(t.min().item<int64_t>(), 10);
  EXPECT_LE(t.max().item<int64_t>(), 29);
  EXPECT_NEAR((t >= 20).to(torch::kFloat64).mean().item<double>(), 0.75, 0.02);
  EXPECT_EQ(std::get<0>(at::_unique(t)).numel(), 20);  // every t of the two bins
}

// A toy eps that predicts x_t itself below t = 500 and 0 above: its loss mean((x_t - eps)^2)
// depends on x0 (zeros for group 0, 0.8 for group 1) only below 500, so the spread lives in the
// two lower bins and the draws follow it.
TEST(TimestepProfile, MeasuredWhereTheGroupsDiffer) {
  ImageDataset d;
  d.class_names = {"thing"};
  for (int i = 0; i < 64; ++i) d.files.push_back(std::to_string(i) + ".png");
  d.images = torch::zeros({64, 3, 8, 8});
  d.images.slice(0, 32).fill_(0.8);
  d.labels = torch::zeros({64}, torch::kInt64);
  auto W = torch::zeros({64, 2}, torch::kFloat64);
  W.slice(0, 0, 32).select(1, 0).fill_(1);
  W.slice(0, 32).select(1, 1).fill_(1);
  auto sched = NoiseSchedule::linear(1000);
  EpsFn eps = [](const at::Tensor& x, const at::Tensor& t, const at::Tensor&) {
    return x * (t < 500).to(x.dtype()).view({-1, 1, 1, 1});
  };
  auto uniform = torch::full({64}, 1.0 / 64, torch::kFloat64);
  auto p = measure_timestep_profile(eps, sched, d, W, uniform, 0, 1000, 4, 256, 100, {0.0, 1.0}, 7, torch::kCPU);
  ASSERT_EQ(p.edges, (std::vector<int>{0, 250, 500, 750, 1000}));
  ASSERT_EQ(p.spread.size(), 4u);
  EXPECT_GT(p.spread[0], 0.2);  // ~0.34 (mean abar * 0.64 / sqrt 2 over [0, 250)) over a mean loss < 1
  EXPECT_GT(p.spread[1], 0.05);  // ~0.1
  EXPECT_LT(p.spread[2], 0.01);
  EXPECT_LT(p.spread[3], 0.01);
  EXPECT_GT(p.probability[0] + p.probability[1], 0.95);
  EXPECT_NEAR(p.mean_loss[3], 1.0, 0.05);  // eps = 0 there: the loss is mean(eps^2)
  // Deterministic for a seed.
  auto q = measure_timestep_profile(eps, sched, d, W, uniform, 0, 1000, 4, 256, 100, {0.0, 1.0}, 7, torch::kCPU);
  EXPECT_EQ(p.spread, q.spread);
  EXPECT_THROW(measure_timestep_profile(eps, sched, d, at::Tensor(), uniform, 0, 1000, 4, 256, 100, {0.0, 1.0}, 7, torch::kCPU),
               std::invalid_argument);
  EXPECT_THROW(measure_timestep_profile(eps, sched, d, W, uniform, 500, 400, 4, 256, 100, {0.0, 1.0}, 7, torch::kCPU),
               std::invalid_argument);
}
