// G_psi: every variant starts as the base, lora's trainable count follows its formula, the base
// never changes under training, and guided checkpoints round-trip.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/fs.h"
#include "core/hash.h"
#include "fixtures.h"
#include "invdiff/guidance.h"
#include "invdiff/guided_checkpoint.h"
#include "train/checkpoint.h"

using namespace invdiff;

namespace {
// An untrained base UNet on 8 x 8 images in 2 classes.
UNet random_base(uint64_t seed = 0) {
  torch::manual_seed(seed);
  UNet u(tiny_unet(8, 8, 2));
  // Non-trivial output layer (a trained base is not zero anywhere).
  return u;
}

struct Batch {
  at::Tensor x, t, y;
};
Batch batch() {
  torch::manual_seed(42);
  return {torch::randn({4, 3, 8, 8}), torch::tensor({1, 250, 500, 999}, torch::kInt64),
          torch::tensor({0, 1, 2, 0}, torch::kInt64)};  // 2 = the null class
}

GuidanceConfig gcfg(GuidanceVariant v, MixMode m, double r = NAN) {
  GuidanceConfig c;
  c.variant = v;
  c.mix = m;
  if (!std::isnan(r)) c.ratio = r;  // NaN: the mix's default
  c.lora_rank = 2;
  c.lora_alpha = 2;
  return c;
}
}  // namespace

TEST(Guidance, AdditiveVariantsStartExactlyAtTheBase) {
  auto b = batch();
  for (auto v : {GuidanceVariant::Copy, GuidanceVariant::Small, GuidanceVariant::Lora}) {
    auto base = random_base();
    auto ref = base->forward(b.x, b.t, b.y).detach();
    GuidedModel gm(base, gcfg(v, MixMode::Additive));
    // r = 1 and r = 3: G = 0 exactly, so eps_hat = eps_theta bit for bit.
    EXPECT_TRUE(torch::equal(gm.forward(b.x, b.t, b.y), ref)) << enum_name(v);
    EXPECT_TRUE(torch::equal(gm.forward(b.x, b.t, b.y, 3.0), ref)) << enum_name(v);
    EXPECT_GT(gm.num_trainable(), 0);
  }
}

TEST(Guidance, ConvexStartsAtTheBaseForCopyAndLoraAndRefusesSmall) {
  auto b = batch();
  for (auto v : {GuidanceVariant::Copy, GuidanceVariant::Lora}) {
    for (double r : {0.5, 0.3, 1.0}) {
      auto base = random_base();
      auto ref = base->forward(b.x, b.t, b.y).detach();
      GuidedModel gm(base, gcfg(v, MixMode::Convex, r));
      // G starts as eps_theta: (1 - r) eps + r eps = eps up to rounding (exact at r = 0.5).
      EXPECT_TRUE(torch::allclose(gm.forward(b.x, b.t, b.y), ref, 0, 1e-6)) << enum_name(v) << " r=" << r;
    }
  }
  EXPECT_THROW(gcfg(GuidanceVariant::Small, MixMode::Convex).validate(), std::invalid_argument);
  EXPECT_THROW(gcfg(GuidanceVariant::Copy, MixMode::Convex, 1.5).validate(), std::invalid_argument);
  // Additive r: refused outside [0, kMaxAdditiveRatio], with the bound in the message.
  EXPECT_NO_THROW(gcfg(GuidanceVariant::Copy, MixMode::Additive, kMaxAdditiveRatio).validate());
  EXPECT_EQ(error_of([] { gcfg(GuidanceVariant::Copy, MixMode::Additive, 1e9).validate(); }),
            "additive mix needs 0 <= guidance ratio <= 10 (got 1e+09)");
  EXPECT_THROW(gcfg(GuidanceVariant::Copy, MixMode::Additive, -0.5).validate(), std::invalid_argument);
  EXPECT_DOUBLE_EQ(gcfg(GuidanceVariant::Copy, MixMode::Convex).effective_ratio(), 0.5);
  EXPECT_DOUBLE_EQ(gcfg(GuidanceVariant::Copy, MixMode::Additive).effective_ratio(), 1.0);
}

