// The pieces of `invdiff run` / `invdiff bench`: resumable stages, the bench aggregation, a tiny
// bench over two seeds (one behaviour per test), a whole tiny run end to end (rerun = every stage
// skipped, changed settings refused, not overwritten), and the label-free path's guard. The
// tiny cfmnist and base come from tests/fixtures.h (the synthetic Fashion-MNIST); the report and
// charts are tested in tests/eval/test_report.cpp, the max step in tests/invdiff.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <optional>

#include "core/csv.h"
#include "core/fs.h"
#include "data/dataset.h"
#include "experiment/bench.h"
#include "experiment/experiment.h"
#include "experiment/recipes.h"
#include "experiment/run.h"
#include "experiment/stage.h"
#include "fixtures.h"
#include "invdiff/infer_groups.h"

using namespace invdiff;

TEST(Stage, FreshPartialDoneAndRefusals) {
  TempDir d;
  const std::string dir = join_path(d.path, "st");
  nlohmann::json key = {{"stage", "x"}, {"steps", 3}};
  EXPECT_EQ(stage_state(dir, key, "out.txt").status, StageStatus::Fresh);
  stage_begin(dir, key);
  EXPECT_EQ(stage_state(dir, key, "out.txt").status, StageStatus::Partial);  // interrupted: resume
  atomic_write_text(join_path(dir, "out.txt"), "result");
  stage_finish(dir, key, "out.txt", {{"value", 42}});
  auto s = stage_state(dir, key, "out.txt");
  EXPECT_EQ(s.status, StageStatus::Done);
  EXPECT_EQ(s.result["value"], 42);
  // Another configuration in the same directory is refused, naming the directory.
  auto e = error_of([&] { stage_state(dir, {{"stage", "x"}, {"steps", 4}}, "out.txt"); });
  EXPECT_NE(e.find("other settings"), std::string::npos) << e;
  EXPECT_NE(e.find(dir), std::string::npos) << e;
  // The output is checked, not just present: edited or removed outputs are errors.
  atomic_write_text(join_path(dir, "out.txt"), "edited");
  e = error_of([&] { stage_state(dir, key, "out.txt"); });
  EXPECT_NE(e.find("changed since its stage finished"), std::string::npos) << e;
  std::filesystem::remove(join_path(dir, "out.txt"));
  e = error_of([&] { stage_state(dir, key, "out.txt"); });
  EXPECT_NE(e.find("lost its output"), std::string::npos) << e;
  // A corrupt record is named.
  atomic_write_text(join_path(dir, "stage.json"), "{not json");
  e = error_of([&] { stage_state(dir, key, "out.txt"); });
  EXPECT_NE(e.find("not a stage record"), std::string::npos) << e;
}

TEST(Bench, MeanAndSampleSdByHand) {
  auto [m, sd] = mean_sd({0.5, 0.7, 0.9});
  EXPECT_DOUBLE_EQ(m, 0.7);
  EXPECT_NEAR(sd, 0.2, 1e-12);  // sqrt((0.04 + 0 + 0.04) / 2)
  auto [m1, sd1] = mean_sd({0.3, NAN});
  EXPECT_DOUBLE_EQ(m1, 0.3);
  EXPECT_DOUBLE_EQ(sd1, 0.0);
  EXPECT_TRUE(std::isnan(mean_sd({}).first));
}

