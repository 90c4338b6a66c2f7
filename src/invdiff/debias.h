// `invdiff debias`, the min step (SPEC 1.3): trains only G_psi on the group objective
// (invdiff/group_loss.h) with the base frozen. Same conventions as the base trainer: per-step
// seeded randomness, AdamW with warm-up + cosine, gradient clipping, EMA with warm-up, atomic
// checkpoints, --resume, loss CSV, NaN check, interrupt handling.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "data/dataset.h"
#include "invdiff/guidance.h"

namespace c10 { struct Device; }

namespace invdiff {

struct DebiasConfig {
  int64_t steps = 4000;
  int64_t batch_size = 64;
  double lr = 1e-3;
  int64_t warmup = 200;
  double min_lr_ratio = 0.1;
  double weight_decay = 0.0;
  double grad_clip = 1.0;
  double ema_decay = 0.999;
  double p_uncond = 0.1;        // condition dropout: G must also learn the null condition (CFG)
  uint64_t seed = 0;
  int64_t checkpoint_every = 500;
  double lambda = 1.0;          // weight of Var_g(L_g)
  bool relative_variance = false;  // lambda * Var / mean^2 instead of lambda * Var
  int t_lo = 0, t_hi = -1;      // t drawn from [t_lo, t_hi); t_hi = -1: T
};
void to_json(nlohmann::json& j, const DebiasConfig& c);
void from_json(const nlohmann::json& j, DebiasConfig& c);

struct DebiasResult {
  int64_t steps_done = 0;
  double final_loss = 0;        // mean total loss over the last 100 steps
  double seconds = 0;
  double steps_per_second = 0;
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
