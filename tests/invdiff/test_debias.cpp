// The min step: the batch group objective by hand and a debias run (base untouched, variance of
// group losses down, resumable). The CLI end to end is in tests/cli/test_debias_cli.cpp.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>

#include "core/csv.h"
#include "core/fs.h"
#include "core/hash.h"
#include "fixtures.h"
#include "invdiff/debias.h"
#include "invdiff/group_loss.h"
#include "invdiff/guided_checkpoint.h"
#include "invdiff/t_profile.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

using namespace invdiff;

// l = [1, 2, 3, 4]; w rows [1,0,0], [1,0,0], [0,1,0], [0,.5,0]:
//   L_0 = (1 + 2) / 2 = 1.5;  L_1 = (3 + .5 * 4) / 1.5 = 10/3;  group 2 has no weight: absent.
//   mean = (1.5 + 10/3) / 2 = 29/12;  unbiased Var of two values = (10/3 - 1.5)^2 / 2 = 121/72.
//   lambda = 2: L = 29/12 + 2 * 121/72 = 29/12 + 121/36 = 208/36.
TEST(GroupLoss, HandExampleWithAnAbsentGroup) {
  auto l = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64);
  auto w = torch::tensor({1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.0}, torch::kFloat64).view({4, 3});
  auto o = group_objective(l, w, 2.0);
  EXPECT_EQ(o.present, 2);
  EXPECT_NEAR(o.group_losses[0].item<double>(), 1.5, 1e-8);
  EXPECT_NEAR(o.group_losses[1].item<double>(), 10.0 / 3, 1e-8);
  EXPECT_TRUE(std::isnan(o.group_losses[2].item<double>()));
  EXPECT_NEAR(o.mean_term.item<double>(), 29.0 / 12, 1e-8);
  EXPECT_NEAR(o.var_term.item<double>(), 2 * 121.0 / 72, 1e-8);
  EXPECT_NEAR(o.total.item<double>(), 208.0 / 36, 1e-8);
  // Relative form: lambda * Var / mean^2 = 2 * (121/72) / (29/12)^2.
  EXPECT_NEAR(group_objective(l, w, 2.0, true).var_term.item<double>(), 2 * (121.0 / 72) / std::pow(29.0 / 12, 2), 1e-8);
}

// Four one-hot groups, two per condition: l = [1, 3, 2, 6, 5, 5] with rows in groups
// 0, 0, 1, 2, 3, 3 and conditions [0, 0, 1, 1]: L = [2, 2, 6, 5]. Within condition 0:
// Var(2, 2) = 0; within 1: Var(6, 5) = 1/2; mean over conditions 1/4, lambda 4: 1.
// Across all groups: Var(2, 2, 6, 5) = (4 + 4 + 36 + 25 - 4 * 3.75^2) / 3 = 4.25, times 4: 17.
TEST(GroupLoss, WithinConditionVarianceIgnoresDifferencesBetweenConditions) {
  auto l = torch::tensor({1.0, 3.0, 2.0, 6.0, 5.0, 5.0}, torch::kFloat64);
  auto w = torch::zeros({6, 4}, torch::kFloat64);
  const int64_t g[] = {0, 0, 1, 2, 3, 3};
  for (int64_t i = 0; i < 6; ++i) w[i][g[i]] = 1.0;
  // (Group losses carry the 1e-9 of their weight sum's guard: tolerance 1e-7.)
  auto cond = torch::tensor({0, 0, 1, 1}, torch::kInt64);
  auto o = group_objective(l, w, 4.0, false, cond);
  EXPECT_NEAR(o.mean_term.item<double>(), 3.75, 1e-7);
  EXPECT_NEAR(o.var_term.item<double>(), 1.0, 1e-7);
  EXPECT_NEAR(group_objective(l, w, 4.0).var_term.item<double>(), 4 * (69 - 4 * 3.75 * 3.75) / 3, 1e-7);
  // Relative: condition 1's Var / mean^2 = 0.5 / 5.5^2; condition 0's is 0; mean, times 4.
  EXPECT_NEAR(group_objective(l, w, 4.0, true, cond).var_term.item<double>(), 4 * 0.5 / (5.5 * 5.5) / 2, 1e-7);
  // A condition with one present group (or a group of no condition) contributes nothing.
  auto o2 = group_objective(l, w, 4.0, false, torch::tensor({0, 1, -1, 2}, torch::kInt64));
  EXPECT_EQ(o2.var_term.item<double>(), 0.0);
  EXPECT_THROW(group_objective(l, w, 4.0, false, torch::tensor({0, 1}, torch::kInt64)), std::invalid_argument);
}

