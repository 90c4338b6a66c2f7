// The label-free max step: AUC, the grouper objective and its projected Adam step (by hand),
// the simplex projection, the score estimators, and the planted-subgroup effect.
#include <gtest/gtest.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>

#include "diffusion/schedule.h"
#include "fixtures.h"
#include "invdiff/auc.h"
#include "invdiff/grouper.h"
#include "invdiff/groups_io.h"
#include "invdiff/score.h"
#include "invdiff/scores_io.h"

using namespace invdiff;

TEST(Auc, HandExamplesWithTies) {
  // Perfect separation, reversed, and chance.
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.2, 0.8, 0.9}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(roc_auc({0.9, 0.8, 0.2, 0.1}, {0, 0, 1, 1}), 0.0);
  // Positives {0.5, 0.9}, negatives {0.1, 0.5}: pairs (0.5 vs 0.1) 1, (0.5 vs 0.5) 1/2,
  // (0.9 vs 0.1) 1, (0.9 vs 0.5) 1 -> 3.5 / 4.
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.5, 0.5, 0.9}, {0, 0, 1, 1}), 0.875);
  EXPECT_DOUBLE_EQ(roc_auc({1, 1, 1, 1}, {0, 1, 0, 1}), 0.5);
  EXPECT_TRUE(std::isnan(roc_auc({1, 2}, {1, 1})));
}

namespace {
at::Tensor T(std::vector<std::vector<double>> rows) {
  std::vector<at::Tensor> r;
  for (auto& v : rows) r.push_back(torch::tensor(v, torch::kFloat64));
  return torch::stack(r);
}
}  // namespace

// l = [1, 2.5, 3, 4], W = [[.8,.2],[.6,.4],[.3,.7],[.5,.5]]:
// column sums S = (2.2, 1.8); m_1 = (.8 + 1.5 + .9 + 2) / 2.2 = 5.2 / 2.2 = 2.3636,
// m_2 = (.2 + 1 + 2.1 + 2) / 1.8 = 5.3 / 1.8 = 2.9444. For two groups the unbiased std is
// |m_1 - m_2| / sqrt(2), so J = -(5.3/1.8 - 5.2/2.2) / sqrt(2) = -0.410693.
TEST(Grouper, ObjectiveByHand) {
  auto l = torch::tensor({1.0, 2.5, 3.0, 4.0}, torch::kFloat64);
  auto W = T({{.8, .2}, {.6, .4}, {.3, .7}, {.5, .5}});
  double J0 = -(5.3 / 1.8 - 5.2 / 2.2) / std::sqrt(2.0);
  EXPECT_NEAR(grouper_objective(W, l, 0.0).item<double>(), J0, 1e-12);
  // min_{i,g} l_i W_ig: l*W = [[.8,.2],[1.5,1],[.9,2.1],[2,2]] -> 0.2; c = 0.5 subtracts 0.1.
  EXPECT_NEAR(grouper_objective(W, l, 0.5).item<double>(), J0 - 0.1, 1e-12);
}

// One projected Adam step. dJ/dW_ig = -sign(m_g - m_other) / sqrt(2) * (l_i - m_g) / S_g, and
// Adam's first step moves every entry by lr * g / (|g| + 1e-8) = 0.01 * sign(g):
//   group 1 (lower mean): sign(l_i - m_1) = [-, +, +, +] -> W_i1 -= 0.01 * that
//   group 2 (higher mean): -sign(l_i - m_2) = [+, +, -, -] -> W_i2 -= 0.01 * that
// Row 1 (l = 2.5 lies between the means) loses 0.01 in both: [.59, .39] / .98 after the
// projection; the other rows still sum to 1.
TEST(Grouper, OneProjectedAdamStepByHand) {
  auto l = torch::tensor({1.0, 2.5, 3.0, 4.0}, torch::kFloat64);
  auto W0 = T({{.8, .2}, {.6, .4}, {.3, .7}, {.5, .5}});
  GrouperOptions opt;
  opt.groups = 2;
  opt.steps = 1;
  auto r = fit_groups(l, opt, W0);
  auto expect = T({{.81, .19}, {.59 / .98, .39 / .98}, {.29, .71}, {.49, .51}});
  EXPECT_TRUE(torch::allclose(r.W, expect, 0, 1e-6)) << r.W;
  EXPECT_TRUE(torch::equal(r.hard, torch::tensor({0, 0, 1, 1}, torch::kInt64)));
}

