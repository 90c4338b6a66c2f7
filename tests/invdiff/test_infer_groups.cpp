// The max step end to end (infer_groups) on a tiny cfmnist and a tiny base: the refined score (the
// timestep chosen on a coarse pass over every k-th row, then every row scored at the K timesteps
// around it, the score the mean of those z columns shifted to a minimum of 1), the cluster grouper
// on pooled-residual features (written, read back, reused), their errors, and the JSON of
// GroupsConfig, which is what the groups stage key holds.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/json.h"
#include "data/dataset.h"
#include "diffusion/denoiser.h"
#include "fixtures.h"
#include "invdiff/group_report.h"
#include "invdiff/groups_io.h"
#include "invdiff/infer_groups.h"
#include "invdiff/score.h"
#include "invdiff/scores_io.h"
#include "sampling/any_model.h"

using namespace invdiff;

namespace {

// The refined score with the Otsu grouper: 4 score timesteps, the timestep chosen on 10 rows,
// 3 draws around it.
GroupsConfig refined_otsu() {
  GroupsConfig cfg;
  cfg.score.num_timesteps = 4;
  cfg.select_timestep = true;
  cfg.grouper = GrouperKind::Otsu;
  cfg.refine_draws = 3;
  cfg.select_samples = 10;
  return cfg;
}

// The same with the cluster grouper: residual pooled to 1 x 1 per channel (3 features), score
// band 2 x 2.
GroupsConfig refined_cluster() {
  GroupsConfig cfg = refined_otsu();
  cfg.grouper = GrouperKind::Cluster;
  cfg.feature_pool = 1;
  cfg.score.residual_pool = 2;
  return cfg;
}

// A tiny cfmnist (12 train and 2 reference images per class) and a base trained 4 steps on it,
// built once per suite; each grouping run is made once, by the first test that reads it.
class InferGroups : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    one_ = new OneThread();
    dir_ = new TempDir();
    tiny_cfmnist(path("data"), 12, 2);
    tiny_base(path("data"), path("base"), 4);
    data_ = new ImageDataset(load_dataset(path("data")));
    model_ = new Denoiser(load_denoiser(path("base"), torch::kCPU));
  }
  static void TearDownTestSuite() {
    otsu_.reset();
    cluster_.reset();
    delete model_;
    delete data_;
    delete dir_;
    delete one_;
  }
  static std::string path(const std::string& p) { return join_path(dir_->path, p); }
  static GroupReportOptions no_images() {
    GroupReportOptions ro;
    ro.images = false;
    return ro;
  }
  // refined_otsu() into g/: its summary.
  static const nlohmann::json& otsu_run() {
    if (!otsu_) otsu_ = infer_groups(*data_, model_, refined_otsu(), path("g"), torch::kCPU, false, no_images());
    return *otsu_;
  }
  // refined_cluster() into c/: its summary.
  static const nlohmann::json& cluster_run() {
    if (!cluster_)
      cluster_ = infer_groups(*data_, model_, refined_cluster(), path("c"), torch::kCPU, false, no_images());
    return *cluster_;
  }
  inline static OneThread* one_ = nullptr;
  inline static TempDir* dir_ = nullptr;
  inline static ImageDataset* data_ = nullptr;
  inline static Denoiser* model_ = nullptr;
  inline static std::optional<nlohmann::json> otsu_, cluster_;
};

}  // namespace

TEST_F(InferGroups, RefinedScoreChoosesTheTimestepOnACoarsePassOverEveryKthRow) {
  const auto& s = otsu_run();
  const int64_t N = data_->size();
  const int64_t stride = (N + 9) / 10;  // select_samples = 10
  EXPECT_EQ(s["score"]["coarse"]["rows"].get<int64_t>(), (N + stride - 1) / stride);
  EXPECT_EQ(s["score"]["coarse"]["timesteps"], nlohmann::json({125, 375, 625, 875}));
}

TEST_F(InferGroups, RefinedScoreIsTheMeanZAtTheTimestepsAroundTheChosenOne) {
  const auto& s = otsu_run();
  const int t = s["score"]["selected_timestep"]["t"].get<int>();
  const auto expect = refine_timesteps(t, 3, 1000, 4);
  EXPECT_EQ(s["score"]["refined"]["timesteps"], nlohmann::json(expect));
  auto back = read_scores_csv(path("g/scores.csv"), data_->files);
  EXPECT_EQ(back.timesteps, expect);
  auto l = back.z.mean(1);
  EXPECT_TRUE(torch::allclose(back.score, l - l.min() + 1.0, 1e-6, 1e-6));
}

