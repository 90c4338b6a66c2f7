// Datasets through the binary: the importers, and the one-line errors a user sees for a dataset
// or a published folder that cannot be used.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/fs.h"
#include "data/image_io.h"
#include "data/published_fixture.h"
#include "fixtures.h"

using namespace invdiff;

TEST(DataCli, MetadataRowOutsideTheDatasetIsOneLineError) {
  TempDir d;
  const std::string ds = join_path(d.path, "ds");
  write_png(join_path(ds, "a.png"), torch::zeros({3, 8, 8}));
  write_png(join_path(d.path, "secret.png"), torch::zeros({3, 8, 8}));
  atomic_write_text(join_path(ds, "metadata.csv"), "file,class\na.png,x\n../secret.png,y\n");
  auto r = run_cli("-q train --data " + ds + " -o " + join_path(d.path, "m") + " --steps 1");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_EQ(count_of(r.output, "\n"), 1u) << r.output;
  EXPECT_EQ(r.output, "invdiff: error: " + ds + "/metadata.csv: row 3: file '../secret.png' is outside the dataset "
                      "directory (it leaves it through '..'); files are paths inside " + ds + "\n");
  EXPECT_FALSE(file_exists(join_path(d.path, "m")));  // nothing trained, nothing written
}

TEST(DataCli, ImportersWriteTheGenericLayoutAndRefuseBadInputInOneLine) {
  TempDir d;
  const std::string ff = join_path(d.path, "fairface"), out = join_path(d.path, "ff16");
  published::FairfaceCounts c{};
  c[0][0] = c[0][1] = {3, 2, 1, 1, 0, 3, 1};
  c[1][0] = c[1][1] = {1, 1, 0, 1, 0, 1, 0};
  published::write_fairface(ff, c);
  auto r = run_cli("-q data fairface --from " + ff + " -o " + out + " --resolution 16");
  EXPECT_EQ(r.status, 0) << r.output;
  // Per gender: white 3, black 2, asian 1, indian 3. At 3:2:1:1 / 1:1:2:3 the male asian cell binds
  // (1 image for ratio 2: s = 0.5): female 1, 1, 0, 0 and male 0, 0, 1, 1.
  EXPECT_EQ(r.output, "wrote " + out + ": 4 train, 8 ref images of 16x16, target 'gender' ([\"female\",\"male\"])\n");
  EXPECT_TRUE(file_exists(join_path(out, "manifest.json")));
  EXPECT_TRUE(file_exists(join_path(out, "images/ref/000007.png")));
  // FairFace has no third split: --max-val is not one of its flags (usage error, one line).
  r = run_cli("-q data fairface --from " + ff + " -o " + out + " --max-val 3");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_EQ(count_of(r.output, "\n"), 1u) << r.output;
  EXPECT_NE(r.output.find("--max-val"), std::string::npos) << r.output;
  // A malformed ratio list is a usage error; a bad label file is bad input; both one line.
  r = run_cli("-q data fairface --from " + ff + " -o " + out + " --ratios 3:x");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_EQ(count_of(r.output, "\n"), 1u) << r.output;
  EXPECT_NE(r.output.find("'x' in '3:x' is not a non-negative number"), std::string::npos) << r.output;
  atomic_write_text(join_path(ff, "fairface_label_train.csv"), "file,age,race,service_test\ntrain/1.jpg,3-9,White,True\n");
  r = run_cli("-q data fairface --from " + ff + " -o " + join_path(d.path, "x"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_EQ(r.output, "invdiff: error: " + join_path(ff, "fairface_label_train.csv") + ": missing column 'gender'\n");
  EXPECT_FALSE(file_exists(join_path(d.path, "x")));
}

// --split on the stage commands: base, oracle groups and G_psi all on the ref split, recorded as
// such; groups of one split refused for another.
TEST(DataCli, StageCommandsTakeSplit) {
  TempDir d;
  const std::string ds = join_path(d.path, "ds");
  write_generic_dataset(ds, 2, 3);
  const std::string tiny = " --ch 8 --ch-mult 1 --norm-groups 4 --steps 2 -b 4 --warmup 1";
  auto r = run_cli("-q train --data " + ds + " --split ref -o " + join_path(d.path, "base") + tiny);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("(split ref): 12 images of 16x16, 2 classes"), std::string::npos) << r.output;
  auto cfg = nlohmann::json::parse(read_text(join_path(d.path, "base/config.json")));
  EXPECT_EQ(cfg["dataset"]["split"], "ref");
  EXPECT_EQ(cfg["dataset"]["size"], 12);
  r = run_cli("-q groups --oracle class,shade --split ref --data " + ds + " -o " + join_path(d.path, "g") + " --no-images");
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_cli("-q debias -m " + join_path(d.path, "base") + " --groups-dir " + join_path(d.path, "g") + " --data " + ds +
              " --split ref -o " + join_path(d.path, "guided") + " --steps 1 -b 4");
  ASSERT_EQ(r.status, 0) << r.output;
  cfg = nlohmann::json::parse(read_text(join_path(d.path, "guided/config.json")));
  EXPECT_EQ(cfg["dataset"]["split"], "ref");
  r = run_cli("-q debias -m " + join_path(d.path, "base") + " --groups-dir " + join_path(d.path, "g") + " --data " + ds +
              " -o " + join_path(d.path, "guided2") + " --steps 1 -b 4");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_EQ(count_of(r.output, "\n"), 1u) << r.output;
  EXPECT_NE(r.output.find("split 'ref'"), std::string::npos) << r.output;
}
