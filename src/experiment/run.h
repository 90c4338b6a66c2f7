// `invdiff run`: the whole loop on the embedded benchmark in one call - data, base model,
// label-free groups, G_psi, evaluation of the reference split, the base and the guided model,
// and one report (report.md + report.html). Every stage is resumable (pipeline/stage.h).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include <c10/core/Device.h>

#include "model/unet.h"
#include "train/trainer.h"

namespace invdiff {

struct RunOptions {
  std::string out = "runs/demo";
  std::string data = "data/cfmnist";
  std::string preset = "quick";
  uint64_t seed = 0;
  std::optional<int64_t> base_steps;         // unset: the preset's
  std::optional<int64_t> debias_steps;       // unset: the preset's
  std::optional<int64_t> samples_per_class;  // unset: the preset's
  UNetConfig unet;
  TrainConfig train;               // steps and seed are set from the preset / seed
  std::string command_line;        // shown in the report ("how to reproduce")
};

// Runs (or resumes) every stage and writes OUT/report.md, report.html, metrics.json and the
// charts. Returns metrics.json's content.
nlohmann::json run_pipeline(const RunOptions& opt, const c10::Device& device, bool progress);

}  // namespace invdiff