// A stage key holds only the fields that differ from the defaults, so adding an option with a
// default keeps every existing key.
TEST(Configs, GroupsConfigKeyHoldsOnlyTheFieldsThatDifferFromTheDefaults) {
  nlohmann::json on = config_key(refined_otsu());
  EXPECT_EQ(on["refine_draws"], 3);
  EXPECT_EQ(on["select_samples"], 10);
  EXPECT_EQ(on["grouper"], "otsu");
  EXPECT_EQ(on["score"], nlohmann::json({{"num_timesteps", 4}}));
  EXPECT_FALSE(on.contains("feature_pool"));
  EXPECT_FALSE(on.contains("cluster"));
  EXPECT_EQ(config_key(GroupsConfig{}), nlohmann::json::object());
}

TEST(Configs, GroupsConfigReadsBackAsWritten) {
  const GroupsConfig cfg = refined_otsu();
  auto back_cfg = nlohmann::json(cfg).get<GroupsConfig>();
  EXPECT_EQ(back_cfg.refine_draws, 3);
  EXPECT_EQ(back_cfg.select_samples, 10);
  EXPECT_EQ(back_cfg.grouper, GrouperKind::Otsu);
  EXPECT_EQ(nlohmann::json(back_cfg), nlohmann::json(cfg));
}

// Absent keys keep the defaults; an unknown grouper name is an error, not the first one.
TEST(Configs, GroupsConfigAbsentKeysKeepTheDefaultsAndUnknownGroupersAreRefused) {
  EXPECT_EQ(nlohmann::json::parse(R"({"refine_draws":2})").get<GroupsConfig>().select_samples, 6000);
  auto eg = error_of([] { nlohmann::json::parse(R"({"grouper":"kmeans"})").get<GroupsConfig>(); });
  EXPECT_NE(eg.find("unknown grouper 'kmeans' (std, otsu or cluster)"), std::string::npos) << eg;
}

TEST(Configs, GroupsConfigKeyOfTheClusterGrouperHoldsItsPoolsNotTheDefaultWhitening) {
  const GroupsConfig cfg = refined_cluster();
  nlohmann::json cj = config_key(cfg);
  EXPECT_EQ(cj["feature_pool"], 1);
  EXPECT_EQ(cj["score"]["residual_pool"], 2);
  EXPECT_FALSE(cj.contains("cluster"));  // whiten = true is the default
  EXPECT_EQ(nlohmann::json(cfg).get<GroupsConfig>().feature_pool, 1);
}

TEST_F(InferGroups, ClusterGrouperGroupsEveryRowOnItsPooledResidualFeatures) {
  const auto& c = cluster_run();
  const int64_t N = data_->size();
  EXPECT_EQ(c["grouper"]["method"], "cluster");
  EXPECT_EQ(c["grouper"]["features"], "residual");
  EXPECT_EQ(c["grouper"]["dims"], 3);
  EXPECT_EQ(c["score"]["residual_pool"], 2);
  auto cs = read_scores_csv(path("c/scores.csv"), data_->files);
  ASSERT_TRUE(cs.features.defined());
  EXPECT_EQ(cs.features.sizes(), (std::vector<int64_t>{N, 3}));
  auto g1 = read_groups(path("c"));
  EXPECT_TRUE(torch::equal(g1.W.sum(1), torch::ones({N}, torch::kFloat64)));
}

// Regrouping from the written scores (no model) gives the same groups.
TEST_F(InferGroups, ClusterGroupsFromTheWrittenScoresAreTheSame) {
  cluster_run();
  infer_groups(*data_, nullptr, refined_cluster(), path("c2"), torch::kCPU, false, no_images(), path("c/scores.csv"));
  EXPECT_TRUE(torch::equal(read_groups(path("c2")).W, read_groups(path("c")).W));
}

// A scores file without res_* columns cannot feed the cluster grouper.
TEST_F(InferGroups, ScoresWithoutResidualColumnsCannotFeedTheClusterGrouper) {
  otsu_run();
  auto e2 = error_of([&] {
    infer_groups(*data_, nullptr, refined_cluster(), path("c3"), torch::kCPU, false, no_images(), path("g/scores.csv"));
  });
  EXPECT_NE(e2.find("needs residual features"), std::string::npos) << e2;
}

TEST_F(InferGroups, RefineDrawsNeedTheTimestepSelection) {
  GroupsConfig cfg = refined_cluster();
  cfg.select_timestep = false;
  auto e = error_of([&] { infer_groups(*data_, model_, cfg, path("g2"), torch::kCPU, false, no_images()); });
  EXPECT_NE(e.find("--select-timestep"), std::string::npos) << e;
}

