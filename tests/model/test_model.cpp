// The UNet and its LoRA-ready layers: output shapes, config errors, parameter counts, and the
// config's JSON keys (the checkpoint format).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fixtures.h"
#include "model/layers.h"
#include "model/unet.h"

using namespace invdiff;

TEST(UNet, OutputShapesForSeveralConfigurations) {
  struct Case { int size, ch; std::vector<int> mult; int blocks; std::vector<int> attn; int in, out; };
  std::vector<Case> cases = {{8, 8, {1, 2}, 1, {}, 3, 3},
                             {16, 8, {1, 2, 2}, 2, {8}, 3, 3},
                             {16, 16, {1, 1, 2, 2}, 1, {4, 8}, 1, 1},
                             {28, 8, {1, 2, 2}, 1, {7}, 3, 6}};
  for (const auto& k : cases) {
    UNetConfig c = tiny_unet(8, k.size, 3);
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
    // The bottleneck (the max step's hidden features): the deepest level's channels and size,
    // and asking for it does not change the output.
    net->eval();
    torch::NoGradGuard ng;
    auto x = torch::randn({2, k.in, k.size, k.size});
    torch::Tensor mid;
    auto with = net->forward(x, torch::tensor({5, 500}), y, &mid);
    const int64_t levels = static_cast<int64_t>(k.mult.size());
    EXPECT_EQ(mid.sizes(), (std::vector<int64_t>{2, k.ch * k.mult.back(), k.size >> (levels - 1), k.size >> (levels - 1)}));
    EXPECT_TRUE(torch::equal(with, net->forward(x, torch::tensor({5, 500}), y)));
  }
}

TEST(UNet, ConfigErrorsNameTheField) {
  UNetConfig c = tiny_unet(8, 10, 3);
  c.channel_mult = {1, 2, 2};  // 10 is not divisible by 4
  EXPECT_THROW(UNet{c}, std::invalid_argument);
  c = tiny_unet(8, 8, 3);
  c.norm_groups = 3;
  try {
    UNet net(c);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("norm_groups"), std::string::npos);
  }
  UNet net(tiny_unet(8, 8, 3));
  EXPECT_THROW(net->forward(torch::randn({1, 3, 16, 16}), torch::zeros({1}), torch::zeros({1}, torch::kInt64)),
               c10::Error);
}

TEST(UNet, ParameterCountOfOneLinearLayerFormula) {
  // time_fc1 maps base_channels -> 4 * base_channels: 8 * 32 + 32 weights and biases.
  UNet net(tiny_unet(8, 8, 3));
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

TEST(Configs, UNetConfigKeysAreTheCheckpointFormat) {
  nlohmann::json j = UNetConfig{};
  for (const char* k : {"in_channels", "out_channels", "image_size", "base_channels", "channel_mult", "num_res_blocks",
                        "attention_resolutions", "num_heads", "norm_groups", "num_classes", "dropout"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j.size(), 11u);
  auto u = nlohmann::json::parse(R"({"base_channels":16,"channel_mult":[1,2]})").get<UNetConfig>();
  EXPECT_EQ(u.base_channels, 16);
  EXPECT_EQ(u.channel_mult, (std::vector<int>{1, 2}));
  EXPECT_EQ(u.norm_groups, 8);
}
