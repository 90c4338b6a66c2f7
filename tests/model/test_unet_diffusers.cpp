// invdiff's UNet exported as diffusers' UNet2DModel: the same eps for every input (to float
// rounding), the bottleneck too, LoRA adapters merged, head counts UNet2DModel cannot express
// refused, and the schedule as a DDPMScheduler config that gives the same alphas_cumprod.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffusion/diffusers_scheduler.h"
#include "fixtures.h"
#include "model/layers.h"
#include "model/unet_diffusers.h"

using namespace invdiff;

namespace {
// Two levels, two blocks each, attention at 8 x 8 (the second level) besides the middle block.
UNetConfig attended_unet() {
  UNetConfig u;
  u.image_size = 16;
  u.base_channels = 8;
  u.channel_mult = {1, 2};
  u.num_res_blocks = 2;
  u.attention_resolutions = {8};
  u.norm_groups = 4;
  u.num_classes = 3;
  return u;
}

// Every parameter drawn at random (zero-initialised layers would hide a wrong mapping).
void randomise(torch::nn::Module& m, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard ng;
  for (auto& p : m.parameters()) p.copy_(torch::randn_like(p) * 0.2 + (p.dim() == 1 ? 0.05 : 0.0));
}

void expect_same_eps(UNetImpl& net, DiffusersUNet2DImpl& d) {
  torch::NoGradGuard ng;
  torch::manual_seed(5);
  auto x = torch::randn({4, 3, 16, 16}), t = torch::tensor({0, 17, 500, 999}), y = torch::tensor({0, 1, 2, 3});
  torch::Tensor h0, h1;
  auto a = net.forward(x, t, y, &h0);
  auto b = d.forward(x, t, y, &h1);
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-5)) << (a - b).abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(h0, h1, 1e-5, 1e-5)) << (h0 - h1).abs().max().item<double>();
  EXPECT_GT(a.abs().mean().item<double>(), 1e-2);  // not a trivially zero network
}
}  // namespace

TEST(UNetToDiffusers, SameEpsAndBottleneckAsTheUNet) {
  UNet net(attended_unet());
  randomise(*net, 1);
  net->eval();
  auto d = to_diffusers_unet(*net);
  const auto& c = d->config();
  EXPECT_EQ(c.block_out_channels, (std::vector<int>{8, 16}));
  EXPECT_EQ(c.down_block_types, (std::vector<std::string>{"DownBlock2D", "AttnDownBlock2D"}));
  EXPECT_EQ(c.up_block_types, (std::vector<std::string>{"AttnUpBlock2D", "UpBlock2D"}));
  EXPECT_EQ(c.num_class_embeds, 4);  // the null class included
  EXPECT_FALSE(c.attention_head_dim.has_value());
  EXPECT_EQ(d->num_parameters(), net->num_parameters());
  expect_same_eps(*net, *d);
}

// A LoRA-adapted copy (every layer adapted, B non-zero) exports with W + (alpha / r) B A.
TEST(UNetToDiffusers, LoraAdaptersAreMergedIntoTheWeights) {
  UNet net(attended_unet());
  randomise(*net, 2);
  std::vector<std::shared_ptr<torch::nn::Module>> layers;
  for (const auto& m : net->modules(false))
    if (m->as<Conv2dLImpl>() || m->as<LinearLImpl>()) layers.push_back(m);
  for (const auto& m : layers) {
    if (auto* c = m->as<Conv2dLImpl>()) c->add_lora(2, 3.0);
    if (auto* l = m->as<LinearLImpl>()) l->add_lora(2, 3.0);
  }
  {
    torch::NoGradGuard ng;
    for (auto& kv : net->named_parameters())
      if (kv.key().find("lora_") != std::string::npos) kv.value().copy_(torch::randn_like(kv.value()) * 0.1);
  }
  net->eval();
  auto d = to_diffusers_unet(*net);
  EXPECT_LT(d->num_parameters(), net->num_parameters());  // the adapters are folded in
  expect_same_eps(*net, *d);
}

TEST(UNetToDiffusers, HeadCountsOnlyWhereOneHeadWidthExpressesThem) {
  UNetConfig u = attended_unet();
  u.num_heads = 2;  // attention at 8 x 8 (16 channels) and the middle (16): head width 8
  UNet net(u);
  randomise(*net, 3);
  net->eval();
  auto d = to_diffusers_unet(*net);
  EXPECT_EQ(d->config().attention_head_dim, 8);
  expect_same_eps(*net, *d);
  u.attention_resolutions = {16, 8};  // 8 and 16 channels: head widths 4 and 8
  EXPECT_NE(error_of([&] { diffusers_config_of(u); }).find("different head widths"), std::string::npos);
}

// The schedule as a DDPMScheduler config: linear by its ends, anything else by its betas.
TEST(UNetToDiffusers, ScheduleAsADdpmSchedulerConfig) {
  for (const auto& s : {NoiseSchedule::linear(1000, 1e-4, 0.02), NoiseSchedule::cosine(200)}) {
    auto c = diffusers_scheduler_of(s);
    EXPECT_EQ(c.num_train_timesteps, s.T());
    EXPECT_EQ(c.trained_betas.has_value(), s.kind() != "linear");
    EXPECT_TRUE(c.clip_sample);
    auto back = DiffusersScheduler(c).schedule();
    ASSERT_EQ(back.T(), s.T());
    for (int t = 0; t < s.T(); t += 7) EXPECT_NEAR(back.abar(t), s.abar(t), 1e-6) << s.kind() << " t " << t;
  }
}