TEST(GroupLoss, GroupConditionsAreTheLabelTheirRowsShare) {
  // Rows' labels [0, 0, 1, 1]; group 0 holds rows 0-1 (label 0), group 1 rows 1-2 (mixed),
  // group 2 row 3 (label 1, with a fractional weight), group 3 nothing.
  auto W = torch::tensor({1.0, 0.0, 0.0, 0.0,  1.0, 1.0, 0.0, 0.0,  0.0, 1.0, 0.0, 0.0,  0.0, 0.0, 0.3, 0.0},
                         torch::kFloat32).view({4, 4});
  auto c = group_conditions(W, torch::tensor({0, 0, 1, 1}, torch::kInt64));
  EXPECT_TRUE(torch::equal(c, torch::tensor({0, -1, 1, -1}, torch::kInt64)));
  EXPECT_THROW(group_conditions(W, torch::tensor({0, 1}, torch::kInt64)), std::invalid_argument);
}

TEST(GroupLoss, OneGroupIsItsWeightedMeanAndNoGroupsIsThePlainMean) {
  auto l = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64);
  // Only group 1 present, weights .5 .5 1 0: L = (.5 + 1 + 3) / 2 = 2.25, no variance term.
  auto w = torch::tensor({0.0, .5, 0.0, .5, 0.0, 1.0, 0.0, 0.0}, torch::kFloat64).view({4, 2});
  auto o = group_objective(l, w, 5.0);
  EXPECT_EQ(o.present, 1);
  EXPECT_NEAR(o.total.item<double>(), 2.25, 1e-8);
  EXPECT_EQ(o.var_term.item<double>(), 0.0);
  auto erm = group_objective(l, {}, 5.0);
  EXPECT_DOUBLE_EQ(erm.total.item<double>(), 2.5);
  // Gradients flow to the losses with the group weights: d L / d l_i for one group = w_i / sum w.
  auto lg = l.clone().requires_grad_(true);
  group_objective(lg, w, 0.0).total.backward();
  EXPECT_TRUE(torch::allclose(lg.grad(), torch::tensor({.25, .25, .5, 0.0}, torch::kFloat64), 0, 1e-8));
}

namespace {
// 64 images of 8x8: 48 "majority" (reddish blob) and 16 "minority" (greenish, other shape).
ImageDataset synthetic_dataset() {
  auto gen = at::detail::createCPUGenerator(5);
  ImageDataset d;
  d.root = "<memory>";
  d.split = "train";
  d.target_column = "class";
  d.class_names = {"thing"};
  std::vector<at::Tensor> imgs;
  for (int i = 0; i < 64; ++i) {
    bool minority = i >= 48;
    auto img = torch::full({3, 8, 8}, -1.0);
    auto patch = minority ? img.slice(1, 1, 7).slice(2, 3, 5) : img.slice(1, 2, 6).slice(2, 2, 6);
    patch.select(0, minority ? 1 : 0).fill_(0.9);
    imgs.push_back((img + 0.05 * torch::randn({3, 8, 8}, gen)).clamp(-1, 1));
    d.files.push_back((minority ? "min" : "maj") + std::to_string(i) + ".png");
  }
  d.images = torch::stack(imgs);
  d.labels = torch::zeros({64}, torch::kInt64);
  return d;
}

// The synthetic set's oracle groups, one-hot [64, 2]: rows 0-47 majority, 48-63 minority.
at::Tensor oracle_groups() {
  auto W = torch::zeros({64, 2}, torch::kFloat64);
  W.slice(0, 0, 48).select(1, 0).fill_(1);
  W.slice(0, 48).select(1, 1).fill_(1);
  return W;
}

// Mean loss per group (0: majority, 1: minority) at fixed (t, eps): 8 timesteps per image.
std::pair<double, double> group_losses(const std::function<at::Tensor(at::Tensor, at::Tensor, at::Tensor)>& f,
                                       const ImageDataset& d, const NoiseSchedule& sch) {
  torch::NoGradGuard ng;
  auto gen = at::detail::createCPUGenerator(99);
  const int64_t M = 8;
  auto x0 = d.images.repeat_interleave(M, 0);
  auto t = torch::arange(M).mul(sch.T() / M).add(sch.T() / (2 * M)).repeat({d.size()});
  auto eps = torch::randn(x0.sizes(), gen);
  auto l = per_sample_mse(f(sch.q_sample(x0, t, eps), t, d.labels.repeat_interleave(M)), eps).view({d.size(), M}).mean(1);
  return {l.slice(0, 0, 48).mean().item<double>(), l.slice(0, 48).mean().item<double>()};
}

// A base trained for `steps` on `data` (the tiny UNet, batch 16, no checkpoints before the end):
// its checkpoint file.
std::string train_tiny_base(const ImageDataset& data, const std::string& dir, int64_t steps) {
  TrainConfig tc;
  tc.steps = steps;
  tc.batch_size = 16;
  tc.checkpoint_every = 0;
  train_diffusion(data, tiny_unet(), tc, dir, false, torch::kCPU, false);
  return join_path(dir, "checkpoint.pt");
}
}  // namespace