TEST(Guidance, LoraTrainableCountMatchesFormula) {
  // One layer by hand: Conv2dL(3 -> 8, k = 3) at rank 2: A = 2*3*3*3 = 54, B = 8*2 = 16.
  Conv2dL conv(3, 8, 3, 1, 1);
  conv->add_lora(2, 2.0);
  EXPECT_EQ(conv->lora_a->weight.numel() + conv->lora_b->weight.numel(), 70);
  // LinearL(16 -> 32) at rank 2: A = 2*16, B = 32*2 -> 96.
  LinearL lin(16, 32);
  lin->add_lora(2, 2.0);
  EXPECT_EQ(lin->lora_a->weight.numel() + lin->lora_b->weight.numel(), 96);

  // The whole UNet: sum over every adapted layer of rank * (in k^2 + out) or rank * (in + out).
  auto base = random_base();
  const int64_t rank = 2;
  int64_t expect = 0;
  for (const auto& m : base->modules(false)) {
    if (auto* c = m->as<Conv2dLImpl>()) expect += rank * (c->in_ch * c->kernel_size * c->kernel_size + c->out_ch);
    if (auto* l = m->as<LinearLImpl>()) expect += rank * (l->in_f + l->out_f);
  }
  GuidedModel gm(base, gcfg(GuidanceVariant::Lora, MixMode::Additive));
  EXPECT_EQ(gm.num_trainable(), expect);
  EXPECT_EQ(gm.num_frozen(), base->num_parameters());
  EXPECT_EQ(gm.parameter_counts()["frozen_copy_in_g"].get<int64_t>(), base->num_parameters());
  for (const auto& kv : gm.g->trainable_parameters())
    EXPECT_NE(kv.first.find("lora_"), std::string::npos) << kv.first;
  // copy: all of a base-sized UNet; small: fewer.
  GuidedModel copy(random_base(), gcfg(GuidanceVariant::Copy, MixMode::Additive));
  EXPECT_EQ(copy.num_trainable(), base->num_parameters());
  GuidedModel small(random_base(), gcfg(GuidanceVariant::Small, MixMode::Additive));
  EXPECT_LT(small.num_trainable(), base->num_parameters());
}

TEST(Guidance, TrainingGLeavesTheBaseBitIdenticalAndBuildsNoGraphForIt) {
  auto b = batch();
  for (auto v : {GuidanceVariant::Copy, GuidanceVariant::Lora}) {
    auto base = random_base();
    std::vector<at::Tensor> before;
    for (const auto& p : base->parameters()) before.push_back(p.detach().clone());
    GuidedModel gm(base, gcfg(v, MixMode::Additive));
    std::vector<at::Tensor> params;
    for (auto& kv : gm.g->trainable_parameters()) params.push_back(kv.second);
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(1e-2));
    for (int s = 0; s < 3; ++s) {
      opt.zero_grad();
      auto loss = (gm.forward(b.x, b.t, b.y) - torch::ones_like(b.x)).pow(2).mean();
      loss.backward();
      opt.step();
    }
    auto after = base->parameters();
    for (size_t i = 0; i < before.size(); ++i) {
      EXPECT_TRUE(torch::equal(before[i], after[i])) << enum_name(v) << " parameter " << i;
      EXPECT_FALSE(after[i].grad().defined()) << "the base took part in autograd";
    }
    // ... and G did move.
    EXPECT_FALSE(torch::equal(gm.forward(b.x, b.t, b.y), base->forward(b.x, b.t, b.y)));
  }
}

TEST(Guidance, GuidedCheckpointRoundTrips) {
  TempDir d;
  auto b = batch();
  for (auto v : {GuidanceVariant::Copy, GuidanceVariant::Small, GuidanceVariant::Lora}) {
    // A base checkpoint on disk (EMA = model here).
    auto base = random_base(7);
    std::string base_path = join_path(d.path, "base.pt");
    nlohmann::json bmeta{{"kind", "diffusion"}, {"unet", base->config()}, {"class_names", {"a", "b"}}, {"step", 1}};
    save_checkpoint(base_path, *base, base.get(), nullptr, bmeta);

    GuidedModel gm(base, gcfg(v, MixMode::Additive, 1.5));
    std::vector<at::Tensor> ema;
    {
      torch::NoGradGuard ng;
      for (auto& kv : gm.g->trainable_parameters()) {
        kv.second.add_(torch::randn_like(kv.second) * 0.01);  // as if trained
        ema.push_back(kv.second.detach() * 0.5);
      }
    }
    nlohmann::json meta{{"kind", "guided"},
                        {"base", {{"path", base_path}, {"fingerprint", file_fingerprint(base_path)}, {"weights", "ema"}}},
                        {"guidance", gm.cfg}};
    std::string path = join_path(d.path, "guided.pt");
    save_guided_checkpoint(path, gm.g, ema, nullptr, meta);
    auto loaded = load_guided_model(path, torch::kCPU, /*use_ema=*/false);
    EXPECT_DOUBLE_EQ(loaded.model->ratio(), 1.5);
    EXPECT_TRUE(torch::equal(loaded.model->forward(b.x, b.t, b.y), gm.forward(b.x, b.t, b.y).detach()))
        << enum_name(v);
    // EMA weights are loaded by default and differ.
    auto with_ema = load_guided_model(path, torch::kCPU);
    EXPECT_FALSE(torch::equal(with_ema.model->forward(b.x, b.t, b.y), loaded.model->forward(b.x, b.t, b.y)));

    // A changed base is detected rather than silently mixed with a stale G_psi.
    auto other = random_base(8);
    save_checkpoint(base_path, *other, other.get(), nullptr, bmeta);
    EXPECT_THROW(load_guided_model(path, torch::kCPU), std::runtime_error);
  }
}

// Typed configs: enums are stored by name, and an unknown name is an error rather than the first
// entry.
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
