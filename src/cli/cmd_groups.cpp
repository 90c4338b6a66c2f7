// `invdiff groups`: the max step. Scores every training sample with the frozen model, fits the
// soft grouper, writes scores.csv, groups.csv (the row-key map travels with W), summary.json and
// the group report. --oracle writes one-hot groups from true label columns instead.
#include <CLI/CLI.hpp>

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/fs.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "invdiff/group_report.h"
#include "invdiff/grouper.h"
#include "invdiff/groups_io.h"
#include "invdiff/score.h"
#include "pipeline/any_model.h"

namespace invdiff::cli {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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
    std::string model, data, out = "groups", score = "multi-t", split = "train", target, grouper = "std", scores_in;
    std::vector<std::string> oracle;
    int64_t limit = -1;
    bool ema = true, global_std = false, no_images = false, select_t = false;
    ScoreOptions so;
    GrouperOptions go;
    GroupReportOptions ro;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("-m,--model", o->model, "frozen base model (checkpoint file or directory)");
  cmd->add_option("--data", o->data, "dataset directory")->required();
  cmd->add_option("-o,--out", o->out, "output directory")->capture_default_str();
  cmd->add_option("-G,--groups", o->go.groups, "number of groups")->check(CLI::Range(2, 1000))->capture_default_str();
  cmd->add_option("--score", o->score, "per-sample score: multi-t or single-t (the official one-draw estimator)")
      ->check(CLI::IsMember({"multi-t", "single-t"}))->capture_default_str();
  cmd->add_option("-M,--num-timesteps", o->so.num_timesteps, "multi-t: timesteps (m + 0.5) T / M")
      ->check(CLI::Range(1, 10000))->capture_default_str();
  cmd->add_option("--timesteps", o->so.timesteps, "multi-t: explicit timesteps (overrides -M)")->delimiter(',');
  cmd->add_flag("--select-timestep", o->select_t,
                "multi-t: score = the one timestep whose per-condition scores split most cleanly in two (Otsu "
                "explained variance; label-free), instead of the mean over timesteps");
  cmd->add_flag("--global-standardise", o->global_std, "multi-t: standardise over all samples, not per condition");
  cmd->add_option("--seed", o->so.seed, "seed of the score noise and the grouper init")->capture_default_str();
  cmd->add_option("--batch-size", o->so.batch_size, "images per network call")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--grouper", o->grouper,
                  "std: the paper's soft grouper (SPEC); otsu: a two-way split of the score within each condition "
                  "(groups low/high; -G is ignored)")
      ->check(CLI::IsMember({"std", "otsu"}))->capture_default_str();
  cmd->add_option("--grouper-steps", o->go.steps, "full-batch Adam steps")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--grouper-lr", o->go.lr, "grouper Adam learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("-c,--min-weight", o->go.c, "weight c of the min_{i,g}(l_i W_ig) term")->capture_default_str();
  cmd->add_option("--scores", o->scores_in, "reuse a scores.csv from an earlier run instead of scoring (no -m needed)");
  cmd->add_option("--oracle", o->oracle, "one-hot groups from true label columns (e.g. class_name,colour_name)")->delimiter(',');
  cmd->add_option("--split", o->split, "dataset split")->capture_default_str();
  cmd->add_option("--target", o->target, "condition column (default: the manifest's)");
  cmd->add_option("--limit", o->limit, "use only the first N rows");
  cmd->add_option("--per-group", o->ro.per_group, "samples in each group's grid")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_flag("--no-images", o->no_images, "skip the per-group PNG grids");
  cmd->add_flag("!--no-ema", o->ema, "score with the raw weights instead of the EMA");
  cmd->callback([o, &g] {
    setup_runtime(g);
    auto device = parse_device(g.device);
    o->ro.images = !o->no_images;
    // The label-free path: file, target and images only.
    DatasetOptions dopt;
    dopt.split = o->split;
    dopt.target_column = o->target;
    dopt.limit = o->limit;
    auto data = load_dataset(o->data, dopt);
    ensure_dir(o->out);
    nlohmann::json summary;
    summary["dataset"] = {{"root", data.root}, {"split", data.split}, {"target_column", data.target_column},
                          {"size", data.size()}};
    const SampleScores* scores_ptr = nullptr;
    SampleScores scores;
    GroupTable table;
    table.files = data.files;

    if (!o->oracle.empty()) {
      // Oracle groups read the attribute columns: an upper bound, never the default.
      table = oracle_groups(load_metadata(o->data, o->split), data.files, o->oracle);
      summary["mode"] = "oracle";
      summary["oracle_columns"] = o->oracle;
    } else {
      if (o->model.empty() && o->scores_in.empty())
        throw std::invalid_argument("groups: -m/--model is required (or --scores FILE, or --oracle COLUMNS)");
      o->so.method = parse_score_method(o->score);
      o->so.per_condition = !o->global_std;
      o->go.seed = o->so.seed;
      auto t0 = std::chrono::steady_clock::now();
      if (!o->scores_in.empty()) {
        scores = read_scores_csv(o->scores_in, data.files);
        summary["model"] = nullptr;
        summary["scores_from"] = std::filesystem::absolute(o->scores_in).lexically_normal().string();
        o->score = score_method_name(scores.method);
      } else {
        LoadModelOptions lo;
        lo.use_ema = o->ema;
        auto model = load_any_model(o->model, device, lo);
        if (model.class_names() != data.class_names)
          throw std::runtime_error("groups: the dataset's classes differ from the model's");
        const auto& u = model.unet_config();
        if (data.images.size(1) != u.in_channels || data.images.size(2) != u.image_size)
          throw std::runtime_error("groups: the dataset's image shape differs from the model's");
        scores = compute_scores(model.eps, model.schedule(), data.images, data.labels, data.files, o->so, device, !g.quiet);
        summary["model"] = std::filesystem::absolute(checkpoint_path(o->model)).lexically_normal().string();
        summary["model_kind"] = model.kind;
      }
      double t_scores = seconds_since(t0);
      if (o->select_t) {
        select_timestep_otsu(scores, data.labels);
        std::printf("selected timestep %d (Otsu explained share by timestep:", scores.selected_timestep);
        for (size_t m = 0; m < scores.timesteps.size(); ++m)
          std::printf(" %d: %.3f", scores.timesteps[m], scores.selection_criterion[m]);
        std::printf(")\n");
      }
      write_scores_csv(join_path(o->out, "scores.csv"), data.files, scores);
      t0 = std::chrono::steady_clock::now();
      nlohmann::json grouper;
      if (o->grouper == "otsu") {
        table.W = otsu_groups(scores.score, data.labels);
        table.group_names = {"low", "high"};
        grouper = {{"method", "otsu"}, {"per_condition", true}};
      } else {
        auto fit = fit_groups(scores.score, o->go, {}, !g.quiet);
        table.W = fit.W;
        for (int64_t k = 0; k < o->go.groups; ++k) table.group_names.push_back("g" + std::to_string(k));
        grouper = {{"method", "std"}, {"groups", o->go.groups}, {"steps", o->go.steps}, {"lr", o->go.lr},
                   {"c", o->go.c}, {"seed", o->go.seed}, {"objective", fit.objective}, {"spread", fit.spread}};
      }
      double t_grouper = seconds_since(t0);
      auto spread = group_means(table.W, scores.score).std(true).item<double>();
      scores_ptr = &scores;
      summary["mode"] = "inferred";
      summary["score"] = {{"method", o->score}, {"timesteps", scores.timesteps}, {"seed", o->so.seed},
                          {"per_condition", o->so.per_condition}, {"ema", o->ema}};
      if (o->select_t)
        summary["score"]["selected_timestep"] = {{"t", scores.selected_timestep},
                                                 {"otsu_explained_share", scores.selection_criterion}};
      summary["grouper"] = grouper;
      summary["seconds"] = {{"scores", t_scores}, {"grouper", t_grouper}};
      if (o->scores_in.empty())
        std::printf("scored %ld samples in %.1f s (%.0f images/s); ", (long)data.size(), t_scores,
                    data.size() * std::max<size_t>(1, scores.timesteps.size()) / t_scores);
      else
        std::printf("read the scores of %ld samples from %s; ", (long)data.size(), o->scores_in.c_str());
      std::printf("grouper %.1f s, spread of group means %.4f\n", t_grouper, spread);
    }
    table.source = join_path(o->out, "groups.csv");
    write_groups_csv(table.source, table);

    auto hard = table.W.argmax(1);
    summary["group_names"] = table.group_names;
    summary["num_groups"] = table.num_groups();
    summary["sizes"] = nlohmann::json::array();
    summary["mass"] = nlohmann::json::array();
    for (int64_t k = 0; k < table.num_groups(); ++k) {
      summary["sizes"].push_back((hard == k).sum().item<int64_t>());
      summary["mass"].push_back(table.W.select(1, k).sum().item<double>());
    }
    if (scores_ptr) {
      auto m = (table.W * scores.score.unsqueeze(1)).sum(0) / table.W.sum(0).clamp_min(1e-12);
      summary["mean_score"] = std::vector<double>(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
    }
    atomic_write_text(join_path(o->out, "summary.json"), summary.dump(2) + "\n");
    auto rep = write_group_report(o->out, data, table.W, table.group_names, scores_ptr, o->ro);
    print_report(rep, o->out);
  });
}

}  // namespace invdiff::cli
