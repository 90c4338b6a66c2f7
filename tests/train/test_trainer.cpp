// Training: checkpoints round-trip, EMA and the learning-rate schedule by hand, a resumed run
// follows the uninterrupted one, fine-tuning, and the TrainConfig JSON checkpoints hold.
#include <gtest/gtest.h>
#include <filesystem>
#include <torch/torch.h>

#include "core/csv.h"
#include "core/fs.h"
#include "core/json.h"
#include "data/dataset.h"
#include "fixtures.h"
#include "model/unet.h"
#include "train/checkpoint.h"
#include "train/ema.h"
#include "train/optim.h"
#include "train/trainer.h"

using namespace invdiff;

// 8 x 8 images in 3 classes, as tiny_data below.
static const UNetConfig kUNet = tiny_unet(8, 8, 3);

TEST(Checkpoint, SavedAndLoadedModelGivesIdenticalOutputs) {
  TempDir d;
  torch::manual_seed(1);
  UNet a(kUNet), b(kUNet);
  nlohmann::json meta = {{"unet", kUNet}, {"step", 7}, {"class_names", {"a", "b", "c"}}};
  std::string p = join_path(d.path, "checkpoint.pt");
  save_checkpoint(p, *a, a.get(), nullptr, meta);
  load_module(p, "model", *b);
  auto x = torch::randn({2, 3, 8, 8});
  auto t = torch::tensor({5, 50});
  auto y = torch::tensor({1, 2}, torch::kInt64);
  EXPECT_TRUE(torch::equal(a->forward(x, t, y), b->forward(x, t, y)));
  EXPECT_EQ(read_checkpoint_meta(p)["step"], 7);
  auto dm = load_diffusion_model(d.path, torch::kCPU);
  EXPECT_TRUE(torch::equal(dm.unet->forward(x, t, y), a->forward(x, t, y)));
  EXPECT_EQ(dm.class_index("B"), 1);
  EXPECT_THROW(dm.class_index("z"), std::invalid_argument);
}

TEST(Checkpoint, CorruptFileIsAClearError) {
  TempDir d;
  std::string p = join_path(d.path, "checkpoint.pt");
  atomic_write_text(p, "garbage");
  try {
    read_checkpoint_meta(p);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not a readable invdiff checkpoint"), std::string::npos);
  }
}

TEST(Ema, WarmupAndUpdate) {
  EXPECT_DOUBLE_EQ(ema_decay_at(0.999, 0), 0.1);
  EXPECT_DOUBLE_EQ(ema_decay_at(0.999, 100000), 0.999);
  torch::nn::Linear a(1, 1), b(1, 1);
  {
    torch::NoGradGuard ng;
    a->weight.fill_(1.0);
    b->weight.fill_(3.0);
  }
  ema_update(*a, *b, 0.75);
  EXPECT_FLOAT_EQ(a->weight.item<float>(), 1.5f);
  EXPECT_DOUBLE_EQ(lr_at(0, 1.0, 10, 110, 0.1), 0.1);
  EXPECT_DOUBLE_EQ(lr_at(10, 1.0, 10, 110, 0.1), 1.0);
  EXPECT_NEAR(lr_at(60, 1.0, 10, 110, 0.1), 0.55, 1e-12);
  EXPECT_NEAR(lr_at(110, 1.0, 10, 110, 0.1), 0.1, 1e-12);
}

// A tiny in-memory dataset: 24 random 8x8 images in 3 classes.
static ImageDataset tiny_data() {
  torch::manual_seed(0);
  ImageDataset d;
  d.root = "<memory>";
  d.images = torch::rand({24, 3, 8, 8}) * 2 - 1;
  d.labels = torch::arange(24) % 3;
  for (int i = 0; i < 24; ++i) d.files.push_back(std::to_string(i));
  d.class_names = {"a", "b", "c"};
  return d;
}

static TrainConfig tiny_train() {
  TrainConfig t;
  t.steps = 12;
  t.batch_size = 8;
  t.warmup = 2;
  t.checkpoint_every = 5;
  t.T = 100;
  t.seed = 3;
  return t;
}

