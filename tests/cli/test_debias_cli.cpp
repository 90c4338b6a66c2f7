// `invdiff groups`, `debias` and `sample` end to end through the CLI on a tiny cfmnist (built by
// `data cfmnist` from the synthetic Fashion-MNIST) and a tiny base, and their one-line errors.
// Every command runs on one thread (--threads 1), as the in-process tests do (OneThread): on a busy
// machine OpenMP's hand-offs make these tiny runs tens of times slower.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "core/csv.h"
#include "core/fs.h"
#include "core/hash.h"
#include "data/image_io.h"
#include "fixtures.h"
#include "train/checkpoint.h"

using namespace invdiff;

class DebiasCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    data_ = join_path(dir_->path, "data");
    base_ = join_path(dir_->path, "base");
    auto r = run_cli("-q --threads 1 data cfmnist -o " + data_ + " --source " + synthetic_fashion_mnist() +
                     " --max-train-per-class 20 --max-ref-per-class 4");
    ASSERT_EQ(r.status, 0) << r.output;
    r = run_cli("-q --threads 1 train --data " + data_ + " -o " + base_ +
                " --steps 10 -b 8 --ch 8 --ch-mult 1,2 --norm-groups 4 --checkpoint-every 0");
    ASSERT_EQ(r.status, 0) << r.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static TempDir* dir_;
  static std::string data_, base_;
};
TempDir* DebiasCli::dir_ = nullptr;
std::string DebiasCli::data_, DebiasCli::base_;

TEST_F(DebiasCli, GroupsDebiasSampleEndToEnd) {
  std::string g = join_path(dir_->path, "groups");
  auto r = run_cli("-q --threads 1 groups -m " + base_ + " --data " + data_ + " --grouper std -G 2 -o " + g +
                   " -M 2 --no-select-timestep --grouper-steps 50");
  ASSERT_EQ(r.status, 0) << r.output;
  for (auto f : {"scores.csv", "groups.csv", "summary.json", "report.json", "report.md", "group_00.png", "group_01.png"})
    EXPECT_TRUE(file_exists(join_path(g, f))) << f;
  auto scores = read_csv(join_path(g, "scores.csv"));
  EXPECT_EQ(scores.header, (std::vector<std::string>{"file", "score", "loss_t250", "loss_t750", "z_t250", "z_t750"}));
  EXPECT_EQ(scores.rows.size(), 80u);
  auto groups = read_csv(join_path(g, "groups.csv"));
  EXPECT_EQ(groups.header, (std::vector<std::string>{"file", "group", "w_0", "w_1"}));
  auto rep = nlohmann::json::parse(read_text(join_path(g, "report.json")));
  EXPECT_TRUE(rep["minority"].contains("auc_score"));
  EXPECT_TRUE(rep["attributes"].contains("colour_name"));

  // Oracle groups in the same format: 4 classes x 2 colours.
  std::string og = join_path(dir_->path, "oracle");
  r = run_cli("-q --threads 1 groups --oracle class_name,colour_name --data " + data_ + " -o " + og + " --no-images");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(read_csv(join_path(og, "groups.csv")).header.size(), 2u + 8u);

  std::string fp = file_fingerprint(join_path(base_, "checkpoint.pt"));
  std::string gd = join_path(dir_->path, "guided");
  r = run_cli("-q --threads 1 debias -m " + base_ + " --groups-dir " + g + " --data " + data_ + " -o " + gd +
              " --steps 3 -b 8 --variant lora --t-range 400,900 --balance-batches");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(file_fingerprint(join_path(base_, "checkpoint.pt")), fp);
  auto meta = read_checkpoint_meta(join_path(gd, "checkpoint.pt"));
  EXPECT_EQ(meta["debias"]["t_lo"].get<int>(), 400);
  EXPECT_TRUE(meta["debias"]["balance_batches"].get<bool>());
  EXPECT_EQ(meta["groups"]["mode"], "inferred");

  // The old spelling still works and names the new one.
  r = run_cli("-q --threads 1 debias -m " + base_ + " --groups none --data " + data_ + " -o " +
              join_path(dir_->path, "erm") + " --steps 2 -b 8 --variant small");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("note: --groups is now --groups-dir"), std::string::npos) << r.output;

  std::string png = join_path(dir_->path, "s.png");
  r = run_cli("-q --threads 1 sample -m " + gd + " -p all -n 2 --sampling-steps 3 -o " + png + " --guidance-ratio 2");
  ASSERT_EQ(r.status, 0) << r.output;
  auto params = nlohmann::json::parse(read_png_text(png).at("parameters"));
  EXPECT_EQ(params["model_kind"], "guided");
  EXPECT_EQ(params["guidance"]["ratio"].get<double>(), 2.0);
  EXPECT_EQ(params["guidance"]["trained_ratio"].get<double>(), 1.0);
  // A base model still samples, and refuses a guidance ratio.
  r = run_cli("-q --threads 1 sample -m " + base_ + " -p all -n 1 --sampling-steps 2 -o " + png);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(read_png_text(png).at("parameters"))["model_kind"], "diffusion");
  r = run_cli("-q --threads 1 sample -m " + base_ + " -p all -n 1 --sampling-steps 2 -o " + png + " --guidance-ratio 2");
  EXPECT_NE(r.status, 0);
}

