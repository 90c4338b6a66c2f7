// The cluster grouper: a split of each condition by the *direction* of what the frozen model
// does with a sample, not only by the size of its error. A bias attribute the model got wrong
// (a minority colour) leaves the same low-frequency residual on every sample that carries it, and
// the model's bottleneck represents it, while samples that are merely hard (odd shapes) miss in
// directions of their own; the score alone cannot tell the two apart, clustering the features can
// (docs/method.md: `high` 0.80 -> 1.00 minority on cfmnist). GEORGE-style clustering, with the
// model's error signature and representation as the features.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/json.h"

namespace invdiff {

// How --clusters 0 chooses k per condition. bic: the best BIC over the nested k = 1..max
// clusters. split: divisive, with the verdict's own test as the stop: the condition's 2-means
// split is kept only when its separation is at least kMinSeparationRatio times that of the same
// split of one Gaussian of the condition's covariance; then each cluster in turn is offered its
// own 2-means split under the same test (against a Gaussian of that cluster's covariance), the
// most distinct passing split taken first, until none passes or max_clusters is reached.
enum class KChoice { Bic, Split };
INVDIFF_JSON_ENUM(KChoice, "cluster count rule", {{KChoice::Bic, "bic"}, {KChoice::Split, "split"}})

// The least separation over its one-Gaussian null for a split to count as a structure: the split
// rule's stop and the label-free verdict's threshold (group_report.h), one value so they agree.
inline constexpr double kMinSeparationRatio = 2.0;

struct ClusterOptions {
  // Measure distances after whitening by the covariance of the Otsu-low side (the bulk of the
  // condition): a direction along which ordinary samples already vary widely counts less.
  bool whiten = true;
  int max_iter = 100;  // Lloyd iterations (stops earlier when no assignment changes)
  // Clusters per condition: k >= 1 fixed (2: the low / high split), or 0: chosen per condition
  // in 1..max_clusters by BIC, without labels (1: no group structure found in that condition).
  int clusters = 2;
  int max_clusters = 4;
  KChoice choose_k = KChoice::Bic;  // the rule for clusters = 0
  // Whiten by a robust covariance of the whole condition (the 3/4 of rows nearest its centre,
  // re-estimated until stable: MCD C-steps) instead of the Otsu-low side's, and try a second
  // start for the 2-means: the Otsu split of the rows' robust distance from the centre, kept when
  // its clusters are tighter. Why: the low side is only the bulk when the minority scores high;
  // an attribute that lowers the error (a dim garment leaves a small residual) puts the minority
  // on the low side, where whitening by it hides the very direction to find.
  bool robust = false;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ClusterOptions, whiten, max_iter, clusters, max_clusters, robust,
                                                choose_k)

struct ClusterResult {
  // One-hot [N, K], K the most clusters any condition has; within a condition column j is its
  // cluster with the j-th lowest mean score (so with k = 2, column 1 is "high").
  at::Tensor W;
  std::vector<std::string> names;  // K = 2: low, high; K = 1: all; else s0 .. s<K-1> (by score rank)
  // [{label, n, k, sizes, bic: [k = 1..], separation, null_separation}]; the split rule records
  // the first split's separation and null (the verdict's test) and "splits": every split offered.
  nlohmann::json per_condition;
};

// Per condition: k = 1 is the whole condition; k = 2 starts from the Otsu split of `score` [N]
// and runs 2-means on `features` [N, D]; each further cluster bisects the cluster whose split
// (along its first principal direction, then Lloyd on all clusters) lowers the within-cluster
// sum of squares most. BIC (spherical clusters sharing one variance, hard assignments) scores
// every k. A condition with fewer than 2 samples is one cluster; whitening is skipped for a
// condition whose low side has no more rows than D (its covariance would be singular).
ClusterResult cluster_groups(const at::Tensor& features, const at::Tensor& score, const at::Tensor& labels,
                             const ClusterOptions& opt = {});

// The least distinct pair of clusters of F [n, D] under assign (0..k-1): the distance between the
// pair's means over their pooled within-cluster sd along the line joining them (Fisher's
// separation; infinite when neither varies along it). Pairs with fewer than 2 rows each are skipped.
double cluster_separation(const at::Tensor& F, const at::Tensor& assign, int64_t k);

// The same separation for the 2-means split (first principal direction cut at the mean, then
// Lloyd) of n rows drawn, with `seed`, from one Gaussian of F's covariance: what a cloud without
// clusters gives (about 2.7 in one dimension: 2 sqrt(2/pi) / sqrt(1 - 2/pi)). NaN below 4 rows.
double gaussian_null_separation(const at::Tensor& F, uint64_t seed, int max_iter = 100);

// The BIC of a hard clustering of F [n, D] (assign [n] in 0..k-1) under spherical Gaussian
// clusters sharing one variance: sum_j n_j log(n_j / n) - n D / 2 (log(2 pi s2) + 1)
// - p / 2 log n, s2 = SSE / (n D), p = (k - 1) + k D + 1. Higher is better.
double cluster_bic(const at::Tensor& F, const at::Tensor& assign, int64_t k);

}  // namespace invdiff
