// The residual features and the cluster grouper: pooled residuals by hand (a noise predictor
// whose error is known exactly), their CSV round trip, and 2-means separating a shared-direction
// subgroup from merely hard samples that the score alone puts beside it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "diffusion/schedule.h"
#include "fixtures.h"
#include "invdiff/cluster_groups.h"
#include "invdiff/group_report.h"
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
  auto W = cluster_groups(F2, s2, labels).W;
  ASSERT_EQ(W.sizes(), (std::vector<int64_t>{2 * n + 1, 2}));
  EXPECT_TRUE(torch::equal(W.sum(1), torch::ones({2 * n + 1}, torch::kFloat64)));
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t i = 0; i < n; ++i)
      EXPECT_EQ(W[c * n + i][1].item<double>(), kind[i] == 1 ? 1.0 : 0.0) << "condition " << c << " row " << i;
  EXPECT_EQ(W[2 * n][0].item<double>(), 1.0);

  ClusterOptions raw;
  raw.whiten = false;
  auto Wr = cluster_groups(F, score, torch::zeros({n}, torch::kInt64), raw).W;
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
  auto W = cluster_groups(F, s, y).W;
  EXPECT_TRUE(torch::equal(W.select(1, 1), torch::tensor({0.0, 0.0, 1.0, 0.0, 1.0, 1.0}, torch::kFloat64)));
}

TEST(ClusterGroups, BadInputsGetClearErrors) {
  auto F = torch::zeros({4, 2}, torch::kFloat64);
  auto s = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64);
  auto y = torch::zeros({4}, torch::kInt64);
  EXPECT_EQ(error_of([&] { cluster_groups(F.slice(0, 0, 3), s, y); }),
            "cluster grouper: features [N, D], scores [N] and labels [N] must agree in N");
  F[1][0] = std::nan("");
  EXPECT_EQ(error_of([&] { cluster_groups(F, s, y); }), "cluster grouper: the features hold NaN or inf");
}

// BIC of a hard clustering by hand: F = (0, 2, 10, 12) in D = 1.
// k = 2 {0, 2 | 10, 12}: SSE 4, s2 = 4 / 4 = 1, LL = -4/2 (log 2pi + 1) + 4 log(1/2), p = 1 + 2 + 1 = 4.
// k = 1: mean 6, SSE 104, s2 = 26, LL = -2 (log(2pi 26) + 1), p = 2.
TEST(ClusterGroups, BicByHand) {
  auto F = torch::tensor({0.0, 2.0, 10.0, 12.0}, torch::kFloat64).view({4, 1});
  const double log2pi = std::log(2 * M_PI);
  EXPECT_NEAR(cluster_bic(F, torch::tensor({0, 0, 1, 1}, torch::kInt64), 2),
              -2 * (log2pi + 1) + 4 * std::log(0.5) - 4.0 / 2 * std::log(4.0), 1e-9);
  EXPECT_NEAR(cluster_bic(F, torch::zeros({4}, torch::kInt64), 1), -2 * (std::log(2 * M_PI * 26) + 1) - std::log(4.0),
              1e-9);
}

namespace {
at::Tensor blob(int64_t n, double cx, double cy, at::Generator& gen) {
  return torch::randn({n, 2}, gen, torch::kFloat64) + torch::tensor({cx, cy}, torch::kFloat64);
}
}  // namespace