TEST(Grouper, ProjectionKeepsRowsOnSimplexAndZeroRowBecomesUniform) {
  auto W = T({{-0.1, -0.2}, {0.3, 0.1}, {0.5, -0.5}, {0, 0}});
  project_rows_to_simplex_(W);
  EXPECT_TRUE(torch::allclose(W, T({{.5, .5}, {.75, .25}, {1, 0}, {.5, .5}})));
  // After a full fit every row is on the simplex.
  auto gen = at::detail::createCPUGenerator(3);
  auto l = torch::rand({50}, gen, torch::kFloat64);
  GrouperOptions opt;
  opt.groups = 4;
  opt.steps = 100;
  auto r = fit_groups(l, opt);
  EXPECT_GE(r.W.min().item<double>(), 0.0);
  EXPECT_TRUE(torch::allclose(r.W.sum(1), torch::ones({50}, torch::kFloat64), 0, 1e-9));
  // Deterministic for a seed.
  EXPECT_TRUE(torch::equal(fit_groups(l, opt).W, r.W));
}

// 90 ordinary scores ~ 5 +- 0.3 and 10 planted ~ 8 +- 0.3.
namespace {
at::Tensor planted_scores() {
  auto gen = at::detail::createCPUGenerator(0);
  auto low = torch::randn({90}, gen, torch::kFloat64) * 0.3;
  auto high = 3.0 + torch::randn({10}, gen, torch::kFloat64) * 0.3;
  return torch::cat({low, high}) + 5.0;
}
}  // namespace

// What the paper's std grouper does with a planted subgroup: every planted sample lands in the same
// argmax group, the one whose members score highest, but that group also keeps some ordinary samples.
// Not a tuning problem: Adam steps each weight by ~lr * sign(gradient), so a sample whose score
// lies between two group means sees *both* its weights pushed down by the same amount, and the
// projection then lets its larger initial weight win: such samples are assigned by the random
// init. (The std objective itself also prefers a few extreme samples over the whole subgroup:
// a singleton of the top score spreads the means further than the planted group does.)
TEST(Grouper, StdGrouperCapturesAPlantedSubgroupInItsTopGroup) {
  auto l = planted_scores();
  for (int64_t G : {2, 4, 8}) {
    GrouperOptions opt;
    opt.groups = G;
    auto r = fit_groups(l, opt);
    auto top = r.hard[90].item<int64_t>();
    EXPECT_TRUE(torch::equal(r.hard.slice(0, 90), torch::full({10}, top, torch::kInt64))) << "G=" << G;
    // The top group by the mean score of its argmax members.
    auto hard_mean = [&](int64_t g) { return l.index({r.hard == g}).mean().item<double>(); };
    for (int64_t g = 0; g < G; ++g)
      if ((r.hard == g).any().item<bool>()) EXPECT_LE(hard_mean(g), hard_mean(top)) << "G=" << G;
    double precision = 10.0 / (r.hard == top).sum().item<double>();
    EXPECT_GT(precision, 0.25) << "G=" << G << " (base rate 0.1)";
  }
}

