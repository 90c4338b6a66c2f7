// diffusers' UNet2DModel (the pixel-space DDPM UNet of google/ddpm-*), rebuilt from its
// config.json and loaded strictly from diffusion_pytorch_model.safetensors. Module and parameter
// names are diffusers' own (down_blocks.0.resnets.0.conv1.weight, ...), so a state dict maps one
// to one, and export writes the same names back.
//
// Supported: DownBlock2D, AttnDownBlock2D, UpBlock2D, AttnUpBlock2D, UNetMidBlock2D with or
// without attention; positional time embedding (flip_sin_to_cos, freq_shift); num_class_embeds
// (class_embed_type null); resnet_time_scale_shift default / scale_shift; downsample_padding
// (0: diffusers' asymmetric pad); attention_head_dim (null: one head of the block width);
// conv down/up sampling; act_fn silu. Anything else is refused naming the key and its value.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "core/json.h"

namespace invdiff {

// config.json of a UNet2DModel; the defaults are UNet2DModel.__init__'s (diffusers 0.27.2), so
// an absent key means what it means to diffusers. Unknown keys are ignored.
struct DiffusersUNet2DConfig {
  std::string _class_name = "UNet2DModel";
  std::string _diffusers_version;
  nlohmann::json sample_size;  // null, an int or [h, w]
  int in_channels = 3;
  int out_channels = 3;
  bool center_input_sample = false;
  std::string time_embedding_type = "positional";
  double freq_shift = 0;
  bool flip_sin_to_cos = true;
  std::vector<std::string> down_block_types{"DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"};
  std::vector<std::string> up_block_types{"AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"};
  std::vector<int> block_out_channels{224, 448, 672, 896};
  int layers_per_block = 2;
  double mid_block_scale_factor = 1;
  int downsample_padding = 1;
  std::string downsample_type = "conv";
  std::string upsample_type = "conv";
  double dropout = 0.0;
  std::string act_fn = "silu";
  std::optional<int> attention_head_dim = 8;  // null: the block's width (one head)
  std::optional<int> norm_num_groups = 32;
  std::optional<int> attn_norm_num_groups;
  double norm_eps = 1e-5;
  std::string resnet_time_scale_shift = "default";
  bool add_attention = true;
  std::optional<std::string> class_embed_type;
  std::optional<int> num_class_embeds;
  std::optional<int> num_train_timesteps;

  // Throws std::invalid_argument "<key> <value> is not supported (...)" for anything this
  // implementation does not build exactly as diffusers does.
  void validate() const;
  // The square image side sample_size gives (throws when it is null or not square).
  int image_size() const;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DiffusersUNet2DConfig, _class_name, _diffusers_version, sample_size,
                                                in_channels, out_channels, center_input_sample, time_embedding_type,
                                                freq_shift, flip_sin_to_cos, down_block_types, up_block_types,
                                                block_out_channels, layers_per_block, mid_block_scale_factor,
                                                downsample_padding, downsample_type, upsample_type, dropout, act_fn,
                                                attention_head_dim, norm_num_groups, attn_norm_num_groups, norm_eps,
                                                resnet_time_scale_shift, add_attention, class_embed_type,
                                                num_class_embeds, num_train_timesteps)

// diffusers' get_timestep_embedding: [B] -> [B, dim] (float32).
torch::Tensor diffusers_timestep_embedding(const torch::Tensor& t, int64_t dim, bool flip_sin_to_cos,
                                           double downscale_freq_shift, double max_period = 10000.0);

class DiffusersUNet2DImpl : public torch::nn::Module {
 public:
  explicit DiffusersUNet2DImpl(const DiffusersUNet2DConfig& cfg);
  // x [B, C, H, W], t [B] or [] timesteps, class_labels [B] int64 (ignored, may be undefined,
  // when the model has no class embedding). H and W must be divisible by 2^(levels-1).
  // bottleneck, when given, receives the mid block's output (as UNetImpl::forward).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& class_labels = {},
                        torch::Tensor* bottleneck = nullptr);
  const DiffusersUNet2DConfig& config() const { return cfg_; }
  bool class_conditional() const { return cfg_.num_class_embeds.has_value(); }
  int64_t num_parameters() const;
  torch::nn::Conv2d output_conv() const { return conv_out_; }

 private:
  DiffusersUNet2DConfig cfg_;
  torch::nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  torch::nn::Linear time_linear_1_{nullptr}, time_linear_2_{nullptr};
  torch::nn::Embedding class_embedding_{nullptr};
  torch::nn::GroupNorm conv_norm_out_{nullptr};
  torch::nn::ModuleList down_blocks_{nullptr}, up_blocks_{nullptr};
  std::shared_ptr<torch::nn::Module> mid_block_;
};
TORCH_MODULE(DiffusersUNet2D);

// The parameter name an old checkpoint's attention key maps to (query -> to_q, key -> to_k,
// value -> to_v, proj_attn -> to_out.0, inside an `attentions.N.` module); other names unchanged.
std::string modern_attention_name(const std::string& key);

// Copies `tensors` into the module's parameters by name, strictly: every parameter present with
// its shape, every tensor used, floating dtypes only (F16 / BF16 / F64 are converted). Legacy
// attention names are accepted. `what` names the source in errors (the file).
void load_diffusers_state(torch::nn::Module& module, const std::map<std::string, at::Tensor>& tensors,
                          const std::string& what);

// A UNet2DModel folder (config.json + diffusion_pytorch_model.safetensors): the config as read
// (validated) and the network with its weights, in eval mode on the CPU.
struct LoadedDiffusersUNet {
  DiffusersUNet2DConfig config;
  nlohmann::json config_json;  // config.json as written (for `info`)
  DiffusersUNet2D net{nullptr};
};
DiffusersUNet2DConfig read_diffusers_unet_config(const std::string& folder);
LoadedDiffusersUNet load_diffusers_unet(const std::string& folder);
// Writes config.json and diffusion_pytorch_model.safetensors of `net` into folder (atomically).
void save_diffusers_unet(const std::string& folder, DiffusersUNet2DImpl& net);

}  // namespace invdiff
