// Bring your own model: diffusers folders in (`info`, `sample`, `groups`, `debias`, `eval`) and out
// (`export`), through the CLI. The fixtures are diffusers' own checkpoints (tests/fixtures/diffusers);
// the end-to-end run uses a tiny UNet2DModel folder written here.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "core/fs.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "eval/eval_fixture.h"
#include "fixtures.h"
#include "sampling/any_model.h"
#include "train/checkpoint.h"
#include "train/diffusers_checkpoint.h"

using namespace invdiff;
using invdiff_test::EvalTest;

namespace {
bool one_line(const CliResult& r) { return std::count(r.output.begin(), r.output.end(), '\n') == 1; }

at::Tensor eps_of(const AnyModel& m, const at::Tensor& x, const at::Tensor& t, const at::Tensor& y) {
  torch::NoGradGuard ng;
  return m.eps(x, t, y);
}

// `debias -m base --groups-dir groups --data data -o guided FLAGS`, then `export -m guided -o
// exported`: both must succeed (a failure stops the test, as an ASSERT would); returns the
// export's guidance.json.
nlohmann::json debias_and_export(const std::string& base, const std::string& groups, const std::string& data,
                                 const std::string& guided, const std::string& flags, const std::string& exported) {
  for (const std::string& cmd : {"debias -m " + base + " --groups-dir " + groups + " --data " + data + " -o " + guided +
                                     " " + flags,
                                 "export -m " + guided + " -o " + exported}) {
    auto r = run_cli("-q --threads 1 " + cmd);
    if (r.status != 0) throw std::runtime_error(cmd + " exited " + std::to_string(r.status) + ": " + r.output);
  }
  return nlohmann::json::parse(read_text(join_path(exported, "guidance.json")));
}
}  // namespace

TEST(DiffusersCli, InfoDescribesEveryFixtureFolder) {
  for (const char* f : {"unet2d_ddpm_style", "unet2d_legacy_attn", "unet2d_class_cond"}) {
    auto r = run_cli("-q --threads 1 info -m " + diffusers_fixture(f));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("\"kind\": \"diffusers\""), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\"parameters\""), std::string::npos) << r.output;
  }
  auto r = run_cli("-q --threads 1 info -m " + diffusers_fixture("unet2d_class_cond"));
  EXPECT_NE(r.output.find("\"parameters\": 439571"), std::string::npos) << r.output;
  // Folders of classes invdiff does not run are described, with the reason.
  for (const char* f : {"unet2d_condition_tiny", "vae_tiny"}) {
    r = run_cli("-q --threads 1 info -m " + diffusers_fixture(f));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("\"supported\": false"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("_class_name"), std::string::npos) << r.output;
  }
  r = run_cli("-q --threads 1 info -m " + diffusers_fixture("scheduler_ddpm"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("DDPMScheduler"), std::string::npos) << r.output;
}

TEST(DiffusersCli, SamplesFromFixturesAndPipelineFolders) {
  TempDir d;
  std::string png = join_path(d.path, "x.png");
  auto r = run_cli("-q --threads 1 sample -m " + diffusers_fixture("unet2d_class_cond") + " -p 1 -n 4 -o " + png);
  ASSERT_EQ(r.status, 0) << r.output;
  auto params = nlohmann::json::parse(read_png_text(png).at("parameters"));
  EXPECT_EQ(params["model_kind"], "diffusers");
  EXPECT_EQ(params["prompt"], "1");

  // An unconditional model has one condition; classifier-free guidance is refused in one line.
  r = run_cli("-q --threads 1 sample -m " + diffusers_fixture("unet2d_ddpm_style") + " -p all -n 2 --sampling-steps 3 -o " + png);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(read_png_text(png).at("parameters"))["prompt"], "unconditional");
  r = run_cli("-q --threads 1 sample -m " + diffusers_fixture("unet2d_class_cond") + " -p 1 -n 1 --sampling-steps 2 --cfg-scale 3 -o " + png);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line(r)) << r.output;
  EXPECT_NE(r.output.find("no unconditional (null) class"), std::string::npos) << r.output;

  // A pipeline folder: model_index.json, unet/, scheduler/.
  namespace fs = std::filesystem;
  std::string pipe = join_path(d.path, "pipe");
  fs::create_directories(join_path(pipe, "unet"));
  fs::create_directories(join_path(pipe, "scheduler"));
  for (const char* f : {"config.json", "diffusion_pytorch_model.safetensors"})
    fs::copy_file(diffusers_fixture(std::string("unet2d_ddpm_style/") + f), join_path(pipe, std::string("unet/") + f));
  fs::copy_file(diffusers_fixture("scheduler_ddpm/cosine_fixed_small/scheduler_config.json"),
                join_path(pipe, "scheduler/scheduler_config.json"));
  atomic_write_text(join_path(pipe, "model_index.json"),
                    R"({"_class_name": "DDPMPipeline", "unet": ["diffusers", "UNet2DModel"], "scheduler": ["diffusers", "DDPMScheduler"]})");
  auto m = load_any_model(pipe, torch::kCPU);
  EXPECT_EQ(m.kind, ModelKind::Diffusers);
  EXPECT_EQ(m.schedule().kind(), "diffusers:squaredcos_cap_v2");
  r = run_cli("-q --threads 1 sample -m " + pipe + " -p all -n 1 --sampling-steps 2 -o " + png);
  EXPECT_EQ(r.status, 0) << r.output;
  // A latent pipeline is refused by name.
  atomic_write_text(join_path(pipe, "model_index.json"),
                    R"({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]})");
  r = run_cli("-q --threads 1 sample -m " + pipe + " -p all -n 1 --sampling-steps 2 -o " + png);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line(r)) << r.output;
  EXPECT_NE(r.output.find("\"StableDiffusionPipeline\" is not supported"), std::string::npos) << r.output;
}