// The Otsu split (the label-free split that worked on cfmnist) weights the spread of the two means
// by the groups' sizes, so it cuts at the gap: the planted subgroup gets its own group.
TEST(Grouper, OtsuSplitPutsAPlantedSubgroupInItsOwnGroup) {
  auto l = planted_scores();
  // Hand example: {1, 2, 10, 11}: the split {1, 2} | {10, 11} maximises n_lo n_hi (m_hi - m_lo)^2.
  EXPECT_DOUBLE_EQ(otsu_threshold({1, 2, 10, 11}), 6.0);
  EXPECT_DOUBLE_EQ(otsu_threshold({3, 3, 3}), 3.0);  // no split: everything "low"
  auto labels = torch::zeros({100}, torch::kInt64);
  auto W = otsu_groups(l, labels);
  auto hard = W.argmax(1);
  EXPECT_TRUE(torch::equal(hard, torch::cat({torch::zeros({90}, torch::kInt64), torch::ones({10}, torch::kInt64)})));
  // Per condition: the threshold follows each condition's own scores.
  auto l2 = torch::cat({l, l + 100.0});
  auto y2 = torch::cat({torch::zeros({100}, torch::kInt64), torch::ones({100}, torch::kInt64)});
  auto h2 = otsu_groups(l2, y2).argmax(1);
  EXPECT_TRUE(torch::equal(h2, torch::cat({hard, hard})));
}

TEST(Scores, DefaultTimestepsAndStandardisation) {
  EXPECT_EQ(default_score_timesteps(1000, 8), (std::vector<int>{62, 187, 312, 437, 562, 687, 812, 937}));
  // Condition 0: column values 1, 2, 3 -> z = -1, 0, 1; condition 1: 5, 5 -> zero spread -> 0.
  auto raw = torch::tensor({1.0, 2.0, 3.0, 5.0, 5.0}, torch::kFloat64).unsqueeze(1);
  auto y = torch::tensor({0, 0, 0, 1, 1}, torch::kInt64);
  auto z = standardise_by_condition(raw, y);
  EXPECT_TRUE(torch::allclose(z.squeeze(1), torch::tensor({-1.0, 0.0, 1.0, 0.0, 0.0}, torch::kFloat64)));
}

namespace {
// Exact for x0 = 0: x_t = sqrt(1 - abar) eps, so eps = x_t / sqrt(1 - abar). Images away from 0
// get a loss that grows with |x0|: a planted high-loss subgroup without any training.
EpsFn zero_image_oracle(const NoiseSchedule& sch) {
  return [sch](const at::Tensor& x, const at::Tensor& t, const at::Tensor&) {
    return x / sch.sqrt_one_minus_abar(t, x);
  };
}
}  // namespace

TEST(Scores, NoiseIndependentOfBatchingAndPlantedSubgroupFound) {
  auto sch = NoiseSchedule::linear(100);
  auto gen = at::detail::createCPUGenerator(1);
  auto ordinary = torch::randn({40, 1, 4, 4}, gen) * 0.05;
  auto planted = 0.5 + torch::randn({8, 1, 4, 4}, gen) * 0.05;
  auto images = torch::cat({ordinary, planted});
  auto labels = torch::cat({torch::zeros({20}, torch::kInt64), torch::ones({20}, torch::kInt64),
                            torch::zeros({4}, torch::kInt64), torch::ones({4}, torch::kInt64)});
  std::vector<std::string> keys;
  for (int i = 0; i < 48; ++i) keys.push_back("img" + std::to_string(i) + ".png");
  ScoreOptions so;
  so.num_timesteps = 4;
  so.batch_size = 8;
  auto a = compute_scores(zero_image_oracle(sch), sch, images, labels, keys, so, torch::kCPU);
  so.batch_size = 1000;
  auto b = compute_scores(zero_image_oracle(sch), sch, images, labels, keys, so, torch::kCPU);
  EXPECT_TRUE(torch::allclose(a.raw, b.raw, 1e-6, 1e-9));
  so.batch_size = 0;  // the default: by image size
  auto b0 = compute_scores(zero_image_oracle(sch), sch, images, labels, keys, so, torch::kCPU);
  EXPECT_TRUE(torch::allclose(a.raw, b0.raw, 1e-6, 1e-9));
  so.batch_size = 8;
  EXPECT_EQ(a.raw.size(1), 4);
  EXPECT_GE(a.score.min().item<double>(), 1.0 - 1e-12);  // shifted positive
  std::vector<int> minority(48, 0);
  for (int i = 40; i < 48; ++i) minority[i] = 1;
  std::vector<double> s(a.score.data_ptr<double>(), a.score.data_ptr<double>() + 48);
  EXPECT_DOUBLE_EQ(roc_auc(s, minority), 1.0);

  GrouperOptions go;
  go.groups = 2;
  auto r = fit_groups(a.score, go);
  auto g_planted = r.hard[40].item<int64_t>();
  EXPECT_TRUE(torch::equal(r.hard.slice(0, 40), torch::full({8}, g_planted, torch::kInt64)));
  EXPECT_EQ((r.hard.slice(0, 0, 40) == g_planted).sum().item<int64_t>(), 0);

  // single-t: one draw per sample, loss against eps, same seed -> same draw whatever the batch.
  so.method = ScoreMethod::SingleT;
  auto c = compute_scores(zero_image_oracle(sch), sch, images, labels, keys, so, torch::kCPU);
  so.batch_size = 3;
  auto d = compute_scores(zero_image_oracle(sch), sch, images, labels, keys, so, torch::kCPU);
  EXPECT_TRUE(torch::equal(c.t, d.t));
  EXPECT_TRUE(torch::allclose(c.score, d.score, 1e-6, 1e-9));
}

