#include "experiment/run_report.h"

#include <cstdio>
#include <vector>

#include "core/csv.h"
#include "core/fs.h"
#include "eval/charts.h"
#include "eval/colour.h"
#include "eval/report_doc.h"

namespace invdiff {

namespace {
// The cluster grouper's summary.json "grouper" entry in words: features, how k was set, the k's.
std::string cluster_description(const nlohmann::json& g) {
  std::string feats;
  const std::string kind = g.value("features", std::string("residual"));
  if (kind != "hidden" && g.contains("feature_pool"))
    feats = "each sample's residual pooled to " + std::to_string(g["feature_pool"].get<int>()) + " x " +
            std::to_string(g["feature_pool"].get<int>()) + " per channel (the direction of the model's error)";
  else if (kind != "hidden")
    feats = "each sample's pooled residual (the direction of the model's error)";
  if (kind != "residual") feats += std::string(feats.empty() ? "" : " and ") + "its bottleneck activation (what the model represents)";
  std::string how = "the Otsu split of the score within each prompt, refined by 2-means on " + feats;
  if (g.value("clusters", nlohmann::json()).is_string()) {
    std::string ks;
    for (const auto& c : g.value("conditions", nlohmann::json::array()))
      ks += (ks.empty() ? "" : ", ") + std::to_string(c.value("k", 1));
    const bool split = g["clusters"].get<std::string>() == "split";
    how += std::string(", with the number of clusters per prompt chosen without labels ") +
           (split ? "by splitting while a split is clearly more distinct than one Gaussian's (" : "by BIC (") + ks + ")";
  }
  return how;
}
}  // namespace

std::string fmt_num(const nlohmann::json& v, int digits) {
  if (!v.is_number()) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v.get<double>());
  return b;
}

std::string bias_judges(const nlohmann::json& metrics) {
  std::string s;
  for (const auto& a : metrics.value("attributes", nlohmann::json::array())) {
    // A classifier's accuracy is its measurement error's bound: Bias is only as good as its judge.
    const std::string one = a.value("kind", std::string()) == "colour-oracle"
                                ? "the colour oracle"
                                : "the attribute classifier on '" + a.value("column", std::string()) +
                                      "' (validation accuracy " + fmt_num(a.value("val_accuracy", nlohmann::json())) + ")";
    s += (s.empty() ? "" : "; ") + one;
  }
  return s;
}

namespace {
std::string minutes(const nlohmann::json& seconds) {
  return seconds.is_number() ? fmt_num(seconds.get<double>() / 60.0, 1) + " min" : "-";
}

// Loss column of a loss.csv (x = step), or empty when absent.
LineSeries loss_series(const std::string& csv, const std::string& name, const std::string& colour) {
  LineSeries s{name, colour, {}, {}};
  if (!file_exists(csv)) return s;
  auto t = read_csv(csv);
  size_t cs = t.column("step"), cl = t.column("loss");
  for (const auto& r : t.rows) {
    s.x.push_back(std::stod(r[cs]));
    s.y.push_back(std::stod(r[cl]));
  }
  s.y = moving_average(s.y, 50);  // one step's loss is one noisy minibatch
  return s;
}

// "2 groups (low, high) per prompt, crossed with the 4 prompts: 8 in the min step"
std::string group_detail(const nlohmann::json& run) {
  const auto& g = run["groups"];
  std::string names;
  for (const auto& n : g["group_names"]) names += (names.empty() ? "" : ", ") + n.get<std::string>();
  std::string s = std::to_string(g["num_groups"].get<int64_t>()) + " groups (" + names + ")";
  const auto& r = run["recipe"];
  if (r.value("cross_class", false))
    s += " within each prompt, crossed with the " + std::to_string(run["eval"]["base"]["prompt_order"].size()) +
         " prompts in the min step";
  if (r.value("hard_groups", false)) s += ", hard (argmax) assignment";
  return s;
}

std::vector<std::string> metric_row(const std::string& name, const nlohmann::json& m) {
  return {name, fmt_num(m["bias"]), fmt_num(m["purity"]), fmt_num(m["faithfulness"]), fmt_num(m["fd"], 4),
          fmt_num(m["kid"], 4), fmt_num(m["precision"]), fmt_num(m["recall"]),
          std::to_string(m.value("n_images", int64_t(0)))};
}
}  // namespace

