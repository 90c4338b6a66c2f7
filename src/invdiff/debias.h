// `invdiff debias`, the min step (docs/method.md): trains only G_psi on the group objective
// (invdiff/group_loss.h) with the base frozen. Same conventions as the base trainer: per-step
// seeded randomness, AdamW with warm-up + cosine, gradient clipping, EMA with warm-up, atomic
// checkpoints, --resume, loss CSV, NaN check, interrupt handling.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "data/dataset.h"
#include "invdiff/guidance.h"
#include "train/optim.h"
#include "train/training_run.h"

namespace c10 { struct Device; }

namespace invdiff {

// How the min step draws t within [t_lo, t_hi): uniformly, or in proportion to the frozen base's
// within-condition spread of the group losses per bin (invdiff/t_profile.h), measured once
// before training on the groups it trains on (the ERM control has none: uniform).
enum class TimestepSampling { Uniform, Profile };
INVDIFF_JSON_ENUM(TimestepSampling, "timestep sampling",
                  {{TimestepSampling::Uniform, "uniform"}, {TimestepSampling::Profile, "profile"}})

struct DebiasConfig : OptimConfig {
  DebiasConfig() { steps = 4000; }  // p_uncond: G must also learn the null condition (CFG)
  double lambda = 1.0;              // weight of Var_g(L_g)
  bool relative_variance = false;   // lambda * Var / mean^2 instead of lambda * Var
  // Var among the groups of each condition (averaged over conditions) instead of among all
  // groups: with groups crossed with the class, the plain Var also counts how much harder one
  // prompt is than another, which G_psi could only lower by serving the easy prompts worse.
  bool variance_within_condition = false;
  int t_lo = 0;                     // t drawn from [t_lo, t_hi)
  std::optional<int> t_hi;          // unset: T
  // Group-balanced batches: sample i is drawn (with replacement) with probability
  // sum_g W_ig / mass_g, so each group fills about B / G of every batch instead of a 10 %
  // minority appearing once or not at all and carrying half the weight when it does.
  // With no groups (the ERM control) the same draw is uniform.
  bool balance_batches = false;
  // Balanced within each condition instead: a condition keeps its share of the rows and splits
  // it equally among the groups it holds, so a prompt with 3 groups is not drawn 3/2 as often as
  // one with 2 (the split rule's k differs per prompt; Bias is judged per prompt).
  bool balance_within_condition = false;
  TimestepSampling t_sampling = TimestepSampling::Uniform;
  int profile_bins = 10;            // profile: equal bins over [t_lo, t_hi)
  int64_t profile_samples = 1024;   // profile: rows per bin (drawn as the batches are)
  double profile_floor = 0.1;       // profile: share of the draws spread uniformly over the bins
  double profile_power = 1.0;       // profile: draws in proportion to spread^power
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DebiasConfig, INVDIFF_OPTIM_FIELDS, lambda, relative_variance, variance_within_condition, t_lo, t_hi,
                                                balance_batches, balance_within_condition, t_sampling, profile_bins, profile_samples,
                                                profile_floor, profile_power)

// The per-sample draw probabilities of balanced batches for group weights W [N, G] (undefined:
// uniform): p_i = sum_g W_ig / mass_g, normalised to sum 1. Groups with no mass are skipped.
// With labels [N] (balance within each condition c): p_i = (n_c / N) (1 / k_c) sum_g W_ig /
// mass_cg, mass_cg the group's mass among c's rows and k_c the number of groups c holds.
at::Tensor balanced_draw_probabilities(const at::Tensor& W, int64_t n, const at::Tensor& labels = {});

struct DebiasResult : LoopResult {
  nlohmann::json parameters;    // trainable / frozen counts
  GuidanceConfig guidance;      // as trained (a resumed run keeps its stored one)
};

// Trains G_psi for the base checkpoint `base_path` on `data` into out_dir (checkpoint.pt,
// config.json, loss.csv). W: [N, G] group weights aligned to data's rows, or undefined for the
// ERM control (plain mean loss). groups_info is stored in the meta (path, mode, names, ...).
DebiasResult debias_train(const ImageDataset& data, const at::Tensor& W, const std::string& base_path,
                          const GuidanceConfig& gcfg, const DebiasConfig& cfg, const std::string& out_dir, bool resume,
                          const c10::Device& device, const nlohmann::json& groups_info = nlohmann::json::object(),
                          bool progress = true, int64_t stop_after = -1);

}  // namespace invdiff