// The number of clusters chosen without labels. Condition 0: a majority blob (200 rows, score 1)
// and two minority blobs 8 sd away in different directions (40 rows each, score 3): BIC picks 3,
// one column per blob, the majority in column 0 (lowest mean score). Condition 1: one Gaussian
// blob with unrelated scores: splitting it buys less likelihood than it costs, k = 1.
TEST(ClusterGroups, BicChoosesTheNumberOfClustersPerCondition) {
  auto gen = at::detail::createCPUGenerator(7);
  auto F = torch::cat({blob(200, 0, 0, gen), blob(40, 8, 0, gen), blob(40, 0, 8, gen), blob(280, 0, 0, gen)});
  auto score = torch::cat({torch::full({200}, 1.0, torch::kFloat64) + torch::rand({200}, gen, torch::kFloat64) * 0.1,
                           torch::full({80}, 3.0, torch::kFloat64) + torch::rand({80}, gen, torch::kFloat64) * 0.1,
                           torch::rand({280}, gen, torch::kFloat64)});
  auto labels = torch::cat({torch::zeros({280}, torch::kInt64), torch::ones({280}, torch::kInt64)});
  ClusterOptions opt;
  opt.clusters = 0;
  auto fit = cluster_groups(F, score, labels, opt);
  ASSERT_EQ(fit.W.sizes(), (std::vector<int64_t>{560, 3}));
  EXPECT_EQ(fit.names, (std::vector<std::string>{"s0", "s1", "s2"}));
  ASSERT_EQ(fit.per_condition.size(), 2u);
  EXPECT_EQ(fit.per_condition[0]["k"], 3);
  EXPECT_EQ(fit.per_condition[1]["k"], 1);
  EXPECT_EQ(fit.per_condition[0]["bic"].size(), 4u);  // k = 1..4 all scored
  auto col = fit.W.argmax(1);
  EXPECT_TRUE(torch::equal(col.slice(0, 0, 200), torch::zeros({200}, torch::kInt64)));
  const int64_t a = col[200].item<int64_t>(), b = col[240].item<int64_t>();
  EXPECT_NE(a, b);
  EXPECT_GE(std::min(a, b), 1);
  EXPECT_TRUE(torch::equal(col.slice(0, 200, 240), torch::full({40}, a, torch::kInt64)));
  EXPECT_TRUE(torch::equal(col.slice(0, 240, 280), torch::full({40}, b, torch::kInt64)));
  EXPECT_TRUE(torch::equal(col.slice(0, 280), torch::zeros({280}, torch::kInt64)));

  // A fixed k keeps the low / high format; a bad k is refused.
  opt.clusters = 2;
  auto two = cluster_groups(F, score, labels, opt);
  EXPECT_EQ(two.names, (std::vector<std::string>{"low", "high"}));
  EXPECT_EQ(two.W.select(1, 1).slice(0, 200, 280).sum().item<double>(), 80.0);
  opt.clusters = 65;
  EXPECT_EQ(error_of([&] { cluster_groups(F, score, labels, opt); }),
            "cluster grouper: clusters must be 0 (chosen) or 1..64, max clusters 1..64");
}

// The split rule. Condition 0: three blobs (majority 200, two minorities of 40 each 10 sd away
// in different directions): the majority is split from the pooled minorities (7 sd along the
// line joining them, 2.7x the 2.65 of a one-Gaussian split), then the minorities from each other;
// the blobs' own splits are refused. Condition 1: one Gaussian: its first split is offered,
// fails the null test, k = 1. Condition 2: 297 rows and 3 far ones: distinct, but fewer than the
// 2 % (6 rows) a group needs, k = 1. Condition 3: two blobs (200 / 40): k = 2, the minority "high".
TEST(ClusterGroups, SplitRuleStopsWhereASplitIsNoMoreDistinctThanOneGaussians) {
  auto gen = at::detail::createCPUGenerator(7);
  auto F = torch::cat({blob(200, 0, 0, gen), blob(40, 10, 0, gen), blob(40, 0, 10, gen), blob(280, 0, 0, gen),
                       blob(297, 0, 0, gen), blob(3, 30, 30, gen), blob(200, 0, 0, gen), blob(40, 8, 8, gen)});
  auto hi = [&](int64_t n) { return torch::full({n}, 3.0, torch::kFloat64) + torch::rand({n}, gen, torch::kFloat64) * 0.1; };
  auto lo = [&](int64_t n) { return torch::full({n}, 1.0, torch::kFloat64) + torch::rand({n}, gen, torch::kFloat64) * 0.1; };
  auto score = torch::cat({lo(200), hi(80), torch::rand({280}, gen, torch::kFloat64), lo(297), hi(3), lo(200), hi(40)});
  auto labels = torch::cat({torch::zeros({280}, torch::kInt64), torch::ones({280}, torch::kInt64),
                            torch::full({300}, 2, torch::kInt64), torch::full({240}, 3, torch::kInt64)});
  ClusterOptions opt;
  opt.clusters = 0;
  opt.choose_k = KChoice::Split;
  opt.whiten = false;  // the blobs are isotropic already; whitening by the low side is tested elsewhere
  auto fit = cluster_groups(F, score, labels, opt);
  ASSERT_EQ(fit.per_condition.size(), 4u);
  const auto& c0 = fit.per_condition[0];
  EXPECT_EQ(c0["k"], 3);
  EXPECT_EQ(c0["k_choice"], "split");
  EXPECT_EQ(c0["sizes"], nlohmann::json({200, 40, 40}));
  // Offered: the first split (kept), the majority's (refused), the minorities' (kept), each blob's.
  ASSERT_EQ(c0["splits"].size(), 5u);
  int kept = 0;
  for (const auto& sp : c0["splits"]) kept += sp["kept"].get<bool>();
  EXPECT_EQ(kept, 2);
  auto col = fit.W.argmax(1);
  EXPECT_TRUE(torch::equal(col.slice(0, 0, 200), torch::zeros({200}, torch::kInt64)));
  const int64_t a = col[200].item<int64_t>(), b = col[240].item<int64_t>();
  EXPECT_NE(a, b);
  EXPECT_TRUE(torch::equal(col.slice(0, 200, 240), torch::full({40}, a, torch::kInt64)));
  EXPECT_TRUE(torch::equal(col.slice(0, 240, 280), torch::full({40}, b, torch::kInt64)));

  const auto& c1 = fit.per_condition[1];
  EXPECT_EQ(c1["k"], 1);
  ASSERT_EQ(c1["splits"].size(), 1u);
  EXPECT_FALSE(c1["splits"][0]["kept"].get<bool>());
  EXPECT_LT(c1["separation"].get<double>() / c1["null_separation"].get<double>(), kMinSeparationRatio);
  EXPECT_TRUE(torch::equal(col.slice(0, 280, 560), torch::zeros({280}, torch::kInt64)));

  // Three far rows are distinct but too few for a group (2 % of 300 = 6): not split off.
  EXPECT_EQ(fit.per_condition[2]["k"], 1);

  const auto& c3 = fit.per_condition[3];
  EXPECT_EQ(c3["k"], 2);
  EXPECT_EQ(c3["sizes"], nlohmann::json({200, 40}));
  EXPECT_TRUE(torch::equal(col.slice(0, 1060, 1100), torch::ones({40}, torch::kInt64)));

  // No more than max_clusters: with 2, condition 0 stops after its first split.
  opt.max_clusters = 2;
  EXPECT_EQ(cluster_groups(F, score, labels, opt).per_condition[0]["k"], 2);
}