TEST(Trainer, InterruptedThenResumedRunFollowsTheSameLossCurve) {
  TempDir d;
  auto data = tiny_data();
  std::string full = join_path(d.path, "full"), part = join_path(d.path, "part");
  train_diffusion(data, kUNet, tiny_train(), full, false, torch::kCPU, false);
  auto r = train_diffusion(data, kUNet, tiny_train(), part, false, torch::kCPU, false, /*stop_after=*/7);
  EXPECT_EQ(r.steps_done, 7);
  EXPECT_EQ(read_checkpoint_meta(join_path(part, "checkpoint.pt"))["step"], 7);
  EXPECT_THROW(train_diffusion(data, kUNet, tiny_train(), part, false, torch::kCPU, false), std::runtime_error);
  train_diffusion(data, kUNet, tiny_train(), part, true, torch::kCPU, false);
  auto a = read_csv(join_path(full, "loss.csv")), b = read_csv(join_path(part, "loss.csv"));
  ASSERT_EQ(a.rows.size(), 12u);
  ASSERT_EQ(b.rows.size(), 12u);
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(a.rows[i][0], b.rows[i][0]);
    EXPECT_NEAR(std::stod(a.rows[i][1]), std::stod(b.rows[i][1]), 1e-5) << "step " << i + 1;
  }
  auto ma = load_diffusion_model(full, torch::kCPU), mb = load_diffusion_model(part, torch::kCPU);
  auto x = torch::randn({2, 3, 8, 8});
  auto t = torch::tensor({1, 60});
  auto y = torch::tensor({0, 2}, torch::kInt64);
  EXPECT_TRUE(torch::allclose(ma.unet->forward(x, t, y), mb.unet->forward(x, t, y), 1e-5, 1e-6));
}