TEST(Debias, RunKeepsBaseLowersGroupVarianceAndResumes) {
  // 8x8 images: one thread beats OpenMP's hand-offs, and spares a loaded machine.
  OneThread one;
  TempDir dir;
  auto data = synthetic_dataset();
  TrainConfig tc;
  tc.steps = 150;
  tc.batch_size = 16;
  tc.lr = 3e-3;
  tc.warmup = 10;
  tc.checkpoint_every = 0;
  tc.ema_decay = 0.9;
  std::string base_dir = join_path(dir.path, "base");
  train_diffusion(data, tiny_unet(), tc, base_dir, false, torch::kCPU, false);
  std::string base_ckpt = join_path(base_dir, "checkpoint.pt");
  const std::string fp_before = file_fingerprint(base_ckpt);
  auto base_before = load_diffusion_model(base_ckpt, torch::kCPU);

  auto W = oracle_groups();  // majority / minority
  GuidanceConfig gc;  // copy, additive, r = 1
  DebiasConfig dc;
  dc.steps = 60;
  dc.batch_size = 16;
  dc.lr = 2e-3;
  dc.warmup = 5;
  dc.checkpoint_every = 0;
  dc.lambda = 1.0;
  dc.ema_decay = 0.0;  // compare the raw weights
  std::string out = join_path(dir.path, "guided");
  nlohmann::json info{{"mode", "oracle"}};
  // Interrupted after 40 steps, then resumed: the same run.
  debias_train(data, W, base_ckpt, gc, dc, out, false, torch::kCPU, info, false, /*stop_after=*/40);
  EXPECT_EQ(read_checkpoint_meta(join_path(out, "checkpoint.pt"))["step"].get<int64_t>(), 40);
  EXPECT_THROW(debias_train(data, W, base_ckpt, gc, dc, out, false, torch::kCPU, info, false), std::runtime_error);
  auto res = debias_train(data, W, base_ckpt, gc, dc, out, true, torch::kCPU, info, false);
  EXPECT_EQ(res.steps_done, 60);
  EXPECT_EQ(read_csv(join_path(out, "loss.csv")).rows.size(), 60u);

  // The base checkpoint is bit-identical, on disk and as loaded.
  EXPECT_EQ(file_fingerprint(base_ckpt), fp_before);
  auto base_after = load_diffusion_model(base_ckpt, torch::kCPU);
  auto pb = base_before.unet->parameters(), pa = base_after.unet->parameters();
  for (size_t i = 0; i < pb.size(); ++i) EXPECT_TRUE(torch::equal(pb[i], pa[i]));

  // The meta records what the guided model needs.
  auto meta = read_checkpoint_meta(join_path(out, "checkpoint.pt"));
  EXPECT_EQ(meta["kind"], "guided");
  EXPECT_EQ(meta["base"]["fingerprint"], fp_before);
  EXPECT_EQ(meta["guidance"]["ratio"].get<double>(), 1.0);
  EXPECT_EQ(meta["debias"]["lambda"].get<double>(), 1.0);
  EXPECT_EQ(meta["groups"]["mode"], "oracle");
  EXPECT_GT(meta["parameters"]["trainable"].get<int64_t>(), 0);

  // Variance of the two group losses (unbiased, two groups: (a - b)^2 / 2) goes down.
  auto guided = load_guided_model(out, torch::kCPU, /*use_ema=*/false);
  auto gm = guided.model;
  auto before = group_losses([&](at::Tensor x, at::Tensor t, at::Tensor y) { return base_before.unet->forward(x, t, y); },
                             data, base_before.schedule);
  auto after = group_losses([&](at::Tensor x, at::Tensor t, at::Tensor y) { return gm->forward(x, t, y); }, data,
                            base_before.schedule);
  // The ERM control: the same run with the plain mean loss.
  std::string erm_out = join_path(dir.path, "erm");
  debias_train(data, {}, base_ckpt, gc, dc, erm_out, false, torch::kCPU, {{"mode", "none"}}, false);
  auto erm = load_guided_model(erm_out, torch::kCPU, false).model;
  auto control = group_losses([&](at::Tensor x, at::Tensor t, at::Tensor y) { return erm->forward(x, t, y); }, data,
                              base_before.schedule);
  auto var = [](std::pair<double, double> p) { return std::pow(p.first - p.second, 2) / 2; };
  std::string msg = "majority/minority loss: base " + std::to_string(before.first) + "/" + std::to_string(before.second) +
                    ", groups " + std::to_string(after.first) + "/" + std::to_string(after.second) + ", ERM " +
                    std::to_string(control.first) + "/" + std::to_string(control.second);
  RecordProperty("group_losses", msg);
  EXPECT_LT(var(after), var(before)) << msg;
  EXPECT_LT(var(after), var(control)) << msg;             // the groups, not just more training
  EXPECT_LT(after.first + after.second, before.first + before.second) << msg;  // not by making both worse
}

