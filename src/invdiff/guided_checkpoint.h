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

namespace torch::optim { class Optimizer; }

namespace invdiff {

// ema: one tensor per g->trainable_parameters() entry, same order (may be empty: no "ema").
void save_guided_checkpoint(const std::string& path, const GuidanceModule& g, const std::vector<at::Tensor>& ema,
                            torch::optim::Optimizer* optim, const nlohmann::json& meta);
// Copies the named tensors of sub-archive key ("model" or "ema") into `dst`, matched to
// g->trainable_parameters() by name; throws naming the first missing or mis-shaped tensor.
void load_guided_tensors(const std::string& path, const std::string& key, const GuidanceModule& g,
                         std::vector<at::Tensor>& dst);

struct LoadedGuided {
  DiffusionModel base;                  // the frozen base, as used in training (its EMA weights)
  std::shared_ptr<GuidedModel> model;   // base + G_psi, eval mode, on the device
  nlohmann::json meta;
};
// Loads base + G_psi. Throws when the base checkpoint is missing or its fingerprint changed.
LoadedGuided load_guided_model(const std::string& dir_or_file, const c10::Device& device, bool use_ema = true);

}  // namespace invdiff
