// `invdiff groups`, `debias` and `sample` end to end through the CLI on a tiny cfmnist (built by
// `data cfmnist` from the synthetic Fashion-MNIST) and a tiny base, and their one-line errors.
// Every command runs on one thread (--threads 1), as the in-process tests do (OneThread): on a busy
// machine OpenMP's hand-offs make these tiny runs tens of times slower.
#include <gtest/gtest.h>

#include <algorithm>
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
  auto r = run_cli("-q --threads 1 groups -m " + base_ + " --data " + data_ + " -G 2 -o " + g +
                   " -M 2 --grouper-steps 50");
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
  r = run_cli("-q --threads 1 sample -m " + gd + " -p all -n 2 --steps 3 -o " + png + " --guidance-ratio 2");
  ASSERT_EQ(r.status, 0) << r.output;
  auto params = nlohmann::json::parse(read_png_text(png).at("parameters"));
  EXPECT_EQ(params["model_kind"], "guided");
  EXPECT_EQ(params["guidance"]["ratio"].get<double>(), 2.0);
  EXPECT_EQ(params["guidance"]["trained_ratio"].get<double>(), 1.0);
  // A base model still samples, and refuses a guidance ratio.
  r = run_cli("-q --threads 1 sample -m " + base_ + " -p all -n 1 --steps 2 -o " + png);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(read_png_text(png).at("parameters"))["model_kind"], "diffusion");
  r = run_cli("-q --threads 1 sample -m " + base_ + " -p all -n 1 --steps 2 -o " + png + " --guidance-ratio 2");
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
