// The stage commands by hand give what `invdiff run` gives (issue 18 item 4): `groups` with no
// other flags writes the groups.csv of run's groups stage, `debias` with no other flags trains
// run's G_psi (same configuration, same losses step by step), and `--recipe official` is the
// paper's recipe; flags change a recipe whatever their order on the command line.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/csv.h"
#include "core/fs.h"
#include "experiment/experiment.h"
#include "experiment/recipes.h"
#include "fixtures.h"
#include "invdiff/group_weights.h"
#include "train/checkpoint.h"

using namespace invdiff;

class RecipeCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    data_ = join_path(dir_->path, "data");
    base_ = join_path(dir_->path, "base");
    tiny_cfmnist(data_, 20, 4);
    tiny_base(data_, base_, 10);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string path(const std::string& rel) { return join_path(dir_->path, rel); }
  static nlohmann::json summary(const std::string& groups_dir) {
    return nlohmann::json::parse(read_text(join_path(groups_dir, "summary.json")));
  }
  static TempDir* dir_;
  static std::string data_, base_;
};
TempDir* RecipeCli::dir_ = nullptr;
std::string RecipeCli::data_, RecipeCli::base_;

TEST_F(RecipeCli, GroupsAndDebiasWithNoFlagsGiveWhatRunGives) {
  OneThread one;
  Experiment ex(data_, torch::kCPU, false);
  Recipe r = run_recipe(get_preset("quick"), 0);  // what run_pipeline uses at its defaults
  r.debias.steps = 3;
  r.min_step_needs_structure = false;  // the min step itself is compared (`run --always-debias`)
  auto made = ex.make_model(path("run"), base_, r);  // run's groups and G_psi stages

  auto c = run_cli("-q --threads 1 groups -m " + base_ + " --data " + data_ + " -o " + path("g"));
  ASSERT_EQ(c.status, 0) << c.output;
  EXPECT_EQ(read_text(path("g/groups.csv")), read_text(path("run/groups/groups.csv")));
  EXPECT_EQ(summary(path("g"))["config"], nlohmann::json(r.groups_cfg));

  c = run_cli("-q --threads 1 debias -m " + base_ + " --groups-dir " + path("g") + " --data " + data_ + " -o " +
              path("guided") + " --steps 3");
  ASSERT_EQ(c.status, 0) << c.output;
  auto hand = read_checkpoint_meta(checkpoint_path(path("guided")));
  auto run = read_checkpoint_meta(checkpoint_path(made["model"].get<std::string>()));
  for (const char* k : {"guidance", "debias"}) EXPECT_EQ(hand[k], run[k]) << k;
  for (const char* k : {"hard", "cross_class", "num_groups"}) EXPECT_EQ(hand["groups"][k], run["groups"][k]) << k;
  auto losses = [](const std::string& dir) {
    auto t = read_csv(join_path(dir, "loss.csv"));
    std::vector<std::string> v;
    for (const auto& row : t.rows) v.push_back(row[t.column("loss")]);
    return v;
  };
  EXPECT_EQ(losses(path("guided")), losses(path("run/guided")));
  EXPECT_EQ(losses(path("guided")).size(), 3u);
}

TEST_F(RecipeCli, OfficialRecipeAndFlagsThatChangeARecipe) {
  auto c = run_cli("-q --threads 1 groups -m " + base_ + " --data " + data_ + " -o " + path("off") +
                   " --recipe official --no-images");
  ASSERT_EQ(c.status, 0) << c.output;
  auto cfg = summary(path("off"))["config"];
  EXPECT_EQ(cfg, nlohmann::json(official_recipe(get_preset("quick")).groups_cfg));
  EXPECT_EQ(cfg["score"]["method"], "single-t");
  EXPECT_EQ(cfg["grouper"], "std");
  // A flag before --recipe still wins: the recipe is applied first.
  c = run_cli("-q --threads 1 groups -m " + base_ + " --data " + data_ + " -o " + path("off_otsu") +
              " --grouper otsu --recipe official --no-images");
  ASSERT_EQ(c.status, 0) << c.output;
  cfg = summary(path("off_otsu"))["config"];
  EXPECT_EQ(cfg["grouper"], "otsu");
  EXPECT_EQ(cfg["score"]["method"], "single-t");

  c = run_cli("-q --threads 1 debias -m " + base_ + " --groups-dir " + path("off") + " --data " + data_ + " -o " +
              path("off_guided") + " --recipe official --steps 1 -b 8");
  ASSERT_EQ(c.status, 0) << c.output;
  auto meta = read_checkpoint_meta(checkpoint_path(path("off_guided")));
  EXPECT_EQ(meta["guidance"]["variant"], "copy");
  EXPECT_EQ(meta["guidance"]["mix"], "convex");
  EXPECT_EQ(meta["guidance"]["ratio"], 0.5);
  EXPECT_EQ(meta["debias"]["t_lo"], 0);
  EXPECT_FALSE(meta["debias"]["balance_batches"].get<bool>());
  EXPECT_FALSE(meta["groups"]["hard"].get<bool>());
  EXPECT_FALSE(meta["groups"]["cross_class"].get<bool>());
  // The ERM control under the default recipe: no groups to harden or cross, balanced (uniform) batches.
  c = run_cli("-q --threads 1 debias -m " + base_ + " --groups-dir none --data " + data_ + " -o " + path("erm") +
              " --steps 1 -b 8 --no-balance-batches");
  ASSERT_EQ(c.status, 0) << c.output;
  meta = read_checkpoint_meta(checkpoint_path(path("erm")));
  EXPECT_EQ(meta["guidance"]["variant"], "small");
  EXPECT_FALSE(meta["debias"]["balance_batches"].get<bool>());
  EXPECT_EQ(meta["groups"]["mode"], "none");
}
