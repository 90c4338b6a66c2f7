// The feature space of FD / KID / precision-recall. Without Inception weights offline, the
// default is an invdiff classifier's penultimate layer; a TorchScript module (e.g. an exported
// Inception pool3 extractor) can be used instead, and every report names which one it used.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace invdiff {

struct Classifier;

class FeatureExtractor {
 public:
  // The classifier's penultimate layer (the classifier must outlive the extractor's use only
  // through its shared module handle, which the extractor keeps).
  static FeatureExtractor from_classifier(const Classifier& c);
  // A TorchScript module: forward([N, C, H, W] in [-1, 1]) -> [N, D] (or [N, D, 1, 1]; a tuple's
  // first element). Resizing, if the module needs it, is the module's business.
  static FeatureExtractor from_torchscript(const std::string& path, const c10::Device& device);
  // An invdiff classifier checkpoint (by its meta) or else a TorchScript file.
  static FeatureExtractor load(const std::string& path, const c10::Device& device);

  // Batched, output [N, D] float32 on the CPU.
  at::Tensor extract(const at::Tensor& images, int64_t batch_size = 500, bool progress = false,
                     const std::string& label = "features") const;
  // {"kind": "classifier-penultimate" | "torchscript", "path": ..., "dim": D (after first use)}
  nlohmann::json describe() const;

 private:
  std::function<at::Tensor(const at::Tensor&)> fn_;
  std::string kind_, path_;
  c10::Device device_ = c10::Device("cpu");
  mutable int64_t dim_ = -1;
};

}  // namespace invdiff
