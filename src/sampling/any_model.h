// One loader for every model kind, so `sample` and `eval` treat base and guided models alike:
// a checkpoint path -> a noise predictor (EpsFn), its schedule, class names and metadata.
#pragma once
#include <cmath>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/json.h"
#include "diffusion/denoiser.h"
#include "diffusion/samplers.h"
#include "train/checkpoint.h"
#include "train/diffusers_checkpoint.h"

namespace c10 { struct Device; }

namespace invdiff {

class GuidedModel;

// What a checkpoint's meta "kind" says it holds (a classifier checkpoint is refused by name);
// diffusers: a diffusers UNet2DModel or pipeline folder (train/diffusers_checkpoint.h).
enum class ModelKind { Diffusion, Guided, Diffusers };
INVDIFF_JSON_ENUM(ModelKind, "model kind",
                  {{ModelKind::Diffusion, "diffusion"}, {ModelKind::Guided, "guided"}, {ModelKind::Diffusers, "diffusers"}})

struct LoadModelOptions {
  bool use_ema = true;             // the EMA weights (of G_psi for a guided model; its base is
                                   // always the weights it was trained against)
  std::optional<double> guidance_ratio;  // guided only: override the stored r (unset: the stored one)
};

struct AnyModel {
  ModelKind kind = ModelKind::Diffusion;
  DiffusionModel base;                  // the model itself, or the guided model's frozen base
                                        // (diffusers: its schedule, class names and meta only)
  std::shared_ptr<GuidedModel> guided;  // null for a base model
  std::shared_ptr<DiffusersModel> imported;  // diffusers kind: the network and its configs
  EpsFn eps;                            // no autograd
  EpsHiddenFn eps_hidden;               // with the bottleneck (base and diffusers kinds; empty: guided)
  nlohmann::json meta;                  // the loaded checkpoint's meta
  std::string path;                     // the checkpoint file, absolute
  double guidance_ratio = NAN;          // the r sampling uses (guided only)
  int64_t channels = 0, image_size = 0;  // square images [channels, image_size, image_size]
  int64_t null_class = -1;              // the condition classifier-free guidance uses; -1: none

  const NoiseSchedule& schedule() const { return base.schedule; }
  const std::vector<std::string>& class_names() const { return base.class_names; }
  const UNetConfig& unet_config() const;  // the invdiff base's (throws for a diffusers model)
  int64_t class_index(const std::string& name) const { return base.class_index(name); }
  // What to add to every output's generation metadata (kind; guided: variant, mix, r used,
  // r trained with, base path, parameter counts).
  nlohmann::json describe() const;
  // The view the max step scores with (diffusion/denoiser.h).
  Denoiser denoiser() const;
};

// The imported network as an EpsFn (no autograd; the label is ignored by an unconditional one).
EpsFn diffusers_eps_fn(const DiffusersModel& m);
EpsHiddenFn diffusers_eps_hidden_fn(const DiffusersModel& m);

// `info`'s description of any model path: a checkpoint's meta, or a diffusers folder's configs.
nlohmann::json read_model_meta(const std::string& dir_or_file);

AnyModel load_any_model(const std::string& dir_or_file, const c10::Device& device, const LoadModelOptions& opt = {});
// load_any_model(...).denoiser(): what `groups` scores with.
Denoiser load_denoiser(const std::string& dir_or_file, const c10::Device& device, bool use_ema = true);

}  // namespace invdiff
