// The max step as one library call (used by `invdiff groups`, `run` and `bench`): score the
// training rows with the frozen model, group them, and write the artefacts every consumer joins
// by row key: scores.csv, groups.csv, summary.json and the group report. The label-free path
// sees only what load_dataset gives it (file, target, images); oracle groups are a separate
// call that reads the attribute columns, for upper-bound rows only.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/json.h"
#include "data/dataset.h"
#include "diffusion/denoiser.h"
#include "invdiff/group_report.h"
#include "invdiff/cluster_groups.h"
#include "invdiff/grouper.h"
#include "invdiff/score.h"

namespace c10 { struct Device; }

namespace invdiff {

// std: the paper's soft grouper; otsu: per-condition two-way split of the score; cluster: that
// split refined by 2-means on the pooled residuals (cluster_groups.h)
enum class GrouperKind { Std, Otsu, Cluster };
INVDIFF_JSON_ENUM(GrouperKind, "grouper",
                  {{GrouperKind::Std, "std"}, {GrouperKind::Otsu, "otsu"}, {GrouperKind::Cluster, "cluster"}})

// What the cluster grouper clusters: the pooled residual (the error's direction), the bottleneck
// activation (what the model represents), both side by side, or auto: the residual when its
// groups show a clear structure (group_report.h: group_structure), else the bottleneck (robustly
// whitened) when its groups do, else the residual's. Why that order: the error is what the model
// gets wrong, so a structure in it is the bias's own trace; the bottleneck also represents
// benign variety (shape modes), so it is the fallback for attributes that leave no shared error.
enum class ClusterFeatures { Residual, Hidden, Both, Auto };
INVDIFF_JSON_ENUM(ClusterFeatures, "cluster features",
                  {{ClusterFeatures::Residual, "residual"}, {ClusterFeatures::Hidden, "hidden"}, {ClusterFeatures::Both, "both"},
                   {ClusterFeatures::Auto, "auto"}})

struct GroupsConfig {
  ScoreOptions score;              // estimator, timesteps, seed, batch size, standardisation
  bool select_timestep = false;    // multi-t: score = the timestep that splits most cleanly (Otsu)
  GrouperKind grouper = GrouperKind::Std;
  GrouperOptions grouper_opt;      // std grouper settings (its seed is the score's)
  bool use_ema = true;             // score with the EMA weights (the caller loads them)
  // With select_timestep: choose the timestep on a subset (select_samples rows, every k-th; 0:
  // all), then score every row at refine_draws timesteps around it and average their z-scores
  // (0: off; the chosen column's one draw is the score).
  int refine_draws = 0;
  int64_t select_samples = 6000;
  int feature_pool = 2;            // cluster grouper: residual features pooled to P x P per channel
  ClusterOptions cluster;          // cluster grouper settings
  ClusterFeatures cluster_features = ClusterFeatures::Residual;
  // In [0, 1): the bottleneck features come from a pass of their own at t = floor(f T) (one noise
  // draw), not from the score's timesteps. Why: the error carries an attribute where the model
  // decides it (mid t), the representation where the image is nearly clean (low t); on a
  // brightness bias the minority sits 4.6 sd from the majority in the bottleneck at t = 125 and
  // 2.3 sd at t = 625 (docs/method.md). < 0: the score's timesteps.
  double hidden_t_fraction = -1;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(GroupsConfig, score, select_timestep, grouper, grouper_opt, use_ema,
                                                refine_draws, select_samples, feature_pool, cluster, cluster_features,
                                                hidden_t_fraction)

// Label-free groups for `data` from a loaded model (loaded with cfg.use_ema's weights by the
// caller; null when scores_csv is non-empty: those scores are reused instead of scoring). Writes out_dir/{scores.csv, groups.csv, summary.json,
// report.md, report.json} and returns summary.json's content (with the report under "report").
nlohmann::json infer_groups(const ImageDataset& data, const Denoiser* model, const GroupsConfig& cfg,
                            const std::string& out_dir, const c10::Device& device, bool progress = false,
                            const GroupReportOptions& report = {}, const std::string& scores_csv = "");

// One-hot groups from true label columns of data_dir's metadata (e.g. class_name, colour_name),
// in the same format: the oracle upper bound, never a default.
nlohmann::json write_oracle_groups(const ImageDataset& data, const std::string& data_dir,
                                   const std::vector<std::string>& columns, const std::string& out_dir,
                                   const GroupReportOptions& report = {});

}  // namespace invdiff
