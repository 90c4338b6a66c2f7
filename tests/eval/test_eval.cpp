// `invdiff eval` end to end on a tiny cfmnist (tests/eval/eval_fixture.h): sets with a known
// answer (the reference images themselves, real biased images whose colours the metadata
// records) and every error case of the issue. The CLI wiring is in tests/cli/test_eval_cli.cpp.
#include <gtest/gtest.h>

#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <map>

#include "core/csv.h"
#include "core/fs.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "eval/bias.h"
#include "eval/classifier.h"
#include "eval/classifier_train.h"
#include "eval/eval_fixture.h"
#include "eval/evaluate.h"
#include "fixtures.h"
#include "invdiff/debias.h"
#include "sampling/generate.h"
#include "train/checkpoint.h"

using namespace invdiff;
using invdiff_test::EvalTest;
namespace fs = std::filesystem;

namespace {

// A randomly initialised diffusion model in the checkpoint format load_diffusion_model reads.
void write_random_model(const std::string& path, const std::vector<std::string>& classes) {
  UNetConfig u = one_level_unet(static_cast<int>(classes.size()));
  torch::manual_seed(0);
  UNet net(u);
  nlohmann::json meta = {{"kind", "diffusion"},
                         {"unet", u},
                         {"schedule", {{"kind", "linear"}, {"T", 1000}, {"beta_start", 1e-4}, {"beta_end", 0.02}}},
                         {"class_names", classes}};
  save_checkpoint(path, *net, net.get(), nullptr, meta);
}

}  // namespace

