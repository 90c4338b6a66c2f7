// A diffusers model on disk as invdiff loads it: a UNet2DModel folder (config.json +
// diffusion_pytorch_model.safetensors, optionally scheduler_config.json and class_names.json
// beside them) or a pipeline folder (model_index.json naming unet/ and scheduler/). Sits beside
// train/checkpoint.h: the layers above load either kind of base from here.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "diffusion/diffusers_scheduler.h"
#include "diffusion/schedule.h"
#include "model/diffusers_unet.h"

namespace c10 { struct Device; }

namespace invdiff {

// A directory holding model_index.json, or a config.json naming a diffusers class.
bool is_diffusers_folder(const std::string& path);

struct DiffusersFolder {
  std::string root;              // the folder given, absolute
  std::string unet_dir;          // where config.json and the weights are
  std::string scheduler_config;  // the scheduler_config.json used; empty: DDPMScheduler's defaults
  std::string pipeline_class;    // model_index.json's _class_name; empty for a bare model folder
  std::string class_names_file;  // class_names.json, empty when there is none
};
// Resolves the layout; refuses pipelines invdiff cannot run (a VAE or text encoder) by name.
DiffusersFolder resolve_diffusers_folder(const std::string& path);

struct DiffusersModel {
  DiffusersFolder folder;
  DiffusersUNet2D net{nullptr};        // eval mode, on the device
  DiffusersUNet2DConfig unet_config;
  nlohmann::json unet_config_json;     // config.json as written
  DiffusersSchedulerConfig scheduler;  // as read (or the defaults)
  NoiseSchedule schedule;
  // Condition index -> name: class_names.json, else "0".."N-1" for num_class_embeds N, else one
  // condition "unconditional" (its label is ignored by the network). class_names.json lists N
  // entries; a last entry of null marks the unconditional class classifier-free guidance uses
  // (what invdiff's export writes for its own models): it is not a name, null_class is its index.
  std::vector<std::string> class_names;
  int64_t null_class = -1;
  int64_t class_index(const std::string& name) const;
  // What `info` prints and what outputs record: kind, files, configs, parameter count.
  nlohmann::json meta() const;
};
DiffusersModel load_diffusers_model(const std::string& path, const c10::Device& device);

// A fingerprint of the files that define the model (configs and weights).
std::string diffusers_fingerprint(const DiffusersFolder& f);

// Writes a UNet2DModel folder: config.json, diffusion_pytorch_model.safetensors,
// scheduler_config.json and (when given) class_names.json, with a last null entry when the
// network's last class is the unconditional one (null_class).
void save_diffusers_model(const std::string& dir, DiffusersUNet2DImpl& net, const DiffusersSchedulerConfig& scheduler,
                          const std::vector<std::string>& class_names, bool null_class = false);

}  // namespace invdiff
