// Where in the schedule the frozen base serves the groups unequally (docs/method.md, "Where the
// min step draws t"). Per timestep bin, the spread of the groups' mean denoising losses within
// each condition over the bin's mean loss, measured on the frozen base before G_psi trains; the min step draws t
// in proportion to it. Why: an attribute is decided in a band of timesteps that depends on the
// attribute (a colour between ~400 and ~900 of 1000, a brightness or a texture elsewhere);
// a fixed band chosen on one attribute spends the budget where another one is already fixed.
// The groups' losses differ exactly where the base's prior fills in the attribute it cannot
// yet see in x_t, so the spread needs only the groups the min step trains on (no labels).
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "core/json.h"
#include "diffusion/samplers.h"
#include "diffusion/schedule.h"

namespace invdiff {

struct ImageDataset;

struct TimestepProfile {
  std::vector<int> edges;           // bins + 1 edges: bin b is [edges[b], edges[b + 1])
  std::vector<double> spread;       // per bin: within-condition sd of the group losses / the bin's mean loss
  std::vector<double> mean_loss;    // per bin: the mean loss of the draws (for the report)
  std::vector<double> probability;  // per bin: the min step's draw probability (sums to 1)
  int64_t samples_per_bin = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TimestepProfile, edges, spread, mean_loss, probability,
                                                samples_per_bin)

// The within-condition spread of group losses from per-sample losses l [n], conditions y [n]
// and group weights w [n, G]: each group's weighted mean loss L_g, each group assigned to the
// condition holding most of its weight; per condition with >= 2 groups present the unbiased
// variance of its L_g minus the mean sampling variance of an L_g (so pure noise gives ~0),
// clamped at 0; the result is the root of the mean over those conditions (0 when none has 2).
double within_condition_spread(const at::Tensor& l, const at::Tensor& y, const at::Tensor& w);

// How the spreads become draw probabilities: p_b = (1 - floor) * s_b^power / sum s^power +
// floor / bins (uniform when every spread is 0). A power above 1 concentrates the draws on the
// bins where the groups differ most; the floor keeps every bin in play.
struct ProfileRule {
  double floor = 0.1;
  double power = 1.0;
};
std::vector<double> profile_probabilities(const std::vector<double>& spread, const ProfileRule& rule);

// Measures the profile of `eps` (the frozen base, no autograd) over [t_lo, t_hi) in `bins`
// equal bins: per bin `samples_per_bin` rows drawn with probabilities draw_p [N] (the min step's
// own draw), t uniform in the bin, one noise draw each; the spread is taken relative to the bin's
// mean loss (scale-free across t). Deterministic for a seed.
TimestepProfile measure_timestep_profile(const EpsFn& eps, const NoiseSchedule& sched, const ImageDataset& data,
                                         const at::Tensor& W, const at::Tensor& draw_p, int t_lo, int t_hi, int bins,
                                         int64_t samples_per_bin, int64_t batch_size, const ProfileRule& rule, uint64_t seed,
                                         const c10::Device& device);

// n timesteps drawn from the profile: a bin by its probability, then t uniform within it.
at::Tensor draw_timesteps(const TimestepProfile& p, int64_t n, at::Generator& gen);

}  // namespace invdiff