TEST(Bench, MarkdownShowsMeanSdAndTheGapClosed) {
  auto row = [](const std::string& label, double bias, double sd) {
    nlohmann::json a = {{"label", label}, {"seeds", 3}, {"trainable", 265000}};
    for (const char* k : {"fd", "kid", "precision", "recall", "faithfulness", "purity", "train_seconds", "eval_seconds"})
      a[k] = {{"mean", 0.5}, {"sd", 0.0}};
    a["bias"] = {{"mean", bias}, {"sd", sd}};
    return a;
  };
  nlohmann::json b;
  b["row_order"] = {"base", "erm", "invdiff", "oracle"};
  b["rows"] = {{"base", row("Base", 0.8, 0.01)}, {"erm", row("ERM", 0.76, 0.02)}, {"invdiff", row("inv", 0.5, 0.03)},
               {"oracle", row("Oracle", 0.4, 0.02)}};
  auto md = bench_markdown(b);
  EXPECT_NE(md.find("| inv | 3 | 0.500 ± 0.030 |"), std::string::npos) << md;
  EXPECT_NE(md.find("265 k"), std::string::npos);
  // (0.8 - 0.76) / (0.8 - 0.4) = 10 %, (0.8 - 0.5) / 0.4 = 75 %.
  EXPECT_NE(md.find("erm 10 %; invdiff 75 %;"), std::string::npos) << md;
  EXPECT_EQ(md.find("AUC"), std::string::npos);  // no cell carries one
  // mean of {0.9, 0.96} = 0.93; sd = sqrt(2 * 0.03^2 / 1) = 0.042
  b["rows"]["invdiff"]["cells"] = {{{"minority_auc", 0.9}}, {{"minority_auc", 0.96}}, {{"minority_auc", nullptr}}};
  md = bench_markdown(b);
  EXPECT_NE(md.find("(reported only): invdiff 0.930 ± 0.042 (2 seeds);"), std::string::npos) << md;
  EXPECT_EQ(md.find("highest-score group"), std::string::npos);
  b["rows"]["invdiff"]["cells"][0]["top_group_minority"] = 1.0;
  b["rows"]["invdiff"]["cells"][1]["top_group_minority"] = 0.8;  // mean 0.9, sd sqrt(2 * 0.1^2) = 0.141
  md = bench_markdown(b);
  EXPECT_NE(md.find("highest-score group (reported only): invdiff 0.900 ± 0.141 (2 seeds);"), std::string::npos) << md;
  EXPECT_EQ(md.find("Min step skipped"), std::string::npos);
  b["rows"]["invdiff"]["cells"][1]["skipped"] = true;
  md = bench_markdown(b);
  EXPECT_NE(md.find("Min step skipped (no clear group structure: the guided model is the base): invdiff 1 of 3 seeds;"),
            std::string::npos) << md;
}

namespace {
// A tiny cfmnist (24 train, 12 reference images per class) in d and run options for it: a tiny
// UNet trained 20 steps, 6 min-step steps, 4 images per prompt.
RunOptions tiny_run(const TempDir& d) {
  RunOptions o;
  o.data = join_path(d.path, "cfm");
  tiny_cfmnist(o.data, 24, 12);
  o.out = join_path(d.path, "run");
  o.base_steps = 20;
  o.debias_steps = 6;
  o.samples_per_class = 4;
  o.unet = tiny_unet(16);
  o.train.batch_size = 16;
  o.train.warmup = 2;
  return o;
}
}  // namespace

