// Generation seeds: each image's noise comes from (seed, prompt, index within the prompt), so the
// images do not depend on the batch size or the prompt order, and consecutive seeds share none
// (the bench samples seed s with 1000 + s: overlapping streams would shrink its error bars).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/hash.h"
#include "sampling/generate.h"

using namespace invdiff;

namespace {
// A noise predictor that is not the identity of its input, so the sampler's output depends on
// both the initial noise and the per-step noise.
EpsFn fake_eps() {
  return [](const at::Tensor& x, const at::Tensor& t, const at::Tensor& y) {
    return 0.5 * x + 0.01 * y.to(torch::kFloat32).view({-1, 1, 1, 1});
  };
}

at::Tensor gen(const std::vector<int64_t>& labels, uint64_t seed, int64_t batch, SamplerKind kind = SamplerKind::DDIM) {
  auto sch = NoiseSchedule::make("linear", 100);
  GenerateOptions o;
  o.sampler.kind = kind;
  o.sampler.steps = 4;
  o.sampler.seed = seed;
  o.batch_size = batch;
  return generate(fake_eps(), sch, 2, labels, {1, 4, 4}, o, torch::kCPU, false, {"Bag", "Sneaker"});
}
}  // namespace

TEST(Generate, ImagesDoNotDependOnTheBatchSize) {
  const std::vector<int64_t> labels{0, 0, 0, 1, 1, 1};
  for (auto kind : {SamplerKind::DDIM, SamplerKind::DDPM}) {  // DDPM also draws noise every step
    auto a = gen(labels, 3, 1, kind), b = gen(labels, 3, 4, kind), c = gen(labels, 3, 256, kind);
    EXPECT_TRUE(torch::equal(a, b));
    EXPECT_TRUE(torch::equal(a, c));
  }
}

TEST(Generate, ConsecutiveSeedsShareNoImage) {
  const std::vector<int64_t> labels{0, 0, 0, 0, 1, 1, 1, 1};
  auto s0 = gen(labels, 0, 2), s1 = gen(labels, 1, 2);
  for (int64_t i = 0; i < s0.size(0); ++i)
    for (int64_t j = 0; j < s1.size(0); ++j) EXPECT_FALSE(torch::equal(s0[i], s1[j])) << i << " vs " << j;
}

TEST(Generate, AnImageIsNamedByItsPromptAndIndexNotItsPosition) {
  auto ab = gen({0, 0, 1}, 5, 8), ba = gen({1, 0, 0}, 5, 8);
  EXPECT_TRUE(torch::equal(ab[0], ba[1]));  // Bag #0
  EXPECT_TRUE(torch::equal(ab[1], ba[2]));  // Bag #1
  EXPECT_TRUE(torch::equal(ab[2], ba[0]));  // Sneaker #0
  EXPECT_EQ(image_seed(5, "Bag", 1), keyed_seed(5, "Bag#1"));
  EXPECT_NE(image_seed(5, "Bag", 1), image_seed(6, "Bag", 0));
}

TEST(Generate, KeyedSeedIsFixedAndImageSeedsMatchTheBatch) {
  // Fixed values (computed by hand from the definition): scores' noise comes from keyed_seed too,
  // so a change here would change every score.
  EXPECT_EQ(keyed_seed(0, "a"), 8033111739853878422ull);
  EXPECT_EQ(keyed_seed(7, "images/train/000001.png"), 6398507877624482633ull);
  EXPECT_NE(keyed_seed(0, "a"), keyed_seed(1, "a"));
  EXPECT_NE(keyed_seed(0, "a"), keyed_seed(0, "b"));
  std::vector<uint64_t> s{1, 2};
  auto sch = NoiseSchedule::make("linear", 100);
  SamplerOptions so;
  so.steps = 2;
  so.image_seeds = s;
  auto y = torch::zeros({3}, torch::kInt64);
  try {
    sample(fake_eps(), sch, y, {3, 1, 4, 4}, so);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "sample: one image seed per image is needed");
  }
}

TEST(Generate, ImageKeysCountEachPromptAndFallBackToTheLabelNumber) {
  auto k = image_keys({1, 0, 1, 2}, {"Bag", "Sneaker"}, 9);
  ASSERT_EQ(k.size(), 4u);
  EXPECT_EQ(k[0].prompt, "Sneaker");
  EXPECT_EQ(k[0].index, 0);
  EXPECT_EQ(k[1].prompt, "Bag");
  EXPECT_EQ(k[2].index, 1);  // the second Sneaker
  EXPECT_EQ(k[2].seed, image_seed(9, "Sneaker", 1));
  EXPECT_EQ(k[3].prompt, "2");  // no name for label 2
}
