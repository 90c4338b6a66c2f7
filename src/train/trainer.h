// `invdiff train`: the base diffusion model, trained by plain denoising MSE. One loop, read top
// to bottom in trainer.cpp.
#pragma once
#include <cstdint>
#include <string>

#include "data/dataset.h"
#include "model/unet.h"
#include "train/optim.h"
#include "train/training_run.h"

namespace invdiff {

struct TrainConfig : OptimConfig {
  std::string schedule = "linear";
  int T = 1000;
  std::string init_from;          // fine-tune: start from this checkpoint's EMA weights
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TrainConfig, INVDIFF_OPTIM_FIELDS, schedule, T, init_from)

using TrainResult = LoopResult;

// Trains into out_dir (checkpoint.pt, config.json, loss.csv). With resume, continues from
// out_dir's checkpoint; without, refuses to overwrite one. `stop_after` > 0 stops (with a
// checkpoint) once that many steps are done, as an interruption would: used by tests.
// sample_weights (optional, [N] aligned to data's rows): each batch's loss becomes
// sum_i w_i l_i / sum_i w_i, e.g. inverse group frequencies for the reweighting baseline.
TrainResult train_diffusion(const ImageDataset& data, const UNetConfig& unet_cfg, const TrainConfig& cfg,
                            const std::string& out_dir, bool resume, const c10::Device& device,
                            bool progress = true, int64_t stop_after = -1, const at::Tensor& sample_weights = {});

}  // namespace invdiff
