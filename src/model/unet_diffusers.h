// invdiff's UNet as diffusers' UNet2DModel. Both are the DDPM UNet: the same residual blocks
// (GroupNorm, SiLU, a per-block time projection, a 1x1 shortcut), the same skip topology (one
// skip per block and downsampler, layers + 1 blocks per up level), the time embedding
// [cos, sin] with frequencies exp(-ln(10^4) i / half) (flip_sin_to_cos true, freq_shift 0), the
// class embedding added after the time MLP, attention with one GroupNorm and a residual. What
// differs is layout and names: attention's fused 1x1 qkv convolution is diffusers' to_q / to_k /
// to_v, and a fixed head count is one head width only when every attended level is as wide.
// So an invdiff model exports exactly (tested: the same eps to float rounding), LoRA adapters
// merged into their layers' weights.
#pragma once
#include "model/diffusers_unet.h"
#include "model/unet.h"

namespace invdiff {

// The UNet2DModel config of `cfg`; throws std::invalid_argument when num_heads > 1 gives the
// attended levels different head widths (diffusers has one attention_head_dim).
DiffusersUNet2DConfig diffusers_config_of(const UNetConfig& cfg);

// A UNet2DModel holding `net`'s weights (LoRA adapters merged: W + s B A), on the CPU, eval mode.
DiffusersUNet2D to_diffusers_unet(const UNetImpl& net);

}  // namespace invdiff