TEST_F(DebiasCli, ErrorsExitNonZeroWithOneLine) {
  auto one_line = [](const CliResult& r) { return std::count(r.output.begin(), r.output.end(), '\n') == 1; };
  auto r = run_cli("-q --threads 1 debias -m " + base_ + " --groups-dir " + join_path(dir_->path, "nope") +
                   " --data " + data_ + " -o " + join_path(dir_->path, "x"));
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(one_line(r)) << r.output;
  EXPECT_NE(r.output.find("groups file not found"), std::string::npos) << r.output;

  // groups.csv whose keys do not match the dataset's rows.
  std::string g = join_path(dir_->path, "bad_groups");
  CsvTable t;
  t.header = {"file", "group", "w_0", "w_1"};
  t.rows = {{"images/train/999999.png", "0", "1", "0"}};
  write_csv(join_path(g, "groups.csv"), t);
  r = run_cli("-q --threads 1 debias -m " + base_ + " --groups-dir " + g + " --data " + data_ + " -o " +
              join_path(dir_->path, "y"));
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(one_line(r)) << r.output;
  EXPECT_NE(r.output.find("has no row for dataset file"), std::string::npos) << r.output;

  r = run_cli("-q --threads 1 groups --data " + data_ + " -o " + join_path(dir_->path, "z"));
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(one_line(r)) << r.output;

  r = run_cli("-q --threads 1 debias -m " + base_ + " --data " + data_ + " -o " + join_path(dir_->path, "w"));
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(one_line(r)) << r.output;
  EXPECT_NE(r.output.find("--groups-dir is required"), std::string::npos) << r.output;
}