// A whole run on a tiny cfmnist with a tiny UNet: every stage, both report formats, a rerun
// that skips every stage, and a changed setting refused instead of overwriting.
TEST(RunPipeline, TinyRunReportsAndResumes) {
  OneThread one;
  TempDir d;
  RunOptions o = tiny_run(d);
  o.command_line = "invdiff run (test)";
  o.always_debias = true;  // the tiny set's groups show no clear structure (the test below)
  auto r = run_pipeline(o, torch::kCPU, false);
  for (const char* f : {"report.md", "report.html", "metrics.json", "shares.svg", "loss.svg", "base/checkpoint.pt",
                        "guided/checkpoint.pt", "groups/groups.csv", "groups/report.md", "eval_base/samples.png",
                        "eval_guided/samples.png", "eval_ref/metrics.json"})
    EXPECT_TRUE(file_exists(join_path(o.out, f))) << f;
  EXPECT_EQ(r["base_train"]["steps"], 20);
  EXPECT_EQ(r["guided_train"]["steps"], 6);
  EXPECT_EQ(r["eval"]["guided"]["n_images"], 16);
  // The split rule finds nothing distinct in 24 images per prompt: one group each ("all").
  EXPECT_EQ(r["groups"]["group_names"], nlohmann::json({"all"}));
  auto md = read_text(join_path(o.out, "report.md"));
  char want[64];
  std::snprintf(want, sizeof want, "| base model | %.3f |", r["eval"]["base"]["bias"].get<double>());
  EXPECT_NE(md.find(want), std::string::npos) << md;
  EXPECT_NE(md.find("![attribute shares per prompt, base vs guided](shares.svg)"), std::string::npos);
  EXPECT_NE(read_text(join_path(o.out, "report.html")).find("<td>base model</td>"), std::string::npos);
  // The max step's label-free verdict reaches the report, whichever it is.
  const auto& st = r["groups"]["structure"];
  ASSERT_TRUE(st.contains("clear")) << r["groups"].dump();
  EXPECT_NE(md.find(st["clear"].get<bool>() ? "The max step found a group structure to rebalance: "
                                             : "**No clear group structure** (label-free): "),
            std::string::npos)
      << md;
  EXPECT_NE(md.find(st["reason"].get<std::string>()), std::string::npos) << md;

  // Rerun: every stage is found finished (same numbers, nothing retrained).
  auto ckpt_time = std::filesystem::last_write_time(join_path(o.out, "guided/checkpoint.pt"));
  auto r2 = run_pipeline(o, torch::kCPU, false);
  EXPECT_EQ(std::filesystem::last_write_time(join_path(o.out, "guided/checkpoint.pt")), ckpt_time);
  EXPECT_EQ(r2["eval"], r["eval"]);
  EXPECT_EQ(r2["groups"], r["groups"]);

  // Other settings in the same directory: refused with the directory named, nothing lost.
  RunOptions o3 = o;
  o3.debias_steps = 7;
  auto e = error_of([&] { run_pipeline(o3, torch::kCPU, false); });
  EXPECT_NE(e.find("other settings"), std::string::npos) << e;
  EXPECT_NE(e.find("guided"), std::string::npos) << e;
  EXPECT_TRUE(file_exists(join_path(o.out, "guided/checkpoint.pt")));
}

// Without --always-debias a run whose label-free groups show no clear structure (the tiny set's:
// a 20-step base finds none) leaves the base as it is: no G_psi trained, the guided row the
// base's own numbers, and both the report and metrics.json say why.
TEST(RunPipeline, NoClearGroupStructureLeavesTheBaseAsItIs) {
  OneThread one;
  TempDir d;
  RunOptions o = tiny_run(d);
  auto r = run_pipeline(o, torch::kCPU, false);
  ASSERT_FALSE(r["groups"]["structure"]["clear"].get<bool>()) << r["groups"]["structure"].dump();
  EXPECT_NE(r["guided_train"]["skipped"].get<std::string>().find("no clear group structure"), std::string::npos);
  EXPECT_FALSE(file_exists(join_path(o.out, "guided/checkpoint.pt")));
  for (const char* k : {"bias", "fd", "faithfulness"}) EXPECT_EQ(r["eval"]["guided"][k], r["eval"]["base"][k]) << k;
  auto md = read_text(join_path(o.out, "report.md"));
  EXPECT_NE(md.find("So the min step was skipped and the guided model is the base itself"), std::string::npos) << md;
  EXPECT_NE(md.find("skipped (no clear group structure"), std::string::npos) << md;
}

