#include "data/appearance.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace invdiff {

namespace F = torch::nn::functional;

namespace {
// Position k of K in [0, 1] (0 for the first value, 1 for the last).
double frac(int k, int K) { return K > 1 ? static_cast<double>(k) / (K - 1) : 0.0; }

// Rows of x [N, C, H, W] whose value is k.
at::Tensor rows_with(const std::vector<int64_t>& v, int64_t k) {
  std::vector<int64_t> idx;
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] == k) idx.push_back(static_cast<int64_t>(i));
  return torch::tensor(idx, torch::kInt64);
}

// Output pixel p samples the input at (p - shift) / s: a zoom by s about the centre, then a
// horizontal shift (both in the [-1, 1] coordinates of grid_sample).
at::Tensor zoom_shift(const at::Tensor& x, double s, double shift) {
  auto theta = torch::tensor({1.0 / s, 0.0, -shift / s, 0.0, 1.0 / s, 0.0}, torch::kFloat32).view({1, 2, 3});
  theta = theta.expand({x.size(0), 2, 3});
  auto grid = F::affine_grid(theta, x.sizes().vec(), /*align_corners=*/false);
  return F::grid_sample(x, grid, F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kZeros).align_corners(false));
}

at::Tensor gaussian_blur(const at::Tensor& x, double sigma) {
  if (sigma <= 0) return x;
  const int r = 3;
  std::vector<float> k;
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += std::exp(-0.5 * i * i / (sigma * sigma));
  for (int i = -r; i <= r; ++i) k.push_back(static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma)) / sum));
  auto kt = torch::tensor(k);
  const int64_t C = x.size(1);
  auto kh = kt.view({1, 1, 1, 2 * r + 1}).expand({C, 1, 1, 2 * r + 1}).contiguous();
  auto kv = kt.view({1, 1, 2 * r + 1, 1}).expand({C, 1, 2 * r + 1, 1}).contiguous();
  auto y = F::conv2d(F::pad(x, F::PadFuncOptions({r, r, 0, 0}).mode(torch::kReplicate)), kh,
                     F::Conv2dFuncOptions().groups(C));
  return F::conv2d(F::pad(y, F::PadFuncOptions({0, 0, r, r}).mode(torch::kReplicate)), kv, F::Conv2dFuncOptions().groups(C));
}

// Background pattern k (0: none) as [28, 28] in [0, 1].
at::Tensor background_pattern(int k) {
  auto yy = torch::arange(28).view({28, 1}).expand({28, 28});
  auto xx = torch::arange(28).view({1, 28}).expand({28, 28});
  at::Tensor on;
  switch (k) {
    case 0: return torch::zeros({28, 28});
    case 1: on = yy.remainder(4) < 2; break;                          // horizontal stripes
    case 2: on = xx.remainder(4) < 2; break;                          // vertical stripes
    case 3: on = (yy.floor_divide(4) + xx.floor_divide(4)).remainder(2) == 0; break;  // checker
    case 4: on = (yy + xx).remainder(6) < 2; break;                   // diagonal stripes
    default: on = (yy.remainder(4) < 2).logical_and(xx.remainder(4) < 2); break;  // dots
  }
  return on.to(torch::kFloat32) * 0.45;
}
}  // namespace

std::vector<std::string> appearance_value_names(AppearanceKind kind, int K, const std::vector<Colour>& palette) {
  if (K < 2 || K > kMaxAttributeValues)
    throw std::invalid_argument("attribute " + enum_name(kind) + ": K must be between 2 and " +
                                std::to_string(kMaxAttributeValues) + " (got " + std::to_string(K) + ")");
  std::vector<std::string> out;
  auto levels = [&](const std::vector<std::string>& names2, const std::string& stem) {
    if (K == 2) return names2;
    std::vector<std::string> v;
    for (int k = 0; k < K; ++k) v.push_back(stem + std::to_string(k));
    return v;
  };
  switch (kind) {
    case AppearanceKind::Colour:
      if (static_cast<int>(palette.size()) < K) throw std::invalid_argument("attribute colour: the palette has fewer than K colours");
      for (int k = 0; k < K; ++k) out.push_back(palette[k].name);
      return out;
    case AppearanceKind::Brightness: return levels({"bright", "dim"}, "level");
    case AppearanceKind::Scale: return levels({"large", "small"}, "size");
    case AppearanceKind::Position: return levels({"left", "right"}, "x");
    case AppearanceKind::Background: {
      const std::vector<std::string> n{"plain", "hstripes", "vstripes", "checker", "diagonal", "dots"};
      return {n.begin(), n.begin() + K};
    }
    case AppearanceKind::Blur: return levels({"sharp", "blurred"}, "blur");
    case AppearanceKind::Stroke: return levels({"thin", "thick"}, "stroke");
  }
  throw std::logic_error("attribute without names");
}

