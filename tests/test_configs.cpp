// Typed configs: their JSON is what checkpoints and stage keys hold, so the layout a checkpoint
// written before the structs were macro-serialised must still read, and an unknown enum name must
// be an error rather than the first entry.
#include <gtest/gtest.h>

#include "experiment/recipes.h"
#include "invdiff/debias.h"
#include "invdiff/guidance.h"
#include "model/unet.h"
#include "train/trainer.h"
#include "test_util.h"

using namespace invdiff;

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
  EXPECT_EQ(nlohmann::json(c), old);  // same keys, flat: OptimConfig's fields are not nested
  EXPECT_EQ(config_key(TrainConfig{}), nlohmann::json::object());
  TrainConfig d;
  d.lr = 5e-4;
  EXPECT_EQ(config_key(d), nlohmann::json({{"lr", 5e-4}}));
}

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

TEST(Configs, GuidanceEnumsByNameAndUnknownNamesRefused) {
  GuidanceConfig g;
  g.variant = GuidanceVariant::Lora;
  g.mix = MixMode::Convex;
  nlohmann::json j = g;
  EXPECT_EQ(j["variant"], "lora");
  EXPECT_EQ(j["mix"], "convex");
  EXPECT_TRUE(j["ratio"].is_null());
  EXPECT_DOUBLE_EQ(j.get<GuidanceConfig>().effective_ratio(), 0.5);
  // A stored ratio (how guided checkpoints keep it) reads back as set.
  auto stored = nlohmann::json::parse(R"({"variant":"small","mix":"additive","ratio":1.5})").get<GuidanceConfig>();
  EXPECT_EQ(stored.variant, GuidanceVariant::Small);
  EXPECT_DOUBLE_EQ(stored.ratio.value(), 1.5);
  auto e = error_of([] { nlohmann::json::parse(R"({"variant":"huge"})").get<GuidanceConfig>(); });
  EXPECT_NE(e.find("unknown guidance variant 'huge' (copy, small or lora)"), std::string::npos) << e;
  EXPECT_EQ(parse_enum<MixMode>("additive"), MixMode::Additive);
  EXPECT_EQ(enum_names<GuidanceVariant>(), (std::vector<std::string>{"copy", "small", "lora"}));
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

TEST(Configs, RecipeRowsDifferOnlyInTheirGroups) {
  auto p = get_preset("quick");
  auto inv = nlohmann::json(invdiff_recipe(p)), erm = nlohmann::json(erm_recipe(p)), orc = nlohmann::json(oracle_recipe(p));
  EXPECT_EQ(erm["groups"], "none");
  EXPECT_EQ(orc["groups"], "oracle");
  EXPECT_EQ(inv["guidance"], erm["guidance"]);
  EXPECT_EQ(inv["debias"], orc["debias"]);
  EXPECT_EQ(inv["debias"]["t_hi"], 900);
  EXPECT_EQ(inv["groups_cfg"]["grouper"], "cluster");
}
