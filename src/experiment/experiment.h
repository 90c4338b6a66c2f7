// The stage runner `invdiff run` and `invdiff bench` share: resumable stages
// (experiment/stage.h) for data, base model, groups, the min step, the reweighting baseline and
// evaluation, each made from a recipe (experiment/recipes.h). Every stage writes into its
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
#include "experiment/recipes.h"
#include "invdiff/group_weights.h"
#include "model/unet.h"
#include "train/trainer.h"

namespace invdiff {

struct ClassifierTrainConfig;

// The dataset a run or bench reads: its directory, the condition column and the attribute
// columns Bias is judged on (evaluation only: the label-free stages never read them).
struct DataSpec {
  std::string dir;
  std::string target;                   // "" : the manifest's target column, else "class"
  std::vector<std::string> attributes;  // empty: the manifest's attribute columns
};

// Shared context of one run: where the data lives, the device, the evaluation classifier.
class Experiment {
 public:
  Experiment(std::string data_dir, c10::Device device, bool progress)
      : Experiment(DataSpec{std::move(data_dir), "", {}}, device, progress) {}
  Experiment(DataSpec data, c10::Device device, bool progress)
      : data_dir_(std::move(data.dir)), target_(std::move(data.target)), attributes_(std::move(data.attributes)),
        device_(device), progress_(progress) {}
  const std::string& data_dir() const { return data_dir_; }
  // The condition column (--target, else the manifest's, else "class").
  const std::string& target_column() { return train().target_column; }
  const c10::Device& device() const { return device_; }
  bool progress() const { return progress_; }
  // The training split (label-free view: file, target, images), loaded on first use.
  const ImageDataset& train();
  // Content fingerprint of the dataset (its manifest, else its metadata.csv; and --target when
  // given): part of every stage key.
  std::string data_fingerprint() const;

  // Stage: builds cfmnist in data_dir when no dataset is there (neither manifest.json nor
  // metadata.csv: cfmnist and the importers write the manifest last).
  void ensure_dataset();
  // Throws one line unless every attribute column is a column of metadata.csv with a value in
  // every ref row (the attribute classifiers train there): checked before anything trains.
  void check_attributes() const;
  // Stage: the base model in dir (resumes a partial run). Returns its result.
  nlohmann::json base(const std::string& dir, const UNetConfig& unet, const TrainConfig& cfg);
  // Stage: the evaluation classifier in dir (trained on the reference split).
  nlohmann::json classifier(const std::string& dir);
  // The attribute columns: --attribute's, else the manifest's "attributes" (colour_name for older
  // cfmnist builds); empty: Bias cannot be measured.
  std::vector<std::string> attribute_columns() const;
  // Whether the manifest has cfmnist's palette: colour_name is then judged by the exact oracle.
  bool has_colour_oracle() const;
  // A recipe's oracle group columns: its own, or the target and every attribute column.
  std::vector<std::string> oracle_columns(const Recipe& r);
  // Stage: one attribute classifier per attribute column the colour oracle does not judge, in
  // out/attr_<column> (reference split, evaluation only); every later evaluate() judges Bias with them.
  nlohmann::json attribute_classifiers(const std::string& out);
  // Stage: groups for a recipe ("inferred" or "oracle").
  nlohmann::json groups(const std::string& dir, const std::string& base_dir, const Recipe& r);
  // Stage: the min step, or the reweighting fine-tune.
  nlohmann::json debias(const std::string& dir, const std::string& base_dir, const GroupsSource& groups,
                        const Recipe& r);
  nlohmann::json reweight(const std::string& dir, const std::string& base_dir, const Recipe& r);
  // Stage: evaluates a model (or, model empty, the reference split) with n images per prompt;
  // guidance_ratio overrides a guided model's stored r (unset: the stored one).
  nlohmann::json evaluate(const std::string& dir, const std::string& model_dir, int64_t n_per_prompt, uint64_t seed,
                          std::optional<double> guidance_ratio = std::nullopt);

  // Groups -> min step (or reweight) for a recipe under dir: returns {groups, train} results and
  // "model", the directory of the trained model. groups_dir (default dir/groups) lets recipes that
  // differ only in their min step share one max step.
  nlohmann::json make_model(const std::string& dir, const std::string& base_dir, const Recipe& r,
                            const std::string& groups_dir = "");

 private:
  // A classifier trained on data_dir_ into dir as a resumable stage under `key`; returns its result.
  nlohmann::json classifier_stage(const std::string& dir, const nlohmann::json& key, const ClassifierTrainConfig& cfg);

  std::string data_dir_, target_;
  std::vector<std::string> attributes_;
  std::vector<std::string> attr_classifiers_;
  c10::Device device_;
  bool progress_;
  std::optional<ImageDataset> train_;
  std::string classifier_;  // set by classifier()
};

}  // namespace invdiff
