#include "experiment/bench.h"

#include <cctype>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "core/dir_lock.h"
#include "core/fs.h"
#include "experiment/experiment.h"
#include "experiment/run_report.h"

namespace invdiff {

std::pair<double, double> mean_sd(const std::vector<double>& v) {
  std::vector<double> f;
  for (double x : v)
    if (std::isfinite(x)) f.push_back(x);
  if (f.empty()) return {NAN, NAN};
  double m = 0;
  for (double x : f) m += x;
  m /= f.size();
  if (f.size() < 2) return {m, 0.0};
  double ss = 0;
  for (double x : f) ss += (x - m) * (x - m);
  return {m, std::sqrt(ss / (f.size() - 1))};
}

namespace {
const std::vector<std::string> kMetrics{"bias", "fd", "kid", "precision", "recall", "faithfulness", "purity",
                                        "train_seconds", "eval_seconds"};

double num_or_nan(const nlohmann::json& v) { return v.is_number() ? v.get<double>() : NAN; }

std::string row_label(BenchRow row, const Preset& pr) {
  switch (row) {
    case BenchRow::Reference: return "Reference split (real, balanced; sanity row)";
    case BenchRow::Base: return "Base (no debiasing)";
    case BenchRow::Erm: return erm_recipe(pr).label;
    case BenchRow::Official: return official_recipe(pr).label;
    case BenchRow::Invdiff: return invdiff_recipe(pr).label;
    case BenchRow::Oracle: return oracle_recipe(pr).label;
    case BenchRow::Reweight: return reweight_recipe(pr).label;
  }
  throw std::logic_error("bench: a row without a label");
}

// A --set of the invdiff row's max step (groups_cfg.*); every other key is a min-step setting.
bool is_max_step_setting(const std::string& set) { return set.rfind("groups_cfg.", 0) == 0; }

Recipe recipe_for(BenchRow row, const Preset& pr, const BenchOptions& opt) {
  Recipe r = row == BenchRow::Erm ? erm_recipe(pr)
             : row == BenchRow::Official ? official_recipe(pr)
             : row == BenchRow::Invdiff ? invdiff_recipe(pr)
             : row == BenchRow::Oracle ? oracle_recipe(pr)
                               : reweight_recipe(pr);
  // Knob overrides apply to the rows sharing invdiff's min step (the official recipe keeps its
  // own: its convex mix refuses the `small` variant).
  if (row == BenchRow::Erm || row == BenchRow::Invdiff || row == BenchRow::Oracle) {
    if (opt.lambda) r.debias.lambda = *opt.lambda;
    if (opt.variant) r.guidance.variant = *opt.variant;
  }
  std::vector<std::string> min_step_settings, max_step_settings;
  for (const auto& set : opt.settings)
    (is_max_step_setting(set) ? max_step_settings : min_step_settings).push_back(set);
  if (row == BenchRow::Erm || row == BenchRow::Invdiff || row == BenchRow::Oracle) r = with_settings(r, min_step_settings);
  if (row == BenchRow::Invdiff) r = with_settings(r, max_step_settings);
  if (opt.groups && opt.grouper && *opt.grouper != GrouperKind::Std)
    throw std::invalid_argument("bench: -G sets the std grouper; it cannot be combined with --grouper " +
                                enum_name(*opt.grouper));
  if (row == BenchRow::Invdiff && opt.groups) {
    if (*opt.groups < 2) throw std::invalid_argument("bench: -G must be >= 2 (got " + std::to_string(*opt.groups) + ")");
    r.groups_cfg.grouper = GrouperKind::Std;
    r.groups_cfg.grouper_opt.groups = *opt.groups;
  }
  if (row == BenchRow::Invdiff && opt.refine_draws) r.groups_cfg.refine_draws = *opt.refine_draws;
  if (row == BenchRow::Invdiff && opt.grouper) r.groups_cfg.grouper = *opt.grouper;
  if (row == BenchRow::Invdiff && opt.residual_pool) r.groups_cfg.score.residual_pool = *opt.residual_pool;
  return r;
}

// "_lr3e-4" for debias.lr=3e-4: the last key segment and the value, file-name-safe.
std::string setting_tag(const std::string& set) {
  const auto eq = set.find('=');
  const auto dot = set.rfind('.', eq);
  std::string raw = set.substr(dot == std::string::npos ? 0 : dot + 1), out = "_";
  for (char c : raw)
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') out += c;
  return out;
}

// Aggregates the cells of one row over seeds.
nlohmann::json aggregate(const nlohmann::json& cells) {
  nlohmann::json a;
  for (const auto& m : kMetrics) {
    std::vector<double> v;
    for (const auto& c : cells) v.push_back(num_or_nan(c.value(m, nlohmann::json())));
    auto [mean, sd] = mean_sd(v);
    a[m] = {{"mean", std::isfinite(mean) ? nlohmann::json(mean) : nlohmann::json(nullptr)},
            {"sd", std::isfinite(sd) ? nlohmann::json(sd) : nlohmann::json(nullptr)}, {"values", v}};
  }
  a["seeds"] = cells.size();
  a["trainable"] = cells.empty() ? nlohmann::json(nullptr) : cells[0].value("trainable", nlohmann::json(nullptr));
  return a;
}

// "2" for 2.0, "0.5" for 0.5: short, file-name-safe numbers for knob tags.
std::string short_num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

std::string pm(const nlohmann::json& a, int digits) {
  if (!a["mean"].is_number()) return "-";
  return fmt_num(a["mean"], digits) + " ± " + fmt_num(a["sd"], digits);
}

std::string params_text(const nlohmann::json& v) {
  if (!v.is_number()) return "-";
  char b[32];
  double p = v.get<double>();
  if (p >= 1e6) std::snprintf(b, sizeof b, "%.2f M", p / 1e6);
  else std::snprintf(b, sizeof b, "%.0f k", p / 1e3);
  return b;
}
}  // namespace

std::string bench_markdown(const nlohmann::json& bench) {
  std::string md = "| row | seeds | Bias | FD | KID | precision | recall | faithfulness | colour purity | trainable "
                   "params | train min | eval min |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  const auto& rows = bench["rows"];
  for (const auto& name : bench["row_order"]) {
    const std::string n = name.get<std::string>();
    if (!rows.contains(n)) continue;
    const auto& a = rows[n];
    auto minutes = [&](const nlohmann::json& x) {
      if (!x["mean"].is_number()) return std::string("-");
      return fmt_num(x["mean"].get<double>() / 60, 1);
    };
    md += "| " + a["label"].get<std::string>() + " | " + std::to_string(a["seeds"].get<int64_t>()) + " | " +
          pm(a["bias"], 3) + " | " + pm(a["fd"], 4) + " | " + pm(a["kid"], 4) + " | " + pm(a["precision"], 3) + " | " +
          pm(a["recall"], 3) + " | " + pm(a["faithfulness"], 3) + " | " + pm(a["purity"], 3) + " | " +
          params_text(a["trainable"]) + " | " + minutes(a["train_seconds"]) + " | " + minutes(a["eval_seconds"]) + " |\n";
  }
  // Share of the Base -> oracle Bias gap each row closes (issue 7's yardstick).
  if (rows.contains("base") && rows.contains("oracle") && rows["base"]["bias"]["mean"].is_number() &&
      rows["oracle"]["bias"]["mean"].is_number()) {
    double b = rows["base"]["bias"]["mean"].get<double>(), o = rows["oracle"]["bias"]["mean"].get<double>();
    if (b - o > 1e-9) {
      md += "\nShare of the Base -> oracle-groups Bias gap closed (mean Bias):";
      for (const auto& name : bench["row_order"]) {
        const std::string n = name.get<std::string>();
        if (!rows.contains(n) || n == "reference" || n == "base" || n == "oracle") continue;
        if (!rows[n]["bias"]["mean"].is_number()) continue;
        char buf[96];
        std::snprintf(buf, sizeof buf, " %s %.0f %%;", n.c_str(), 100 * (b - rows[n]["bias"]["mean"].get<double>()) / (b - o));
        md += buf;
      }
      md += "\n";
    }
  }
  // How well each label-free max step finds the minority (reported only; the rows never read it).
  auto per_cell = [&](const char* field, const std::string& title) {
    std::string line;
    for (const auto& name : bench["row_order"]) {
      const std::string n = name.get<std::string>();
      if (!rows.contains(n) || !rows[n].contains("cells")) continue;
      std::vector<double> v;
      for (const auto& c : rows[n]["cells"])
        if (c.contains(field) && c[field].is_number()) v.push_back(c[field].get<double>());
      if (v.empty()) continue;
      auto [mean, sd] = mean_sd(v);
      line += " " + n + " " + fmt_num(mean, 3) + " ± " + fmt_num(sd, 3) + " (" + std::to_string(v.size()) + " seeds);";
    }
    if (!line.empty()) md += "\n" + title + line + "\n";
  };
  // Cells whose label-free groups showed no clear structure kept the base (recipes.h).
  std::string skipped;
  for (const auto& name : bench["row_order"]) {
    const std::string n = name.get<std::string>();
    if (!rows.contains(n) || !rows[n].contains("cells")) continue;
    int k = 0, all = 0;
    for (const auto& c : rows[n]["cells"]) ++all, k += c.value("skipped", false);
    if (k > 0) skipped += " " + n + " " + std::to_string(k) + " of " + std::to_string(all) + " seeds;";
  }
  if (!skipped.empty())
    md += "\nMin step skipped (no clear group structure: the guided model is the base):" + skipped + "\n";
  per_cell("minority_auc", "Minority-detection AUC of the per-sample score (reported only):");
  per_cell("top_group_minority", "Minority share of the highest-score group (reported only):");
  const auto cols = bench.value("attribute_columns", std::vector<std::string>{});
  if (cols.size() > 1)  // Bias above is the mean over the attributes; each on its own here
    for (const auto& c : cols) per_cell(("bias_" + c).c_str(), "Bias on " + c + " alone:");
  const auto clfs = bench.value("attribute_classifiers", nlohmann::json::object());
  if (!clfs.empty()) {
    md += "\nAttribute classifiers judging Bias (trained on the balanced reference split, evaluation only), "
          "validation accuracy:";
    for (auto it = clfs.begin(); it != clfs.end(); ++it)
      md += " " + it.key() + " " + fmt_num(it.value().value("val_accuracy", nlohmann::json(nullptr)), 3) + ";";
    md += "\n";
  }
  return md;
}

nlohmann::json run_bench(const BenchOptions& opt, const c10::Device& device, bool progress) {
  if (opt.seeds < 1) throw std::invalid_argument("bench: --seeds must be at least 1");
  Preset pr = get_preset(opt.preset);
  if (opt.debias_steps) pr.debias_steps = *opt.debias_steps;
  std::vector<BenchRow> rows;
  for (const auto& [row, name] : EnumTable<BenchRow>::entries())  // table order, each row once
    if (opt.rows.empty() || std::find(opt.rows.begin(), opt.rows.end(), row) != opt.rows.end()) rows.push_back(row);
  for (BenchRow row : rows)  // a bad override fails now, not after the base model has trained
    if (row != BenchRow::Reference && row != BenchRow::Base) recipe_for(row, pr, opt);
  const DirLock claim(opt.out, "bench");  // creates OUT; one bench per directory, or its stages run twice
  Experiment ex(DataSpec{opt.data, opt.target, opt.attributes}, device, progress);
  ex.ensure_dataset();
  ex.check_attributes();
  const bool labelled_rows = std::any_of(rows.begin(), rows.end(), [](BenchRow r) {
    return r == BenchRow::Oracle || r == BenchRow::Reweight;
  });
  if (labelled_rows && ex.attribute_columns().empty())  // before the base model trains, not after
    throw std::invalid_argument("bench: the oracle and reweight rows group by attribute columns, and " + opt.data +
                                " names none (pass --attribute COL, or leave those rows out with --rows)");

  nlohmann::json bench;
  bench["command"] = opt.command_line;
  bench["preset"] = {{"name", pr.name}, {"base_steps", pr.base_steps}, {"debias_steps", pr.debias_steps},
                     {"reweight_steps", pr.reweight_steps}, {"score_timesteps", pr.score_timesteps}};
  bench["samples_per_class"] = opt.samples_per_class;
  bench["threads"] = torch::get_num_threads();
  bench["device"] = device.str();
  if (opt.lambda) bench["lambda"] = *opt.lambda;
  if (opt.guidance_ratio) bench["guidance_ratio"] = *opt.guidance_ratio;
  if (opt.variant) bench["variant"] = *opt.variant;
  if (opt.groups) bench["groups"] = *opt.groups;
  if (opt.refine_draws) bench["refine_draws"] = *opt.refine_draws;
  if (opt.grouper) bench["grouper"] = *opt.grouper;
  if (!opt.settings.empty()) bench["settings"] = opt.settings;
  if (opt.residual_pool) bench["residual_pool"] = *opt.residual_pool;

  std::string base = opt.base;
  if (base.empty()) {
    base = join_path(opt.out, "base");
    TrainConfig tc;
    tc.steps = pr.base_steps;
    tc.seed = 0;
    std::printf("bench: base model (%ld steps) in %s\n", (long)tc.steps, base.c_str());
    bench["base_train"] = ex.base(base, UNetConfig{}, tc);
  }
  bench["base"] = base;
  bench["classifier"] = ex.classifier(join_path(opt.out, "classifier"));
  bench["attribute_classifiers"] = ex.attribute_classifiers(opt.out);
  bench["attribute_columns"] = ex.attribute_columns();

  // Knob overrides get their own cell directories and table files, so a sweep shares one bench
  // directory (base, classifier, untouched rows) without clashing with the defaults' cells.
  std::string steps_tag, train_tag, eval_tag;
  if (opt.debias_steps) steps_tag = "_steps" + std::to_string(*opt.debias_steps);
  train_tag = steps_tag;
  if (opt.lambda) train_tag += "_lambda" + short_num(*opt.lambda);
  if (opt.variant) train_tag += "_" + enum_name(*opt.variant);
  for (const auto& set : opt.settings)
    if (!is_max_step_setting(set)) train_tag += setting_tag(set);
  // Only the invdiff row's groups change: the other rows keep their cells.
  std::string groups_tag = opt.groups ? "_G" + std::to_string(*opt.groups) : "";
  if (opt.refine_draws) groups_tag += "_refine" + std::to_string(*opt.refine_draws);
  if (opt.grouper) groups_tag += "_" + enum_name(*opt.grouper);
  if (opt.residual_pool) groups_tag += "_pool" + std::to_string(*opt.residual_pool);
  for (const auto& set : opt.settings)
    if (is_max_step_setting(set)) groups_tag += setting_tag(set);
  if (opt.guidance_ratio) eval_tag = "_r" + short_num(*opt.guidance_ratio);
  const std::string table = "bench" + train_tag + groups_tag + eval_tag;
  bench["table"] = table;

  std::map<BenchRow, nlohmann::json> cells;
  // Rows an earlier bench wrote to this table and this call does not run stay in it (`--rows erm`
  // after the others adds a row instead of replacing the table), when they were made the same
  // way: same base, preset and images per prompt.
  const std::string table_json = join_path(opt.out, table + ".json");
  std::string kept;  // their names, said under the command line that did not make them
  if (file_exists(table_json)) {
    auto prev = nlohmann::json::parse(read_text(table_json), nullptr, false);
    if (!prev.is_discarded() && prev.value("base", std::string()) == base &&
        prev.value("samples_per_class", -1) == opt.samples_per_class &&
        prev.value("preset", nlohmann::json::object()).value("name", std::string()) == pr.name) {
      const auto prev_rows = prev.value("rows", nlohmann::json::object());
      for (const auto& [row, name] : EnumTable<BenchRow>::entries())
        if (prev_rows.contains(name) && std::find(rows.begin(), rows.end(), row) == rows.end()) {
          cells[row] = prev_rows[name].value("cells", nlohmann::json::array());
          kept += (kept.empty() ? "" : ", ") + name;
        }
    }
  }
  bench["row_order"] = nlohmann::json::array();
  for (const auto& [row, name] : EnumTable<BenchRow>::entries())
    if (cells.count(row) || std::find(rows.begin(), rows.end(), row) != rows.end()) bench["row_order"].push_back(row);
  auto write = [&] {
    bench["rows"] = nlohmann::json::object();
    for (const auto& [row, cs] : cells) {
      auto a = aggregate(cs);
      a["label"] = row_label(row, pr);
      a["cells"] = cs;
      bench["rows"][enum_name(row)] = a;
    }
    atomic_write_text(table_json, bench.dump(2) + "\n");
    std::string md = "# invdiff bench\n\n`" + opt.command_line + "`\n\nPreset " + pr.name + " (G_psi " +
                     std::to_string(pr.debias_steps) + " steps), " + std::to_string(opt.samples_per_class) +
                     " images per prompt, mean ± sd over seeds, " + std::to_string(torch::get_num_threads()) +
                     " threads on " + device.str() + "." +
                     (kept.empty() ? "" : " Rows kept from an earlier call into this table: " + kept + ".") + "\n\n" +
                     bench_markdown(bench);
    atomic_write_text(join_path(opt.out, table + ".md"), md);
  };

  for (int s = 0; s < opt.seeds; ++s) {
    const uint64_t seed = static_cast<uint64_t>(s);
    const uint64_t sample_seed = 1000 + seed;
    for (BenchRow row : rows) {
      const std::string name = enum_name(row);
      const bool guided = row == BenchRow::Erm || row == BenchRow::Official || row == BenchRow::Invdiff ||
                          row == BenchRow::Oracle;
      const std::string tag = row == BenchRow::Official  ? steps_tag
                              : row == BenchRow::Invdiff ? train_tag + groups_tag
                              : guided                   ? train_tag
                                                         : "";
      const std::string seed_dir = join_path(opt.out, "seed" + std::to_string(s));
      const std::string dir = join_path(seed_dir, name + tag);
      const std::string eval_dir = join_path(dir, guided ? "eval" + eval_tag : "eval");
      std::printf("bench: seed %d, %s\n", s, row_label(row, pr).c_str());
      nlohmann::json m, cell;
      double train_seconds = 0;
      if (row == BenchRow::Reference) {
        m = ex.evaluate(dir, "", opt.samples_per_class, seed);
      } else if (row == BenchRow::Base) {
        m = ex.evaluate(eval_dir, base, opt.samples_per_class, sample_seed);
      } else {
        Recipe r = recipe_for(row, pr, opt);
        r.groups_cfg.score.seed = seed;
        r.debias.seed = seed;
        // The max step depends only on the groups' knobs: cells that change only the min step share it.
        const std::string groups_dir =
            join_path(join_path(seed_dir, name + (row == BenchRow::Invdiff ? groups_tag : "")), "groups");
        auto made = ex.make_model(dir, base, r, groups_dir);
        train_seconds = num_or_nan(made["train"]["seconds"]);
        if (made.contains("groups")) train_seconds += num_or_nan(made["groups"]["seconds"]);
        cell["trainable"] = made["train"]["trainable"];
        const bool skipped = made.value("skipped", false);  // no clear group structure: the base
        cell["skipped"] = skipped;
        m = ex.evaluate(eval_dir, made["model"].get<std::string>(), opt.samples_per_class, sample_seed,
                        guided && !skipped ? opt.guidance_ratio : std::nullopt);
        if (made.contains("groups") && made["groups"].contains("minority"))
          cell["minority_auc"] = made["groups"]["minority"].value("auc_score", nlohmann::json(nullptr));
        if (made.contains("groups")) {
          // The group the min step upweights most: the one with the highest mean score.
          double best = -INFINITY;
          for (const auto& g : made["groups"].value("groups", nlohmann::json::array()))
            if (g.contains("mean_score") && g.contains("minority_share") && g["mean_score"].get<double>() > best) {
              best = g["mean_score"].get<double>();
              cell["top_group_minority"] = g["minority_share"];
            }
        }
      }
      for (const char* k : {"bias", "fd", "kid", "precision", "recall", "faithfulness", "purity"}) cell[k] = m[k];
      const auto by = m.value("bias_by_attribute", nlohmann::json::object());
      for (auto it = by.begin(); it != by.end(); ++it) cell["bias_" + it.key()] = it.value();
      cell["seed"] = s;
      cell["train_seconds"] = train_seconds;
      cell["eval_seconds"] = m["seconds"];
      cells[row].push_back(cell);
      write();
    }
  }
  return bench;
}

}  // namespace invdiff