std::vector<std::vector<std::string>> appearance_value_table(const std::vector<AppearanceKind>& kinds, int K,
                                                             const std::vector<Colour>& palette) {
  std::vector<std::vector<std::string>> names;
  for (size_t a = 0; a < kinds.size(); ++a) {
    for (size_t b = 0; b < a; ++b)
      if (kinds[a] == kinds[b]) throw std::invalid_argument("attribute " + enum_name(kinds[a]) + " given twice");
    names.push_back(appearance_value_names(kinds[a], K, palette));  // checks K
  }
  return names;
}

at::Tensor render_appearance(const at::Tensor& grey, const std::vector<AppearanceKind>& kinds,
                             const std::vector<std::vector<int64_t>>& values, int K,
                             const std::vector<Colour>& palette) {
  TORCH_CHECK(grey.dim() == 3 && grey.size(1) == 28 && grey.size(2) == 28, "render_appearance expects [N, 28, 28]");
  if (kinds.size() != values.size()) throw std::invalid_argument("render_appearance: one value list per attribute");
  appearance_value_table(kinds, K, palette);
  for (size_t a = 0; a < kinds.size(); ++a) {
    if (static_cast<int64_t>(values[a].size()) != grey.size(0))
      throw std::invalid_argument("render_appearance: one value per image for attribute " + enum_name(kinds[a]));
    for (int64_t v : values[a])
      if (v < 0 || v >= K) throw std::invalid_argument("render_appearance: a value outside 0..K-1");
  }
  auto find = [&](AppearanceKind k) -> const std::vector<int64_t>* {
    for (size_t a = 0; a < kinds.size(); ++a)
      if (kinds[a] == k) return &values[a];
    return nullptr;
  };
  // Applies f(k, rows) to the rows of x whose value of attribute `kind` is k.
  auto per_value = [&](at::Tensor x, AppearanceKind kind, const std::function<at::Tensor(int, at::Tensor)>& f) {
    const auto* v = find(kind);
    if (!v) return x;
    auto out = x.clone();
    for (int k = 0; k < K; ++k) {
      auto idx = rows_with(*v, k);
      if (idx.numel() == 0) continue;
      out.index_copy_(0, idx, f(k, x.index_select(0, idx)));
    }
    return out;
  };

  at::Tensor g = grey.to(torch::kFloat32).div(255.0).unsqueeze(1);  // [N, 1, 28, 28]: intensity and mask
  g = per_value(g, AppearanceKind::Scale, [&](int k, at::Tensor x) { return zoom_shift(x, 1.0 - 0.45 * frac(k, K), 0.0); });
  g = per_value(g, AppearanceKind::Position,
                [&](int k, at::Tensor x) { return zoom_shift(x, 0.6, -0.4 + 0.8 * frac(k, K)); });
  g = per_value(g, AppearanceKind::Stroke, [&](int k, at::Tensor x) {
    const int iterations = K == 2 ? 2 * k : k;  // two values: thin vs two pixels thicker
    for (int i = 0; i < iterations; ++i) x = F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(1).padding(1));
    return x;
  });
  g = per_value(g, AppearanceKind::Blur, [&](int k, at::Tensor x) { return gaussian_blur(x, 1.5 * frac(k, K)); });
  at::Tensor alpha = g.clamp(0, 1);
  g = per_value(alpha, AppearanceKind::Brightness, [&](int k, at::Tensor x) { return x * (1.0 - 0.6 * frac(k, K)); });

  at::Tensor rgb;
  if (const auto* v = find(AppearanceKind::Colour)) {
    std::vector<float> pal;
    for (int k = 0; k < K; ++k) pal.insert(pal.end(), {palette[k].r, palette[k].g, palette[k].b});
    auto pt = torch::tensor(pal).view({K, 3});
    rgb = pt.index_select(0, torch::tensor(*v, torch::kInt64)).view({-1, 3, 1, 1});
  } else {
    rgb = torch::ones({g.size(0), 3, 1, 1});
  }
  at::Tensor img = g * rgb;  // [N, 3, 28, 28]
  if (const auto* v = find(AppearanceKind::Background)) {
    std::vector<at::Tensor> pats;
    for (int k = 0; k < K; ++k) pats.push_back(background_pattern(k));
    auto bg = torch::stack(pats).index_select(0, torch::tensor(*v, torch::kInt64)).unsqueeze(1);  // [N, 1, 28, 28]
    img = img + (1.0 - alpha) * bg;
  }
  return img.clamp(0, 1).contiguous();
}

}  // namespace invdiff
