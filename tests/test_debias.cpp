// The min step: the batch group objective by hand, a debias run (base untouched, variance of
// group losses down, resumable), and the CLI end to end with its errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>

#include "core/csv.h"
#include "core/fs.h"
#include "core/hash.h"
#include "data/image_io.h"
#include "invdiff/debias.h"
#include "invdiff/group_loss.h"
#include "invdiff/guided_checkpoint.h"
#include "test_util.h"
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

UNetConfig tiny_unet() {
  UNetConfig u;
  u.base_channels = 8;
  u.channel_mult = {1, 2};
  u.norm_groups = 4;
  return u;
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
}  // namespace

TEST(Debias, RunKeepsBaseLowersGroupVarianceAndResumes) {
  // 8x8 images: one thread beats OpenMP's hand-offs, and spares a loaded machine.
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  struct Restore { int n; ~Restore() { torch::set_num_threads(n); } } restore{threads};
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

  // Oracle groups: majority / minority.
  auto W = torch::zeros({64, 2}, torch::kFloat64);
  W.slice(0, 0, 48).select(1, 0).fill_(1);
  W.slice(0, 48).select(1, 1).fill_(1);
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

// ---- CLI end to end (tiny cfmnist, tiny base) ----------------------------------------------

class DebiasCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    data_ = join_path(dir_->path, "data");
    base_ = join_path(dir_->path, "base");
    auto r = run_cli("-q data cfmnist -o " + data_ + " --max-train-per-class 20 --max-ref-per-class 4");
    ASSERT_EQ(r.status, 0) << r.output;
    r = run_cli("-q train --data " + data_ + " -o " + base_ +
                " --steps 10 -b 8 --ch 8 --ch-mult 1,2 --norm-groups 4 --checkpoint-every 0");
    ASSERT_EQ(r.status, 0) << r.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static TempDir* dir_;
  static std::string data_, base_;
};
TempDir* DebiasCli::dir_ = nullptr;
std::string DebiasCli::data_, DebiasCli::base_;

TEST_F(DebiasCli, GroupsDebiasSampleEndToEnd) {
  std::string g = join_path(dir_->path, "groups");
  auto r = run_cli("-q groups -m " + base_ + " --data " + data_ + " -G 2 -o " + g + " -M 2 --grouper-steps 50");
  ASSERT_EQ(r.status, 0) << r.output;
  for (auto f : {"scores.csv", "groups.csv", "summary.json", "report.json", "report.md", "group_00.png", "group_01.png"})
    EXPECT_TRUE(file_exists(join_path(g, f))) << f;
  auto scores = read_csv(join_path(g, "scores.csv"));
  EXPECT_EQ(scores.header, (std::vector<std::string>{"file", "score", "loss_t250", "loss_t750", "z_t250", "z_t750"}));
  EXPECT_EQ(scores.rows.size(), 80u);
  auto groups = read_csv(join_path(g, "groups.csv"));
  EXPECT_EQ(groups.header, (std::vector<std::string>{"file", "group", "w_0", "w_1"}));
  auto rep = nlohmann::json::parse(read_text(join_path(g, "report.json")));
  EXPECT_TRUE(rep["minority"].contains("auc_score"));
  EXPECT_TRUE(rep["attributes"].contains("colour_name"));

  // Oracle groups in the same format: 4 classes x 2 colours.
  std::string og = join_path(dir_->path, "oracle");
  r = run_cli("-q groups --oracle class_name,colour_name --data " + data_ + " -o " + og + " --no-images");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(read_csv(join_path(og, "groups.csv")).header.size(), 2u + 8u);

  std::string fp = file_fingerprint(join_path(base_, "checkpoint.pt"));
  std::string gd = join_path(dir_->path, "guided");
  r = run_cli("-q debias -m " + base_ + " --groups-dir " + g + " --data " + data_ + " -o " + gd +
              " --steps 3 -b 8 --variant lora --t-range 400,900");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(file_fingerprint(join_path(base_, "checkpoint.pt")), fp);
  auto meta = read_checkpoint_meta(join_path(gd, "checkpoint.pt"));
  EXPECT_EQ(meta["debias"]["t_lo"].get<int>(), 400);
  EXPECT_EQ(meta["groups"]["mode"], "inferred");

  // The old spelling still works and names the new one.
  r = run_cli("-q debias -m " + base_ + " --groups none --data " + data_ + " -o " + join_path(dir_->path, "erm") +
              " --steps 2 -b 8 --variant small");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("note: --groups is now --groups-dir"), std::string::npos) << r.output;

  std::string png = join_path(dir_->path, "s.png");
  r = run_cli("-q sample -m " + gd + " -p all -n 2 --steps 3 -o " + png + " --guidance-ratio 2");
  ASSERT_EQ(r.status, 0) << r.output;
  auto params = nlohmann::json::parse(read_png_text(png).at("parameters"));
  EXPECT_EQ(params["model_kind"], "guided");
  EXPECT_EQ(params["guidance"]["ratio"].get<double>(), 2.0);
  EXPECT_EQ(params["guidance"]["trained_ratio"].get<double>(), 1.0);
  // A base model still samples, and refuses a guidance ratio.
  r = run_cli("-q sample -m " + base_ + " -p all -n 1 --steps 2 -o " + png);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(read_png_text(png).at("parameters"))["model_kind"], "diffusion");
  r = run_cli("-q sample -m " + base_ + " -p all -n 1 --steps 2 -o " + png + " --guidance-ratio 2");
  EXPECT_NE(r.status, 0);
}

TEST_F(DebiasCli, ErrorsExitNonZeroWithOneLine) {
  auto one_line = [](const CliResult& r) { return std::count(r.output.begin(), r.output.end(), '\n') == 1; };
  auto r = run_cli("-q debias -m " + base_ + " --groups-dir " + join_path(dir_->path, "nope") + " --data " + data_ +
                   " -o " + join_path(dir_->path, "x"));
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(one_line(r)) << r.output;
  EXPECT_NE(r.output.find("groups file not found"), std::string::npos) << r.output;

  // groups.csv whose keys do not match the dataset's rows.
  std::string g = join_path(dir_->path, "bad_groups");
  CsvTable t;
  t.header = {"file", "group", "w_0", "w_1"};
  t.rows = {{"images/train/999999.png", "0", "1", "0"}};
  write_csv(join_path(g, "groups.csv"), t);
  r = run_cli("-q debias -m " + base_ + " --groups-dir " + g + " --data " + data_ + " -o " + join_path(dir_->path, "y"));
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(one_line(r)) << r.output;
  EXPECT_NE(r.output.find("has no row for dataset file"), std::string::npos) << r.output;

  r = run_cli("-q groups --data " + data_ + " -o " + join_path(dir_->path, "z"));
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(one_line(r)) << r.output;

  r = run_cli("-q debias -m " + base_ + " --data " + data_ + " -o " + join_path(dir_->path, "w"));
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(one_line(r)) << r.output;
  EXPECT_NE(r.output.find("--groups-dir is required"), std::string::npos) << r.output;
}