// Fisher separation by hand: clusters {0, 1} and {4, 5} have means 0.5 and 4.5 and within
// variance 0.5 each, so 4 / sqrt(0.5); of three clusters the least distinct pair counts.
TEST(ClusterGroups, SeparationByHandAndItsGaussianNull) {
  auto F = torch::tensor({0.0, 1.0, 4.0, 5.0, 20.0, 21.0}, torch::kFloat64).view({6, 1});
  auto two = torch::tensor({0, 0, 1, 1}, torch::kInt64);
  EXPECT_NEAR(cluster_separation(F.slice(0, 0, 4), two, 2), 4.0 / std::sqrt(0.5), 1e-12);
  EXPECT_NEAR(cluster_separation(F, torch::tensor({0, 0, 1, 1, 2, 2}, torch::kInt64), 3), 4.0 / std::sqrt(0.5), 1e-12);
  // One Gaussian, any covariance: 2-means cut at the mean gives 2 sqrt(2/pi) / sqrt(1 - 2/pi).
  const double half_normal = 2 * std::sqrt(2 / M_PI) / std::sqrt(1 - 2 / M_PI);
  auto gen = at::detail::createCPUGenerator(3);
  auto G = torch::randn({4000, 2}, gen, torch::kFloat64) * torch::tensor({5.0, 0.5}, torch::kFloat64);
  EXPECT_NEAR(gaussian_null_separation(G, 11), half_normal, 0.15);
  EXPECT_TRUE(std::isnan(gaussian_null_separation(F.slice(0, 0, 3), 11)));
  // Two blobs 8 sd apart: the grouper reports a separation far above its null.
  auto B = torch::cat({blob(200, 0, 0, gen), blob(60, 8, 0, gen)});
  auto score = torch::cat({torch::zeros({200}, torch::kFloat64), torch::ones({60}, torch::kFloat64)});
  ClusterOptions opt;
  opt.whiten = false;
  auto fit = cluster_groups(B, score, torch::zeros({260}, torch::kInt64), opt);
  const auto& c = fit.per_condition[0];
  EXPECT_GT(c["separation"].get<double>(), 6.0);
  EXPECT_LT(c["null_separation"].get<double>(), 3.5);
}

