// The pieces of `invdiff run` / `invdiff bench`: resumable stages, the two-format report, the
// SVG charts, the bench aggregation, and a whole tiny run end to end (rerun = every stage skipped,
// changed settings refused, not overwritten).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <functional>

#include "core/fs.h"
#include "data/cfmnist.h"
#include "data/dataset.h"
#include "eval/charts.h"
#include "eval/report_doc.h"
#include "core/csv.h"
#include "invdiff/groups_io.h"
#include "invdiff/infer_groups.h"
#include "invdiff/score.h"
#include "invdiff/scores_io.h"
#include "experiment/bench.h"
#include "experiment/experiment.h"
#include "experiment/run.h"
#include "experiment/stage.h"
#include "sampling/any_model.h"
#include "train/trainer.h"
#include "test_util.h"

using namespace invdiff;

namespace {
bool have_fashion_mnist() { return file_exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"); }

// A cfmnist of `train` and `ref` images per class in dir.
void tiny_cfmnist(const std::string& dir, int64_t train, int64_t ref) {
  CfmnistConfig cc;
  cc.max_train_per_class = train;
  cc.max_ref_per_class = ref;
  build_cfmnist(cc, dir, false);
}

UNetConfig tiny_unet() {
  UNetConfig u;
  u.base_channels = 16;
  u.channel_mult = {1, 2};
  u.norm_groups = 4;
  return u;
}

// A tiny base model trained for `steps` steps on data_dir into dir.
void tiny_base(const std::string& data_dir, const std::string& dir, int64_t steps) {
  TrainConfig tc;
  tc.steps = steps;
  tc.batch_size = 16;
  tc.warmup = 2;
  train_diffusion(load_dataset(data_dir), tiny_unet(), tc, dir, false, torch::kCPU, false);
}

// Tiny tensors: one thread avoids OpenMP hand-off costs; restored on scope exit.
struct OneThread {
  int saved = torch::get_num_threads();
  OneThread() { torch::set_num_threads(1); }
  ~OneThread() { torch::set_num_threads(saved); }
};

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}
}  // namespace

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