TEST(Scores, BatchByImageSize) {
  ScoreOptions so;  // 0: 2^20 pixels per call, within [8, 512]
  EXPECT_EQ(scoring_batch(so, 16, 16), 512);
  EXPECT_EQ(scoring_batch(so, 45, 45), 512);
  EXPECT_EQ(scoring_batch(so, 64, 64), 256);
  EXPECT_EQ(scoring_batch(so, 128, 128), 64);
  EXPECT_EQ(scoring_batch(so, 1024, 1024), 8);
  so.batch_size = 100;  // given: as given
  EXPECT_EQ(scoring_batch(so, 64, 64), 100);
  so.batch_size = -1;
  EXPECT_THROW(scoring_batch(so, 64, 64), std::invalid_argument);
}

TEST(Groups, AlignByKeyAndOracle) {
  GroupTable g;
  g.files = {"b", "a", "c"};
  g.W = T({{1, 0}, {0, 1}, {.5, .5}});
  g.source = "groups.csv";
  auto A = align_groups(g, {"a", "b", "c"});
  EXPECT_TRUE(torch::equal(A, T({{0, 1}, {1, 0}, {.5, .5}})));
  EXPECT_THROW(align_groups(g, {"a", "b", "d"}), std::runtime_error);  // dataset row without a group row
  EXPECT_THROW(align_groups(g, {"a", "b"}), std::runtime_error);       // group row without a dataset row
  try {
    align_groups(g, {"a", "b", "x"});
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no row for dataset file 'x'"), std::string::npos) << e.what();
  }
  CsvTable meta;
  meta.header = {"file", "class_name", "colour_name"};
  meta.rows = {{"a", "Bag", "red"}, {"b", "Bag", "green"}, {"c", "Trouser", "red"}};
  auto o = oracle_groups(meta, {"c", "a", "b"}, {"class_name", "colour_name"});
  EXPECT_EQ(o.group_names, (std::vector<std::string>{"Bag|green", "Bag|red", "Trouser|red"}));
  EXPECT_TRUE(torch::equal(o.W, T({{0, 0, 1}, {0, 1, 0}, {1, 0, 0}})));
  // Crossed with labels: column c * G + g.
  auto X = cross_with_labels(T({{.25, .75}, {1, 0}}), torch::tensor({1, 0}, torch::kInt64), 2);
  EXPECT_TRUE(torch::equal(X, T({{0, 0, .25, .75}, {1, 0, 0, 0}})));
  EXPECT_TRUE(torch::equal(harden_groups(T({{.25, .75}, {.6, .4}})), T({{0, 1}, {1, 0}})));
}

