// Distribution and classification metrics (docs/evaluation.md), on plain tensors so each can be
// tested against a closed form. Feature sets are [N, D] (any float type; computed in float64).
// Bias and colour purity live in eval/bias.h and eval/colour.h.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace invdiff {

// ---- Frechet distance ----------------------------------------------------------------------
struct GaussianStats {
  at::Tensor mu;     // [D] float64
  at::Tensor sigma;  // [D, D] float64, unbiased sample covariance
};
GaussianStats gaussian_stats(const at::Tensor& features);
// |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)); the trace of the square root is taken as the
// sum of sqrt(eigenvalues) of sqrt(S1) S2 sqrt(S1), a symmetric PSD matrix, so no
// non-symmetric matrix square root (scipy's sqrtm route, which can turn complex) is needed.
double frechet_distance(const GaussianStats& a, const GaussianStats& b);
double frechet_distance(const at::Tensor& features_a, const at::Tensor& features_b);

// ---- Kernel Inception Distance ---------------------------------------------------------------
struct KidOptions {
  int64_t subsets = 100;
  int64_t subset_size = 1000;  // capped at the smaller set's size
  uint64_t seed = 0;
};
struct KidResult {
  double mean = 0, std = 0;  // over subsets (std with n - 1)
  int64_t subsets = 0, subset_size = 0;
};
// Unbiased MMD^2 with k(x, y) = (x.y / D + 1)^3 on one pair of equal-sized sets.
double mmd2_unbiased_poly(const at::Tensor& x, const at::Tensor& y);
// Averaged over `subsets` seeded random subsets (without replacement) of each set.
KidResult kernel_inception_distance(const at::Tensor& real, const at::Tensor& fake, const KidOptions& opt = {});

// ---- Improved precision and recall (Kynkaanniemi et al. 2019) ---------------------------------
struct PrecisionRecall {
  double precision = 0, recall = 0;
};
// Per point, the distance to its k-th nearest neighbour within its own set (itself excluded);
// float64 [N].
at::Tensor knn_radii(const at::Tensor& features, int64_t k);
// precision: share of fake points inside some real point's k-NN ball; recall: share of real
// points inside some fake point's ball. All points, no resampling; boundaries count as inside.
PrecisionRecall precision_recall(const at::Tensor& real, const at::Tensor& fake, int64_t k = 3);

// ---- Classification ---------------------------------------------------------------------------
struct ClassificationReport {
  double accuracy = 0;
  double macro_f1 = 0;           // mean over classes that occur in target or prediction
  std::vector<double> f1;        // per class (0 for a class absent from both)
  std::vector<int64_t> support;  // per class, in target
};
ClassificationReport classification_report(const at::Tensor& predicted, const at::Tensor& target, int64_t num_classes);

// Faithfulness: share of images whose predicted class equals the prompted class; overall and
// per prompt (NaN for a prompt without images).
struct FaithfulnessReport {
  double overall = 0;
  std::vector<double> per_prompt;
};
FaithfulnessReport faithfulness(const at::Tensor& predicted, const at::Tensor& prompt, int64_t num_prompts);

}  // namespace invdiff
