// invdiff's own image classifier: the judge of faithfulness (is the garment the prompted one?),
// an attribute classifier for Bias on datasets without an oracle, and - through its penultimate
// layer - the default feature space of FD / KID / precision-recall when no Inception weights are
// at hand (docs/evaluation.md). A small ResNet: quick to train on 2 CPU cores, and its checkpoint is
// the same single-file format as the diffusion models' (train/checkpoint.h), meta kind
// "classifier". The network: classifier_net.h; its training: classifier_train.h.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "eval/classifier_net.h"

namespace invdiff {

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

void save_classifier(const std::string& path, const Classifier& c);
// Accepts a checkpoint file or a directory holding checkpoint.pt; refuses other checkpoint kinds.
Classifier load_classifier(const std::string& dir_or_file, const c10::Device& device);
// True when the file is an invdiff checkpoint whose meta says kind "classifier".
bool is_classifier_checkpoint(const std::string& dir_or_file);

}  // namespace invdiff
