// The group report: what the inferred groups contain. Per group a PNG grid of its
// highest-weight samples; where the dataset carries attribute columns (cfmnist: colour_name,
// minority) the attribute mix per group, group purity, and the AUC of the score against the
// minority flag. The attribute columns are read here only, for *reporting*: the label-free path
// (scores, grouper) never sees them.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "data/dataset.h"
#include "invdiff/cluster_groups.h"
#include "invdiff/score.h"

namespace invdiff {

struct GroupReportOptions {
  int64_t per_group = 64;                 // samples in each group's grid
  std::string minority_column = "minority";
  bool images = true;                     // write the PNG grids
};

// Label-free: is there a group structure worth rebalancing? Not when the groups are about equally
// large within the prompts (imbalance below kMinImbalance: balancing changes nothing), nor, for
// the cluster grouper, when its splits are barely more distinct than the split of one Gaussian
// cloud (median over prompts of separation / null_separation below kMinSeparationRatio, cluster_groups.h).
// {clear, imbalance, separation_over_null (cluster grouper only), reason: one sentence}.
inline constexpr double kMinImbalance = 0.2;
nlohmann::json group_structure(double imbalance, const nlohmann::json& grouper);

// Label-free: per condition of labels [N], the Bias of the sizes of the (argmax) groups of W
// [N, G] present there (0: equal; one group: 0). {mean over conditions, per condition}.
std::pair<double, std::vector<double>> group_imbalance(const at::Tensor& labels, const at::Tensor& W);

// W [N, G] aligned to data's rows; scores may be null (oracle groups); grouper: the facts of the
// grouper that made W (summary.json's "grouper"; null for oracle groups). Writes
// out_dir/report.json, report.md and group_XX.png; returns the report JSON.
nlohmann::json write_group_report(const std::string& out_dir, const ImageDataset& data, const at::Tensor& W,
                                  const std::vector<std::string>& group_names, const SampleScores* scores,
                                  const GroupReportOptions& opt = {}, const nlohmann::json& grouper = nullptr);

}  // namespace invdiff
