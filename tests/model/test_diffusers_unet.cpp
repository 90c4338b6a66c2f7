// Parity with diffusers 0.27.2's UNet2DModel on the golden fixtures (tests/fixtures/diffusers).
#include <gtest/gtest.h>

#include "core/fs.h"
#include "core/safetensors.h"
#include "fixtures.h"
#include "parity.h"
#include "model/diffusers_unet.h"

using namespace invdiff;

namespace {
double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

at::Tensor fixture_output(const std::string& name) {
  OneThread one;
  auto m = load_diffusers_unet(diffusers_fixture(name));
  auto io = read_safetensors(diffusers_fixture(name + "/io.safetensors")).tensors;
  torch::NoGradGuard ng;
  auto y = io.count("class_labels") ? io.at("class_labels") : at::Tensor();
  auto out = m.net->forward(io.at("x"), io.at("t"), y);
  EXPECT_EQ(out.sizes(), io.at("expected").sizes());
  const double d = max_abs_diff(out, io.at("expected"));
  EXPECT_LE(d, 1e-5) << name;
  record_error(name + "_max_abs_diff", d);  // in --gtest_output=xml
  return out;
}
}  // namespace

TEST(DiffusersUNet, DdpmStyleFixtureMatchesDiffusers) {
  fixture_output("unet2d_ddpm_style");
  auto m = load_diffusers_unet(diffusers_fixture("unet2d_ddpm_style"));
  EXPECT_EQ(m.net->num_parameters(), 177427);
  EXPECT_FALSE(m.net->class_conditional());
}

TEST(DiffusersUNet, ClassConditionalScaleShiftFixtureMatchesDiffusers) {
  fixture_output("unet2d_class_cond");
  auto m = load_diffusers_unet(diffusers_fixture("unet2d_class_cond"));
  EXPECT_EQ(m.net->num_parameters(), 439571);
  EXPECT_TRUE(m.net->class_conditional());
}

TEST(DiffusersUNet, LegacyAttentionNamesLoadToTheSameNetwork) {
  auto modern = fixture_output("unet2d_ddpm_style");
  auto legacy = fixture_output("unet2d_legacy_attn");
  EXPECT_TRUE(torch::equal(modern, legacy));
  EXPECT_EQ(modern_attention_name("mid_block.attentions.0.proj_attn.weight"), "mid_block.attentions.0.to_out.0.weight");
  EXPECT_EQ(modern_attention_name("down_blocks.1.attentions.0.query.bias"), "down_blocks.1.attentions.0.to_q.bias");
  EXPECT_EQ(modern_attention_name("down_blocks.1.attentions.0.group_norm.bias"),
            "down_blocks.1.attentions.0.group_norm.bias");
  EXPECT_EQ(modern_attention_name("down_blocks.0.resnets.0.conv1.weight"), "down_blocks.0.resnets.0.conv1.weight");
}

TEST(DiffusersUNet, StrictLoadNamesMissingUnexpectedAndMisshapedTensors) {
  auto m = load_diffusers_unet(diffusers_fixture("unet2d_ddpm_style"));
  auto w = read_safetensors(diffusers_fixture("unet2d_ddpm_style/diffusion_pytorch_model.safetensors")).tensors;
  auto missing = w;
  missing.erase("conv_out.bias");
  EXPECT_EQ(error_of([&] { load_diffusers_state(*m.net, missing, "f"); }), "f: missing tensor 'conv_out.bias'");
  auto extra = w;
  extra["foo.weight"] = torch::zeros({1});
  EXPECT_NE(error_of([&] { load_diffusers_state(*m.net, extra, "f"); }).find("unexpected tensor 'foo.weight'"),
            std::string::npos);
  auto bad = w;
  bad["conv_in.bias"] = torch::zeros({17});
  EXPECT_NE(error_of([&] { load_diffusers_state(*m.net, bad, "f"); }).find("'conv_in.bias' has shape [17]"),
            std::string::npos);
  auto ints = w;
  ints["conv_in.bias"] = torch::zeros({16}, torch::kInt64);
  EXPECT_NE(error_of([&] { load_diffusers_state(*m.net, ints, "f"); }).find("not floating point"), std::string::npos);
  // F16 / BF16 weights are read and widened.
  auto half = w;
  for (auto& [k, v] : half) v = v.to(torch::kBFloat16);
  EXPECT_EQ(error_of([&] { load_diffusers_state(*m.net, half, "f"); }), "<no error>");
}

