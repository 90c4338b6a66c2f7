// Per-sample scores of the frozen base model: the input of the label-free grouper (docs/method.md).
// Two estimators:
//   multi-t (default): M fixed timesteps, fresh seeded noise per (sample, timestep),
//     l_im = mean((eps_theta(x_t, t_m, y_i) - eps)^2), each column standardised over the samples
//     of the same condition, l_i = mean_m z_im shifted so the smallest score is 1;
//   single-t: the official one-draw estimator (random t, one eps), but scored against eps, the
//     model's actual target (the official code compares with x0).
// The noise of a sample depends only on (seed, its row key), never on batching or row order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/json.h"
#include "diffusion/denoiser.h"
#include "diffusion/samplers.h"
#include "diffusion/schedule.h"

namespace c10 { struct Device; }

namespace invdiff {

enum class ScoreMethod { MultiT, SingleT };
INVDIFF_JSON_ENUM(ScoreMethod, "score estimator", {{ScoreMethod::MultiT, "multi-t"}, {ScoreMethod::SingleT, "single-t"}})

struct ScoreOptions {
  ScoreMethod method = ScoreMethod::MultiT;
  int num_timesteps = 8;       // M, when `timesteps` is empty
  std::vector<int> timesteps;  // explicit timesteps (multi-t); overrides num_timesteps
  uint64_t seed = 0;
  // Images per network call; 0: by image size (scoring_batch). A call's activations grow with
  // batch x pixels (~2.8 MB per 64 x 64 image in the call, measured): a fixed 512 put 1.4 GB
  // on top of a 200 k x 64 px set's 2.3 GB.
  int64_t batch_size = 0;
  bool per_condition = true;   // standardise within each condition (false: over all samples)
  // > 0: the loss is the mean square of the residual eps_theta - eps average-pooled to P x P per
  // channel (its low-frequency band, where a global attribute such as colour shows and the
  // high-frequency misses of hard shapes average out); 0: the full-resolution MSE.
  int residual_pool = 0;
  // > 0: also keep each sample's residual pooled to P x P per channel, averaged over the M
  // timesteps (SampleScores::features, C P^2 values): the direction of the model's error, which
  // the cluster grouper splits (a shared colour error vs idiosyncratic misses). 0: none.
  int feature_pool = 0;
  // Also keep each sample's bottleneck activation (the network's middle block, averaged over
  // space and the M timesteps; SampleScores::hidden): what the model *represents* about the
  // sample, which carries attributes that leave no shared low-band error (texture, blur, stroke).
  bool hidden_features = false;
};
// The images per scoring call: batch_size when set, else 2^20 pixels per call, at most 512
// (measured as fast as 2048 at 16 x 16 on CPU) and at least 8: 512 up to 45 x 45, 256 at 64 x 64.
int64_t scoring_batch(const ScoreOptions& opt, int64_t height, int64_t width);

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ScoreOptions, method, num_timesteps, timesteps, seed, batch_size,
                                                per_condition, residual_pool, feature_pool, hidden_features)

struct SampleScores {
  ScoreMethod method = ScoreMethod::MultiT;
  std::vector<int> timesteps;  // multi-t: the M columns of raw/z; single-t: empty
  at::Tensor raw;              // [N, M] float64 losses (single-t: [N, 1])
  at::Tensor z;                // [N, M] standardised losses (single-t: undefined)
  at::Tensor t;                // single-t: [N] int64 drawn timesteps (multi-t: undefined)
  at::Tensor score;            // [N] float64: the per-sample score l_i fed to the grouper
  at::Tensor features;         // [N, C P^2] float64 pooled residuals (feature_pool > 0), else undefined
  at::Tensor hidden;           // [N, C_mid] float64 bottleneck means (hidden_features), else undefined
  int selected_timestep = -1;  // set by select_timestep_otsu: score is that timestep's column
  std::vector<double> selection_criterion;  // per timestep, when selected
};

// t_m = floor((m + 0.5) T / M), m = 0..M-1: the midpoints of M equal slices of the schedule.
std::vector<int> default_score_timesteps(int T, int M);

// Column-wise z-scores of raw [N, M] within each value of labels [N] (unbiased std). A column of
// a condition with fewer than two samples or zero spread gets z = 0 (no evidence).
at::Tensor standardise_by_condition(const at::Tensor& raw, const at::Tensor& labels);


// Scores every image (images [N, C, H, W] on CPU, uint8 or float in [-1, 1], converted a chunk at
// a time; labels [N], keys [N] = row keys) with eps_fn, which must not build an autograd graph.
// Calls eps_fn on `device`. opt.hidden_features needs hidden_fn (the same network with its
// bottleneck), which is then called instead of eps_fn.
SampleScores compute_scores(const EpsFn& eps_fn, const NoiseSchedule& sch, const at::Tensor& images,
                            const at::Tensor& labels, const std::vector<std::string>& keys, const ScoreOptions& opt,
                            const c10::Device& device, bool progress = false, const EpsHiddenFn& hidden_fn = {});

// Label-free timestep choice (docs/method.md): for each timestep column of z, the Otsu explained-variance
// share within each condition, averaged over conditions; the column that splits most cleanly in
// two becomes the score (shifted so its minimum is 1). Multi-t only. Returns the chosen index.
int select_timestep_otsu(SampleScores& s, const at::Tensor& labels);

// K timesteps centred on t, spaced T / (8 M) apart (M: the coarse grid t was chosen from),
// clamped to [0, T) without duplicates: the extra noise draws around a selected timestep that
// average out the one-draw noise of its score (measured: AUC 0.90 -> 0.98 with K = 5 on cfmnist).
std::vector<int> refine_timesteps(int t, int K, int T, int M);

}  // namespace invdiff
