// The min step over an imported diffusers base: resumable like any run, the base left as it was,
// and a guided model refused once its base folder changed.
#include <gtest/gtest.h>

#include "core/fs.h"
#include "data/dataset.h"
#include "fixtures.h"
#include "invdiff/debias.h"
#include "sampling/any_model.h"
#include "train/checkpoint.h"
#include "train/diffusers_checkpoint.h"

using namespace invdiff;

TEST(DebiasDiffusers, ResumesKeepsTheBaseAndRefusesAChangedOne) {
  OneThread one;
  TempDir d;
  const std::string data_dir = join_path(d.path, "cfm"), hf = join_path(d.path, "hf");
  tiny_cfmnist(data_dir, 6, 2);
  auto data = load_dataset(data_dir);
  write_tiny_unet2d(hf, data.class_names);
  const std::string fp = diffusers_fingerprint(resolve_diffusers_folder(hf));
  GuidanceConfig gc;
  gc.variant = GuidanceVariant::Small;
  DebiasConfig dc;
  dc.steps = 4;
  dc.batch_size = 4;
  dc.warmup = 0;
  dc.checkpoint_every = 0;
  dc.lr = 1e-2;
  const std::string a = join_path(d.path, "a"), b = join_path(d.path, "b");
  debias_train(data, at::Tensor(), hf, gc, dc, a, false, torch::kCPU, nlohmann::json::object(), false, /*stop_after=*/2);
  EXPECT_EQ(read_checkpoint_meta(join_path(a, "checkpoint.pt"))["step"].get<int64_t>(), 2);
  auto res = debias_train(data, at::Tensor(), hf, gc, dc, a, true, torch::kCPU, nlohmann::json::object(), false);
  EXPECT_EQ(res.steps_done, 4);
  debias_train(data, at::Tensor(), hf, gc, dc, b, false, torch::kCPU, nlohmann::json::object(), false);
  EXPECT_EQ(diffusers_fingerprint(resolve_diffusers_folder(hf)), fp);  // the base is never written

  auto x = torch::randn({2, 3, 16, 16}), t = torch::tensor({10, 700}), y = torch::tensor({0, 1});
  torch::NoGradGuard ng;
  auto ga = load_any_model(a, torch::kCPU), gb = load_any_model(b, torch::kCPU), base = load_any_model(hf, torch::kCPU);
  EXPECT_TRUE(torch::equal(ga.eps(x, t, y), gb.eps(x, t, y)));        // interrupted + resumed = one run
  EXPECT_FALSE(torch::equal(ga.eps(x, t, y), base.eps(x, t, y)));     // and it trained G_psi
  EXPECT_EQ(read_checkpoint_meta(join_path(a, "checkpoint.pt"))["base"]["fingerprint"], fp);

  // New weights in the base folder: the guided model no longer loads.
  auto m = load_diffusers_model(hf, torch::kCPU);
  m.net->output_conv()->bias.add_(1.0);
  save_diffusers_unet(hf, *m.net);
  EXPECT_NE(error_of([&] { load_any_model(a, torch::kCPU); }).find("changed since this guided model was trained"),
            std::string::npos);
}