namespace {

// A tiny bench over two seeds (rows base, oracle and erm; 4 debias steps, 4 samples per class) on
// a tiny cfmnist (24 train, 12 reference images per class) and a base trained 10 steps on it. The
// data and base are built once per suite, the bench once, by the first test that reads it; the
// tests after it rerun it with other settings in the same directory.
class TinyBench : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    one_ = new OneThread();
    dir_ = new TempDir();
    tiny_cfmnist(path("cfm"), 24, 12);
    tiny_base(path("cfm"), path("base"), 10);
  }
  static void TearDownTestSuite() {
    first_.reset();
    grouped_.reset();
    delete dir_;
    delete one_;
  }
  static std::string path(const std::string& p) { return join_path(dir_->path, p); }
  static std::string out(const std::string& p) { return join_path(path("bench"), p); }
  static BenchOptions options() {
    BenchOptions o;
    o.out = path("bench");
    o.data = path("cfm");
    o.base = path("base");
    o.seeds = 2;
    o.rows = {BenchRow::Base, BenchRow::Oracle, BenchRow::Erm};
    o.samples_per_class = 4;
    o.debias_steps = 4;
    return o;
  }
  // Seed 0's oracle model: its write time tells whether a rerun retrained it.
  static std::string oracle_ckpt() { return out("seed0/oracle_steps4/guided/checkpoint.pt"); }
  struct Run {
    nlohmann::json bench;                           // bench.json
    std::filesystem::file_time_type oracle_written;  // of oracle_ckpt(), after the run
  };
  // run_bench(options()), once.
  static const Run& first() {
    if (!first_) {
      auto b = run_bench(options(), torch::kCPU, false);
      first_ = Run{b, std::filesystem::last_write_time(oracle_ckpt())};
    }
    return *first_;
  }
  // -G 3 on the invdiff and oracle rows, one seed, after first(): once.
  static const nlohmann::json& grouped() {
    first();
    if (!grouped_) {
      BenchOptions g = options();
      g.seeds = 1;
      g.rows = {BenchRow::Invdiff, BenchRow::Oracle};
      g.groups = 3;
      grouped_ = run_bench(g, torch::kCPU, false);
    }
    return *grouped_;
  }
  inline static OneThread* one_ = nullptr;
  inline static TempDir* dir_ = nullptr;
  inline static std::optional<Run> first_;
  inline static std::optional<nlohmann::json> grouped_;
};

}  // namespace

TEST_F(TinyBench, AggregatesBothSeedsOfEveryRowInTableOrder) {
  const auto& b = first().bench;
  EXPECT_TRUE(file_exists(out("bench_steps4.md")));
  EXPECT_EQ(b["row_order"], nlohmann::json({"base", "erm", "oracle"}));  // table order, not argument order
  for (const char* row : {"base", "erm", "oracle"}) {
    const auto& a = b["rows"][row];
    ASSERT_EQ(a["seeds"], 2) << row;
    std::vector<double> v{a["cells"][0]["bias"].get<double>(), a["cells"][1]["bias"].get<double>()};
    auto [m, sd] = mean_sd(v);
    EXPECT_DOUBLE_EQ(a["bias"]["mean"].get<double>(), m) << row;
    EXPECT_DOUBLE_EQ(a["bias"]["sd"].get<double>(), sd) << row;
  }
  EXPECT_GT(b["rows"]["oracle"]["trainable"].get<int64_t>(), 0);
}

// The max step's groups live in SEED/ROW[groups tags]/groups, shared by the cells that differ
// only in the min step (bench.cpp).
TEST_F(TinyBench, OnlyRowsWithGroupsWriteThem) {
  first();
  EXPECT_TRUE(file_exists(out("seed1/oracle/groups/groups.csv")));
  EXPECT_FALSE(file_exists(out("seed0/erm/groups")));  // the control has no groups
}

TEST_F(TinyBench, RerunRetrainsNothing) {
  const auto& r = first();
  auto b2 = run_bench(options(), torch::kCPU, false);
  EXPECT_EQ(b2["rows"], r.bench["rows"]);
  EXPECT_EQ(std::filesystem::last_write_time(oracle_ckpt()), r.oracle_written);
}

// A bench of fewer rows into the same table keeps the rows it does not run (made with the same
// base, preset and -n); with another -n they are left out, not mixed in.
TEST_F(TinyBench, FewerRowsKeepTheTablesOtherRows) {
  const auto& r = first();
  BenchOptions o = options();
  o.rows = {BenchRow::Base};
  auto b = run_bench(o, torch::kCPU, false);
  EXPECT_EQ(b["row_order"], nlohmann::json({"base", "erm", "oracle"}));
  EXPECT_EQ(b["rows"], r.bench["rows"]);
  auto written = nlohmann::json::parse(read_text(out("bench_steps4.json")));
  EXPECT_EQ(written["rows"], r.bench["rows"]);
  const auto md = read_text(out("bench_steps4.md"));
  EXPECT_NE(md.find("ERM control"), std::string::npos);
  EXPECT_NE(md.find("Rows kept from an earlier call into this table: erm, oracle."), std::string::npos) << md;
  o.rows = {BenchRow::Invdiff};  // a row of its own cells: the others' cells hold -n 4
  o.samples_per_class = 2;
  o.seeds = 1;
  auto other = run_bench(o, torch::kCPU, false);
  EXPECT_EQ(other["row_order"], nlohmann::json({"invdiff"}));
  // Put the table back as the other tests read it.
  run_bench(options(), torch::kCPU, false);
}

