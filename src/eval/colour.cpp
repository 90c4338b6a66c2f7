#include "eval/colour.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/fs.h"

namespace invdiff {

static torch::Tensor palette_tensor(const std::vector<Colour>& palette) {
  std::vector<float> v;
  for (const auto& c : palette) {
    float m = std::max({c.r, c.g, c.b});
    v.insert(v.end(), {c.r / m, c.g / m, c.b / m});
  }
  return torch::tensor(v).view({static_cast<int64_t>(palette.size()), 3});
}

// [N, 3, H, W] in [-1,1] -> rgb in [0,1] as [N, HW, 3] and the foreground mask [N, HW].
static std::pair<torch::Tensor, torch::Tensor> rgb_and_mask(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3, "colour oracle expects [N, 3, H, W] images");
  auto rgb = images.detach().to(torch::kCPU, torch::kFloat32).add(1).mul(0.5).clamp(0, 1)
                 .flatten(2).transpose(1, 2);  // [N, HW, 3]
  auto mask = std::get<0>(rgb.max(2)) > kForegroundThreshold;
  return {rgb, mask};
}

// Nearest palette index for colours [..., 3], after scaling each colour to max 1.
static torch::Tensor nearest(const torch::Tensor& colours, const torch::Tensor& pal) {
  auto scaled = colours / std::get<0>(colours.max(-1, true)).clamp_min(1e-6);
  auto d = (scaled.unsqueeze(-2) - pal).pow(2).sum(-1);  // [..., K]
  return d.argmin(-1);
}

at::Tensor oracle_colours(const at::Tensor& images, const std::vector<Colour>& palette) {
  auto [rgb, mask] = rgb_and_mask(images);
  auto m = mask.to(torch::kFloat32).unsqueeze(-1);
  auto count = m.sum(1);                                 // [N, 1]
  auto mean = (rgb * m).sum(1) / count.clamp_min(1.0);   // [N, 3]
  auto idx = nearest(mean, palette_tensor(palette));
  return torch::where(count.squeeze(1) > 0, idx, torch::full_like(idx, -1));
}

at::Tensor colour_purity(const at::Tensor& images, const std::vector<Colour>& palette) {
  auto [rgb, mask] = rgb_and_mask(images);
  auto own = oracle_colours(images, palette);            // [N]
  auto px = nearest(rgb, palette_tensor(palette));       // [N, HW]
  auto agree = (px == own.unsqueeze(1)) & mask;
  auto count = mask.sum(1).to(torch::kFloat32);
  return torch::where(count > 0, agree.sum(1).to(torch::kFloat32) / count.clamp_min(1.0),
                      torch::zeros_like(count));
}

}  // namespace invdiff