TEST(ReportDoc, MarkdownAndHtmlCarryTheSameContent) {
  ReportDoc doc("run <x>");
  doc.heading("Metrics");
  doc.paragraph("see `a.md` and **bold** [link](b.html) & more");
  doc.table({"row", "Bias"}, {{"base", "0.700"}, {"guided", "0.400"}});
  doc.images({"a.png", "b.png"}, {"base", "guided"});
  auto md = doc.markdown();
  EXPECT_EQ(md.rfind("# run <x>\n", 0), 0u);
  EXPECT_NE(md.find("## Metrics\n"), std::string::npos);
  EXPECT_NE(md.find("| row | Bias |\n|---|---|\n| base | 0.700 |\n| guided | 0.400 |\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| ![base](a.png) | ![guided](b.png) |"), std::string::npos) << md;
  auto html = doc.html();
  EXPECT_NE(html.find("<h1>run &lt;x&gt;</h1>"), std::string::npos);
  EXPECT_NE(html.find("<p>see <code>a.md</code> and <b>bold</b> <a href=\"b.html\">link</a> &amp; more</p>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("<tr><td>guided</td><td>0.400</td></tr>"), std::string::npos);
  EXPECT_EQ(count(html, "<img src="), 2u);
  EXPECT_EQ(inline_markdown_to_html("a `b<c` d"), "a <code>b&lt;c</code> d");
  EXPECT_EQ(inline_markdown_to_html("unclosed `tick"), "unclosed `tick");
}

TEST(Charts, ShareBarsDrawEveryNonZeroShareAndRejectRaggedInput) {
  ShareBars b;
  b.prompts = {"Bag", "Trouser"};
  b.models = {"base", "guided"};
  b.attributes = {"red", "green"};
  b.colours = {css_colour(1, 0.15, 0.15), css_colour(0.15, 1, 0.15)};
  EXPECT_EQ(b.colours[0], "#ff2626");  // 0.15 * 255 = 38.25 -> 38 = 0x26
  b.shares = {{{0.9, 0.1}, {0.2, 0.8}}, {{0.5, 0.5}, {1.0, 0.0}}};
  auto svg = svg_share_bars(b);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  // 7 non-zero bar segments + 2 legend squares + the white background.
  EXPECT_EQ(count(svg, "<rect"), 10u);
  EXPECT_EQ(count(svg, "stroke-dasharray"), 1u);  // the uniform share at 1/K = 0.5
  EXPECT_NE(svg.find("Trouser - guided"), std::string::npos);
  EXPECT_NE(svg.find(">90.0%<"), std::string::npos);
  b.shares[1].pop_back();
  EXPECT_NE(error_of([&] { svg_share_bars(b); }).find("ragged"), std::string::npos);
}

TEST(Charts, MovingAverageAndLineChart) {
  auto m = moving_average({1, 2, 3, 4, 5}, 2);
  std::vector<double> want{1, 1.5, 2.5, 3.5, 4.5};
  ASSERT_EQ(m.size(), want.size());
  for (size_t i = 0; i < m.size(); ++i) EXPECT_DOUBLE_EQ(m[i], want[i]);
  EXPECT_EQ(moving_average({3, 1}, 1), (std::vector<double>{3, 1}));
  auto svg = svg_line_chart({{"loss", "#000", {1, 2, 3}, {1.0, 0.1, 0.01}}}, "step", "loss", true);
  EXPECT_EQ(count(svg, "<polyline"), 1u);
  EXPECT_NE(svg.find("(log scale)"), std::string::npos);
  // log scale: 1, 0.1, 0.01 are evenly spaced vertically (top 20, bottom 320 - 60 = 260).
  EXPECT_NE(svg.find("points=\"70.0,20.0 345.0,140.0 620.0,260.0 \""), std::string::npos) << svg;
  EXPECT_NE(error_of([] { svg_line_chart({{"x", "#000", {1}, {-1}}}, "a", "b", true); }).find("no finite points"),
            std::string::npos);
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
}

// A whole run on a tiny cfmnist with a tiny UNet: every stage, both report formats, a rerun
// that skips every stage, and a changed setting refused instead of overwriting.
TEST(RunPipeline, TinyRunReportsAndResumes) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  OneThread one;
  TempDir d;
  RunOptions o;
  o.data = join_path(d.path, "cfm");
  tiny_cfmnist(o.data, 24, 12);
  o.out = join_path(d.path, "run");
  o.base_steps = 20;
  o.debias_steps = 6;
  o.samples_per_class = 4;
  o.unet = tiny_unet();
  o.train.batch_size = 16;
  o.train.warmup = 2;
  o.command_line = "invdiff run (test)";
  auto r = run_pipeline(o, torch::kCPU, false);
  for (const char* f : {"report.md", "report.html", "metrics.json", "shares.svg", "loss.svg", "base/checkpoint.pt",
                        "guided/checkpoint.pt", "groups/groups.csv", "groups/report.md", "eval_base/samples.png",
                        "eval_guided/samples.png", "eval_ref/metrics.json"})
    EXPECT_TRUE(file_exists(join_path(o.out, f))) << f;
  EXPECT_EQ(r["base_train"]["steps"], 20);
  EXPECT_EQ(r["guided_train"]["steps"], 6);
  EXPECT_EQ(r["eval"]["guided"]["n_images"], 16);
  EXPECT_EQ(r["groups"]["group_names"], nlohmann::json({"low", "high"}));
  auto md = read_text(join_path(o.out, "report.md"));
  char want[64];
  std::snprintf(want, sizeof want, "| base model | %.3f |", r["eval"]["base"]["bias"].get<double>());
  EXPECT_NE(md.find(want), std::string::npos) << md;
  EXPECT_NE(md.find("![attribute shares per prompt, base vs guided](shares.svg)"), std::string::npos);
  EXPECT_NE(read_text(join_path(o.out, "report.html")).find("<td>base model</td>"), std::string::npos);

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

// A tiny bench over two seeds: every row has both cells, mean and sd agree with the cells, a
// rerun retrains nothing, and a sampling-time r sweep reuses the trained models in its own
// evaluation directories and table file.
TEST(Bench, TinyBenchAggregatesSeedsAndReusesCells) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  OneThread one;
  TempDir d;
  const std::string data = join_path(d.path, "cfm"), base = join_path(d.path, "base");
  tiny_cfmnist(data, 24, 12);
  tiny_base(data, base, 10);

  BenchOptions o;
  o.out = join_path(d.path, "bench");
  o.data = data;
  o.base = base;
  o.seeds = 2;
  o.rows = {BenchRow::Base, BenchRow::Oracle, BenchRow::Erm};
  o.samples_per_class = 4;
  o.debias_steps = 4;
  auto b = run_bench(o, torch::kCPU, false);
  EXPECT_TRUE(file_exists(join_path(o.out, "bench_steps4.md")));
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
  EXPECT_TRUE(file_exists(join_path(o.out, "seed1/oracle_steps4/groups/groups.csv")));
  EXPECT_FALSE(file_exists(join_path(o.out, "seed0/erm_steps4/groups")));  // the control has no groups

  const std::string ckpt = join_path(o.out, "seed0/oracle_steps4/guided/checkpoint.pt");
  auto t0 = std::filesystem::last_write_time(ckpt);
  auto b2 = run_bench(o, torch::kCPU, false);
  EXPECT_EQ(b2["rows"], b["rows"]);
  o.guidance_ratio = 2;
  auto b3 = run_bench(o, torch::kCPU, false);
  EXPECT_EQ(std::filesystem::last_write_time(ckpt), t0);  // models reused, only sampling reran
  EXPECT_TRUE(file_exists(join_path(o.out, "bench_steps4_r2.md")));
  EXPECT_TRUE(file_exists(join_path(o.out, "seed0/oracle_steps4/eval_r2/metrics.json")));
  EXPECT_EQ(b3["rows"]["base"]["bias"], b["rows"]["base"]["bias"]);  // r applies to guided rows only

  // -G: only the invdiff row's groups change (std grouper with G groups), in tagged cells.
  BenchOptions g = o;
  g.guidance_ratio.reset();
  g.seeds = 1;
  g.rows = {BenchRow::Invdiff, BenchRow::Oracle};
  g.groups = 3;
  auto bg = run_bench(g, torch::kCPU, false);
  EXPECT_TRUE(file_exists(join_path(o.out, "bench_steps4_G3.md")));
  auto gs = nlohmann::json::parse(read_text(join_path(o.out, "seed0/invdiff_steps4_G3/groups/summary.json")));
  EXPECT_EQ(gs["grouper"]["method"], "std");
  EXPECT_EQ(gs["num_groups"], 3);
  const auto& gc = bg["rows"]["invdiff"]["cells"][0];  // reported from the group report's minority column
  ASSERT_TRUE(gc.contains("top_group_minority")) << gc.dump();
  EXPECT_GE(gc["top_group_minority"].get<double>(), 0.0);
  EXPECT_LE(gc["top_group_minority"].get<double>(), 1.0);
  EXPECT_FALSE(bg["rows"]["oracle"]["cells"][0].contains("top_group_minority"));  // no scores: no ranking
  EXPECT_EQ(std::filesystem::last_write_time(ckpt), t0);  // the oracle cell is the untagged one, reused
  EXPECT_EQ(bg["rows"]["oracle"]["cells"][0]["bias"], b["rows"]["oracle"]["cells"][0]["bias"]);
  // --grouper / --residual-pool: the invdiff row's max step only, tagged the same way.
  BenchOptions og = g;
  og.groups.reset();
  og.rows = {BenchRow::Invdiff};
  og.grouper = GrouperKind::Otsu;
  og.residual_pool = 0;
  run_bench(og, torch::kCPU, false);
  EXPECT_TRUE(file_exists(join_path(o.out, "bench_steps4_otsu_pool0.md")));
  auto os = nlohmann::json::parse(read_text(join_path(o.out, "seed0/invdiff_steps4_otsu_pool0/groups/summary.json")));
  EXPECT_EQ(os["grouper"]["method"], "otsu");
  EXPECT_EQ(os["score"]["residual_pool"], 0);
  EXPECT_NE(error_of([&] { parse_enum<BenchRow>("nope"); }).find("unknown bench row 'nope' (reference, base,"),
            std::string::npos);
  // -G is the std grouper's count: with another grouper it is refused, not ignored.
  EXPECT_NE(error_of([&] {
              BenchOptions bad = g;
              bad.grouper = GrouperKind::Cluster;
              run_bench(bad, torch::kCPU, false);
            }).find("-G sets the std grouper"),
            std::string::npos);
}

// Issue 7's guard: the label-free path (scores, grouper, min step) must not read the attribute
// columns. With colour, colour_name and minority deleted from the metadata it must run and give
// exactly the groups it gives with them present; the oracle path must then fail naming them.
TEST(LabelFree, InferredGroupsAndTheMinStepNeverReadAttributeColumns) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
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
  Experiment with(full, torch::kCPU, false), without(bare, torch::kCPU, false);
  auto a = with.make_model(join_path(d.path, "with"), base, r);
  auto b = without.make_model(join_path(d.path, "without"), base, r);
  EXPECT_EQ(read_text(join_path(d.path, "with/groups/groups.csv")), read_text(join_path(d.path, "without/groups/groups.csv")));
  EXPECT_EQ(b["train"]["steps"], 3);
  EXPECT_TRUE(a["groups"].contains("minority"));   // the report reads the flag where it exists...
  EXPECT_FALSE(b["groups"].contains("minority"));  // ...and only there
  auto e = error_of([&] { without.make_model(join_path(d.path, "oracle"), base, oracle_recipe(pr)); });
  EXPECT_NE(e.find("colour_name"), std::string::npos) << e;
}

