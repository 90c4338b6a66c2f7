// Guided checkpoints: one file, the same layout as base checkpoints ("model", "ema", "optim",
// "meta") so read_checkpoint_meta / load_optimizer work on both, but "model" and "ema" hold only
// G_psi's *trainable* tensors by name: lora's checkpoint is its adapters, and the base is
// referenced (path + fingerprint in meta), never duplicated.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "invdiff/guidance.h"
#include "train/checkpoint.h"
#include "train/diffusers_checkpoint.h"

namespace torch::optim { class Optimizer; }

namespace invdiff {

// ema: one tensor per g->trainable_parameters() entry, same order (may be empty: no "ema").
void save_guided_checkpoint(const std::string& path, const GuidanceModule& g, const std::vector<at::Tensor>& ema,
                            torch::optim::Optimizer* optim, const nlohmann::json& meta);
// Copies the named tensors of sub-archive key ("model" or "ema") into `dst`, matched to
// g->trainable_parameters() by name; throws naming the first missing or mis-shaped tensor.
void load_guided_tensors(const std::string& path, const std::string& key, const GuidanceModule& g,
                         std::vector<at::Tensor>& dst);

// The frozen base of the min step: an invdiff checkpoint or an imported diffusers folder.
struct GuidanceBase {
  std::string path;         // absolute: the checkpoint file, or the diffusers folder
  std::string fingerprint;  // of the file(s) that define it
  bool imported = false;    // a diffusers folder
  DiffusionModel model;     // invdiff: the model; diffusers: its schedule, class names, meta only
  std::shared_ptr<DiffusersModel> diffusers;  // diffusers: the network and its configs
  int64_t channels = 0, image_size = 0;
  int64_t null_class = -1;  // -1: no unconditional class (no condition dropout, no CFG)
  nlohmann::json unet_config() const;  // what guided checkpoints record as base.unet
  std::shared_ptr<GuidedModel> guided(const GuidanceConfig& cfg) const;
};
GuidanceBase load_guidance_base(const std::string& dir_or_file, const c10::Device& device, bool use_ema = true);

struct LoadedGuided {
  DiffusionModel base;                  // the frozen base, as used in training (its EMA weights)
  std::shared_ptr<GuidedModel> model;   // base + G_psi, eval mode, on the device
  std::shared_ptr<DiffusersModel> imported_base;  // when the base is a diffusers folder
  int64_t null_class = -1;
  nlohmann::json meta;
};
// Loads base + G_psi. Throws when the base checkpoint is missing or its fingerprint changed.
LoadedGuided load_guided_model(const std::string& dir_or_file, const c10::Device& device, bool use_ema = true);

}  // namespace invdiff