// Snapshots: the checkpoint of every snapshot_every-th step kept beside the rolling one; each is
// the run's state at its step (the same weights as a run stopped there), and a resumed run keeps
// adding them.
TEST(Trainer, SnapshotsKeepTheCheckpointOfTheirStep) {
  TempDir d;
  auto data = tiny_data();
  auto cfg = tiny_train();  // 12 steps, checkpoints every 5
  cfg.snapshot_every = 4;
  const std::string full = join_path(d.path, "full"), part = join_path(d.path, "part"), cut = join_path(d.path, "cut");
  train_diffusion(data, kUNet, cfg, full, false, torch::kCPU, false);
  for (int s : {4, 8, 12}) {
    const std::string snap = join_path(full, "snapshots/step_" + std::to_string(s) + ".pt");
    ASSERT_TRUE(file_exists(snap)) << snap;
    EXPECT_EQ(read_checkpoint_meta(snap)["step"].get<int64_t>(), s);
  }
  EXPECT_FALSE(file_exists(join_path(full, "snapshots/step_5.pt")));  // a checkpoint, not a snapshot
  EXPECT_FALSE(file_exists(join_path(full, "snapshots/step_10.pt")));
  // Interrupted at 6 and resumed: the snapshots after the interruption are written too.
  train_diffusion(data, kUNet, cfg, part, false, torch::kCPU, false, /*stop_after=*/6);
  EXPECT_TRUE(file_exists(join_path(part, "snapshots/step_4.pt")));
  EXPECT_FALSE(file_exists(join_path(part, "snapshots/step_8.pt")));
  train_diffusion(data, kUNet, cfg, part, true, torch::kCPU, false);
  EXPECT_TRUE(file_exists(join_path(part, "snapshots/step_8.pt")));
  EXPECT_TRUE(file_exists(join_path(part, "snapshots/step_12.pt")));
  // The step-8 snapshot is the state of a run stopped at step 8.
  train_diffusion(data, kUNet, cfg, cut, false, torch::kCPU, false, /*stop_after=*/8);
  auto snap = load_diffusion_model(join_path(full, "snapshots/step_8.pt"), torch::kCPU);
  auto stopped = load_diffusion_model(cut, torch::kCPU), last = load_diffusion_model(full, torch::kCPU);
  auto x = torch::randn({2, 3, 8, 8});
  auto t = torch::tensor({1, 60});
  auto y = torch::tensor({0, 2}, torch::kInt64);
  EXPECT_TRUE(torch::allclose(snap.unet->forward(x, t, y), stopped.unet->forward(x, t, y), 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(snap.unet->forward(x, t, y), last.unet->forward(x, t, y), 1e-5, 1e-6));
  // Killed after the step-8 checkpoint but before its snapshot: resuming makes it from the checkpoint.
  std::filesystem::remove(join_path(cut, "snapshots/step_8.pt"));
  train_diffusion(data, kUNet, cfg, cut, true, torch::kCPU, false);
  auto remade = load_diffusion_model(join_path(cut, "snapshots/step_8.pt"), torch::kCPU);
  EXPECT_TRUE(torch::allclose(remade.unet->forward(x, t, y), stopped.unet->forward(x, t, y), 1e-5, 1e-6));
}

TEST(Trainer, LossDecreasesOnATinySet) {
  TempDir d;
  auto cfg = tiny_train();
  cfg.steps = 60;
  cfg.checkpoint_every = 0;
  auto data = tiny_data();
  train_diffusion(data, kUNet, cfg, d.path, false, torch::kCPU, false);
  auto log = read_csv(join_path(d.path, "loss.csv"));
  double first = 0, last = 0;
  for (int i = 0; i < 10; ++i) {
    first += std::stod(log.rows[i][1]);
    last += std::stod(log.rows[50 + i][1]);
  }
  EXPECT_LT(last, first);
}

TEST(Trainer, WeightedFineTuneStartsFromTheSourceAndHonoursWeights) {
  TempDir d;
  auto data = tiny_data();
  auto cfg = tiny_train();
  cfg.steps = 4;
  std::string src = join_path(d.path, "src");
  train_diffusion(data, kUNet, cfg, src, false, torch::kCPU, false);
  // Zero learning rate: the fine-tuned model must equal its source's EMA weights exactly.
  auto ft = tiny_train();
  ft.steps = 2;
  ft.lr = 1e-12;
  ft.warmup = 0;
  ft.init_from = src;
  std::string dst = join_path(d.path, "ft");
  auto w = torch::ones({data.size()});
  UNetConfig other = kUNet;
  other.base_channels = 16;  // refused, not ignored: the architecture is the source's
  EXPECT_NE(error_of([&] { train_diffusion(data, other, ft, join_path(d.path, "other"), false, torch::kCPU, false, -1, w); })
                .find("train --init-from: the architecture is the source's (base_channels " +
                      std::to_string(kUNet.base_channels)),
            std::string::npos);
  // The defaults count as not asked for: the source's architecture is taken.
  train_diffusion(data, UNetConfig{}, ft, dst, false, torch::kCPU, false, -1, w);
  auto a = load_diffusion_model(src, torch::kCPU), b = load_diffusion_model(dst, torch::kCPU, /*use_ema=*/false);
  auto x = torch::randn({2, 3, 8, 8});
  auto t = torch::tensor({3, 70});
  auto y = torch::tensor({0, 1}, torch::kInt64);
  EXPECT_TRUE(torch::allclose(a.unet->forward(x, t, y), b.unet->forward(x, t, y), 1e-4, 1e-5));
  // Weights of the wrong length are refused.
  EXPECT_THROW(train_diffusion(data, kUNet, ft, join_path(d.path, "bad"), false, torch::kCPU, false, -1,
                               torch::ones({3})),
               std::invalid_argument);
}

TEST(Configs, TrainConfigJsonIsFlatAndReadsAnOldCheckpointsMeta) {
  // meta["train"] as the hand-written serialiser of earlier versions wrote it
  const auto old = nlohmann::json::parse(
      R"({"batch_size":32,"checkpoint_every":100,"ema_decay":0.99,"grad_clip":1.0,"init_from":"","lr":0.002,)"
      R"("min_lr_ratio":0.1,"p_uncond":0.1,"schedule":"cosine","seed":7,"steps":900,"T":500,"warmup":10,"weight_decay":0.0})");
  auto c = old.get<TrainConfig>();
  EXPECT_EQ(c.steps, 900);
  EXPECT_EQ(c.batch_size, 32);
  EXPECT_DOUBLE_EQ(c.lr, 0.002);
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(c.schedule, "cosine");
  EXPECT_EQ(c.T, 500);
  auto now = old;  // the same keys, flat (OptimConfig's fields are not nested), plus the fields
  now["snapshot_every"] = 0;  // added since, at their defaults
  EXPECT_EQ(nlohmann::json(c), now);
  EXPECT_EQ(config_key(TrainConfig{}), nlohmann::json::object());
  TrainConfig d;
  d.lr = 5e-4;
  EXPECT_EQ(config_key(d), nlohmann::json({{"lr", 5e-4}}));
}