// The refined score: the timestep is chosen on every k-th row, then every row is scored at the
// K timesteps around it and the score is the mean of those z columns (shifted to a minimum of 1).
// Also the cluster grouper end to end: pooled-residual features written, read back, reused.
TEST(InferGroups, RefinedScoreAndTheClusterGrouper) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  OneThread one;
  TempDir d;
  const std::string data_dir = join_path(d.path, "data"), base = join_path(d.path, "base");
  tiny_cfmnist(data_dir, 12, 2);
  tiny_base(data_dir, base, 4);
  auto data = load_dataset(data_dir);
  const auto model = load_denoiser(base, torch::kCPU);
  const int64_t N = data.size();
  GroupsConfig cfg;
  cfg.score.num_timesteps = 4;
  cfg.select_timestep = true;
  cfg.grouper = GrouperKind::Otsu;
  cfg.refine_draws = 3;
  cfg.select_samples = 10;
  GroupReportOptions ro;
  ro.images = false;
  auto s = infer_groups(data, &model, cfg, join_path(d.path, "g"), torch::kCPU, false, ro);
  const int64_t stride = (N + 9) / 10;
  EXPECT_EQ(s["score"]["coarse"]["rows"].get<int64_t>(), (N + stride - 1) / stride);
  EXPECT_EQ(s["score"]["coarse"]["timesteps"], nlohmann::json({125, 375, 625, 875}));
  const int t = s["score"]["selected_timestep"]["t"].get<int>();
  const auto expect = refine_timesteps(t, 3, 1000, 4);
  EXPECT_EQ(s["score"]["refined"]["timesteps"], nlohmann::json(expect));
  auto back = read_scores_csv(join_path(d.path, "g/scores.csv"), data.files);
  EXPECT_EQ(back.timesteps, expect);
  auto l = back.z.mean(1);
  EXPECT_TRUE(torch::allclose(back.score, l - l.min() + 1.0, 1e-6, 1e-6));

  // A stage key holds only the fields that differ from the defaults, so adding an option with a
  // default keeps every existing key; the config reads back as written.
  nlohmann::json on = config_key(cfg);
  EXPECT_EQ(on["refine_draws"], 3);
  EXPECT_EQ(on["select_samples"], 10);
  EXPECT_EQ(on["grouper"], "otsu");
  EXPECT_EQ(on["score"], nlohmann::json({{"num_timesteps", 4}}));
  EXPECT_FALSE(on.contains("feature_pool"));
  EXPECT_FALSE(on.contains("cluster"));
  EXPECT_EQ(config_key(GroupsConfig{}), nlohmann::json::object());
  auto back_cfg = nlohmann::json(cfg).get<GroupsConfig>();
  EXPECT_EQ(back_cfg.refine_draws, 3);
  EXPECT_EQ(back_cfg.select_samples, 10);
  EXPECT_EQ(back_cfg.grouper, GrouperKind::Otsu);
  EXPECT_EQ(nlohmann::json(back_cfg), nlohmann::json(cfg));
  // Absent keys keep the defaults; an unknown grouper name is an error, not the first one.
  EXPECT_EQ(nlohmann::json::parse(R"({"refine_draws":2})").get<GroupsConfig>().select_samples, 6000);
  auto eg = error_of([] { nlohmann::json::parse(R"({"grouper":"kmeans"})").get<GroupsConfig>(); });
  EXPECT_NE(eg.find("unknown grouper 'kmeans' (std, otsu or cluster)"), std::string::npos) << eg;

  // Cluster grouper: residual pooled to 1 x 1 per channel (3 features), score band 2 x 2.
  cfg.grouper = GrouperKind::Cluster;
  cfg.feature_pool = 1;
  cfg.score.residual_pool = 2;
  auto c = infer_groups(data, &model, cfg, join_path(d.path, "c"), torch::kCPU, false, ro);
  EXPECT_EQ(c["grouper"]["method"], "cluster");
  EXPECT_EQ(c["grouper"]["features"], 3);
  EXPECT_EQ(c["score"]["residual_pool"], 2);
  auto cs = read_scores_csv(join_path(d.path, "c/scores.csv"), data.files);
  ASSERT_TRUE(cs.features.defined());
  EXPECT_EQ(cs.features.sizes(), (std::vector<int64_t>{N, 3}));
  auto g1 = read_groups(join_path(d.path, "c"));
  EXPECT_TRUE(torch::equal(g1.W.sum(1), torch::ones({N}, torch::kFloat64)));
  // Regrouping from the written scores (no model) gives the same groups.
  infer_groups(data, nullptr, cfg, join_path(d.path, "c2"), torch::kCPU, false, ro, join_path(d.path, "c/scores.csv"));
  EXPECT_TRUE(torch::equal(read_groups(join_path(d.path, "c2")).W, g1.W));
  nlohmann::json cj = config_key(cfg);
  EXPECT_EQ(cj["feature_pool"], 1);
  EXPECT_EQ(cj["score"]["residual_pool"], 2);
  EXPECT_FALSE(cj.contains("cluster"));  // whiten = true is the default
  EXPECT_EQ(nlohmann::json(cfg).get<GroupsConfig>().feature_pool, 1);
  // A scores file without res_* columns cannot feed the cluster grouper.
  auto e2 = error_of([&] {
    infer_groups(data, nullptr, cfg, join_path(d.path, "c3"), torch::kCPU, false, ro, join_path(d.path, "g/scores.csv"));
  });
  EXPECT_NE(e2.find("needs residual features"), std::string::npos) << e2;

  cfg.select_timestep = false;
  auto e = error_of([&] { infer_groups(data, &model, cfg, join_path(d.path, "g2"), torch::kCPU, false, ro); });
  EXPECT_NE(e.find("--select-timestep"), std::string::npos) << e;
}