// Typed configs: their JSON is what checkpoints and stage keys hold (more in tests/train,
// tests/model and tests/experiment/test_recipes.cpp).
TEST(Configs, DebiasConfigDefaultsAndOptionalTHi) {
  DebiasConfig d;
  EXPECT_EQ(d.steps, 4000);  // its own default over OptimConfig's
  EXPECT_FALSE(d.t_hi.has_value());
  nlohmann::json j = d;
  EXPECT_TRUE(j.at("t_hi").is_null());
  d.t_hi = 900;
  EXPECT_EQ(nlohmann::json(d).get<DebiasConfig>().t_hi.value(), 900);
  EXPECT_EQ(nlohmann::json::parse(R"({"lambda":2})").get<DebiasConfig>().steps, 4000);
}

// Balanced draws: 3 rows in group 0, 1 row in group 1 -> each group half the probability;
// a soft row splits its share; no groups -> uniform.
TEST(Debias, BalancedDrawGivesEachGroupEqualMass) {
  auto W = torch::tensor({1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0}, torch::kFloat64).view({4, 2});
  auto p = balanced_draw_probabilities(W, 4);
  EXPECT_TRUE(torch::allclose(p, torch::tensor({1.0 / 6, 1.0 / 6, 1.0 / 6, 0.5}, torch::kFloat64)));
  auto soft = torch::tensor({0.5, 0.5, 1.0, 0.0, 0.0, 1.0}, torch::kFloat64).view({3, 2});
  // masses 1.5 and 1.5: p = [0.5/1.5 + 0.5/1.5, 1/1.5, 1/1.5] / 2 = [1/3, 1/3, 1/3]
  EXPECT_TRUE(torch::allclose(balanced_draw_probabilities(soft, 3), torch::full({3}, 1.0 / 3, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(balanced_draw_probabilities({}, 4), torch::full({4}, 0.25, torch::kFloat64)));
  // An empty group adds nothing (and no NaN).
  auto empty = torch::tensor({1.0, 0.0, 1.0, 0.0}, torch::kFloat64).view({2, 2});
  EXPECT_TRUE(torch::allclose(balanced_draw_probabilities(empty, 2), torch::full({2}, 0.5, torch::kFloat64)));
  EXPECT_THROW(balanced_draw_probabilities(torch::zeros({2, 2}), 2), std::invalid_argument);
  EXPECT_THROW(balanced_draw_probabilities(W, 5), std::invalid_argument);
}

// Within each condition: condition 0 (4 rows) holds 3 groups of sizes 2, 1, 1, condition 1 (2
// rows) one group, group 0 again. Pooled, the 3 groups get 1/3 each (group 0's 4 rows share
// theirs); within conditions, condition 0 keeps 4/6 of the draws split 3 ways and condition 1 its 2/6.
TEST(Debias, BalancedDrawWithinConditionsKeepsEachConditionsShare) {
  auto W = torch::tensor({1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0},
                         torch::kFloat64).view({6, 3});
  auto labels = torch::tensor({0, 0, 0, 0, 1, 1}, torch::kInt64);
  auto pooled = balanced_draw_probabilities(W, 6);
  EXPECT_TRUE(torch::allclose(pooled, torch::tensor({1.0 / 12, 1.0 / 12, 1.0 / 3, 1.0 / 3, 1.0 / 12, 1.0 / 12}, torch::kFloat64)))
      << pooled;
  auto within = balanced_draw_probabilities(W, 6, labels);
  const double a = 4.0 / 6 / 3;
  EXPECT_TRUE(torch::allclose(within, torch::tensor({a / 2, a / 2, a, a, 1.0 / 6, 1.0 / 6}, torch::kFloat64))) << within;
  EXPECT_NEAR(within.sum().item<double>(), 1.0, 1e-12);
  EXPECT_THROW(balanced_draw_probabilities(W, 6, torch::zeros({5}, torch::kInt64)), std::invalid_argument);
}

// t drawn by the base's group-loss profile: measured once and recorded in the meta; an
// interrupted run resumes with the stored profile and ends where an uninterrupted one does;
// the ERM control (no groups) has no profile and draws uniformly.
TEST(Debias, ProfileSamplingIsRecordedAndResumes) {
  OneThread one;
  TempDir dir;
  auto data = synthetic_dataset();
  const std::string base = train_tiny_base(data, join_path(dir.path, "base"), 30);
  auto W = oracle_groups();
  GuidanceConfig gc;
  gc.variant = GuidanceVariant::Small;
  DebiasConfig dc;
  dc.steps = 12;
  dc.batch_size = 8;
  dc.checkpoint_every = 0;
  dc.balance_batches = true;
  dc.t_sampling = TimestepSampling::Profile;
  dc.profile_bins = 4;
  dc.profile_samples = 32;
  const std::string a = join_path(dir.path, "a"), b = join_path(dir.path, "b");
  debias_train(data, W, base, gc, dc, a, false, torch::kCPU, {{"mode", "oracle"}}, false);
  debias_train(data, W, base, gc, dc, b, false, torch::kCPU, {{"mode", "oracle"}}, false, /*stop_after=*/5);
  debias_train(data, W, base, gc, dc, b, true, torch::kCPU, {{"mode", "oracle"}}, false);
  auto ma = read_checkpoint_meta(join_path(a, "checkpoint.pt")), mb = read_checkpoint_meta(join_path(b, "checkpoint.pt"));
  ASSERT_TRUE(ma.contains("t_profile"));
  auto p = ma["t_profile"].get<TimestepProfile>();
  EXPECT_EQ(p.edges, (std::vector<int>{0, 250, 500, 750, 1000}));
  double sum = 0;
  for (double v : p.probability) {
    sum += v;
    EXPECT_GE(v, 0.1 / 4 - 1e-12);  // the floor
  }
  EXPECT_NEAR(sum, 1.0, 1e-9);
  EXPECT_EQ(ma["t_profile"], mb["t_profile"]);
  EXPECT_EQ(ma["debias"]["t_sampling"], "profile");
  auto la = read_csv(join_path(a, "loss.csv")).rows, lb = read_csv(join_path(b, "loss.csv")).rows;
  ASSERT_EQ(la.size(), 12u);
  ASSERT_EQ(lb.size(), 12u);
  for (size_t i = 0; i < la.size(); ++i)  // every column but the last (wall seconds)
    EXPECT_EQ(std::vector<std::string>(la[i].begin(), la[i].end() - 1),
              std::vector<std::string>(lb[i].begin(), lb[i].end() - 1)) << "step " << i;
  const std::string erm = join_path(dir.path, "erm");
  debias_train(data, {}, base, gc, dc, erm, false, torch::kCPU, {{"mode", "none"}}, false);
  EXPECT_FALSE(read_checkpoint_meta(join_path(erm, "checkpoint.pt")).contains("t_profile"));
}

// A G_psi snapshot is a guided model of its own: `eval -m OUT/snapshots/step_N.pt` loads it with
// its base, and the last one is the final model.
TEST(Debias, SnapshotsLoadAsGuidedModels) {
  OneThread one;
  TempDir dir;
  auto data = synthetic_dataset();
  const std::string base = train_tiny_base(data, join_path(dir.path, "base"), 20);
  GuidanceConfig gc;
  gc.variant = GuidanceVariant::Small;
  DebiasConfig dc;
  dc.steps = 8;
  dc.batch_size = 8;
  dc.checkpoint_every = 0;
  dc.snapshot_every = 4;
  const std::string out = join_path(dir.path, "g");
  debias_train(data, oracle_groups(), base, gc, dc, out, false, torch::kCPU,
               {{"mode", "oracle"}}, false);
  auto s4 = load_guided_model(join_path(out, "snapshots/step_4.pt"), torch::kCPU);
  auto s8 = load_guided_model(join_path(out, "snapshots/step_8.pt"), torch::kCPU);
  auto last = load_guided_model(out, torch::kCPU);
  EXPECT_EQ(s4.meta["step"].get<int64_t>(), 4);
  torch::NoGradGuard ng;
  auto x = torch::randn({2, 3, 8, 8});
  auto t = torch::tensor({10, 600});
  auto y = torch::zeros({2}, torch::kInt64);
  EXPECT_TRUE(torch::equal(s8.model->forward(x, t, y), last.model->forward(x, t, y)));
  EXPECT_FALSE(torch::allclose(s4.model->forward(x, t, y), last.model->forward(x, t, y)));
}
