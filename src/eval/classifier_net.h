// The evaluation classifier's network: a small pre-activation ResNet with GroupNorm (train and
// eval behave the same, and a checkpoint has no running statistics to get wrong).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "core/json.h"

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

}  // namespace invdiff