TEST(DiffusersCli, ExportOfAnImportedModelIsBitIdenticalAndOfAnInvdiffModelTheSame) {
  OneThread one;
  TempDir d;
  std::string out = join_path(d.path, "exp");
  auto r = run_cli("-q --threads 1 export -m " + diffusers_fixture("unet2d_class_cond") + " -o " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  auto a = load_any_model(diffusers_fixture("unet2d_class_cond"), torch::kCPU);
  auto b = load_any_model(out, torch::kCPU);
  auto x = torch::randn({2, 3, 16, 16}), t = torch::tensor({3, 777}), y = torch::tensor({1, 3});
  EXPECT_TRUE(torch::equal(eps_of(a, x, t, y), eps_of(b, x, t, y)));
  EXPECT_TRUE(file_exists(join_path(out, "scheduler_config.json")));

  // invdiff's own UNet exports as the same network: eps to float rounding, the class names with
  // the null class marked, so classifier-free guidance still works on the imported copy.
  UNetConfig u = one_level_unet(2);
  UNet net(u);
  {
    torch::NoGradGuard ng;
    for (auto& p : net->parameters()) p.copy_(torch::randn_like(p) * 0.2);
  }
  std::string ckpt = join_path(d.path, "own.pt");
  save_checkpoint(ckpt, *net, net.get(), nullptr, {{"kind", "diffusion"}, {"unet", u}, {"class_names", {"a", "b"}}});
  const std::string own = join_path(d.path, "own");
  r = run_cli("-q --threads 1 export -m " + ckpt + " -o " + own);
  ASSERT_EQ(r.status, 0) << r.output;
  auto src = load_any_model(ckpt, torch::kCPU), back = load_any_model(own, torch::kCPU);
  EXPECT_EQ(back.kind, ModelKind::Diffusers);
  EXPECT_EQ(back.class_names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(back.null_class, 2);
  auto x2 = torch::randn({3, 3, 16, 16}), t2 = torch::tensor({3, 500, 999}), y2 = torch::tensor({0, 1, 2});
  auto e0 = eps_of(src, x2, t2, y2), e1 = eps_of(back, x2, t2, y2);
  EXPECT_TRUE(torch::allclose(e0, e1, 1e-5, 1e-5)) << (e0 - e1).abs().max().item<double>();
  EXPECT_EQ(nlohmann::json::parse(read_text(join_path(own, "class_names.json"))), nlohmann::json({"a", "b", nullptr}));
  std::string png = join_path(d.path, "own.png");
  r = run_cli("-q --threads 1 sample -m " + own + " -p b -n 1 --sampling-steps 2 --cfg-scale 2 -o " + png);
  EXPECT_EQ(r.status, 0) << r.output;
  // A null anywhere but last is not a class list.
  atomic_write_text(join_path(own, "class_names.json"), R"(["a", null, "b"])");
  EXPECT_NE(error_of([&] { load_any_model(own, torch::kCPU); }).find("null only last"), std::string::npos);
}

// groups -> debias -> sample -> eval -> export on an imported base, and the export read back.
TEST_F(EvalTest, ImportedBaseGroupsDebiasSampleEvalExport) {
  const auto classes = load_dataset(data()).class_names;
  const std::string base = path("hf_base");
  write_tiny_unet2d(base, classes);

  const std::string g = path("hf_groups");
  auto r = run_cli("-q --threads 1 groups -m " + base + " --data " + data() + " --grouper std -G 2 -o " + g + " -M 2 --no-select-timestep --grouper-steps 20");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(file_exists(join_path(g, "groups.csv")));

  const std::string gd = path("hf_guided");
  r = run_cli("-q --threads 1 debias -m " + base + " --groups-dir " + g + " --data " + data() + " -o " + gd +
              " --steps 3 -b 8 --variant small");
  ASSERT_EQ(r.status, 0) << r.output;
  auto meta = read_checkpoint_meta(join_path(gd, "checkpoint.pt"));
  EXPECT_EQ(meta["base"]["path"], absolute_path(base));
  EXPECT_EQ(meta["base"]["unet"]["_class_name"], "UNet2DModel");
  // lora needs adapters the diffusers layers do not have: refused in one line.
  r = run_cli("-q --threads 1 debias -m " + base + " --groups-dir " + g + " --data " + data() + " -o " +
              path("hf_lora") + " --steps 1 -b 8 --variant lora");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line(r)) << r.output;
  EXPECT_NE(r.output.find("lora is not supported on a diffusers base"), std::string::npos) << r.output;

  const std::string png = path("hf.png");
  r = run_cli("-q --threads 1 sample -m " + gd + " -p all -n 1 --sampling-steps 2 -o " + png);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(read_png_text(png).at("parameters"))["model_kind"], "guided");

  r = run_cli("-q --threads 1 eval -m " + gd + " --data " + data() + " --classifier " + clf() +
              " -n 2 --sampling-steps 2 --kid-subsets 2 -o " + path("hf_eval"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(file_exists(path("hf_eval/metrics.json")));

  const std::string ex = path("hf_export");
  r = run_cli("-q --threads 1 export -m " + gd + " -o " + ex);
  ASSERT_EQ(r.status, 0) << r.output;
  auto mix = nlohmann::json::parse(read_text(join_path(ex, "guidance.json")));
  EXPECT_EQ(mix["mix"], "additive");
  EXPECT_EQ(mix["variant"], "small");
  EXPECT_EQ(mix["ratio"].get<double>(), 1.0);
  EXPECT_NE(read_text(join_path(ex, "README.md")).find("eps = eps + r * g(x, t, class_labels=y).sample"),
            std::string::npos);

  // The exported base and G_psi, imported again, give the guided model's eps bit for bit.
  OneThread one;
  auto guided = load_any_model(gd, torch::kCPU);
  auto eb = load_any_model(join_path(ex, "base"), torch::kCPU), eg = load_any_model(join_path(ex, "guidance"), torch::kCPU);
  EXPECT_EQ(eg.imported->net->config().block_out_channels, (std::vector<int>{4, 8}));
  torch::manual_seed(1);
  auto x = torch::randn({3, 3, 16, 16}), t = torch::tensor({5, 400, 999}), y = torch::tensor({0, 1, 2});
  const double rr = mix["ratio"].get<double>();
  EXPECT_TRUE(torch::equal(eps_of(guided, x, t, y), eps_of(eb, x, t, y) + rr * eps_of(eg, x, t, y)));
  EXPECT_TRUE(torch::equal(eps_of(eb, x, t, y), eps_of(load_any_model(base, torch::kCPU), x, t, y)));

  // copy under the convex mix: G_psi is a full UNet2DModel copy of the base; the export mixes as stored.
  const std::string gc = path("hf_copy"), exc = path("hf_copy_export");
  auto cmix = debias_and_export(base, g, data(), gc, "--steps 2 -b 8 --variant copy --mix convex", exc);
  EXPECT_EQ(cmix["mix"], "convex");
  EXPECT_EQ(cmix["ratio"].get<double>(), 0.5);
  auto copy = load_any_model(gc, torch::kCPU);
  auto cb = load_any_model(join_path(exc, "base"), torch::kCPU), cg = load_any_model(join_path(exc, "guidance"), torch::kCPU);
  EXPECT_EQ(cg.imported->net->config().block_out_channels, (std::vector<int>{8, 16}));
  EXPECT_TRUE(torch::equal(eps_of(copy, x, t, y), (1.0 - 0.5) * eps_of(cb, x, t, y) + 0.5 * eps_of(cg, x, t, y)));
}

// A guided model over invdiff's own UNet exports too: lora's adapters merged into a copy of the
// base, mixed convexly (eps_base + r (A - eps_base) = (1 - r) eps_base + r A).
TEST_F(EvalTest, GuidedInvdiffModelExportsWithLoraMerged) {
  const std::string base = path("own_base");
  tiny_base(data(), base, 2);
  const std::string g = path("own_groups");
  auto r = run_cli("-q --threads 1 groups -m " + base + " --data " + data() + " --grouper std -G 2 -o " + g +
                   " -M 2 --no-select-timestep --grouper-steps 5 --no-images");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string gd = path("own_lora"), ex = path("own_lora_export");
  auto mix = debias_and_export(base, g, data(), gd, "--steps 3 -b 8 --variant lora --lr 0.05", ex);
  EXPECT_EQ(mix["variant"], "lora (merged)");
  EXPECT_EQ(mix["mix"], "convex");
  const double rr = mix["ratio"].get<double>();
  OneThread one;
  auto guided = load_any_model(gd, torch::kCPU);
  auto eb = load_any_model(join_path(ex, "base"), torch::kCPU), eg = load_any_model(join_path(ex, "guidance"), torch::kCPU);
  torch::manual_seed(2);
  auto x = torch::randn({3, 3, 16, 16}), t = torch::tensor({5, 400, 999}), y = torch::tensor({0, 1, 2});
  auto want = eps_of(guided, x, t, y), got = (1 - rr) * eps_of(eb, x, t, y) + rr * eps_of(eg, x, t, y);
  EXPECT_TRUE(torch::allclose(want, got, 1e-5, 1e-5)) << (want - got).abs().max().item<double>();
  EXPECT_FALSE(torch::allclose(eps_of(eb, x, t, y), eps_of(eg, x, t, y), 1e-6, 1e-6));  // the adapters moved it
}
