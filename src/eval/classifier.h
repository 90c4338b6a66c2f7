// invdiff's own image classifier: the judge of faithfulness (is the garment the prompted one?),
// an attribute classifier for Bias on datasets without an oracle, and - through its penultimate
// layer - the default feature space of FD / KID / precision-recall when no Inception weights are
// at hand (SPEC section 3). A small ResNet: quick to train on 2 CPU cores, and its checkpoint is
// the same single-file format as the diffusion models' (train/checkpoint.h), meta kind
// "classifier".
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "data/dataset.h"

namespace invdiff {

struct ClassifierConfig {
  int in_channels = 3;
  int image_size = 16;
  int num_classes = 4;
  int width = 16;                      // channels of the first stage; doubled per stage
  int stages = 3;                      // stage s > 0 halves the resolution
  int blocks = 1;                      // residual blocks per stage
  int feature_dim = 128;               // penultimate layer (the FD feature space)
  int norm_groups = 8;
  void validate() const;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ClassifierConfig, in_channels, image_size, num_classes, width, stages,
                                                blocks, feature_dim, norm_groups)

class ClassifierNetImpl : public torch::nn::Module {
 public:
  explicit ClassifierNetImpl(const ClassifierConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x);   // [B, C, H, W] in [-1, 1] -> logits [B, K]
  torch::Tensor features(const torch::Tensor& x);  // -> [B, feature_dim]
  const ClassifierConfig& config() const { return cfg_; }

 private:
  ClassifierConfig cfg_;
  torch::nn::Conv2d stem_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Linear feat_{nullptr}, head_{nullptr};
};
TORCH_MODULE(ClassifierNet);

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

// A trained classifier ready for inference (eval mode, no autograd).
struct Classifier {
  ClassifierNet net{nullptr};
  std::vector<std::string> class_names;
  std::string column;
  std::string path;   // checkpoint it came from ("" if not saved)
  nlohmann::json meta;
  c10::Device device = c10::Device("cpu");

  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  // Batched; inputs anywhere, outputs on the CPU. Images must match the trained C, H, W.
  at::Tensor predict(const at::Tensor& images, int64_t batch_size = 500, bool progress = false) const;   // logits [N, K]
  at::Tensor features(const at::Tensor& images, int64_t batch_size = 500, bool progress = false) const;  // [N, D]
  // Throws "<path>: classifier expects CxHxW images, got ..." on a mismatch.
  void check_images(const at::Tensor& images, const std::string& what) const;
};

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

void save_classifier(const std::string& path, const Classifier& c);
// Accepts a checkpoint file or a directory holding checkpoint.pt; refuses other checkpoint kinds.
Classifier load_classifier(const std::string& dir_or_file, const c10::Device& device);
// True when the file is an invdiff checkpoint whose meta says kind "classifier".
bool is_classifier_checkpoint(const std::string& dir_or_file);

}  // namespace invdiff
