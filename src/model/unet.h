// Conditional UNet predicting the noise eps(x_t, t, y): DDPM-style residual blocks with
// GroupNorm + SiLU, sinusoidal time embedding, a class embedding with one extra "null" class
// (index num_classes) for classifier-free guidance, and self-attention at chosen resolutions.
#pragma once
#include <string>
#include <vector>

#include "core/json.h"
#include "model/layers.h"

namespace invdiff {

struct UNetConfig {
  int in_channels = 3;
  int out_channels = 3;
  int image_size = 16;
  int base_channels = 32;
  std::vector<int> channel_mult{1, 2, 2};
  int num_res_blocks = 1;
  std::vector<int> attention_resolutions{};  // sizes with self-attention besides the middle block
  int num_heads = 1;
  int norm_groups = 8;
  int num_classes = 4;  // condition indices 0..num_classes-1; num_classes is the null class
  double dropout = 0.0;

  int null_class() const { return num_classes; }
  void validate() const;  // throws std::invalid_argument with the offending field
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(UNetConfig, in_channels, out_channels, image_size, base_channels,
                                                channel_mult, num_res_blocks, attention_resolutions, num_heads,
                                                norm_groups, num_classes, dropout)

class UNetImpl : public torch::nn::Module {
 public:
  explicit UNetImpl(const UNetConfig& cfg);
  // x [B, C, H, W], t [B] (int64 or float timesteps), y [B] int64 class (num_classes = null).
  // bottleneck, when given, receives the middle block's output [B, C_mid, h, w] (the "h-space"
  // the max step can cluster on).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y,
                        torch::Tensor* bottleneck = nullptr);
  const UNetConfig& config() const { return cfg_; }
  int64_t num_parameters(bool trainable_only = false) const;
  // The output convolution (zeroed by guidance modules so they start as a no-op).
  Conv2dL output_conv() const { return conv_out_; }

 private:
  UNetConfig cfg_;
  LinearL time_fc1_{nullptr}, time_fc2_{nullptr};
  torch::nn::Embedding class_emb_{nullptr};
  Conv2dL conv_in_{nullptr}, conv_out_{nullptr};
  torch::nn::GroupNorm norm_out_{nullptr};
  torch::nn::ModuleList down_{nullptr}, mid_{nullptr}, up_{nullptr};
  std::vector<int> down_kind_, up_kind_;  // 0 res, 1 attn, 2 down/upsample; marks skip pushes
};
TORCH_MODULE(UNet);

// [B] timesteps -> [B, dim] sinusoidal embedding (the transformer / DDPM form).
torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, double max_period = 10000.0);

}  // namespace invdiff
