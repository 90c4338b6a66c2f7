// The residual features and the cluster grouper: pooled residuals by hand (a noise predictor
// whose error is known exactly), their CSV round trip, and 2-means separating a shared-direction
// subgroup from merely hard samples that the score alone puts beside it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "diffusion/schedule.h"
#include "fixtures.h"
#include "invdiff/cluster_groups.h"
#include "invdiff/score.h"
#include "invdiff/scores_io.h"

using namespace invdiff;

namespace {
// eps_hat = x_t / sqrt(1 - abar): the residual eps_hat - eps is exactly k_t x0 with
// k_t = sqrt(abar_t / (1 - abar_t)).
EpsFn zero_image_oracle(const NoiseSchedule& sch) {
  return [sch](const at::Tensor& x, const at::Tensor& t, const at::Tensor&) {
    return x / sch.sqrt_one_minus_abar(t, x);
  };
}
double k_t(const NoiseSchedule& sch, int t) { return std::sqrt(sch.abar(t) / (1.0 - sch.abar(t))); }
}  // namespace

// Image 0: channel 0 is 4 in its top-left 2x2 block, 0 elsewhere; channel 1 is 1 everywhere.
// Image 1: 2 * image 0. Pooled to 2 x 2 the residual of image 0 at t is k_t (4, 0, 0, 0 | 1, 1, 1, 1);
// pooled to 1 x 1 it is k_t (1, 1), so the pooled-band loss is k_t^2 (mean of 1 and 1).
TEST(Scores, PooledResidualFeaturesAndBandLossByHand) {
  auto sch = NoiseSchedule::linear(100);
  auto img = torch::zeros({1, 2, 4, 4});
  img.index_put_({0, 0, torch::indexing::Slice(0, 2), torch::indexing::Slice(0, 2)}, 4.0);
  img.select(1, 1).fill_(1.0);
  auto images = torch::cat({img, img * 2});
  auto labels = torch::zeros({2}, torch::kInt64);
  ScoreOptions so;
  so.timesteps = {10, 50};
  so.feature_pool = 2;
  so.residual_pool = 1;
  auto s = compute_scores(zero_image_oracle(sch), sch, images, labels, {"a", "b"}, so, torch::kCPU);
  const double kbar = (k_t(sch, 10) + k_t(sch, 50)) / 2;
  auto one = torch::tensor({4.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0}, torch::kFloat64);
  ASSERT_EQ(s.features.sizes(), (std::vector<int64_t>{2, 8}));
  EXPECT_TRUE(torch::allclose(s.features[0], one * kbar, 1e-4, 1e-6));
  EXPECT_TRUE(torch::allclose(s.features[1], one * 2 * kbar, 1e-4, 1e-6));
  EXPECT_NEAR(s.raw[0][0].item<double>(), std::pow(k_t(sch, 10), 2), 1e-4 * std::pow(k_t(sch, 10), 2));
  EXPECT_NEAR(s.raw[1][1].item<double>(), 4 * std::pow(k_t(sch, 50), 2), 1e-4 * 4 * std::pow(k_t(sch, 50), 2));

  // Written and read back: the res_* columns return as the features.
  TempDir d;
  write_scores_csv(d.path + "/scores.csv", {"a", "b"}, s);
  auto back = read_scores_csv(d.path + "/scores.csv", {"b", "a"});
  ASSERT_TRUE(back.features.defined());
  EXPECT_TRUE(torch::allclose(back.features, s.features.flip(0), 1e-7, 1e-9));

  so.feature_pool = -1;
  EXPECT_EQ(error_of([&] { compute_scores(zero_image_oracle(sch), sch, images, labels, {"a", "b"}, so, torch::kCPU); }),
            "scores: the residual pool sizes must be >= 0");
}