TEST_F(EvalTest, ReferenceHalvesOfRealDataLookReal) {
  auto o = base_options();
  o.reference = true;
  auto j = evaluate(o, path("out_ref"), torch::kCPU);
  for (const char* k : {"bias", "purity", "faithfulness", "fd", "kid", "precision", "recall", "per_prompt", "features",
                        "n_per_prompt", "generation"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["n_images"], 40);
  EXPECT_EQ(j["reference"]["n"], 40);
  EXPECT_EQ(j["per_prompt"].size(), 4u);
  EXPECT_DOUBLE_EQ(j["purity"].get<double>(), 1.0);  // real images are exactly one colour
  // A random half of an exactly balanced set: every prompt's colour shares stay near 1/2.
  EXPECT_LT(j["bias"].get<double>(), 0.5);
  EXPECT_EQ(j["features"]["kind"], "classifier-penultimate");
  EXPECT_EQ(j["features"]["dim"], 32);
  for (const char* f : {"metrics.json", "metrics.md", "samples.png"}) EXPECT_TRUE(file_exists(path("out_ref/") + f)) << f;
  auto back = nlohmann::json::parse(read_text(path("out_ref/metrics.json")));
  EXPECT_EQ(back["fd"], j["fd"]);
  EXPECT_NE(read_text(path("out_ref/metrics.md")).find("| **all** | 40 |"), std::string::npos);
}

TEST_F(EvalTest, TheReferenceSetAgainstItselfScoresPerfectly) {
  // The folder holds exactly the reference images: identical feature sets, so FD = 0 and every
  // point lies on the other set's manifold (precision = recall = 1). The split is balanced
  // (10 red / 10 green per class), so Bias = 0, and real images have purity 1.
  export_split("ref", path("ref_png"), true);
  auto o = base_options();
  o.images_dir = path("ref_png");
  auto j = evaluate(o, path("out_self"), torch::kCPU);
  EXPECT_NEAR(j["fd"].get<double>(), 0.0, 1e-3);
  EXPECT_DOUBLE_EQ(j["precision"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["recall"].get<double>(), 1.0);
  EXPECT_NEAR(j["bias"].get<double>(), 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(j["purity"].get<double>(), 1.0);
  EXPECT_EQ(j["n_per_prompt"], 20);
  // Faithfulness is the judge's accuracy on these images, computed here directly.
  auto c = load_classifier(clf(), torch::kCPU);
  auto ref = load_dataset(data(), {"ref", "", 3, -1});
  double acc = (c.predict(ref.images).argmax(1) == ref.labels).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(j["faithfulness"].get<double>(), acc, 1e-12);
}

TEST_F(EvalTest, BiasOfRealBiasedImagesMatchesTheirMetadata) {
  // The biased train split, prompts from a CSV: the colour oracle is exact on real images, so
  // the measured shares must equal the colour counts the metadata records.
  std::string csv = export_split("train", path("train_png"), false);
  auto o = base_options();
  o.images_dir = path("train_png");
  o.images_csv = csv;
  auto j = evaluate(o, path("out_train"), torch::kCPU);
  auto meta = load_metadata(data(), "train");
  size_t cc = meta.column("class_name"), kc = meta.column("colour_name");
  std::map<std::string, std::map<std::string, int64_t>> counts;
  for (const auto& r : meta.rows) ++counts[r[cc]][r[kc]];
  double expect = 0;
  for (auto& [cls, cnt] : counts) {
    double red = double(cnt["red"]) / 20, green = double(cnt["green"]) / 20;
    EXPECT_NEAR(j["per_prompt"][cls]["shares"]["red"].get<double>(), red, 1e-12) << cls;
    EXPECT_NEAR(j["per_prompt"][cls]["bias"].get<double>(), std::fabs(red - green), 1e-12) << cls;
    expect += std::fabs(red - green) / 4;
  }
  EXPECT_NEAR(j["bias"].get<double>(), expect, 1e-12);
  EXPECT_GT(j["bias"].get<double>(), 0.5);  // rho = 0.9: the split is strongly biased
  EXPECT_EQ(j["generation"]["prompts_from"], csv);

  // per_image.csv: one row per file, the oracle's colour equal to the metadata's, purity 1 (real
  // images are one colour), faithful exactly when the judge's class is the prompt.
  auto rows = read_csv(path("out_train/per_image.csv"));
  EXPECT_EQ(rows.header, (std::vector<std::string>{"image", "prompt", "seed", "predicted", "faithful", "colour_name",
                                                     "purity"}));
  ASSERT_EQ(rows.rows.size(), meta.rows.size());
  std::map<std::string, std::string> colour_of, class_of;
  for (const auto& r : meta.rows) {
    std::string f = fs::path(r[meta.column("file")]).filename().string();
    colour_of[f] = r[kc];
    class_of[f] = r[cc];
  }
  int64_t faithful = 0;
  for (const auto& r : rows.rows) {
    ASSERT_TRUE(colour_of.count(r[0])) << r[0];
    EXPECT_EQ(r[1], class_of[r[0]]);
    EXPECT_EQ(r[2], "");  // a folder's images have no seed
    EXPECT_EQ(r[4], r[3] == r[1] ? "1" : "0");
    EXPECT_EQ(r[5], colour_of[r[0]]) << r[0];
    EXPECT_EQ(r[6], "1.0000");
    faithful += r[4] == "1";
  }
  EXPECT_NEAR(double(faithful) / rows.rows.size(), j["faithfulness"].get<double>(), 1e-12);
}

TEST_F(EvalTest, AttributeClassifierReplacesTheOracle) {
  // A colour classifier as the Bias attribute (the route for datasets without an oracle). It is
  // near perfect on colour, so Bias of the biased train split lands near the metadata's value.
  ClassifierTrainConfig tc;
  tc.column = "colour_name";
  tc.steps = 40;
  tc.batch_size = 32;
  tc.warmup = 5;
  tc.net.width = 8;
  tc.net.feature_dim = 16;
  train_classifier(data(), tc, path("colour_clf"), torch::kCPU, false);
  std::string csv = export_split("train", path("train_png_attr"), false);
  auto o = base_options();
  o.images_dir = path("train_png_attr");
  o.images_csv = csv;
  o.attr_classifiers = {path("colour_clf")};
  auto j = evaluate(o, path("out_attr"), torch::kCPU);
  EXPECT_EQ(j["attribute"]["kind"], "classifier");
  EXPECT_EQ(j["attribute"]["classes"], (std::vector<std::string>{"green", "red"}));
  o.attr_classifiers.clear();
  auto oracle = evaluate(o, path("out_attr_oracle"), torch::kCPU);
  EXPECT_EQ(oracle["attribute"]["kind"], "colour-oracle");
  EXPECT_NEAR(j["bias"].get<double>(), oracle["bias"].get<double>(), 0.1);
  EXPECT_GT(j["bias"].get<double>(), 0.5);

  // Two attributes: the colour oracle (no classifier judges colour_name) and a second judge
  // (here the garment classifier, judging class_name): Bias is their mean, each reported.
  o.attr_classifiers = {clf()};
  auto two = evaluate(o, path("out_attr_two"), torch::kCPU);
  ASSERT_EQ(two["attributes"].size(), 2u);
  EXPECT_EQ(two["attributes"][0]["kind"], "colour-oracle");
  EXPECT_EQ(two["attributes"][1]["column"], "class_name");
  const double colour = two["bias_by_attribute"]["colour_name"].get<double>(),
               garment = two["bias_by_attribute"]["class_name"].get<double>();
  EXPECT_DOUBLE_EQ(colour, oracle["bias"].get<double>());
  // Each prompt's images are (nearly) all its own class: 2 / (K (K - 1)) * 3 pairs = 0.5 for K = 4.
  EXPECT_GT(garment, 0.4);
  EXPECT_LE(garment, 0.5 + 1e-12);
  EXPECT_NEAR(two["bias"].get<double>(), (colour + garment) / 2, 1e-12);
  const std::string md = read_text(path("out_attr_two/metrics.md"));
  EXPECT_NE(md.find("Bias by attribute (the table's Bias is their mean): class_name"), std::string::npos) << md;
}

TEST_F(EvalTest, TorchScriptFeatureExtractor) {
  // A scripted extractor: per-channel mean. The report must name it, and the reference set
  // against itself is still at distance 0.
  torch::jit::Module m("MeanRGB");
  m.define("def forward(self, x):\n  return x.mean([2, 3])\n");
  std::string ts = path("mean_rgb.pt");
  m.save(ts);
  export_split("ref", path("ref_png_ts"), true);
  auto o = base_options();
  o.images_dir = path("ref_png_ts");
  o.features = ts;
  auto j = evaluate(o, path("out_ts"), torch::kCPU);
  EXPECT_EQ(j["features"]["kind"], "torchscript");
  EXPECT_EQ(j["features"]["path"], ts);
  EXPECT_EQ(j["features"]["dim"], 3);
  EXPECT_NEAR(j["fd"].get<double>(), 0.0, 1e-6);

  std::string junk = path("junk.pt");
  atomic_write_text(junk, "not a model");
  o.features = junk;
  auto msg = error_of([&] { evaluate(o, path("out_junk"), torch::kCPU); });
  EXPECT_NE(msg.find("neither an invdiff classifier checkpoint nor a loadable TorchScript module"), std::string::npos) << msg;
}

TEST_F(EvalTest, SamplesFromAModel) {
  std::string model = path("model.pt");
  write_random_model(model, {"T-shirt/top", "Trouser", "Sneaker", "Bag"});
  auto o = base_options();
  o.model = model;
  o.n_per_prompt = 3;
  o.gen.sampler.steps = 2;
  o.gen.sampler.seed = 5;
  auto j = evaluate(o, path("out_model"), torch::kCPU);
  EXPECT_EQ(j["source"], "model");
  EXPECT_EQ(j["n_per_prompt"], 3);
  EXPECT_EQ(j["n_images"], 12);
  EXPECT_EQ(j["generation"]["steps"], 2);
  EXPECT_EQ(j["generation"]["seed"], 5);
  EXPECT_EQ(j["generation"]["sampling_method"], "ddim");
  EXPECT_EQ(j["per_prompt"]["Bag"]["n"], 3);
  // per_image.csv names each image by prompt and index with the seed it was drawn from.
  auto rows = read_csv(path("out_model/per_image.csv"));
  ASSERT_EQ(rows.rows.size(), 12u);
  EXPECT_EQ(rows.rows[4][0], "Trouser#1");
  EXPECT_EQ(rows.rows[4][1], "Trouser");
  EXPECT_EQ(rows.rows[4][2], std::to_string(image_seed(5, "Trouser", 1)));
  // Same seed, same images, same metrics.
  auto again = evaluate(o, path("out_model2"), torch::kCPU);
  EXPECT_EQ(again["fd"], j["fd"]);

  write_random_model(path("other.pt"), {"T-shirt/top", "Dress"});
  o.model = path("other.pt");
  auto msg = error_of([&] { evaluate(o, path("out_other"), torch::kCPU); });
  EXPECT_NE(msg.find("model class 'Dress' is not a class of"), std::string::npos) << msg;
}

TEST_F(EvalTest, FolderWithoutImagesIsAnError) {
  ensure_dir(path("empty"));
  auto o = base_options();
  o.images_dir = path("empty");
  auto msg = error_of([&] { evaluate(o, path("out_empty"), torch::kCPU); });
  EXPECT_EQ(msg, path("empty") + ": no PNG images found");
}

TEST_F(EvalTest, ImagesOfTheWrongSizeAreAnError) {
  ensure_dir(path("small"));
  for (int i = 0; i < 3; ++i)
    write_png(path("small/" + std::to_string(i) + ".png"), torch::zeros({3, 8, 8}),
              {{"parameters", nlohmann::json{{"prompt", "Bag"}}.dump()}});
  auto o = base_options();
  o.images_dir = path("small");
  auto msg = error_of([&] { evaluate(o, path("out_small"), torch::kCPU); });
  EXPECT_NE(msg.find("are 3x8x8 (CxHxW) but the reference set"), std::string::npos) << msg;
  EXPECT_NE(msg.find("is 3x16x16"), std::string::npos) << msg;
}

TEST_F(EvalTest, ClassifierWithTheWrongClassesIsAnError) {
  // A 2-class (colour) classifier passed as the garment judge of a 4-class dataset.
  Classifier c;
  ClassifierConfig cc;
  cc.num_classes = 2;
  cc.width = 8;
  c.net = ClassifierNet(cc);
  c.class_names = {"green", "red"};
  c.column = "colour_name";
  std::string p = path("colour_clf.pt");
  save_classifier(p, c);
  auto o = base_options();
  o.reference = true;
  o.classifier = p;
  auto msg = error_of([&] { evaluate(o, path("out_badclf"), torch::kCPU); });
  EXPECT_NE(msg.find(p + ": classifier has 2 classes (green, red) but"), std::string::npos) << msg;
  EXPECT_NE(msg.find("has 4 in column 'class_name'"), std::string::npos) << msg;
}

TEST_F(EvalTest, MissingOrUnknownPromptsAreErrors) {
  ensure_dir(path("noprompt"));
  write_png(path("noprompt/a.png"), torch::zeros({3, 16, 16}));
  auto o = base_options();
  o.images_dir = path("noprompt");
  auto msg = error_of([&] { evaluate(o, path("out_np"), torch::kCPU); });
  EXPECT_NE(msg.find("a.png: no prompt"), std::string::npos) << msg;

  ensure_dir(path("badprompt"));
  write_png(path("badprompt/a.png"), torch::zeros({3, 16, 16}), {{"parameters", R"({"prompt": "Dress"})"}});
  o.images_dir = path("badprompt");
  msg = error_of([&] { evaluate(o, path("out_bp"), torch::kCPU); });
  EXPECT_NE(msg.find("prompt 'Dress' is not a class of"), std::string::npos) << msg;

  o.reference = true;  // and an image folder: two sources
  msg = error_of([&] { evaluate(o, path("out_two"), torch::kCPU); });
  EXPECT_NE(msg.find("exactly one of"), std::string::npos) << msg;
}

TEST_F(EvalTest, DefaultClassifierIsTrainedOnceBesideTheOutput) {
  auto o = base_options();
  o.classifier.clear();
  o.reference = true;
  std::string run = path("run");
  evaluate(o, join_path(run, "eval"), torch::kCPU);
  std::string ckpt = join_path(run, "classifier/checkpoint.pt");
  ASSERT_TRUE(file_exists(ckpt));
  EXPECT_EQ(read_checkpoint_meta(ckpt)["dataset"]["split"], "ref");
  auto stamp = fs::last_write_time(ckpt);
  auto j = evaluate(o, join_path(run, "eval2"), torch::kCPU);
  EXPECT_EQ(fs::last_write_time(ckpt), stamp);  // reused, not retrained
  EXPECT_EQ(j["classifier"]["path"], ckpt);
}

TEST(EvalPaths, DefaultClassifierDir) {
  EXPECT_EQ(default_classifier_dir("runs/x/eval"), "runs/x/classifier");
  EXPECT_EQ(default_classifier_dir("runs/x/eval/"), "runs/x/classifier");
  EXPECT_EQ(default_classifier_dir("out"), "classifier");
}

// A guided model (frozen base + G_psi) is evaluated like a base model; trained at a vanishing
// learning rate it still equals its base, so its metrics must be the base's.
TEST_F(EvalTest, GuidedModelsAreEvaluatedLikeBaseModels) {
  std::string base = path("gbase.pt");
  write_random_model(base, {"T-shirt/top", "Trouser", "Sneaker", "Bag"});
  auto o = base_options();
  DatasetOptions dopt;
  dopt.limit = 16;
  auto data = load_dataset(o.data_dir, dopt);
  GuidanceConfig gc;
  DebiasConfig dc;
  dc.steps = 1;
  dc.batch_size = 4;
  dc.lr = 1e-12;
  dc.warmup = 0;
  dc.checkpoint_every = 0;
  debias_train(data, at::Tensor(), base, gc, dc, path("guided"), false, torch::kCPU, nlohmann::json::object(), false);
  o.n_per_prompt = 2;
  o.gen.sampler.steps = 2;
  o.model = base;
  auto jb = evaluate(o, path("out_gbase"), torch::kCPU);
  o.model = path("guided");
  auto jg = evaluate(o, path("out_guided"), torch::kCPU);
  EXPECT_EQ(jg["generation"]["model_info"]["model_kind"], "guided");
  EXPECT_EQ(jg["generation"]["model_info"]["guidance"]["ratio"], 1.0);
  EXPECT_NEAR(jg["fd"].get<double>(), jb["fd"].get<double>(), 1e-3);
  EXPECT_EQ(jg["bias"], jb["bias"]);
}
