// The cluster grouper: a two-way split of each condition by the *direction* of the frozen
// model's error, not only its size. A bias attribute the model got wrong (a minority colour)
// leaves the same low-frequency residual on every sample that carries it, while samples that
// are merely hard (odd shapes) miss in directions of their own; the score alone cannot tell the
// two apart, 2-means on the pooled residuals can (docs/method.md: `high` 0.80 -> 1.00 minority
// on cfmnist). GEORGE-style clustering, with the model's error signature as the feature.
#pragma once
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "core/json.h"

namespace invdiff {

struct ClusterOptions {
  // Measure distances after whitening by the covariance of the Otsu-low side (the bulk of the
  // condition): a direction along which ordinary samples already vary widely counts less.
  bool whiten = true;
  int max_iter = 100;  // Lloyd iterations (stops earlier when no assignment changes)
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ClusterOptions, whiten, max_iter)

// One-hot [N, 2] float64 (column 0 "low", 1 "high"). Per condition: start from the Otsu split of
// `score` [N]; run 2-means on `features` [N, D] from that start; the side whose mean score is
// higher is "high". A condition with fewer than 2 samples is all "low"; whitening is skipped for
// a condition whose low side has no more rows than D (its covariance would be singular).
at::Tensor cluster_groups(const at::Tensor& features, const at::Tensor& score, const at::Tensor& labels,
                          const ClusterOptions& opt = {});

}  // namespace invdiff
