// `invdiff run`: the whole loop in one call on the embedded benchmark or any dataset - data, base
// model (or a given one), label-free groups, G_psi, evaluation of the reference split, the base
// and the guided model, and one report (report.md + report.html). Bias is judged by cfmnist's
// colour oracle or by attribute classifiers trained on the reference split's attribute columns;
// a dataset without any still gets everything else. Every stage is resumable (experiment/stage.h).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "model/unet.h"
#include "train/trainer.h"

namespace invdiff {

struct RunOptions {
  std::string out = "runs/demo";
  std::string data = "data/cfmnist";  // built as cfmnist when no dataset is there
  std::string model;                  // an existing base model (or diffusers folder); "" : train OUT/base
  std::string target;                 // the condition column ("" : the manifest's)
  std::vector<std::string> attributes;  // the columns Bias is judged on ("" : the manifest's)
  std::string preset = "quick";
  uint64_t seed = 0;
  std::optional<int64_t> base_steps;         // unset: the preset's
  std::optional<int64_t> debias_steps;       // unset: the preset's
  std::optional<int64_t> samples_per_class;  // unset: the preset's
  UNetConfig unet;
  TrainConfig train;               // steps and seed are set from the preset / seed
  std::string command_line;        // shown in the report ("how to reproduce")
  bool always_debias = false;      // train G_psi even when the groups show no clear structure
};

// Runs (or resumes) every stage and writes OUT/report.md, report.html, metrics.json and the
// charts. Returns metrics.json's content.
nlohmann::json run_pipeline(const RunOptions& opt, const c10::Device& device, bool progress);

}  // namespace invdiff