TEST(DiffusersUNet, ConfigDefaultsAndRefusalsNameKeyAndValue) {
  // Absent keys take UNet2DModel's defaults; unknown keys are ignored.
  auto c = nlohmann::json{{"sample_size", 32}, {"some_future_key", 1}}.get<DiffusersUNet2DConfig>();
  EXPECT_EQ(c.block_out_channels, (std::vector<int>{224, 448, 672, 896}));
  EXPECT_EQ(c.attention_head_dim, 8);
  EXPECT_EQ(c.norm_num_groups, 32);
  EXPECT_TRUE(c.flip_sin_to_cos);
  EXPECT_EQ(error_of([&] { c.validate(); }), "<no error>");
  auto refused = [](nlohmann::json j) {
    j["sample_size"] = j.value("sample_size", nlohmann::json(16));
    return error_of([&] { j.get<DiffusersUNet2DConfig>().validate(); });
  };
  EXPECT_EQ(refused({{"_class_name", "UNet2DConditionModel"}}).rfind("_class_name \"UNet2DConditionModel\" is not supported", 0), 0u);
  EXPECT_EQ(refused({{"time_embedding_type", "fourier"}}).rfind("time_embedding_type \"fourier\" is not supported", 0), 0u);
  EXPECT_EQ(refused({{"down_block_types", {"SkipDownBlock2D", "DownBlock2D", "DownBlock2D", "DownBlock2D"}}})
                .rfind("down_block_types \"SkipDownBlock2D\"", 0), 0u);
  EXPECT_EQ(refused({{"resnet_time_scale_shift", "ada_group"}}).rfind("resnet_time_scale_shift \"ada_group\"", 0), 0u);
  EXPECT_EQ(refused({{"class_embed_type", "timestep"}}).rfind("class_embed_type \"timestep\"", 0), 0u);
  EXPECT_EQ(refused({{"sample_size", {16, 12}}}).rfind("sample_size [16,12]", 0), 0u);
  EXPECT_EQ(refused({{"sample_size", nullptr}}).rfind("sample_size null", 0), 0u);
  EXPECT_EQ(refused({{"downsample_type", "resnet"}}).rfind("downsample_type \"resnet\"", 0), 0u);
}

TEST(DiffusersUNet, BinCheckpointIsRefusedWithAConversionHint) {
  TempDir d;
  atomic_write_text(join_path(d.path, "config.json"), read_text(diffusers_fixture("unet2d_ddpm_style/config.json")));
  atomic_write_text(join_path(d.path, "diffusion_pytorch_model.bin"), "PK\x03\x04 pickle");
  std::string e = error_of([&] { load_diffusers_unet(d.path); });
  EXPECT_NE(e.find("safe_serialization=True"), std::string::npos) << e;
}

TEST(DiffusersUNet, SaveThenLoadIsBitIdentical) {
  OneThread one;
  TempDir d;
  auto m = load_diffusers_unet(diffusers_fixture("unet2d_class_cond"));
  save_diffusers_unet(d.path, *m.net);
  auto back = load_diffusers_unet(d.path);
  auto x = torch::randn({2, 3, 16, 16});
  auto t = torch::tensor({5, 600});
  auto y = torch::tensor({0, 3});
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::equal(m.net->forward(x, t, y), back.net->forward(x, t, y)));
  EXPECT_EQ(back.config_json.at("_class_name"), "UNet2DModel");
}
