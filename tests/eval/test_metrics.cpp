// Metrics against values computed by hand or in closed form (the derivations are in the
// comments), never against the code's own earlier output.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>

#include "eval/bias.h"
#include "eval/metrics.h"

using namespace invdiff;

// ---- Bias (docs/evaluation.md) ------------------------------------------------------------------

TEST(MetricsBias, HandCounts) {
  // K = 2, 90/10: 2 / (2 * 1) * |0.9 - 0.1| = 0.8.
  EXPECT_NEAR(bias_from_shares(shares_from_counts({90, 10})), 0.8, 1e-12);
  // K = 4 uniform: every pair differs by 0.
  EXPECT_NEAR(bias_from_shares(shares_from_counts({5, 5, 5, 5})), 0.0, 1e-12);
  // K = 4 one-hot: 3 pairs differ by 1, 3 by 0: 2 / (4 * 3) * 3 = 0.5.
  EXPECT_NEAR(bias_from_shares(shares_from_counts({0, 7, 0, 0})), 0.5, 1e-12);
}

TEST(MetricsBias, ReportAveragesPrompts) {
  // Prompt 0: 9 red, 1 green -> 0.8; prompt 1: 5/5 -> 0; an unclassifiable image (-1) is left
  // out of prompt 1's shares. Mean (0.8 + 0) / 2 = 0.4.
  std::vector<int64_t> prompt, attr;
  for (int i = 0; i < 10; ++i) { prompt.push_back(0); attr.push_back(i < 9 ? 0 : 1); }
  for (int i = 0; i < 10; ++i) { prompt.push_back(1); attr.push_back(i % 2); }
  prompt.push_back(1);
  attr.push_back(-1);
  auto r = bias_report(prompt, attr, 2, 2);
  EXPECT_NEAR(r.per_prompt[0], 0.8, 1e-12);
  EXPECT_NEAR(r.per_prompt[1], 0.0, 1e-12);
  EXPECT_NEAR(r.mean, 0.4, 1e-12);
  EXPECT_NEAR(r.shares[0][0], 0.9, 1e-12);
}

// ---- Frechet distance ------------------------------------------------------------------------

TEST(MetricsFrechet, SampledGaussiansMatchClosedForm) {
  // Diagonal covariances commute, so tr sqrt(S1 S2) = sum sqrt(s1 s2):
  // FD = |mu1 - mu2|^2 + sum (s1 + s2 - 2 sqrt(s1 s2))
  //    = 1 + [(1 + 4 - 4) + (1 + 1 - 2) + (1 + .25 - 1) + (1 + 1 - 2)] = 1 + 1 + .25 = 2.25.
  auto gen = at::detail::createCPUGenerator(7);
  const int64_t n = 20000;
  auto s2 = torch::tensor({4.0, 1.0, 0.25, 1.0}, torch::kFloat64);
  auto mu2 = torch::tensor({1.0, 0.0, 0.0, 0.0}, torch::kFloat64);
  auto a = torch::randn({n, 4}, gen, torch::kFloat64);
  auto b = torch::randn({n, 4}, gen, torch::kFloat64) * s2.sqrt() + mu2;
  // Sampling error at n = 20k is ~0.02 (mean term O(d/n), covariance term O(1/sqrt(n))).
  EXPECT_NEAR(frechet_distance(a, b), 2.25, 0.06);
}

TEST(MetricsFrechet, NonCommutingCovariancesExact) {
  // For 2x2 PSD matrices with eigenvalues l1, l2 of S1 S2: tr sqrt = sqrt(l1) + sqrt(l2) and
  // (sqrt(l1) + sqrt(l2))^2 = tr(S1 S2) + 2 sqrt(det S1 det S2).
  // S1 = [[2,1],[1,2]], S2 = diag(1, 3): S1 S2 = [[2,3],[1,6]], tr = 8; det S1 = det S2 = 3.
  // tr sqrt = sqrt(8 + 6) = sqrt(14); FD = tr S1 + tr S2 - 2 sqrt(14) = 8 - 2 sqrt(14).
  GaussianStats a{torch::zeros({2}, torch::kFloat64), torch::tensor({2.0, 1.0, 1.0, 2.0}, torch::kFloat64).view({2, 2})};
  GaussianStats b{torch::zeros({2}, torch::kFloat64), torch::tensor({1.0, 0.0, 0.0, 3.0}, torch::kFloat64).view({2, 2})};
  EXPECT_NEAR(frechet_distance(a, b), 8.0 - 2.0 * std::sqrt(14.0), 1e-10);
  EXPECT_NEAR(frechet_distance(b, a), 8.0 - 2.0 * std::sqrt(14.0), 1e-10);  // symmetric
}

