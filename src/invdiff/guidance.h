// The invariant guidance module G_psi (docs/method.md) and the guided noise predictor built from it.
// The base eps_theta is frozen for good; only G_psi has trainable parameters.
//
// Mixing (r = the guidance ratio):
//   additive (default): eps_hat = eps_theta + r * G        (r = 1 in training)
//   convex (official):  eps_hat = (1 - r) * eps_theta + r * G   (0 < r <= 1, r = 0.5)
// An additive r is refused above kMaxAdditiveRatio: G is trained at one r, and an r far above
// it extrapolates the learned correction into noise (the bench sweeps r <= 2).
// Start state: the guided model must start exactly equal to the base, so
//   additive: G starts at 0   (copy / small: output conv zeroed; lora: G = eps_adapted - eps_theta
//             with zero-initialised adapters),
//   convex:   G starts at eps_theta (copy: the base including its output conv; lora: G =
//             eps_adapted directly). A zero-initialised G would start the convex mix at
//             (1 - r) * eps_theta, half the noise prediction, and sampling collapses.
//             `small` cannot start equal to the base in convex mode and is refused.
// Variants:
//   copy:  a full copy of the base UNet, all trainable (the official default; not small);
//   small: a narrower UNet of the same interface, random init, output conv zeroed;
//   lora:  a copy of the frozen base with low-rank adapters on every conv / linear layer; only
//          the adapters train. Costs one extra forward of the base-sized network per call
//          (base + adapted copy), and twice the base's weights in memory; the checkpoint holds
//          the adapters only.
#pragma once
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "model/diffusers_unet.h"
#include "model/unet.h"

namespace invdiff {

enum class GuidanceVariant { Copy, Small, Lora };
enum class MixMode { Additive, Convex };
INVDIFF_JSON_ENUM(GuidanceVariant, "guidance variant",
                  {{GuidanceVariant::Copy, "copy"}, {GuidanceVariant::Small, "small"}, {GuidanceVariant::Lora, "lora"}})
INVDIFF_JSON_ENUM(MixMode, "mix mode", {{MixMode::Additive, "additive"}, {MixMode::Convex, "convex"}})

constexpr double kMaxAdditiveRatio = 10.0;

struct GuidanceConfig {
  GuidanceVariant variant = GuidanceVariant::Copy;
  MixMode mix = MixMode::Additive;
  std::optional<double> ratio;  // r; unset: the mix's default (1 additive, 0.5 convex)
  int lora_rank = 4;
  double lora_alpha = 4.0;   // adapter scale alpha / rank
  int small_channels = 0;    // small: base channels of G (0: half the base's, >= norm groups)

  double effective_ratio() const;
  void validate() const;     // throws std::invalid_argument naming the bad setting
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(GuidanceConfig, variant, mix, ratio, lora_rank, lora_alpha, small_channels)

// The UNet config of the `small` variant for a base config.
UNetConfig small_guidance_config(const UNetConfig& base, int small_channels);
// The same for a diffusers base: a UNet2DModel of the same blocks, every width scaled by
// small_channels / block_out_channels[0] (0: half) and rounded up to what the norm groups and the
// attention head width divide.
DiffusersUNet2DConfig small_guidance_config(const DiffusersUNet2DConfig& base, int small_channels);

// eps_hat from the base's prediction and G (see the header comment).
torch::Tensor mix_eps(MixMode mode, const torch::Tensor& eps_base, const torch::Tensor& g, double r);

class GuidanceModuleImpl : public torch::nn::Module {
 public:
  // Builds G_psi for `base` (only read: copy and lora copy its weights).
  GuidanceModuleImpl(const GuidanceConfig& cfg, const UNet& base);
  // For an imported diffusers base: G is a UNet2DModel (copy: the base's, small: narrower), so it
  // exports as one. lora is refused (the diffusers layers carry no adapters).
  GuidanceModuleImpl(const GuidanceConfig& cfg, const DiffusersUNet2D& base);
  // G(x_t, t, y); eps_base is the frozen base's prediction for the same input (used by lora).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y,
                        const torch::Tensor& eps_base);
  // The trainable parameters with their names, in a fixed order (optimiser, EMA, checkpoint).
  std::vector<std::pair<std::string, torch::Tensor>> trainable_parameters() const;
  int64_t num_trainable() const;

  GuidanceConfig cfg;
  UNet net{nullptr};  // copy / small: G itself; lora: the adapted copy of the base
  DiffusersUNet2D dnet{nullptr};  // instead of net, for a diffusers base
};
TORCH_MODULE(GuidanceModule);

// The guided noise predictor: a frozen base plus G_psi.
class GuidedModel {
 public:
  // Freezes `base` (requires_grad off, eval mode) and builds G_psi on the base's device.
  GuidedModel(UNet base, const GuidanceConfig& cfg);
  GuidedModel(DiffusersUNet2D base, const GuidanceConfig& cfg);
  // eps_hat at ratio r (NaN: the config's). The base runs under NoGradGuard: no autograd graph
  // is built for it, whatever the caller's mode; G builds one unless the caller disabled it.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y, double r = NAN);
  // The frozen base's prediction alone (no autograd).
  torch::Tensor base_eps(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y);
  double ratio() const { return cfg.effective_ratio(); }
  int64_t num_trainable() const { return g->num_trainable(); }
  int64_t num_frozen() const;  // the base's parameters
  // {trainable, frozen, frozen_copy_in_g (lora's frozen copy of the base: memory, not capacity)}
  nlohmann::json parameter_counts() const;

  UNet base{nullptr};             // null for a diffusers base
  DiffusersUNet2D dbase{nullptr};  // the diffusers base, when there is one
  GuidanceModule g{nullptr};
  GuidanceConfig cfg;
};

}  // namespace invdiff
