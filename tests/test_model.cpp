#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/csv.h"
#include "core/fs.h"
#include "data/dataset.h"
#include "model/unet.h"
#include "train/checkpoint.h"
#include "train/ema.h"
#include "train/optim.h"
#include "train/trainer.h"
#include "test_util.h"

using namespace invdiff;

static UNetConfig tiny(int size = 8) {
  UNetConfig c;
  c.image_size = size;
  c.base_channels = 8;
  c.channel_mult = {1, 2};
  c.norm_groups = 4;
  c.num_classes = 3;
  return c;
}

TEST(UNet, OutputShapesForSeveralConfigurations) {
  struct Case { int size, ch; std::vector<int> mult; int blocks; std::vector<int> attn; int in, out; };
  std::vector<Case> cases = {{8, 8, {1, 2}, 1, {}, 3, 3},
                             {16, 8, {1, 2, 2}, 2, {8}, 3, 3},
                             {16, 16, {1, 1, 2, 2}, 1, {4, 8}, 1, 1},
                             {28, 8, {1, 2, 2}, 1, {7}, 3, 6}};
  for (const auto& k : cases) {
    UNetConfig c = tiny(k.size);
    c.base_channels = k.ch;
    c.channel_mult = k.mult;
    c.num_res_blocks = k.blocks;
    c.attention_resolutions = k.attn;
    c.in_channels = k.in;
    c.out_channels = k.out;
    UNet net(c);
    auto y = torch::tensor({0, 3}, torch::kInt64);  // 3 = the null class
    auto out = net->forward(torch::randn({2, k.in, k.size, k.size}), torch::tensor({0, 999}), y);
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, k.out, k.size, k.size})) << k.size << " " << k.mult.size();
    EXPECT_GT(net->num_parameters(), 0);
  }
}

TEST(UNet, ConfigErrorsNameTheField) {
  UNetConfig c = tiny(10);
  c.channel_mult = {1, 2, 2};  // 10 is not divisible by 4
  EXPECT_THROW(UNet{c}, std::invalid_argument);
  c = tiny();
  c.norm_groups = 3;
  try {
    UNet net(c);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("norm_groups"), std::string::npos);
  }
  UNet net(tiny());
  EXPECT_THROW(net->forward(torch::randn({1, 3, 16, 16}), torch::zeros({1}), torch::zeros({1}, torch::kInt64)),
               c10::Error);
}

TEST(UNet, ParameterCountOfOneLinearLayerFormula) {
  // time_fc1 maps base_channels -> 4 * base_channels: 8 * 32 + 32 weights and biases.
  UNet net(tiny());
  int64_t n = 0;
  for (auto& p : net->named_parameters())
    if (p.key().rfind("time_fc1.", 0) == 0) n += p.value().numel();
  EXPECT_EQ(n, 8 * 32 + 32);
}

TEST(Lora, AdapterStartsAsANoOpAndCountsRankParameters) {
  torch::manual_seed(0);
  Conv2dL conv(4, 6, 3, 1, 1);
  auto x = torch::randn({2, 4, 5, 5});
  auto before = conv->forward(x);
  conv->add_lora(2, 2.0);
  EXPECT_TRUE(torch::allclose(conv->forward(x), before));
  // A: 4 -> 2 with a 3x3 kernel, B: 2 -> 6 1x1, no biases.
  EXPECT_EQ(conv->lora_a->weight.numel() + conv->lora_b->weight.numel(), 4 * 2 * 9 + 2 * 6);
}

TEST(Checkpoint, SavedAndLoadedModelGivesIdenticalOutputs) {
  TempDir d;
  torch::manual_seed(1);
  UNet a(tiny()), b(tiny());
  nlohmann::json meta = {{"unet", tiny()}, {"step", 7}, {"class_names", {"a", "b", "c"}}};
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
  train_diffusion(data, tiny(), tiny_train(), full, false, torch::kCPU, false);
  auto r = train_diffusion(data, tiny(), tiny_train(), part, false, torch::kCPU, false, /*stop_after=*/7);
  EXPECT_EQ(r.steps_done, 7);
  EXPECT_EQ(read_checkpoint_meta(join_path(part, "checkpoint.pt"))["step"], 7);
  EXPECT_THROW(train_diffusion(data, tiny(), tiny_train(), part, false, torch::kCPU, false), std::runtime_error);
  train_diffusion(data, tiny(), tiny_train(), part, true, torch::kCPU, false);
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

TEST(Trainer, LossDecreasesOnATinySet) {
  TempDir d;
  auto cfg = tiny_train();
  cfg.steps = 60;
  cfg.checkpoint_every = 0;
  auto data = tiny_data();
  train_diffusion(data, tiny(), cfg, d.path, false, torch::kCPU, false);
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
  train_diffusion(data, tiny(), cfg, src, false, torch::kCPU, false);
  // Zero learning rate: the fine-tuned model must equal its source's EMA weights exactly.
  auto ft = tiny_train();
  ft.steps = 2;
  ft.lr = 1e-12;
  ft.warmup = 0;
  ft.init_from = src;
  std::string dst = join_path(d.path, "ft");
  auto w = torch::ones({data.size()});
  UNetConfig other = tiny();
  other.base_channels = 16;  // ignored: the source's architecture wins
  train_diffusion(data, other, ft, dst, false, torch::kCPU, false, -1, w);
  auto a = load_diffusion_model(src, torch::kCPU), b = load_diffusion_model(dst, torch::kCPU, /*use_ema=*/false);
  auto x = torch::randn({2, 3, 8, 8});
  auto t = torch::tensor({3, 70});
  auto y = torch::tensor({0, 1}, torch::kInt64);
  EXPECT_TRUE(torch::allclose(a.unet->forward(x, t, y), b.unet->forward(x, t, y), 1e-4, 1e-5));
  // Weights of the wrong length are refused.
  EXPECT_THROW(train_diffusion(data, tiny(), ft, join_path(d.path, "bad"), false, torch::kCPU, false, -1,
                               torch::ones({3})),
               std::invalid_argument);
}