// Hidden features: the bottleneck's spatial mean averaged over the score's timesteps. A fake
// network whose bottleneck is (t, y) in its two channels gives (mean t, y) per sample; the h_*
// columns come back from scores.csv beside the res_* ones; asking without a bottleneck is refused.
TEST(Scores, HiddenFeaturesAreTheBottleneckMeanOverTimesteps) {
  auto sch = NoiseSchedule::linear(100);
  EpsHiddenFn fn = [](const at::Tensor& x, const at::Tensor& t, const at::Tensor& y, at::Tensor* h) {
    auto tt = t.to(torch::kFloat32).view({-1, 1, 1, 1}).expand({-1, 1, 2, 2});
    auto yy = y.to(torch::kFloat32).view({-1, 1, 1, 1}).expand({-1, 1, 2, 2});
    *h = torch::cat({tt, yy}, 1);
    return torch::zeros_like(x);
  };
  EpsFn plain = [](const at::Tensor& x, const at::Tensor&, const at::Tensor&) { return torch::zeros_like(x); };
  auto images = torch::zeros({3, 1, 4, 4});
  auto labels = torch::tensor({0, 1, 1}, torch::kInt64);
  ScoreOptions so;
  so.timesteps = {10, 50};
  so.hidden_features = true;
  so.feature_pool = 1;
  auto s = compute_scores(plain, sch, images, labels, {"a", "b", "c"}, so, torch::kCPU, false, fn);
  ASSERT_EQ(s.hidden.sizes(), (std::vector<int64_t>{3, 2}));
  EXPECT_TRUE(torch::allclose(s.hidden, torch::tensor({30.0, 0.0, 30.0, 1.0, 30.0, 1.0}, torch::kFloat64).view({3, 2})));
  TempDir d;
  write_scores_csv(d.path + "/scores.csv", {"a", "b", "c"}, s);
  auto back = read_scores_csv(d.path + "/scores.csv", {"c", "a", "b"});
  ASSERT_TRUE(back.hidden.defined() && back.features.defined());
  EXPECT_TRUE(torch::allclose(back.hidden, s.hidden.index_select(0, torch::tensor({2, 0, 1}))));
  EXPECT_EQ(back.features.size(1), 1);
  EXPECT_EQ(error_of([&] { compute_scores(plain, sch, images, labels, {"a", "b", "c"}, so, torch::kCPU); }),
            "scores: this model exposes no bottleneck activations (hidden features need a base model, not a guided one)");
}

// The label-free verdict: equal groups (imbalance below 0.2) leave nothing to rebalance; splits
// barely more distinct than a Gaussian cloud's (median separation / null below 1.5) are no
// structure; else a structure. The median runs over the prompts that split.
TEST(GroupStructure, ImbalanceAndSeparationDecide) {
  auto cond = [](double sep, double null_sep) { return nlohmann::json{{"separation", sep}, {"null_separation", null_sep}}; };
  nlohmann::json grouper{{"conditions", {cond(8, 2.7), cond(3, 2.7), cond(10, 2.5), {{"k", 1}}}}};
  auto v = group_structure(0.8, grouper);
  EXPECT_TRUE(v["clear"].get<bool>());
  EXPECT_NEAR(v["separation_over_null"].get<double>(), 8 / 2.7, 1e-12);  // median of 3 / 2.7, 8 / 2.7, 4
  auto flat = group_structure(0.05, grouper);
  EXPECT_FALSE(flat["clear"].get<bool>());
  EXPECT_NE(flat["reason"].get<std::string>().find("about equally large"), std::string::npos);
  nlohmann::json cloud{{"conditions", {cond(3, 2.7), cond(3.5, 2.6)}}};
  auto c = group_structure(0.8, cloud);
  EXPECT_FALSE(c["clear"].get<bool>());
  EXPECT_NEAR(c["separation_over_null"].get<double>(), 0.5 * (3 / 2.7 + 3.5 / 2.6), 1e-12);
  EXPECT_NE(c["reason"].get<std::string>().find("one Gaussian cloud"), std::string::npos);
  auto otsu = group_structure(0.8, nlohmann::json{{"method", "otsu"}});  // no separations: imbalance alone
  EXPECT_TRUE(otsu["clear"].get<bool>());
  EXPECT_FALSE(otsu.contains("separation_over_null"));
}