TEST(MetricsFrechet, SelfIsZeroAndShiftIsSquaredNorm) {
  auto gen = at::detail::createCPUGenerator(3);
  auto x = torch::randn({500, 16}, gen, torch::kFloat32) * 3.0 + 1.0;
  EXPECT_NEAR(frechet_distance(x, x), 0.0, 1e-6);
  // A translated copy has the same covariance: FD = |c|^2 = 16 * 0.5^2 = 4.
  EXPECT_NEAR(frechet_distance(x, x + 0.5), 4.0, 1e-5);
}

TEST(MetricsFrechet, StatsAreMeanAndUnbiasedCovariance) {
  // Points (0,0), (2,0), (0,2), (2,2): mean (1,1); per-axis deviations +-1 -> var 4/3, cov 0.
  auto x = torch::tensor({0.0, 0.0, 2.0, 0.0, 0.0, 2.0, 2.0, 2.0}).view({4, 2});
  auto s = gaussian_stats(x);
  EXPECT_TRUE(torch::allclose(s.mu, torch::tensor({1.0, 1.0}, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(s.sigma, torch::eye(2, torch::kFloat64) * (4.0 / 3.0)));
}

TEST(MetricsFrechet, BadInputIsAnError) {
  EXPECT_THROW(frechet_distance(torch::zeros({10, 3}), torch::zeros({10, 4})), std::invalid_argument);
  EXPECT_THROW(frechet_distance(torch::zeros({1, 3}), torch::zeros({10, 3})), std::invalid_argument);
}

// ---- KID ---------------------------------------------------------------------------------------

TEST(MetricsKid, HandExample) {
  // d = 2, k(x, y) = (x.y / 2 + 1)^3. X = {(1,0), (0,1)}, Y = {(2,0), (0,0)}.
  // XX off-diagonal: x1.x2 = 0 -> 1, so mean over i != j = 1.
  // YY off-diagonal: y1.y2 = 0 -> 1, mean 1.
  // XY: (1,0).(2,0) = 2 -> 2^3 = 8; the other three products are 0 -> 1. Mean 11 / 4.
  // MMD^2_u = 1 + 1 - 2 * 11 / 4 = -3.5 (the unbiased estimator may go negative).
  auto x = torch::tensor({1.0, 0.0, 0.0, 1.0}).view({2, 2});
  auto y = torch::tensor({2.0, 0.0, 0.0, 0.0}).view({2, 2});
  EXPECT_NEAR(mmd2_unbiased_poly(x, y), -3.5, 1e-12);
  // Subsets of size 2 from sets of 2 are the sets themselves: every subset gives -3.5.
  KidOptions o;
  o.subsets = 5;
  o.subset_size = 2;
  auto r = kernel_inception_distance(x, y, o);
  EXPECT_NEAR(r.mean, -3.5, 1e-12);
  EXPECT_NEAR(r.std, 0.0, 1e-12);
  EXPECT_EQ(r.subset_size, 2);
}

TEST(MetricsKid, OneDimensionalByHand) {
  // d = 1: X = {0, 1}, Y = {0, 2}. XX: k(0,1) = 1; YY: k(0,2) = 1;
  // XY: k(0,0) = k(0,2) = k(1,0) = 1, k(1,2) = 3^3 = 27 -> mean 30 / 4. MMD = 2 - 15 = -13.
  auto x = torch::tensor({0.0, 1.0}).view({2, 1});
  auto y = torch::tensor({0.0, 2.0}).view({2, 1});
  EXPECT_NEAR(mmd2_unbiased_poly(x, y), -13.0, 1e-12);
}

TEST(MetricsKid, SameDistributionNearZeroShiftedPositive) {
  auto gen = at::detail::createCPUGenerator(11);
  auto a = torch::randn({2000, 8}, gen, torch::kFloat64);
  auto b = torch::randn({2000, 8}, gen, torch::kFloat64);
  KidOptions o;
  o.subsets = 20;
  o.subset_size = 500;
  auto same = kernel_inception_distance(a, b, o);
  auto shifted = kernel_inception_distance(a, b + 1.0, o);
  // Unbiased: expectation 0 for equal distributions; the shift by 1 per axis is far larger.
  EXPECT_LT(std::fabs(same.mean), 0.05);
  EXPECT_GT(shifted.mean, 1.0);
  EXPECT_GT(shifted.mean, 10 * shifted.std / std::sqrt(20.0));
  // Seeded: the same options give the same subsets.
  EXPECT_EQ(kernel_inception_distance(a, b, o).mean, same.mean);
}

// ---- precision / recall ----------------------------------------------------------------------

TEST(MetricsPrecisionRecall, ConstructedLine) {
  // Real R = {0, 1, 2, 3} (1-d), k = 3: radii 3, 2, 2, 3 -> balls cover [-3, 6].
  // Fake F = {5.5, 6.5, 7.5, 8.5}: radii 3, 2, 2, 3 -> balls cover [2.5, 11.5].
  // Precision: F inside [-3, 6]: only 5.5 -> 1/4. Recall: R inside [2.5, 11.5]: only 3 -> 1/4.
  auto r = torch::tensor({0.0, 1.0, 2.0, 3.0}).view({4, 1});
  auto f = torch::tensor({5.5, 6.5, 7.5, 8.5}).view({4, 1});
  EXPECT_TRUE(torch::allclose(knn_radii(r, 3), torch::tensor({3.0, 2.0, 2.0, 3.0}, torch::kFloat64)));
  auto pr = precision_recall(r, f, 3);
  EXPECT_DOUBLE_EQ(pr.precision, 0.25);
  EXPECT_DOUBLE_EQ(pr.recall, 0.25);
  // k = 1: real radii all 1 -> cover [-1, 4]; fake radii 1 -> [4.5, 9.5]: nothing overlaps.
  auto pr1 = precision_recall(r, f, 1);
  EXPECT_DOUBLE_EQ(pr1.precision, 0.0);
  EXPECT_DOUBLE_EQ(pr1.recall, 0.0);
}

TEST(MetricsPrecisionRecall, CollapsedGeneratorHasPrecisionButNoRecall) {
  // 2-d grid of real points; fakes all near one real point: every fake is inside the real
  // manifold (precision 1), but the fakes' k-NN radii are tiny, so only the real points within
  // them count for recall: the point (0,0) itself -> 1 / 25.
  std::vector<double> g;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) g.insert(g.end(), {double(i), double(j)});
  auto real = torch::tensor(g).view({25, 2});
  auto fake = torch::tensor({0.0, 0.0, 0.01, 0.0, 0.0, 0.01, 0.01, 0.01, 0.02, 0.0}).view({5, 2});
  auto pr = precision_recall(real, fake, 3);
  EXPECT_DOUBLE_EQ(pr.precision, 1.0);
  EXPECT_DOUBLE_EQ(pr.recall, 1.0 / 25.0);
  auto self = precision_recall(real, real, 3);
  EXPECT_DOUBLE_EQ(self.precision, 1.0);
  EXPECT_DOUBLE_EQ(self.recall, 1.0);
}

TEST(MetricsPrecisionRecall, TooFewPointsIsAnError) {
  EXPECT_THROW(precision_recall(torch::zeros({3, 2}), torch::zeros({10, 2}), 3), std::invalid_argument);
}

// ---- classification and faithfulness ---------------------------------------------------------

TEST(MetricsClassification, AccuracyAndMacroF1ByHand) {
  // target 0 0 1 1 2 2, predicted 0 1 1 1 2 0.
  // class 0: TP 1, support 2, predicted 2 -> F1 = 2*1 / (2+2) = 0.5
  // class 1: TP 2, support 2, predicted 3 -> 4 / 5 = 0.8
  // class 2: TP 1, support 2, predicted 1 -> 2 / 3
  // class 3: absent from both -> left out of the macro mean.
  auto t = torch::tensor({0, 0, 1, 1, 2, 2}, torch::kInt64);
  auto p = torch::tensor({0, 1, 1, 1, 2, 0}, torch::kInt64);
  auto r = classification_report(p, t, 4);
  EXPECT_NEAR(r.accuracy, 4.0 / 6.0, 1e-12);
  EXPECT_NEAR(r.f1[0], 0.5, 1e-12);
  EXPECT_NEAR(r.f1[1], 0.8, 1e-12);
  EXPECT_NEAR(r.f1[2], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(r.macro_f1, (0.5 + 0.8 + 2.0 / 3.0) / 3.0, 1e-12);
  EXPECT_EQ(r.support[3], 0);
  EXPECT_THROW(classification_report(p, t, 2), std::invalid_argument);
}

TEST(MetricsFaithfulness, SharePerPrompt) {
  // prompt 0: predictions 0 0 1 -> 2/3; prompt 1: 1 1 0 -> 2/3; prompt 2: no images -> NaN.
  auto prompt = torch::tensor({0, 0, 0, 1, 1, 1}, torch::kInt64);
  auto pred = torch::tensor({0, 0, 1, 1, 1, 0}, torch::kInt64);
  auto r = faithfulness(pred, prompt, 3);
  EXPECT_NEAR(r.overall, 4.0 / 6.0, 1e-12);
  EXPECT_NEAR(r.per_prompt[0], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(r.per_prompt[1], 2.0 / 3.0, 1e-12);
  EXPECT_TRUE(std::isnan(r.per_prompt[2]));
}
