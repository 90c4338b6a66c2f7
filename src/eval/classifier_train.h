// `invdiff classifier train`: trains the evaluation classifier (classifier.h) on a dataset split.
#pragma once
#include <cstdint>
#include <string>

#include <c10/core/Device.h>

#include "core/json.h"
#include "data/dataset.h"
#include "eval/classifier.h"

namespace invdiff {

struct ClassifierTrainConfig {
  ClassifierConfig net;       // in_channels, image_size, num_classes come from the data
  std::string split = "ref";  // see docs/evaluation.md for why the balanced split
  std::string column;         // "" : the manifest's target column
  int64_t epochs = 20;
  int64_t steps = 0;          // > 0 overrides epochs
  int64_t batch_size = 128;
  double lr = 3e-3;
  double weight_decay = 0.05;
  int64_t warmup = 50;
  double val_fraction = 0.1;  // stratified, seeded
  bool augment = true;        // random 1-pixel shifts and horizontal flips
  uint64_t seed = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ClassifierTrainConfig, net, split, column, epochs, steps, batch_size, lr,
                                                weight_decay, warmup, val_fraction, augment, seed)

struct ClassifierTrainResult {
  double val_accuracy = 0, val_macro_f1 = 0;
  int64_t train_size = 0, val_size = 0, steps = 0;
  double seconds = 0;
};

// Trains on `data` (already loaded for the wanted split and column) and writes
// out_dir/checkpoint.pt and out_dir/metrics.json (validation accuracy, macro-F1, per-class F1).
Classifier train_classifier(const ImageDataset& data, const ClassifierTrainConfig& cfg, const std::string& out_dir,
                            const c10::Device& device, bool progress = true, ClassifierTrainResult* result = nullptr);
// Loads the split and column named in cfg from a dataset directory, then trains.
Classifier train_classifier(const std::string& data_dir, const ClassifierTrainConfig& cfg, const std::string& out_dir,
                            const c10::Device& device, bool progress = true, ClassifierTrainResult* result = nullptr);

}  // namespace invdiff
