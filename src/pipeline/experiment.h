// The building blocks `invdiff run` and `invdiff bench` share: presets, recipes (how one
// debiased model is made), and resumable stages (pipeline/stage.h) for data, base model,
// groups, the min step, the reweighting baseline and evaluation. Every stage writes into its
// own directory and returns a JSON result (timings included) that the reports read.
#pragma once
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "data/dataset.h"
#include "invdiff/debias.h"
#include "invdiff/guidance.h"
#include "invdiff/infer_groups.h"
#include "model/unet.h"
#include "train/trainer.h"

namespace invdiff {

// Budgets chosen from measured throughput on the 2-core machine (docs/pipeline.md).
struct Preset {
  std::string name;
  int64_t base_steps;
  int64_t debias_steps;
  int64_t reweight_steps;
  int64_t samples_per_class;
  int score_timesteps;  // M of the multi-t score
};
Preset get_preset(const std::string& name);  // quick or full

// How one debiased model is made.
struct Recipe {
  std::string name;                    // directory name, e.g. "invdiff"
  std::string label;                   // table row, e.g. "InvDiff, invdiff defaults"
  std::string groups = "inferred";     // inferred | oracle | none (ERM control) | reweight
  GroupsConfig groups_cfg;             // inferred
  std::vector<std::string> oracle_columns{"class_name", "colour_name"};  // oracle, reweight
  bool hard_groups = false, cross_class = false;
  GuidanceConfig guidance;
  DebiasConfig debias;
  int64_t reweight_steps = 0;          // reweight: fine-tuning steps of the whole base model
};
void to_json(nlohmann::json& j, const Recipe& r);

// invdiff's defaults: multi-t score of the residual's low band (pooled to 4 x 4), Otsu-chosen
// timestep refined by 4 draws, the cluster grouper (per-condition two-way split by the pooled
// residual's direction) crossed with the condition, `small` G_psi in additive mix trained on
// t in [400, 900).
Recipe invdiff_recipe(const Preset& p);
// The official recipe: single-t score, the std grouper (G = 8), a full `copy` G_psi in the
// convex mix at r = 0.5, t over the whole schedule.
Recipe official_recipe(const Preset& p);
// The ERM control: invdiff's min step with no groups (plain mean loss).
Recipe erm_recipe(const Preset& p);
// Oracle groups (true class x colour) with invdiff's min step: the label-free upper bound.
Recipe oracle_recipe(const Preset& p);
// Plain fine-tuning of the base model with inverse oracle-group-frequency weights.
Recipe reweight_recipe(const Preset& p);

// Shared context of one run: where the data lives, the device, the evaluation classifier.
class Experiment {
 public:
  Experiment(std::string data_dir, c10::Device device, bool progress)
      : data_dir_(std::move(data_dir)), device_(device), progress_(progress) {}
  const std::string& data_dir() const { return data_dir_; }
  const c10::Device& device() const { return device_; }
  bool progress() const { return progress_; }
  // The training split (label-free view: file, target, images), loaded on first use.
  const ImageDataset& train();
  // Content fingerprint of the dataset (its manifest): part of every stage key.
  std::string data_fingerprint() const;

  // Stage: builds cfmnist in data_dir unless a complete one is there.
  void ensure_cfmnist();
  // Stage: the base model in dir (resumes a partial run). Returns its result.
  nlohmann::json base(const std::string& dir, const UNetConfig& unet, const TrainConfig& cfg);
  // Stage: the evaluation classifier in dir (trained on the reference split).
  nlohmann::json classifier(const std::string& dir);
  // Stage: groups for a recipe ("inferred" or "oracle").
  nlohmann::json groups(const std::string& dir, const std::string& base_dir, const Recipe& r);
  // Stage: the min step (groups_dir empty for "none"), or the reweighting fine-tune.
  nlohmann::json debias(const std::string& dir, const std::string& base_dir, const std::string& groups_dir,
                        const Recipe& r);
  nlohmann::json reweight(const std::string& dir, const std::string& base_dir, const Recipe& r);
  // Stage: evaluates a model (or, model empty, the reference split) with n images per prompt;
  // guidance_ratio overrides a guided model's stored r (NaN: the stored one).
  nlohmann::json evaluate(const std::string& dir, const std::string& model_dir, int64_t n_per_prompt, uint64_t seed,
                          double guidance_ratio = NAN);

  // Groups -> min step (or reweight) for a recipe under dir: returns {groups, train} results and
  // "model", the directory of the trained model.
  nlohmann::json make_model(const std::string& dir, const std::string& base_dir, const Recipe& r);

 private:
  std::string data_dir_;
  c10::Device device_;
  bool progress_;
  std::optional<ImageDataset> train_;
  std::string classifier_;  // set by classifier()
};

}  // namespace invdiff
