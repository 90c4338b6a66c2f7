// `invdiff run` on a dataset that is not the embedded benchmark (issue 18 item 3): Bias judged by
// an attribute classifier trained on the reference split, its accuracy beside Bias in the output
// and the report; the groups stage is what `invdiff groups` with no flags writes; a given base
// model is used as is; a dataset without attribute labels still runs, and says what Bias needs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/fs.h"
#include "fixtures.h"

using namespace invdiff;

TEST(RunCli, AnyDatasetJudgedByAnAttributeClassifier) {
  TempDir d;
  const std::string ds = join_path(d.path, "ds"), out = join_path(d.path, "run");
  write_generic_dataset(ds, 4, 6);  // train 32 (class a mostly dark, b mostly light), ref 24 balanced
  const std::string tiny = " --base-steps 6 --debias-steps 2 -n 4";
  auto r = run_cli("-q --threads 1 run --data " + ds + " --attribute shade -o " + out + tiny);
  ASSERT_EQ(r.status, 0) << r.output;
  const auto m = nlohmann::json::parse(read_text(join_path(out, "metrics.json")));
  const auto& base = m["eval"]["base"];
  ASSERT_TRUE(base["bias"].is_number()) << base.dump();
  ASSERT_EQ(base["attributes"].size(), 1u);
  EXPECT_EQ(base["attributes"][0]["kind"], "classifier");
  EXPECT_EQ(base["attributes"][0]["column"], "shade");
  const double acc = base["attributes"][0]["val_accuracy"].get<double>();
  char judge[96];
  std::snprintf(judge, sizeof judge, "the attribute classifier on 'shade' (validation accuracy %.3f)", acc);
  EXPECT_NE(r.output.find(std::string("Bias, judged by ") + judge + ": reference "), std::string::npos) << r.output;
  const auto md = read_text(join_path(out, "report.md"));
  EXPECT_NE(md.find(std::string("Bias, judged by ") + judge), std::string::npos) << md;
  EXPECT_NE(md.find("| attribute classifier (shade) |"), std::string::npos) << md;
  char row[64];
  std::snprintf(row, sizeof row, "| base model | %.3f |", base["bias"].get<double>());
  EXPECT_NE(md.find(row), std::string::npos) << md;
  EXPECT_EQ(m["target_column"], "class");
  EXPECT_EQ(m["attribute_columns"], nlohmann::json({"shade"}));

  // The stage run by hand with no other flags writes run's groups.csv.
  r = run_cli("-q --threads 1 groups -m " + join_path(out, "base") + " --data " + ds + " -o " + join_path(d.path, "g"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(read_text(join_path(d.path, "g/groups.csv")), read_text(join_path(out, "groups/groups.csv")));

  // No attribute labels (none named, no manifest): everything else, and what Bias needs.
  const std::string out2 = join_path(d.path, "run2");
  r = run_cli("-q --threads 1 run --data " + ds + " -m " + join_path(out, "base") + " -o " + out2 + " --debias-steps 2 -n 4");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("Bias: not measured: " + ds + " has no attribute labels; Bias needs labelled reference data"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("FD "), std::string::npos) << r.output;
  EXPECT_FALSE(file_exists(join_path(out2, "base")));  // the given base, not a new one
  const auto m2 = nlohmann::json::parse(read_text(join_path(out2, "metrics.json")));
  EXPECT_TRUE(m2["eval"]["guided"]["bias"].is_null());
  EXPECT_TRUE(m2["eval"]["guided"]["fd"].is_number());
  EXPECT_TRUE(file_exists(join_path(out2, "groups/groups.csv")));
  EXPECT_NE(read_text(join_path(out2, "report.md")).find("Bias not measured"), std::string::npos);
}

TEST(RunCli, BadAttributesAndUnlabelledOracleRowsAreRefusedBeforeTraining) {
  TempDir d;
  const std::string ds = join_path(d.path, "ds");
  write_generic_dataset(ds, 1, 1);
  auto r = run_cli("-q --threads 1 run --data " + ds + " --attribute hue -o " + join_path(d.path, "run"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_EQ(r.output, "invdiff: error: " + join_path(ds, "metadata.csv") + " has no attribute column 'hue' to judge Bias with\n");
  EXPECT_FALSE(file_exists(join_path(d.path, "run/base")));
  r = run_cli("-q --threads 1 bench --data " + ds + " --rows base,oracle -o " + join_path(d.path, "bench"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_EQ(count_of(r.output, "\n"), 1u) << r.output;
  EXPECT_NE(r.output.find("bench: the oracle and reweight rows group by attribute columns, and " + ds + " names none"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(file_exists(join_path(d.path, "bench/base")));
  r = run_cli("-q run --data " + ds + " -m m --base-steps 3");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("--base-steps would be ignored: -m gives the base model"), std::string::npos) << r.output;
}

// `invdiff bench` on a generic dataset (issue 18 item 3): a given base, the label-free and the
// oracle rows grouped by the named attribute, Bias judged by that attribute's classifier, whose
// validation accuracy the table states; the cells and the table carry the
// --debias-steps tag, and a rerun reuses them.
TEST(BenchCli, AnyDatasetWithAnAttributeColumn) {
  TempDir d;
  const std::string ds = join_path(d.path, "ds"), base = join_path(d.path, "base"), out = join_path(d.path, "bench");
  write_generic_dataset(ds, 4, 6);
  auto r = run_cli("-q --threads 1 train --data " + ds + " -o " + base + " --steps 6 --ch 8");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string cmd = "-q --threads 1 bench -m " + base + " --data " + ds + " --attribute shade --rows base,invdiff,oracle"
                          " --seeds 1 -n 4 --debias-steps 2 -o " + out;
  r = run_cli(cmd);
  ASSERT_EQ(r.status, 0) << r.output;
  const auto b = nlohmann::json::parse(read_text(join_path(out, "bench_steps2.json")));
  EXPECT_EQ(b["attribute_columns"], nlohmann::json({"shade"}));
  const double acc = b["attribute_classifiers"]["shade"]["val_accuracy"].get<double>();
  EXPECT_GE(acc, 0.0);
  EXPECT_LE(acc, 1.0);
  const auto md = read_text(join_path(out, "bench_steps2.md"));
  for (const char* row : {"| Base (no debiasing) | 1 |", "| InvDiff, invdiff defaults | 1 |", "| Oracle groups"})
    EXPECT_NE(md.find(row), std::string::npos) << row << "\n" << md;
  char line[64];
  std::snprintf(line, sizeof line, "validation accuracy: shade %.3f;", acc);
  EXPECT_NE(md.find(line), std::string::npos) << md;
  // The oracle row's groups are class x shade: four groups, from the metadata column.
  const auto oracle_meta = nlohmann::json::parse(read_text(join_path(out, "seed0/oracle_steps2/guided/config.json")));
  EXPECT_EQ(oracle_meta["groups"]["mode"], "oracle");
  EXPECT_EQ(oracle_meta["groups"]["group_names"], nlohmann::json({"a|dark", "a|light", "b|dark", "b|light"}));
  for (const char* cell : {"seed0/base/eval/metrics.json", "seed0/invdiff_steps2/eval/metrics.json", "seed0/oracle_steps2/eval/metrics.json"}) {
    const auto m = nlohmann::json::parse(read_text(join_path(out, cell)));
    EXPECT_TRUE(m["bias"].is_number()) << cell << ": " << m.dump();
  }
  // Same settings: every cell reused, the table unchanged.
  r = run_cli(cmd);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(read_text(join_path(out, "bench_steps2.md")), md);
}
