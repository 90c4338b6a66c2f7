// `invdiff export`: a model as diffusers folders, for use from Python.
//   a diffusers model       -> DIR: a UNet2DModel folder (config.json, weights, scheduler_config.json,
//                              class_names.json when the classes have names);
//   a guided model over one -> DIR/base (the frozen base, as above), DIR/guidance (G_psi, EMA weights
//                              unless told otherwise, as its own UNet2DModel), DIR/guidance.json
//                              (variant, mix, r) and DIR/README.md (the guided step in diffusers).
// invdiff's own UNet is the same network as UNet2DModel under other names (model/unet_diffusers.h):
// a model built on it exports exactly, a lora G_psi with its adapters merged (as a convex mix).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "sampling/any_model.h"

namespace invdiff {

// Returns what was written (the folders, and for a guided model the mix).
nlohmann::json export_diffusers(const AnyModel& m, const std::string& out_dir);

}  // namespace invdiff
