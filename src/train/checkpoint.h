// One checkpoint = one file, written atomically: sub-archives "model", "ema", optionally "optim",
// and "meta", a JSON string (model config, training config, class names, step, ...). A
// checkpoint directory holds checkpoint.pt; -m accepts either the directory or the file.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "diffusion/schedule.h"
#include "model/unet.h"

namespace torch::optim { class Optimizer; }

namespace invdiff {

std::string checkpoint_path(const std::string& dir_or_file);

void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::nn::Module* ema,
                     torch::optim::Optimizer* optim, const nlohmann::json& meta);
// Reads only the meta JSON (cheap: no weights are materialised into modules).
nlohmann::json read_checkpoint_meta(const std::string& path);
// Loads the named sub-archive ("model" or "ema") into a module of matching structure.
void load_module(const std::string& path, const std::string& key, torch::nn::Module& module);
void load_optimizer(const std::string& path, torch::optim::Optimizer& optim);

// A trained diffusion model ready for sampling: EMA weights by default.
struct DiffusionModel {
  UNet unet{nullptr};
  NoiseSchedule schedule;
  nlohmann::json meta;
  std::vector<std::string> class_names;
  // Condition index for a class name or number; throws listing the valid names.
  int64_t class_index(const std::string& name) const;
};
DiffusionModel load_diffusion_model(const std::string& dir_or_file, const c10::Device& device, bool use_ema = true);

}  // namespace invdiff