// A sampling-time r sweep reuses the trained models, in its own evaluation directories and table file.
TEST_F(TinyBench, GuidanceRatioSweepReusesTheModelsInItsOwnFiles) {
  const auto& r = first();
  BenchOptions o = options();
  o.guidance_ratio = 2;
  auto b3 = run_bench(o, torch::kCPU, false);
  EXPECT_EQ(std::filesystem::last_write_time(oracle_ckpt()), r.oracle_written);  // models reused, only sampling reran
  EXPECT_TRUE(file_exists(out("bench_steps4_r2.md")));
  EXPECT_TRUE(file_exists(out("seed0/oracle_steps4/eval_r2/metrics.json")));
  EXPECT_EQ(b3["rows"]["base"]["bias"], r.bench["rows"]["base"]["bias"]);  // r applies to guided rows only
}

// -G: only the invdiff row's groups change (std grouper with G groups), in tagged cells; the
// oracle cell is the untagged one, reused.
TEST_F(TinyBench, GroupCountRegroupsOnlyTheInvdiffRowInTaggedCells) {
  const auto& bg = grouped();
  EXPECT_TRUE(file_exists(out("bench_steps4_G3.md")));
  auto gs = nlohmann::json::parse(read_text(out("seed0/invdiff_G3/groups/summary.json")));
  EXPECT_EQ(gs["grouper"]["method"], "std");
  EXPECT_EQ(gs["num_groups"], 3);
  EXPECT_EQ(std::filesystem::last_write_time(oracle_ckpt()), first().oracle_written);
  EXPECT_EQ(bg["rows"]["oracle"]["cells"][0]["bias"], first().bench["rows"]["oracle"]["cells"][0]["bias"]);
}

// Reported from the group report's minority column; a row without scores has no ranking.
TEST_F(TinyBench, CellsWithScoresReportTheTopGroupMinorityShare) {
  const auto& bg = grouped();
  const auto& gc = bg["rows"]["invdiff"]["cells"][0];
  ASSERT_TRUE(gc.contains("top_group_minority")) << gc.dump();
  EXPECT_GE(gc["top_group_minority"].get<double>(), 0.0);
  EXPECT_LE(gc["top_group_minority"].get<double>(), 1.0);
  EXPECT_FALSE(bg["rows"]["oracle"]["cells"][0].contains("top_group_minority"));  // no scores: no ranking
}

// --grouper / --residual-pool: the invdiff row's max step only, tagged the same way.
TEST_F(TinyBench, GrouperAndResidualPoolRetagTheInvdiffRow) {
  BenchOptions og = options();
  og.seeds = 1;
  og.rows = {BenchRow::Invdiff};
  og.grouper = GrouperKind::Otsu;
  og.residual_pool = 0;
  run_bench(og, torch::kCPU, false);
  EXPECT_TRUE(file_exists(out("bench_steps4_otsu_pool0.md")));
  auto os = nlohmann::json::parse(read_text(out("seed0/invdiff_otsu_pool0/groups/summary.json")));
  EXPECT_EQ(os["grouper"]["method"], "otsu");
  EXPECT_EQ(os["score"]["residual_pool"], 0);
}