void write_run_report(const std::string& out, const nlohmann::json& run) {
  const auto& ev = run["eval"];
  const auto& base = ev["base"];
  const auto& guided = ev["guided"];
  ReportDoc doc("invdiff run: " + out);
  doc.paragraph("Preset **" + run["preset"]["name"].get<std::string>() + "**, seed " + std::to_string(run["seed"].get<uint64_t>()) +
                ", data `" + run["data"].get<std::string>() + "`, " + std::to_string(run["threads"].get<int>()) +
                " threads on " + run["device"].get<std::string>() + ". Every number below comes from this run's "
                "directory; `metrics.json` holds them all. Reproduce with:");
  doc.code_block(run["command"].get<std::string>());

  doc.heading("Does it remove the bias, and at what cost?");
  const double b0 = base["bias"].is_number() ? base["bias"].get<double>() : 0;
  const double b1 = guided["bias"].is_number() ? guided["bias"].get<double>() : 0;
  const double bref = ev["reference"]["bias"].is_number() ? ev["reference"]["bias"].get<double>() : 0;
  doc.table({"images", "Bias", "colour purity", "faithfulness", "FD", "KID", "precision", "recall", "n"},
            {metric_row("reference split (real, balanced)", ev["reference"]), metric_row("base model", base),
             metric_row("guided (" + run["recipe"]["label"].get<std::string>() + ")", guided)});
  const std::string judges = bias_judges(base);
  char buf[768];
  if (judges.empty()) {
    doc.paragraph("Bias not measured: `" + run["data"].get<std::string>() + "` has no attribute labels. Bias needs "
                  "labelled reference data: pass `--attribute COL` naming a column labelled in the ref split (an "
                  "attribute classifier trained there judges the generated images). The quality columns compare "
                  "generated images with the reference split in the evaluation classifier's feature space (FD, KID: "
                  "lower is better; precision, recall, faithfulness: higher).");
  } else {
    std::snprintf(buf, sizeof buf,
                  "Bias, judged by %s: 0 = every prompt's attribute values uniform, 1 = one value only. The guided "
                  "model moves Bias from %.3f to %.3f, closing %.1f %% of the base's distance to the reference "
                  "split's %.3f. Quality columns compare generated images with the reference split in the "
                  "evaluation classifier's feature space (FD, KID: lower is better; precision, recall: higher); a "
                  "lower Bias with a worse FD or faithfulness means broken images, not fairness.",
                  judges.c_str(), b0, b1, b0 - bref != 0 ? 100.0 * (b0 - b1) / (b0 - bref) : 0.0, bref);
    doc.paragraph(buf);
  }

  // Label-free verdict of the max step: with nothing to rebalance, a change is not a debiasing.
  const auto& st = run["groups"].value("structure", nlohmann::json::object());
  if (st.is_object() && st.contains("clear")) {
    if (st["clear"].get<bool>())
      doc.paragraph("The max step found a group structure to rebalance: " + st["reason"].get<std::string>() + ".");
    else
      doc.paragraph("**No clear group structure** (label-free): " + st["reason"].get<std::string>() + ". " +
                    (run["guided_train"].contains("skipped")
                         ? std::string("So the min step was skipped and the guided model is the base itself "
                                       "(`--always-debias` trains G_psi anyway); no debiasing is claimed.")
                         : std::string("The guided model is therefore not claimed to debias: a change in Bias above "
                                       "is what training the module without a bias to remove does, and its quality "
                                       "columns show what it costs.")));
  }

  // Per-prompt shares of the first judged attribute: one stacked bar per model and prompt.
  std::vector<std::string> prompts = base["prompt_order"].get<std::vector<std::string>>();
  std::vector<std::string> attrs =
      base["attribute"].value("classes", std::vector<std::string>{});  // none: no shares to show
  auto palette = manifest_palette(run["data"].get<std::string>());
  ShareBars bars;
  bars.prompts = prompts;
  bars.models = {"base", "guided"};
  bars.attributes = attrs;
  for (const auto& a : attrs) {
    std::string c = "#888888";
    for (const auto& p : palette)
      if (p.name == a) c = css_colour(p.r, p.g, p.b);
    bars.colours.push_back(c);
  }
  std::vector<std::vector<std::string>> share_rows;
  for (const nlohmann::json* m : {&base, &guided}) {
    std::vector<std::vector<double>> per;
    for (const auto& p : prompts) {
      std::vector<double> f;
      for (const auto& a : attrs) f.push_back((*m)["per_prompt"][p]["shares"][a].get<double>());
      per.push_back(f);
    }
    bars.shares.push_back(per);
  }
  for (const auto& p : prompts) {
    std::vector<std::string> row{p};
    for (const nlohmann::json* m : {&base, &guided}) {
      std::string s;
      for (const auto& a : attrs) s += (s.empty() ? "" : " / ") + fmt_num((*m)["per_prompt"][p]["shares"][a], 2);
      row.push_back(s);
      row.push_back(fmt_num((*m)["per_prompt"][p]["bias"]));
    }
    row.push_back(fmt_num(guided["per_prompt"][p]["purity"]));
    share_rows.push_back(row);
  }
  if (!attrs.empty()) {
    atomic_write_text(join_path(out, "shares.svg"), svg_share_bars(bars));
    doc.heading("Attribute shares per prompt");
    doc.image("shares.svg", "attribute shares per prompt, base vs guided");
    std::string share_head;
    for (const auto& a : attrs) share_head += (share_head.empty() ? "" : " / ") + a;
    doc.table({"prompt", "base " + share_head, "base Bias", "guided " + share_head, "guided Bias", "guided purity"},
              share_rows);
  }

  doc.heading("Samples (same seeds for both models, one row per prompt)");
  doc.images({"eval_base/samples.png", "eval_guided/samples.png"}, {"base", "guided"});

  doc.heading("Training");
  std::vector<LineSeries> curves;
  auto bl = loss_series(join_path(out, "base/loss.csv"), "base model", "#1f77b4");
  auto gl = loss_series(join_path(out, "guided/loss.csv"), "G_psi (group objective)", "#d62728");
  for (auto* s : {&bl, &gl})  // a given base has no loss.csv here: its curve is left out
    if (!s->x.empty()) curves.push_back(*s);
  if (!curves.empty()) {
    atomic_write_text(join_path(out, "loss.svg"), svg_line_chart(curves, "step", "loss (moving average of 50)", true));
    doc.image("loss.svg", "loss curves");
  }
  const auto& gt = run["guided_train"];
  std::vector<std::vector<std::string>> stages;
  if (run.contains("base_train"))
    stages.push_back({"base model", minutes(run["base_train"]["seconds"]),
                      std::to_string(run["base_train"]["steps"].get<int64_t>()) + " steps, " +
                          std::to_string(run["base_train"]["parameters"].get<int64_t>()) + " parameters, final loss " +
                          fmt_num(run["base_train"]["final_loss"], 4)});
  else
    stages.push_back({"base model", "-", "given: `" + run.value("base", std::string()) + "` (not trained here)"});
  stages.push_back({"evaluation classifier", minutes(run["classifier"]["seconds"]),
                    "validation accuracy " + fmt_num(run["classifier"]["val_accuracy"])});
  const auto attr = run.value("attribute_classifiers", nlohmann::json::object());
  for (auto it = attr.begin(); it != attr.end(); ++it)
    stages.push_back({"attribute classifier (" + it.key() + ")", minutes(it.value()["seconds"]),
                      "validation accuracy " + fmt_num(it.value()["val_accuracy"]) + " (judges Bias; evaluation only)"});
  stages.push_back({"groups (max step)", minutes(run["groups"]["seconds"]), group_detail(run)});
  if (gt.contains("skipped"))
    stages.push_back({"G_psi (min step)", "-", "skipped (" + gt["skipped"].get<std::string>() + "): the guided model is the base"});
  else
    stages.push_back({"G_psi (min step)", minutes(gt["seconds"]),
                      std::to_string(gt["steps"].get<int64_t>()) + " steps, " + std::to_string(gt["trainable"].get<int64_t>()) +
                          " trainable parameters, final loss " + fmt_num(gt["final_loss"], 4)});
  stages.push_back({"evaluate base", minutes(base["seconds"]), "sampling + metrics"});
  stages.push_back({"evaluate guided", minutes(guided["seconds"]), "sampling + metrics"});
  doc.table({"stage", "time", "detail"}, stages);
  doc.paragraph("Times are those recorded when each stage ran (a stage resumed after an interruption counts its "
                "training time across calls). This call took " +
                minutes(run["seconds_this_call"]) + ".");

  doc.heading("Inferred groups (the max step)");
  const auto& gr = run["groups"];
  std::string desc = "Score: " + gr["score"].value("method", std::string("?"));
  if (gr["score"].contains("selected_timestep"))
    desc += ", timestep chosen without labels: t = " + std::to_string(gr["score"]["selected_timestep"]["t"].get<int>());
  if (gr["score"].contains("refined")) {
    std::string ts;
    for (const auto& t : gr["score"]["refined"]["timesteps"]) ts += (ts.empty() ? "" : ", ") + std::to_string(t.get<int>());
    desc += "; score = mean of the standardised losses at t = " + ts + " (one noise draw each)";
  }
  if (gr["score"].value("residual_pool", 0) > 0)
    desc += "; the loss is that of the residual pooled to " + std::to_string(gr["score"]["residual_pool"].get<int>()) +
            " x " + std::to_string(gr["score"]["residual_pool"].get<int>()) + " per channel (its low band)";
  if (gr.contains("grouper") && gr["grouper"].value("method", std::string()) == "cluster")
    desc += ". Groups: " + cluster_description(gr["grouper"]);
  if (gr.contains("minority") && gr["minority"].contains("auc_score"))
    desc += ". Reported only (the grouping never read it): AUC of the score against the minority flag " +
            fmt_num(gr["minority"]["auc_score"]) + ".";
  doc.paragraph(desc + " Grids and the full table: [groups/report.md](groups/report.md).");
  std::vector<std::vector<std::string>> grows;
  for (const auto& g : gr["groups"])
    grows.push_back({g["name"].get<std::string>(), std::to_string(g["size"].get<int64_t>()),
                     fmt_num(g.value("mean_score", nlohmann::json())), fmt_num(g.value("minority_share", nlohmann::json())),
                     fmt_num(g.value("minority_recall", nlohmann::json()))});
  doc.table({"group (within each prompt)", "size", "mean score", "minority share", "minority recall"}, grows);

  atomic_write_text(join_path(out, "metrics.json"), run.dump(2) + "\n");
  atomic_write_text(join_path(out, "report.md"), doc.markdown());
  atomic_write_text(join_path(out, "report.html"), doc.html());
}

}  // namespace invdiff