// The cluster grouper on both feature kinds with the cluster count chosen by BIC: the scores
// carry the bottleneck means (h_* columns, one per channel of the tiny UNet's deepest level),
// every condition reports its choice, and regrouping from the file on the bottleneck alone needs
// no model.
TEST_F(InferGroups, BothFeatureKindsAndTheChosenClusterCount) {
  GroupsConfig cfg = refined_cluster();
  cfg.cluster_features = ClusterFeatures::Both;
  cfg.cluster.clusters = 0;
  cfg.cluster.max_clusters = 3;
  auto s = infer_groups(*data_, model_, cfg, path("b"), torch::kCPU, false, no_images());
  const int64_t N = data_->size();
  auto sc = read_scores_csv(path("b/scores.csv"), data_->files);
  ASSERT_TRUE(sc.hidden.defined() && sc.features.defined());
  const auto base = load_any_model(path("base"), torch::kCPU);
  const auto& u = base.unet_config();
  EXPECT_EQ(sc.hidden.sizes(), (std::vector<int64_t>{N, u.base_channels * u.channel_mult.back()}));
  EXPECT_EQ(s["grouper"]["features"], "both");
  EXPECT_EQ(s["grouper"]["dims"], 3 + sc.hidden.size(1));
  EXPECT_EQ(s["grouper"]["clusters"], "bic");
  ASSERT_EQ(s["grouper"]["conditions"].size(), data_->class_names.size());
  int64_t widest = 1;
  for (const auto& c : s["grouper"]["conditions"]) {
    EXPECT_GE(c["k"].get<int64_t>(), 1);
    EXPECT_LE(c["k"].get<int64_t>(), 3);
    widest = std::max(widest, c["k"].get<int64_t>());
  }
  EXPECT_EQ(read_groups(path("b")).W.size(1), widest);
  GroupsConfig hidden = cfg;
  hidden.cluster_features = ClusterFeatures::Hidden;
  auto h = infer_groups(*data_, nullptr, hidden, path("b2"), torch::kCPU, false, no_images(), path("b/scores.csv"));
  EXPECT_EQ(h["grouper"]["dims"], sc.hidden.size(1));
  // The split rule: named in the summary, and every condition records the splits it was offered.
  hidden.cluster.choose_k = KChoice::Split;
  auto sp = infer_groups(*data_, nullptr, hidden, path("b3"), torch::kCPU, false, no_images(), path("b/scores.csv"));
  EXPECT_EQ(sp["grouper"]["clusters"], "split");
  for (const auto& c : sp["grouper"]["conditions"]) {
    EXPECT_EQ(c["k_choice"], "split");
    EXPECT_TRUE(c["splits"].is_array());
  }
}

// What balancing the groups would do, reported with the labels: the oracle's class x colour
// groups balance every class that holds both colours to Bias 0 (one holding one colour stays at
// 1), and the data's own Bias is that of its colour counts, as is the groups' label-free imbalance.
TEST_F(InferGroups, GroupReportGivesTheAttributeBiasWithTheGroupsBalanced) {
  auto s = write_oracle_groups(*data_, path("data"), {"class_name", "colour_name"}, path("o"), no_images());
  const auto& a = s["report"]["attributes"]["colour_name"];
  auto meta = load_metadata(path("data"), "train");
  std::map<std::string, std::map<std::string, double>> counts;  // class -> colour -> count
  for (const auto& r : meta.rows) counts[r[meta.column("class_name")]][r[meta.column("colour_name")]] += 1;
  double expect = 0, expect_balanced = 0, expect_imbalance = 0;
  for (auto& [cls, by] : counts) {
    expect_balanced += by.size() == 1 ? 1.0 : 0.0;
    double tot = 0, lo = 1e18, hi = 0;
    for (auto& [col, n] : by) tot += n;
    // K = 2 colours: Bias = |f_1 - f_2| (a class missing one colour: f = (1, 0)).
    for (auto& [col, n] : by) lo = std::min(lo, n / tot), hi = std::max(hi, n / tot);
    expect += by.size() == 1 ? 1.0 : hi - lo;
    expect_imbalance += by.size() == 1 ? 0.0 : hi - lo;  // the groups' sizes are the colour counts
  }
  EXPECT_NEAR(a["data_bias"].get<double>(), expect / counts.size(), 1e-12);
  EXPECT_GT(a["data_bias"].get<double>(), 0.5);  // the tiny set is biased
  EXPECT_NEAR(a["balanced_bias"].get<double>(), expect_balanced / counts.size(), 1e-12);
  EXPECT_FALSE(s["report"]["attributes"]["class_name"].contains("balanced_bias"));  // the target itself
  // Label-free: the Bias of the groups' own sizes within each prompt (one group present: 0).
  EXPECT_NEAR(s["report"]["imbalance"]["mean"].get<double>(), expect_imbalance / counts.size(), 1e-12);
  EXPECT_EQ(s["report"]["imbalance"]["per_condition"].size(), counts.size());
}