namespace {
// One condition: 36 ordinary samples spread widely along x (x = -4..4, y = +-0.25, score 1),
// 8 minority samples at (0, 2) (score 3) and 4 hard samples at (6, 0) (score 3.2, the highest).
// The score's Otsu split puts minority and hard together in "high".
void planted(at::Tensor& F, at::Tensor& score, std::vector<int>& kind) {
  std::vector<double> f, s;
  for (int i = 0; i < 36; ++i) {
    f.push_back(-4 + (i % 9));
    f.push_back(i % 2 ? 0.25 : -0.25);
    s.push_back(1.0 + 0.01 * (i % 5));
    kind.push_back(0);
  }
  for (int i = 0; i < 8; ++i) {
    f.push_back(0.05 * (i % 3));
    f.push_back(2.0);
    s.push_back(3.0);
    kind.push_back(1);
  }
  for (int i = 0; i < 4; ++i) {
    f.push_back(6.0);
    f.push_back(0.0);
    s.push_back(3.2);
    kind.push_back(2);
  }
  F = torch::tensor(f, torch::kFloat64).view({-1, 2});
  score = torch::tensor(s, torch::kFloat64);
}
}  // namespace

// Whitened by the ordinary samples' covariance (sd ~2.7 along x, 0.25 along y) the hard samples
// sit ~2 sd out and the minority ~8: 2-means keeps exactly the minority as "high". Plain
// Euclidean distance splits along the wide x axis instead: the hard samples and the ordinary ones
// at x >= 2 (16 rows) against the rest, the minority among the rest.
TEST(ClusterGroups, WhiteningSeparatesASharedDirectionFromHardSamples) {
  at::Tensor F, score;
  std::vector<int> kind;
  planted(F, score, kind);
  // Condition 1: the same samples mirrored (minority at (0, -2)), to show conditions are split
  // separately; condition 2: a single sample (no split: "low").
  auto F2 = torch::cat({F, F * torch::tensor({1.0, -1.0}, torch::kFloat64), torch::zeros({1, 2}, torch::kFloat64)});
  auto s2 = torch::cat({score, score, torch::full({1}, 9.0, torch::kFloat64)});
  const int64_t n = F.size(0);
  auto labels = torch::cat({torch::zeros({n}, torch::kInt64), torch::ones({n}, torch::kInt64),
                            torch::full({1}, 2, torch::kInt64)});
  auto W = cluster_groups(F2, s2, labels);
  ASSERT_EQ(W.sizes(), (std::vector<int64_t>{2 * n + 1, 2}));
  EXPECT_TRUE(torch::equal(W.sum(1), torch::ones({2 * n + 1}, torch::kFloat64)));
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t i = 0; i < n; ++i)
      EXPECT_EQ(W[c * n + i][1].item<double>(), kind[i] == 1 ? 1.0 : 0.0) << "condition " << c << " row " << i;
  EXPECT_EQ(W[2 * n][0].item<double>(), 1.0);

  ClusterOptions raw;
  raw.whiten = false;
  auto Wr = cluster_groups(F, score, torch::zeros({n}, torch::kInt64), raw);
  EXPECT_EQ(Wr.select(1, 1).sum().item<double>(), 16.0);
  for (int64_t i = 0; i < n; ++i) {
    if (kind[i] == 1) EXPECT_EQ(Wr[i][1].item<double>(), 0.0) << "minority row " << i;
    if (kind[i] == 2) EXPECT_EQ(Wr[i][1].item<double>(), 1.0) << "hard row " << i;
  }
}

// All features equal: every sample is as near one centroid as the other, no 2-means step is
// taken, and each condition keeps the Otsu split of its score (also with D = 1).
TEST(ClusterGroups, NoEvidenceInTheFeaturesKeepsTheOtsuSplit) {
  auto F = torch::zeros({6, 1}, torch::kFloat64);
  auto s = torch::tensor({1.0, 1.1, 5.0, 1.0, 4.0, 4.2}, torch::kFloat64);
  auto y = torch::tensor({0, 0, 0, 1, 1, 1}, torch::kInt64);
  auto W = cluster_groups(F, s, y);
  EXPECT_TRUE(torch::equal(W.select(1, 1), torch::tensor({0.0, 0.0, 1.0, 0.0, 1.0, 1.0}, torch::kFloat64)));
}

TEST(ClusterGroups, BadInputsGetClearErrors) {
  auto F = torch::zeros({4, 2}, torch::kFloat64);
  auto s = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64);
  auto y = torch::zeros({4}, torch::kInt64);
  EXPECT_EQ(error_of([&] { cluster_groups(F.slice(0, 0, 3), s, y); }),
            "cluster grouper: features [N, D], scores [N] and labels [N] must agree in N");
  F[1][0] = std::nan("");
  EXPECT_EQ(error_of([&] { cluster_groups(F, s, y); }), "cluster grouper: the residual features hold NaN or inf");
}
