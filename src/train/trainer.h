// `invdiff train`: the base diffusion model, trained by plain denoising MSE. One loop, read top
// to bottom in trainer.cpp.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "data/dataset.h"
#include "model/unet.h"

namespace invdiff {

struct TrainConfig {
  int64_t steps = 3500;
  int64_t batch_size = 64;
  double lr = 1e-3;
  int64_t warmup = 200;
  double min_lr_ratio = 0.1;
  double weight_decay = 0.0;
  double grad_clip = 1.0;
  double ema_decay = 0.999;
  double p_uncond = 0.1;          // condition dropout, for classifier-free guidance
  uint64_t seed = 0;
  int64_t checkpoint_every = 500;
  std::string schedule = "linear";
  int T = 1000;
  std::string init_from;          // fine-tune: start from this checkpoint's EMA weights
};
void to_json(nlohmann::json& j, const TrainConfig& c);
void from_json(const nlohmann::json& j, TrainConfig& c);

struct TrainResult {
  int64_t steps_done = 0;
  double final_loss = 0;   // mean loss over the last 100 steps
  double seconds = 0;
  double steps_per_second = 0;
};

// Trains into out_dir (checkpoint.pt, config.json, loss.csv). With resume, continues from
// out_dir's checkpoint; without, refuses to overwrite one. `stop_after` > 0 stops (with a
// checkpoint) once that many steps are done, as an interruption would: used by tests.
// sample_weights (optional, [N] aligned to data's rows): each batch's loss becomes
// sum_i w_i l_i / sum_i w_i, e.g. inverse group frequencies for the reweighting baseline.
TrainResult train_diffusion(const ImageDataset& data, const UNetConfig& unet_cfg, const TrainConfig& cfg,
                            const std::string& out_dir, bool resume, const c10::Device& device,
                            bool progress = true, int64_t stop_after = -1, const at::Tensor& sample_weights = {});

}  // namespace invdiff
