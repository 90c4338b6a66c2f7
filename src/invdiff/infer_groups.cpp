#include "invdiff/infer_groups.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "core/fs.h"
#include "invdiff/groups_io.h"
#include "invdiff/scores_io.h"

namespace invdiff {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}


// groups.csv, summary.json (sizes, masses, mean scores) and the group report: shared by the
// inferred and the oracle paths so both produce the same format.
nlohmann::json write_group_outputs(const ImageDataset& data, GroupTable& table, const SampleScores* scores,
                                   nlohmann::json summary, const std::string& out_dir, const GroupReportOptions& ro) {
  summary["dataset"] = dataset_fingerprint(data);
  table.source = join_path(out_dir, "groups.csv");
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
  if (scores) {
    auto m = group_means(table.W, scores->score);
    summary["mean_score"] = std::vector<double>(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
  }
  auto report = write_group_report(out_dir, data, table.W, table.group_names, scores, ro,
                                   summary.value("grouper", nlohmann::json()));
  summary["structure"] = report["structure"];  // label-free: the verdict a user reads first
  atomic_write_text(join_path(out_dir, "summary.json"), summary.dump(2) + "\n");
  summary["report"] = report;
  return summary;
}
}  // namespace

nlohmann::json infer_groups(const ImageDataset& data, const Denoiser* model, const GroupsConfig& cfg,
                            const std::string& out_dir, const c10::Device& device, bool progress,
                            const GroupReportOptions& report, const std::string& scores_csv) {
  ensure_dir(out_dir);
  const bool cluster = cfg.grouper == GrouperKind::Cluster;
  const bool residual = cluster && cfg.cluster_features != ClusterFeatures::Hidden;
  if (residual && cfg.feature_pool < 1) throw std::invalid_argument("groups: the cluster grouper needs a feature pool >= 1");
  ScoreOptions score_opt = cfg.score;
  score_opt.feature_pool = residual ? cfg.feature_pool : 0;
  const bool hidden = cluster && cfg.cluster_features != ClusterFeatures::Residual;
  const bool own_hidden_pass = hidden && cfg.hidden_t_fraction >= 0;
  if (cfg.hidden_t_fraction >= 1) throw std::invalid_argument("groups: the hidden-feature timestep fraction must be < 1");
  score_opt.hidden_features = hidden && !own_hidden_pass;
  nlohmann::json summary, coarse_facts;  // coarse_facts: the refine path's timestep-choice pass
  SampleScores scores;
  // The bottleneck's own multi-t pass at one timestep (a single-t score would draw a random t per
  // sample). auto reads it only when the residual shows no clear structure: made then, not before
  // (a reused scores file brings its own h_* columns or none).
  const bool defer_hidden = own_hidden_pass && cfg.cluster_features == ClusterFeatures::Auto && scores_csv.empty();
  auto hidden_pass = [&] {
    ScoreOptions h = cfg.score;
    h.method = ScoreMethod::MultiT;
    h.timesteps = {static_cast<int>(cfg.hidden_t_fraction * model->schedule.T())};
    h.residual_pool = 0;
    h.hidden_features = true;
    scores.hidden = compute_scores(model->eps, model->schedule, data.images, data.labels, data.files, h, device,
                                   progress, model->eps_hidden).hidden;
    summary["hidden_timestep"] = h.timesteps[0];
  };
  auto t0 = std::chrono::steady_clock::now();
  if (!scores_csv.empty()) {
    // The summary.json beside a reused scores.csv names the dataset it was scored on.
    const std::string beside = join_path(std::filesystem::path(scores_csv).parent_path().string(), "summary.json");
    if (file_exists(beside)) {
      auto j = nlohmann::json::parse(read_text(beside), nullptr, false);
      if (!j.is_discarded()) check_dataset_fingerprint(j.value("dataset", nlohmann::json()), data, "the scores in " + scores_csv);
    }
    scores = read_scores_csv(scores_csv, data.files);
    summary["model"] = nullptr;
    summary["scores_from"] = absolute_path(scores_csv);
  } else {
    if (!model) throw std::invalid_argument("groups: a base model (-m) or a scores file is required");
    check_class_names(model->class_names, "the model " + model->path, data, "groups");
    if (data.images.size(1) != model->channels || data.images.size(2) != model->image_size)
      throw std::runtime_error("groups: the dataset's image shape differs from the model's");
    if (cfg.score.residual_pool > model->image_size || score_opt.feature_pool > model->image_size)
      throw std::invalid_argument("groups: a residual pool size exceeds the image size (" +
                                  std::to_string(model->image_size) + ")");
    if (cfg.refine_draws > 0) {
      if (!cfg.select_timestep || cfg.score.method != ScoreMethod::MultiT)
        throw std::invalid_argument("groups: refine draws need --select-timestep with the multi-t score");
      // Coarse pass on every k-th row: enough to see which timestep splits best.
      const int64_t N = data.size();
      const int64_t stride = cfg.select_samples > 0 ? std::max<int64_t>(1, (N + cfg.select_samples - 1) / cfg.select_samples) : 1;
      auto idx = torch::arange(0, N, stride, torch::kInt64);
      std::vector<std::string> keys;
      for (int64_t i = 0; i < N; i += stride) keys.push_back(data.files[static_cast<size_t>(i)]);
      auto labels = data.labels.index_select(0, idx);
      auto coarse = compute_scores(model->eps, model->schedule, data.images.index_select(0, idx), labels, keys,
                                   cfg.score, device, progress);  // no features: it only picks the timestep
      select_timestep_otsu(coarse, labels);
      ScoreOptions fine = score_opt;
      fine.timesteps = refine_timesteps(coarse.selected_timestep, cfg.refine_draws, model->schedule.T(),
                                        static_cast<int>(coarse.timesteps.size()));
      scores = compute_scores(model->eps, model->schedule, data.images, data.labels, data.files, fine, device, progress,
                              model->eps_hidden);
      scores.selected_timestep = coarse.selected_timestep;
      scores.selection_criterion = coarse.selection_criterion;
      coarse_facts = {{"timesteps", coarse.timesteps}, {"rows", keys.size()}};
    } else {
      scores = compute_scores(model->eps, model->schedule, data.images, data.labels, data.files, score_opt, device,
                              progress, model->eps_hidden);
    }
    if (own_hidden_pass && !defer_hidden) hidden_pass();
    summary["model"] = model->path;
    summary["model_kind"] = model->kind;
  }
  const double t_scores_first = seconds_since(t0);
  double t_hidden = 0;  // a deferred bottleneck pass, made while grouping: counted with the scores
  // Refined scores already average the draws around the chosen timestep (a reused scores.csv
  // of a refined run holds those columns: its score column is kept as written).
  if (cfg.select_timestep && cfg.refine_draws == 0) select_timestep_otsu(scores, data.labels);
  write_scores_csv(join_path(out_dir, "scores.csv"), data.files, scores);

  t0 = std::chrono::steady_clock::now();
  GroupTable table;
  table.files = data.files;
  nlohmann::json grouper;
  if (cfg.grouper == GrouperKind::Otsu) {
    table.W = otsu_groups(scores.score, data.labels);
    table.group_names = {"low", "high"};
    grouper = {{"method", "otsu"}, {"per_condition", true}};
  } else if (cluster) {
    if (residual && !scores.features.defined())
      throw std::invalid_argument("groups: the cluster grouper needs residual features (res_* columns in the scores file)");
    auto need_hidden = [&] {
      if (!scores.hidden.defined() && defer_hidden) {
        const auto th = std::chrono::steady_clock::now();
        hidden_pass();
        write_scores_csv(join_path(out_dir, "scores.csv"), data.files, scores);  // with its h_* columns
        t_hidden = seconds_since(th);
      }
      if (!scores.hidden.defined())
        throw std::invalid_argument("groups: the cluster grouper needs bottleneck features (h_* columns in the scores file)");
    };
    if (hidden && cfg.cluster_features != ClusterFeatures::Auto) need_hidden();
    // auto: one clustering and the label-free verdict on it, to choose by (the report then gives
    // the verdict of the one kept).
    auto fit_on = [&](const at::Tensor& feats, const ClusterOptions& co, nlohmann::json& verdict) {
      auto fit = cluster_groups(feats, scores.score, data.labels, co);
      verdict = group_structure(group_imbalance(data.labels, fit.W).first, {{"conditions", fit.per_condition}});
      return fit;
    };
    nlohmann::json auto_facts;
    ClusterResult fit;
    at::Tensor feats;
    ClusterOptions co = cfg.cluster;
    std::string used = enum_name(cfg.cluster_features);
    if (cfg.cluster_features == ClusterFeatures::Auto) {
      nlohmann::json verdict;
      feats = scores.features;
      fit = fit_on(feats, co, verdict);
      auto_facts = {{"residual", verdict}};
      used = "residual";
      if (!verdict["clear"].get<bool>()) {
        need_hidden();  // only now: a residual with a clear structure needs no bottleneck
        ClusterOptions hco = cfg.cluster;
        hco.robust = true;  // the bottleneck's minority may sit on either side of the score
        // A chosen k is the residual's: on the bottleneck both rules (BIC, split) were measured
        // worse than its 2-means on the variants auto falls back on (docs/results/max_step_s15.md).
        if (hco.clusters == 0) hco.clusters = 2;
        nlohmann::json hv;
        auto hfit = fit_on(scores.hidden, hco, hv);
        auto_facts["hidden"] = hv;
        if (hv["clear"].get<bool>()) fit = hfit, feats = scores.hidden, co = hco, used = "hidden";
      }
      auto_facts["chosen"] = used;
    } else {
      std::vector<at::Tensor> parts;
      if (residual) parts.push_back(scores.features);
      if (hidden) parts.push_back(scores.hidden);
      feats = torch::cat(parts, 1);
      fit = cluster_groups(feats, scores.score, data.labels, co);
    }
    table.W = fit.W;
    table.group_names = fit.names;
    grouper = {{"method", "cluster"}, {"per_condition", true}, {"features", used},
               {"dims", feats.size(1)}, {"whiten", co.whiten}, {"robust", co.robust},
               {"clusters", co.clusters == 0 ? nlohmann::json(co.choose_k) : nlohmann::json(co.clusters)},
               {"conditions", fit.per_condition}};
    if (!auto_facts.is_null()) grouper["auto"] = auto_facts;
    if (co.clusters == 0) grouper["max_clusters"] = co.max_clusters;
    if (scores_csv.empty() && used != "hidden") grouper["feature_pool"] = cfg.feature_pool;  // a reused file says only D
  } else {
    GrouperOptions go = cfg.grouper_opt;
    go.seed = cfg.score.seed;
    auto fit = fit_groups(scores.score, go, {}, progress);
    table.W = fit.W;
    for (int64_t k = 0; k < go.groups; ++k) table.group_names.push_back("g" + std::to_string(k));
    grouper = {{"method", "std"}, {"groups", go.groups}, {"steps", go.steps}, {"lr", go.lr},
               {"c", go.c}, {"seed", go.seed}, {"objective", fit.objective}, {"spread", fit.spread}};
  }
  const double t_grouper = seconds_since(t0) - t_hidden, t_scores = t_scores_first + t_hidden;

  summary["mode"] = "inferred";
  summary["config"] = cfg;
  summary["score"] = {{"method", enum_name(scores.method)}, {"timesteps", scores.timesteps},
                      {"seed", cfg.score.seed}, {"per_condition", cfg.score.per_condition}, {"ema", cfg.use_ema}};
  if (scores_csv.empty()) summary["score"]["residual_pool"] = cfg.score.residual_pool;
  if (cfg.select_timestep) {
    summary["score"]["selected_timestep"] = {{"t", scores.selected_timestep},
                                             {"otsu_explained_share", scores.selection_criterion}};
    if (cfg.refine_draws > 0) {
      summary["score"]["refined"] = {{"timesteps", scores.timesteps}};
      if (!coarse_facts.is_null()) summary["score"]["coarse"] = coarse_facts;
    }
  }
  summary["grouper"] = grouper;
  summary["seconds"] = {{"scores", t_scores}, {"grouper", t_grouper}};
  summary["spread"] = group_means(table.W, scores.score).std(true).item<double>();
  return write_group_outputs(data, table, &scores, summary, out_dir, report);
}

nlohmann::json write_oracle_groups(const ImageDataset& data, const std::string& data_dir,
                                   const std::vector<std::string>& columns, const std::string& out_dir,
                                   const GroupReportOptions& report) {
  ensure_dir(out_dir);
  // Oracle groups read the attribute columns: an upper bound, never the default.
  GroupTable table = oracle_groups(load_metadata(data_dir, data.split), data.files, columns);
  nlohmann::json summary = {{"mode", "oracle"}, {"oracle_columns", columns}};
  return write_group_outputs(data, table, nullptr, summary, out_dir, report);
}

}  // namespace invdiff