// Every input is checked against what it was made from; each mismatch is one line (exit 1) that
// names both sides.
TEST_F(DebiasCli, MismatchesNameBothSides) {
  auto one_line = [](const CliResult& r) { return std::count(r.output.begin(), r.output.end(), '\n') == 1; };
  // Another cfmnist with the same file names (other colours: --seed 1), and one with other classes.
  std::string other = join_path(dir_->path, "data_seed1"), two = join_path(dir_->path, "data_2cls");
  auto r = run_cli("-q --threads 1 data cfmnist -o " + other + " --seed 1 --source " + synthetic_fashion_mnist() +
                   " --max-train-per-class 20 --max-ref-per-class 4");
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_cli("-q --threads 1 data cfmnist -o " + two + " --classes 1,0 --source " + synthetic_fashion_mnist() +
              " --max-train-per-class 20 --max-ref-per-class 4");
  ASSERT_EQ(r.status, 0) << r.output;

  // groups.csv inferred on data_, used with the other dataset: the fingerprint, not the file names.
  std::string og = join_path(dir_->path, "oracle_for_mismatch");
  r = run_cli("-q --threads 1 groups --oracle colour_name --data " + data_ + " -o " + og + " --no-images");
  ASSERT_EQ(r.status, 0) << r.output;
  auto summary = nlohmann::json::parse(read_text(join_path(og, "summary.json")));
  EXPECT_EQ(summary["dataset"]["content"].get<std::string>().size(), 16u);
  r = run_cli("-q --threads 1 debias -m " + base_ + " --groups-dir " + og + " --data " + other + " -o " +
              join_path(dir_->path, "mm1") + " --steps 1 -b 8");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(one_line(r)) << r.output;
  EXPECT_NE(r.output.find("made from " + absolute_path(data_) + " (split 'train'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("but the dataset here is " + absolute_path(other)), std::string::npos) << r.output;
  // A scores.csv reused with --scores is checked the same way (its summary.json names the dataset).
  std::string sg = join_path(dir_->path, "scored_for_mismatch");
  r = run_cli("-q --threads 1 groups -m " + base_ + " --data " + data_ + " --grouper std -G 2 -M 2 --no-select-timestep --grouper-steps 20 --no-images -o " + sg);
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_cli("-q --threads 1 groups --scores " + join_path(sg, "scores.csv") + " --data " + other + " --no-images -o " +
              join_path(dir_->path, "mm_scores"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(one_line(r)) << r.output;
  EXPECT_NE(r.output.find("invdiff: error: the scores in " + join_path(sg, "scores.csv") + ": made from " +
                          absolute_path(data_)),
            std::string::npos)
      << r.output;
  // The same groups with a copy of the dataset elsewhere: same content, accepted.
  std::string copy = join_path(dir_->path, "data_copy");
  std::filesystem::copy(data_, copy, std::filesystem::copy_options::recursive);
  r = run_cli("-q --threads 1 debias -m " + base_ + " --groups-dir " + og + " --data " + copy + " -o " +
              join_path(dir_->path, "mm_copy") + " --steps 1 -b 8 --variant small");
  EXPECT_EQ(r.status, 0) << r.output;

  // Class mismatches name both class lists.
  r = run_cli("-q --threads 1 groups -m " + base_ + " --data " + two + " -o " + join_path(dir_->path, "mm2"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(one_line(r)) << r.output;
  EXPECT_NE(r.output.find("has classes T-shirt/top,Trouser,Sneaker,Bag but the dataset"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("has Trouser,T-shirt/top (the same names in the same order"), std::string::npos) << r.output;
  r = run_cli("-q --threads 1 debias -m " + base_ + " --groups-dir none --data " + two + " -o " +
              join_path(dir_->path, "mm3") + " --steps 1");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("debias: the base model"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("has Trouser,T-shirt/top"), std::string::npos) << r.output;

  // train --init-from: the class order, the image shape and the architecture are the source's.
  r = run_cli("-q --threads 1 train --data " + two + " -o " + join_path(dir_->path, "mm4") + " --init-from " + base_ +
              " --steps 1 -b 8");
  EXPECT_EQ(r.status, 1) << r.output;  // with train's "dataset ...: N training images" line
  EXPECT_NE(r.output.find("invdiff: error: train --init-from: " + join_path(base_, "checkpoint.pt") + " has classes"),
            std::string::npos)
      << r.output;
  r = run_cli("-q --threads 1 train --data " + data_ + " -o " + join_path(dir_->path, "mm5") + " --init-from " + base_ +
              " --steps 1 -b 8 --ch 16");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("invdiff: error: train --init-from: the architecture is the source's (base_channels 8 in"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("not 16 as asked"), std::string::npos) << r.output;
  // Flags that agree with the source (or none) fine-tune with the source's architecture.
  r = run_cli("-q --threads 1 train --data " + data_ + " -o " + join_path(dir_->path, "mm6") + " --init-from " + base_ +
              " --steps 1 -b 8 --checkpoint-every 0 --ch 8");
  EXPECT_EQ(r.status, 0) << r.output;
}

// Values the library refuses once it knows the model (exit 1, one line): sampling steps above T.
TEST_F(DebiasCli, ModelBoundsAreRefusedNotClamped) {
  std::string png = join_path(dir_->path, "steps.png");
  auto r = run_cli("-q --threads 1 sample -m " + base_ + " -p all -n 1 --sampling-steps 5000 -o " + png);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_EQ(r.output, "invdiff: error: sampling steps (5000) exceed the model's T = 1000 diffusion timesteps\n");
  EXPECT_FALSE(file_exists(png));
  // Lists take commas; the old spellings still work (and say their new names).
  r = run_cli("-q --threads 1 sample -m " + base_ + " -p Trouser,Bag --num 1 --steps 2 -b 1 -o " + png);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("note: --num is now --images-per-prompt"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("note: --steps is now --sampling-steps"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(2 images)"), std::string::npos) << r.output;
  auto params = nlohmann::json::parse(read_png_text(png).at("parameters"));
  EXPECT_EQ(params["prompt"], "Trouser;Bag");
  EXPECT_EQ(params["steps"].get<int>(), 2);
  // The grid is scaled up (nearest neighbour) to >= 512 px wide: one 16-px tile + padding = 20 px.
  auto grid = read_image(png);
  EXPECT_EQ(grid.size(2), 20 * 26) << grid.sizes();
  EXPECT_EQ(params["grid"]["scale"].get<int>(), 26);
  // --labels: the prompt's name left of its row ("Trouser": 7 glyphs of 6 px, + 2 px padding).
  r = run_cli("-q --threads 1 sample -m " + base_ + " -p Trouser,Bag -n 1 --sampling-steps 2 --labels --scale 2 -o " + png);
  ASSERT_EQ(r.status, 0) << r.output;
  grid = read_image(png);
  EXPECT_EQ(grid.size(2), (20 + 44) * 2) << grid.sizes();
  EXPECT_GT(grid.narrow(2, 0, 88).max().item<float>(), 0.9f);  // ink in the label column
  r = run_cli("-q --threads 1 sample -m " + base_ + " -p Bag -n 3 --nrow 2 --labels -o " + png);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("--labels needs every prompt to fill whole rows"), std::string::npos) << r.output;
}