TEST(Scores, CsvRoundTripJoinsByKey) {
  SampleScores s;
  s.timesteps = {10, 20};
  s.raw = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64).view({2, 2});
  s.z = torch::tensor({-1.0, 1.0, 1.0, -1.0}, torch::kFloat64).view({2, 2});
  s.score = torch::tensor({1.0, 1.5}, torch::kFloat64);
  TempDir d;
  std::string p = d.path + "/scores.csv";
  write_scores_csv(p, {"a", "b"}, s);
  auto back = read_scores_csv(p, {"b", "a"});  // another row order: joined by key
  EXPECT_EQ(back.timesteps, s.timesteps);
  EXPECT_TRUE(torch::equal(back.score, torch::tensor({1.5, 1.0}, torch::kFloat64)));
  EXPECT_TRUE(torch::equal(back.z, s.z.flip(0)));
  EXPECT_THROW(read_scores_csv(p, {"a", "c"}), std::runtime_error);
}

// {1, 2, 10, 11}: mean 6, population variance (25 + 16 + 16 + 25) / 4 = 20.5; the best split
// {1, 2} | {10, 11} has between-group variance (2 * 2 / 16) * (10.5 - 1.5)^2 = 20.25.
TEST(Scores, OtsuTimestepSelectionPicksTheBimodalColumn) {
  EXPECT_NEAR(otsu_explained_share({1, 2, 10, 11}), 20.25 / 20.5, 1e-12);
  EXPECT_EQ(otsu_explained_share({4, 4, 4}), 0.0);
  auto gen = at::detail::createCPUGenerator(2);
  SampleScores s;
  s.method = ScoreMethod::MultiT;
  s.timesteps = {100, 600};
  auto unimodal = torch::randn({100}, gen, torch::kFloat64);
  auto bimodal = torch::cat({torch::randn({80}, gen, torch::kFloat64) * 0.2 - 0.5,
                             torch::randn({20}, gen, torch::kFloat64) * 0.2 + 2.0});
  s.z = torch::stack({unimodal, bimodal}, 1);
  s.raw = s.z.clone();
  s.score = s.z.mean(1);
  auto labels = torch::cat({torch::zeros({50}, torch::kInt64), torch::ones({50}, torch::kInt64)});
  EXPECT_EQ(select_timestep_otsu(s, labels), 1);
  EXPECT_EQ(s.selected_timestep, 600);
  EXPECT_GT(s.selection_criterion[1], s.selection_criterion[0]);
  EXPECT_NEAR(s.score.min().item<double>(), 1.0, 1e-12);
  EXPECT_TRUE(torch::allclose(s.score - 1.0, bimodal - bimodal.min()));
}

// Spacing T / (8 M) = 1000 / 32 = 31 (integer); offsets (2k - (K - 1)) * 31 / 2, truncated.
TEST(Scores, RefineTimestepsAreCentredClampedAndDistinct) {
  EXPECT_EQ(refine_timesteps(625, 5, 1000, 4), (std::vector<int>{563, 594, 625, 656, 687}));
  EXPECT_EQ(refine_timesteps(625, 4, 1000, 4), (std::vector<int>{579, 610, 640, 671}));
  EXPECT_EQ(refine_timesteps(625, 1, 1000, 4), (std::vector<int>{625}));
  EXPECT_EQ(refine_timesteps(995, 3, 1000, 4), (std::vector<int>{964, 995, 999}));  // clamped to T - 1
  EXPECT_EQ(refine_timesteps(0, 3, 1000, 4), (std::vector<int>{0, 31}));           // clamped, deduplicated
  EXPECT_THROW(refine_timesteps(1000, 3, 1000, 4), std::invalid_argument);
  EXPECT_THROW(refine_timesteps(10, 0, 1000, 4), std::invalid_argument);
}