// The bottleneck taken in a pass of its own at t = fT is the same whatever the score's estimator:
// under the single-t score that pass must still use the one timestep, not draw one per sample.
TEST_F(InferGroups, OwnHiddenPassUsesItsTimestepUnderEitherScoreEstimator) {
  GroupsConfig multi = refined_cluster();
  multi.refine_draws = 0;
  multi.select_timestep = false;
  multi.cluster_features = ClusterFeatures::Hidden;
  multi.hidden_t_fraction = 0.25;
  GroupsConfig single = multi;
  single.score.method = ScoreMethod::SingleT;
  auto sm = infer_groups(*data_, model_, multi, path("hm"), torch::kCPU, false, no_images());
  auto ss = infer_groups(*data_, model_, single, path("hs"), torch::kCPU, false, no_images());
  const int T = model_->schedule.T();
  EXPECT_EQ(sm["hidden_timestep"], static_cast<int>(0.25 * T));
  EXPECT_EQ(ss["hidden_timestep"], static_cast<int>(0.25 * T));
  auto hm = read_scores_csv(path("hm/scores.csv"), data_->files).hidden;
  auto hs = read_scores_csv(path("hs/scores.csv"), data_->files).hidden;
  ASSERT_TRUE(hm.defined() && hs.defined());
  EXPECT_TRUE(torch::allclose(hm, hs, 0, 0)) << (hm - hs).abs().max().item<double>();
}

// auto makes the bottleneck's pass only when it tries the bottleneck (the residual showed no clear
// structure): then scores.csv holds its h_* columns, the same as an upfront pass gives; else
// neither the pass nor the columns.
TEST_F(InferGroups, AutoMakesTheBottleneckPassOnlyWhenItTriesTheBottleneck) {
  GroupsConfig cfg = refined_cluster();
  cfg.cluster_features = ClusterFeatures::Auto;
  cfg.hidden_t_fraction = 0.25;
  auto s = infer_groups(*data_, model_, cfg, path("auto_lazy"), torch::kCPU, false, no_images());
  const bool tried = s["grouper"]["auto"].contains("hidden");
  EXPECT_EQ(s.contains("hidden_timestep"), tried) << s["grouper"].dump();
  auto h = read_scores_csv(path("auto_lazy/scores.csv"), data_->files).hidden;
  EXPECT_EQ(h.defined(), tried);
  if (tried) {  // the deferred pass is the upfront one
    GroupsConfig both = cfg;
    both.cluster_features = ClusterFeatures::Both;
    infer_groups(*data_, model_, both, path("both_upfront"), torch::kCPU, false, no_images());
    auto hb = read_scores_csv(path("both_upfront/scores.csv"), data_->files).hidden;
    ASSERT_TRUE(hb.defined());
    EXPECT_TRUE(torch::allclose(h, hb, 0, 0)) << (h - hb).abs().max().item<double>();
  }
}

namespace {
// A scores.csv for the tiny set whose residual and bottleneck features are chosen: `blobs` puts
// the first 3 rows of every class 10 sd away from the rest (a clear, unequal structure);
// otherwise the rows are one Gaussian cloud. Those 3 rows also score high (the score's split).
void write_chosen_scores(const ImageDataset& data, const std::string& csv, bool residual_blobs, bool hidden_blobs) {
  const int64_t N = data.size();
  auto gen = at::detail::createCPUGenerator(21);
  auto labels = data.labels.to(torch::kInt64).contiguous();
  auto features = [&](bool blobs) {
    auto F = torch::randn({N, 2}, gen, torch::kFloat64);
    if (!blobs) return F;
    std::map<int64_t, int> seen;
    for (int64_t i = 0; i < N; ++i)
      if (seen[labels[i].item<int64_t>()]++ < 3) F[i] = F[i] * 0.3 + 10.0;
    return F * 0.3;
  };
  SampleScores s;
  s.timesteps = {100};
  s.raw = torch::rand({N, 1}, gen, torch::kFloat64) * 0.1;  // the first 3 rows of a class score high
  std::map<int64_t, int> seen;
  for (int64_t i = 0; i < N; ++i)
    if (seen[labels[i].item<int64_t>()]++ < 3) s.raw[i][0] += 1.0;
  s.z = s.raw.clone();
  s.score = s.raw.select(1, 0).clone();
  s.features = features(residual_blobs);
  s.hidden = features(hidden_blobs);
  write_scores_csv(csv, data.files, s);
}
}  // namespace

