// `invdiff groups`: the max step. Scores every training sample with the frozen model, groups
// them (by default as `invdiff run` does: cli/recipe_option.h), writes scores.csv, groups.csv
// (the row-key map travels with W), summary.json and the group report. --oracle writes one-hot
// groups from true label columns instead.
#include <CLI/CLI.hpp>

#include <torch/torch.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/recipe_option.h"
#include "core/fs.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "invdiff/infer_groups.h"
#include "sampling/any_model.h"

namespace invdiff::cli {

namespace {
void print_summary(const nlohmann::json& s, int64_t n) {
  const auto& sc = s["score"];
  // A regrouping of refined scores keeps their score column: no timestep was chosen in this run.
  if (sc.contains("selected_timestep") && sc["selected_timestep"]["t"].get<int>() >= 0) {
    std::printf("selected timestep %d (Otsu explained share by timestep:", sc["selected_timestep"]["t"].get<int>());
    // With --refine-draws the shares belong to the coarse pass's timesteps, not the refined ones.
    auto ts = (sc.contains("coarse") ? sc["coarse"] : sc)["timesteps"].get<std::vector<int>>();
    auto share = sc["selected_timestep"]["otsu_explained_share"].get<std::vector<double>>();
    for (size_t m = 0; m < ts.size() && m < share.size(); ++m) std::printf(" %d: %.3f", ts[m], share[m]);
    std::printf(")\n");
  }
  double t_scores = s["seconds"]["scores"].get<double>();
  if (s["model"].is_null())
    std::printf("read the scores of %ld samples from %s; ", (long)n, s["scores_from"].get<std::string>().c_str());
  else {
    // One network call per (image, timestep): the coarse pass of --refine-draws counts too.
    double work = double(n) * std::max<size_t>(1, sc["timesteps"].size());
    if (sc.contains("coarse"))
      work += sc["coarse"].value("rows", 0.0) * double(sc["coarse"]["timesteps"].size());
    std::printf("scored %ld samples in %.1f s (%.0f image-timesteps/s); ", (long)n, t_scores,
                work / std::max(t_scores, 1e-9));
  }
  std::printf("grouper %.1f s, spread of group means %.4f\n", s["seconds"]["grouper"].get<double>(),
              s["spread"].get<double>());
  const auto& gr = s["grouper"];
  if (gr.contains("conditions") && gr["clusters"].is_string()) {
    std::printf("clusters per condition chosen by %s:", gr["clusters"].get<std::string>() == "split"
                                                            ? "splitting while the split beats one Gaussian's" : "BIC");
    for (const auto& c : gr["conditions"]) std::printf(" %ld", (long)c["k"].get<int64_t>());
    std::printf("\n");
  }
}

void print_report(const nlohmann::json& rep, const std::string& out) {
  for (const auto& gj : rep["groups"]) {
    std::printf("  %-24s size %6ld", gj["name"].get<std::string>().c_str(), (long)gj["size"].get<int64_t>());
    if (gj.contains("mean_score")) std::printf("  mean score %.4f", gj["mean_score"].get<double>());
    if (gj.contains("minority_share")) std::printf("  minority %.3f", gj["minority_share"].get<double>());
    std::printf("\n");
  }
  if (rep.contains("minority") && rep["minority"].contains("auc_score") && rep["minority"]["auc_score"].is_number())
    std::printf("AUC of the score against '%s': %.3f (reported only)\n",
                rep["minority"]["column"].get<std::string>().c_str(), rep["minority"]["auc_score"].get<double>());
  std::printf("wrote %s/{groups.csv,summary.json,report.md}\n", out.c_str());
}
}  // namespace

void add_groups_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("groups", "Infer bias groups without bias labels (the max step), or write oracle groups");
  struct Opts {
    std::string model, data, out = "groups", split = "train", target, scores_in;
    std::vector<std::string> oracle;
    int64_t limit = -1;
    bool global_std = false, no_images = false, no_whiten = false;
    GroupsConfig cfg;  // the flags write into it directly
    GroupReportOptions ro;
  };
  auto o = std::make_shared<Opts>();
  // First: every default below is the recipe's, and the flags after it change it.
  add_recipe_option(cmd, [o](const Recipe& r) { o->cfg = r.groups_cfg; });
  cmd->add_option("-m,--model", o->model, "frozen base model (checkpoint file or directory, or a diffusers folder)");
  cmd->add_option("--data", o->data, "dataset directory")->required();
  cmd->add_option("-o,--out", o->out, "output directory")->capture_default_str();
  cmd->add_option("-G,--groups", o->cfg.grouper_opt.groups, "number of groups")->check(in_range(2, 1000))->capture_default_str();
  add_enum(cmd, "--score", o->cfg.score.method, "per-sample score: multi-t or single-t (the official one-draw estimator)");
  cmd->add_option("-M,--num-timesteps", o->cfg.score.num_timesteps, "multi-t: timesteps (m + 0.5) T / M")
      ->check(in_range(1, 10000))->capture_default_str();
  cmd->add_option("--timesteps", o->cfg.score.timesteps, "multi-t: explicit timesteps (overrides -M)")->delimiter(',');
  cmd->add_flag("--select-timestep", o->cfg.select_timestep,
                "multi-t: score = the one timestep whose per-condition scores split most cleanly in two (Otsu "
                "explained variance; label-free), instead of the mean over timesteps (invdiff recipe: on)");
  add_negated_flag(cmd, "--no-select-timestep", o->cfg.select_timestep,
                   "multi-t: score = the mean over the timesteps (and no refine draws)");
  cmd->add_option("--refine-draws", o->cfg.refine_draws, "with --select-timestep: score every row at K timesteps around the "
                  "chosen one and average them (less noise; 0: off)")->check(in_range(0, 64))->capture_default_str();
  cmd->add_option("--select-samples", o->cfg.select_samples, "with --refine-draws: rows (every k-th) the timestep is "
                  "chosen on (0: all)")->check(non_negative())->capture_default_str();
  cmd->add_option("--residual-pool", o->cfg.score.residual_pool,
                  "score the residual eps_theta - eps average-pooled to P x P per channel (its low-frequency band; "
                  "0: full-resolution MSE)")->check(in_range(0, 4096))->capture_default_str();
  cmd->add_flag("--global-standardise", o->global_std, "multi-t: standardise over all samples, not per condition");
  cmd->add_option("--seed", o->cfg.score.seed, "seed of the score noise and the grouper init")
      ->check(whole_number())->capture_default_str();
  cmd->add_option("-b,--batch-size", o->cfg.score.batch_size,
                  "images per network call (0: by image size, 512 up to 45 x 45 px, 256 at 64 x 64)")
      ->check(non_negative())->capture_default_str();
  add_enum(cmd, "--grouper", o->cfg.grouper,
           "std: the paper's soft grouper (docs/method.md); otsu: a two-way split of the score within each condition "
           "(groups low/high; refuses -G); cluster: that split refined by 2-means on each sample's pooled "
           "residual (the direction of the model's error)");
  cmd->add_option("--feature-pool", o->cfg.feature_pool, "cluster grouper: residual features pooled to P x P per channel")
      ->check(in_range(1, 64))->capture_default_str();
  cmd->add_flag("--no-whiten", o->no_whiten, "cluster grouper: plain Euclidean 2-means (default: whitened by the "
                "low side's covariance)");
  cmd->add_flag("--robust-whiten", o->cfg.cluster.robust, "cluster grouper: whiten by a robust covariance of the "
                "whole condition and also start 2-means from the far rows (finds a minority that scores low)");
  add_enum(cmd, "--cluster-features", o->cfg.cluster_features,
           "cluster grouper: residual (the pooled error), hidden (the model's bottleneck activation), both, or auto "
           "(the residual when its groups show a clear structure, else the bottleneck when its do; there k = 2 even "
           "with --clusters 0)");
  cmd->add_option("--hidden-t", o->cfg.hidden_t_fraction, "cluster grouper with hidden features: take them at "
                  "t = f T in a pass of their own (f in [0, 1); the official recipe: at the score's timesteps)")
      ->check(in_range(0.0, 0.999999))->capture_default_str();
  cmd->add_option("--clusters", o->cfg.cluster.clusters, "cluster grouper: clusters per condition (0: chosen per "
                  "condition in 1..--max-clusters, by --choose-k)")->check(in_range(0, 64))->capture_default_str();
  add_enum(cmd, "--choose-k", o->cfg.cluster.choose_k,
           "cluster grouper with --clusters 0: bic (the best BIC) or split (split while a split is 2x more distinct "
           "than the same split of one Gaussian: 1 where nothing is)");
  cmd->add_option("--max-clusters", o->cfg.cluster.max_clusters, "cluster grouper with --clusters 0: the most clusters "
                  "per condition")->check(in_range(1, 64))->capture_default_str();
  cmd->add_option("--grouper-steps", o->cfg.grouper_opt.steps, "full-batch Adam steps")->check(non_negative())->capture_default_str();
  cmd->add_option("--grouper-lr", o->cfg.grouper_opt.lr, "grouper Adam learning rate")->check(positive())->capture_default_str();
  cmd->add_option("-c,--min-weight", o->cfg.grouper_opt.c, "weight c of the min_{i,g}(l_i W_ig) term")->capture_default_str();
  cmd->add_option("--scores", o->scores_in, "reuse a scores.csv from an earlier run instead of scoring (no -m needed)")
      ->excludes("--model");
  cmd->add_option("--oracle", o->oracle, "one-hot groups from true label columns (e.g. class_name,colour_name)")->delimiter(',');
  cmd->add_option("--split", o->split, "dataset split")->capture_default_str();
  cmd->add_option("--target", o->target, "condition column (default: the manifest's)");
  cmd->add_option("--limit", o->limit, "use only the first N rows");
  cmd->add_option("--per-group", o->ro.per_group, "samples in each group's grid")->check(positive())->capture_default_str();
  cmd->add_flag("--no-images", o->no_images, "skip the per-group PNG grids");
  add_negated_flag(cmd, "--no-ema", o->cfg.use_ema, "score with the raw weights instead of the EMA");
  cmd->callback([o, &g, cmd] {
    // Flags the chosen path never reads are refused, not recorded as if used.
    if (o->cfg.grouper != GrouperKind::Std && cmd->count("--groups") > 0)
      usage_error("-G/--groups sets the std grouper's group count; the " + enum_name(o->cfg.grouper) +
                  " grouper makes 2 groups per condition");
    const auto& c = o->cfg;
    refuse_given(cmd, !o->oracle.empty(),
                 {"--model", "--scores", "--recipe", "--groups", "--grouper", "--score", "--seed", "-M", "--timesteps",
                  "--select-timestep", "--no-select-timestep", "--refine-draws", "--residual-pool", "--batch-size",
                  "--no-ema"},
                 "--oracle writes groups from label columns");
    // The recipe's timestep choice belongs to the multi-t score: dropped with it (single-t, or
    // --no-select-timestep), and refused when asked for without it.
    refuse_given(cmd, c.score.method != ScoreMethod::MultiT, {"--select-timestep", "--refine-draws"},
                 "it applies to --score multi-t only");
    if (c.score.method != ScoreMethod::MultiT) o->cfg.select_timestep = false;
    refuse_given(cmd, !c.select_timestep, {"--refine-draws"}, "it applies to --select-timestep only");
    if (!c.select_timestep) o->cfg.refine_draws = 0;
    refuse_given(cmd, !o->scores_in.empty(), {"--batch-size", "--no-ema", "--residual-pool"},
                 "--scores reads the scores instead of computing them");
    refuse_given(cmd, c.score.method != ScoreMethod::MultiT, {"-M", "--timesteps", "--global-standardise"},
                 "it applies to --score multi-t only");
    refuse_given(cmd, !c.score.timesteps.empty(), {"-M"}, "--timesteps lists the timesteps");
    refuse_given(cmd, c.refine_draws == 0, {"--select-samples"}, "it applies to --refine-draws K > 0 only");
    refuse_given(cmd, c.grouper != GrouperKind::Cluster,
                 {"--feature-pool", "--no-whiten", "--cluster-features", "--clusters", "--max-clusters", "--robust-whiten",
                  "--hidden-t", "--choose-k"},
                 "it applies to --grouper cluster only");
    refuse_given(cmd, c.cluster.clusters != 0, {"--max-clusters", "--choose-k"}, "it applies to --clusters 0 only");
    refuse_given(cmd, o->no_whiten, {"--robust-whiten"}, "--no-whiten turns whitening off");
    refuse_given(cmd, c.cluster_features == ClusterFeatures::Hidden, {"--feature-pool"},
                 "--cluster-features hidden uses no residual features");
    refuse_given(cmd, c.cluster_features == ClusterFeatures::Residual, {"--hidden-t"},
                 "it applies to --cluster-features hidden, both or auto");
    refuse_given(cmd, !o->scores_in.empty(), {"--hidden-t"}, "--scores reads the features instead of computing them");
    refuse_given(cmd, c.grouper != GrouperKind::Std, {"--grouper-steps", "--grouper-lr", "--min-weight"},
                 "it applies to --grouper std only");
    refuse_given(cmd, o->no_images, {"--per-group"}, "--no-images writes no group grids");
    setup_runtime(g);
    auto device = parse_device(g.device);
    o->ro.images = !o->no_images;
    // The label-free path: file, target and images only.
    DatasetOptions dopt;
    dopt.split = o->split;
    dopt.target_column = o->target;
    dopt.limit = o->limit;
    auto data = load_dataset(o->data, dopt);
    nlohmann::json summary;
    if (!o->oracle.empty()) {
      summary = write_oracle_groups(data, o->data, o->oracle, o->out, o->ro);
    } else {
      if (o->model.empty() && o->scores_in.empty())
        throw std::invalid_argument("groups: -m/--model is required (or --scores FILE, or --oracle COLUMNS)");
      GroupsConfig cfg = o->cfg;
      cfg.score.per_condition = !o->global_std;
      cfg.cluster.whiten = !o->no_whiten;
      std::optional<Denoiser> model;
      if (o->scores_in.empty()) model = load_denoiser(o->model, device, cfg.use_ema);
      summary = infer_groups(data, model ? &*model : nullptr, cfg, o->out, device, !g.quiet, o->ro, o->scores_in);
      print_summary(summary, data.size());
    }
    print_report(summary["report"], o->out);
  });
}

}  // namespace invdiff::cli