// bench -m takes a diffusers folder: the base row samples it, the invdiff row debiases it; the
// reweighting baseline (a fine-tune of an invdiff checkpoint) is refused naming the folder.
TEST_F(TinyBench, ImportedDiffusersBaseRunsTheGuidedRows) {
  const std::string hf = path("hf_base");
  write_tiny_unet2d(hf, load_dataset(path("cfm")).class_names);
  BenchOptions o = options();
  o.out = path("hf_bench");
  o.base = hf;
  o.seeds = 1;
  o.rows = {BenchRow::Base, BenchRow::Invdiff};
  auto b = run_bench(o, torch::kCPU, false);
  EXPECT_EQ(b["base"], hf);
  EXPECT_TRUE(file_exists(join_path(o.out, "seed0/invdiff_steps4/guided/checkpoint.pt")));
  EXPECT_TRUE(file_exists(join_path(o.out, "bench_steps4.md")));
  o.rows = {BenchRow::Reweight};
  EXPECT_NE(error_of([&] { run_bench(o, torch::kCPU, false); }).find("fine-tunes an invdiff checkpoint, not a diffusers folder"),
            std::string::npos);
}

// Row names are parsed at the CLI edge: an unknown one is refused with the choices.
TEST(Bench, UnknownRowIsRefused) {
  EXPECT_NE(error_of([&] { parse_enum<BenchRow>("nope"); }).find("unknown bench row 'nope' (reference, base,"),
            std::string::npos);
}

// -G is the std grouper's count: with another grouper it is refused, not ignored.
TEST_F(TinyBench, GroupCountWithAnotherGrouperIsRefused) {
  BenchOptions bad = options();
  bad.rows = {BenchRow::Invdiff};
  bad.groups = 3;
  bad.grouper = GrouperKind::Cluster;
  EXPECT_NE(error_of([&] { run_bench(bad, torch::kCPU, false); }).find("-G sets the std grouper"), std::string::npos);
}

// Issue 7's guard: the label-free path (scores, grouper, min step) must not read the attribute
// columns. With colour, colour_name and minority deleted from the metadata it must run and give
// exactly the groups it gives with them present; the oracle path must then fail naming them.
TEST(LabelFree, InferredGroupsAndTheMinStepNeverReadAttributeColumns) {
  OneThread one;
  TempDir d;
  const std::string full = join_path(d.path, "full"), bare = join_path(d.path, "bare");
  tiny_cfmnist(full, 24, 4);
  std::filesystem::copy(full, bare, std::filesystem::copy_options::recursive);
  CsvTable meta = read_csv(join_path(full, "metadata.csv")), stripped;
  std::vector<size_t> keep;
  for (size_t c = 0; c < meta.header.size(); ++c)
    if (meta.header[c] != "colour" && meta.header[c] != "colour_name" && meta.header[c] != "minority") {
      keep.push_back(c);
      stripped.header.push_back(meta.header[c]);
    }
  ASSERT_EQ(stripped.header.size() + 3, meta.header.size());
  for (const auto& r : meta.rows) {
    std::vector<std::string> row;
    for (size_t c : keep) row.push_back(r[c]);
    stripped.rows.push_back(row);
  }
  write_csv(join_path(bare, "metadata.csv"), stripped);

  const std::string base = join_path(d.path, "base");
  tiny_base(bare, base, 8);

  Preset pr = get_preset("quick");
  pr.debias_steps = 3;
  Recipe r = invdiff_recipe(pr);
  r.debias.batch_size = 16;
  r.min_step_needs_structure = false;  // the min step runs whatever the verdict: it is guarded too
  Experiment with(full, torch::kCPU, false), without(bare, torch::kCPU, false);
  auto a = with.make_model(join_path(d.path, "with"), base, r);
  auto b = without.make_model(join_path(d.path, "without"), base, r);
  EXPECT_EQ(read_text(join_path(d.path, "with/groups/groups.csv")), read_text(join_path(d.path, "without/groups/groups.csv")));
  EXPECT_EQ(b["train"]["steps"], 3);
  EXPECT_EQ(a["groups"]["structure"], b["groups"]["structure"]);  // the verdict is label-free too
  EXPECT_TRUE(a["groups"].contains("minority"));   // the report reads the flag where it exists...
  EXPECT_FALSE(b["groups"].contains("minority"));  // ...and only there
  auto e = error_of([&] { without.make_model(join_path(d.path, "oracle"), base, oracle_recipe(pr)); });
  EXPECT_NE(e.find("colour_name"), std::string::npos) << e;
}