// auto: the residual's groups when they show a structure, else the bottleneck's when theirs do,
// else the residual's with the verdict "no clear structure"; the choice and both verdicts in the
// summary, the report's verdict that of the groups kept.
TEST_F(InferGroups, AutoFeaturesPreferTheResidualAndFallBackToTheBottleneck) {
  GroupsConfig cfg = refined_cluster();
  cfg.cluster_features = ClusterFeatures::Auto;
  struct Case {
    bool res, hid;
    const char* chosen;
    bool clear;
  };
  for (const Case& c : {Case{true, false, "residual", true}, Case{false, true, "hidden", true},
                        Case{false, false, "residual", false}}) {
    const std::string tag = std::string("auto_") + (c.res ? "r" : "") + (c.hid ? "h" : "");
    write_chosen_scores(*data_, path(tag + ".csv"), c.res, c.hid);
    auto s = infer_groups(*data_, nullptr, cfg, path(tag), torch::kCPU, false, no_images(), path(tag + ".csv"));
    const auto& a = s["grouper"]["auto"];
    EXPECT_EQ(a["chosen"], c.chosen) << tag << " " << a.dump();
    EXPECT_EQ(s["grouper"]["features"], c.chosen) << tag;
    EXPECT_EQ(a.contains("hidden"), !c.res) << tag;  // the bottleneck is tried only when needed
    EXPECT_EQ(s["structure"]["clear"].get<bool>(), c.clear) << tag << " " << s["structure"].dump();
    EXPECT_EQ(s["report"]["structure"], s["structure"]);
    if (c.clear) {  // the far rows are their own group: 3 of 12 in every class
      int split = 0;
      for (const auto& cond : s["grouper"]["conditions"]) {
        auto sizes = cond["sizes"].get<std::vector<int64_t>>();
        std::sort(sizes.begin(), sizes.end());
        split += sizes == std::vector<int64_t>{3, 9};
      }
      // The robust (MCD) whitening of the bottleneck starts its C-steps from the whole class's
      // covariance; with 12 rows it can settle on a subset holding far rows (one class here).
      EXPECT_GE(split, c.res ? 4 : 3) << tag << " " << s["grouper"]["conditions"].dump();
    }
  }
}

// With k chosen (--clusters 0), auto chooses k on the residual only: its fallback to the
// bottleneck keeps 2-means there (the split rule on the bottleneck was measured worse:
// docs/method.md, "The split rule"). Here the residual has nothing to split (k = 1 everywhere),
// so auto takes the bottleneck, at k = 2, and finds the 3 far rows of every class.
TEST_F(InferGroups, AutoWithAChosenKChoosesItOnTheResidualAndSplitsTheBottleneckInTwo) {
  GroupsConfig cfg = refined_cluster();
  cfg.cluster_features = ClusterFeatures::Auto;
  cfg.cluster.clusters = 0;
  cfg.cluster.choose_k = KChoice::Split;
  write_chosen_scores(*data_, path("auto_k0.csv"), false, true);
  auto s = infer_groups(*data_, nullptr, cfg, path("auto_k0"), torch::kCPU, false, no_images(), path("auto_k0.csv"));
  const auto& a = s["grouper"]["auto"];
  EXPECT_EQ(a["chosen"], "hidden") << a.dump();
  EXPECT_FALSE(a["residual"]["clear"].get<bool>());
  EXPECT_EQ(s["grouper"]["clusters"], 2);
  int split = 0;
  for (const auto& cond : s["grouper"]["conditions"]) {
    EXPECT_EQ(cond["k"], 2) << cond.dump();
    auto sizes = cond["sizes"].get<std::vector<int64_t>>();
    std::sort(sizes.begin(), sizes.end());
    split += sizes == std::vector<int64_t>{3, 9};
  }
  EXPECT_GE(split, 3) << s["grouper"]["conditions"].dump();  // robust whitening: see the test above

  // The residual alone with the same rule: no split passes (3 far rows < the 4 a group needs).
  cfg.cluster_features = ClusterFeatures::Residual;
  auto r = infer_groups(*data_, nullptr, cfg, path("res_k0"), torch::kCPU, false, no_images(), path("auto_k0.csv"));
  EXPECT_EQ(r["grouper"]["clusters"], "split");
  for (const auto& cond : r["grouper"]["conditions"]) EXPECT_EQ(cond["k"], 1) << cond.dump();
}
