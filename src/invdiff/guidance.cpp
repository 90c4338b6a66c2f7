#include "invdiff/guidance.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "train/ema.h"

namespace invdiff {

double GuidanceConfig::effective_ratio() const {
  return ratio.value_or(mix == MixMode::Additive ? 1.0 : 0.5);
}

void GuidanceConfig::validate() const {
  double r = effective_ratio();
  if (!std::isfinite(r)) throw std::invalid_argument("guidance ratio must be finite");
  if (mix == MixMode::Convex && !(r > 0 && r <= 1))
    throw std::invalid_argument("convex mix needs 0 < guidance ratio <= 1 (got " + human_number(r) + ")");
  if (mix == MixMode::Additive && !(r >= 0 && r <= kMaxAdditiveRatio))
    throw std::invalid_argument("additive mix needs 0 <= guidance ratio <= " + human_number(kMaxAdditiveRatio) + " (got " +
                                human_number(r) + ")");
  if (mix == MixMode::Convex && variant == GuidanceVariant::Small)
    throw std::invalid_argument(
        "the small variant cannot start equal to the base under the convex mix (G would have to reproduce "
        "eps_theta); use --mix additive, or --variant copy / lora");
  if (variant == GuidanceVariant::Lora && (lora_rank < 1 || !(lora_alpha > 0)))
    throw std::invalid_argument("lora needs rank >= 1 and alpha > 0");
  if (small_channels < 0) throw std::invalid_argument("small channels must be >= 0");
}

UNetConfig small_guidance_config(const UNetConfig& base, int small_channels) {
  UNetConfig c = base;
  int ch = small_channels > 0 ? small_channels : base.base_channels / 2;
  // GroupNorm needs the group count to divide every level's channels: round up to a multiple.
  ch = std::max(ch, base.norm_groups);
  ch = (ch + base.norm_groups - 1) / base.norm_groups * base.norm_groups;
  c.base_channels = ch;
  c.validate();
  return c;
}

DiffusersUNet2DConfig small_guidance_config(const DiffusersUNet2DConfig& base, int small_channels) {
  DiffusersUNet2DConfig c = base;
  const int b0 = base.block_out_channels.front();
  const int ch = small_channels > 0 ? small_channels : b0 / 2;
  int unit = base.norm_num_groups.value_or(1);
  if (base.attention_head_dim) unit = std::lcm(unit, *base.attention_head_dim);
  if (base.attn_norm_num_groups) unit = std::lcm(unit, *base.attn_norm_num_groups);
  for (int& w : c.block_out_channels) {
    w = std::max(unit, static_cast<int>(std::ceil(static_cast<double>(w) * ch / b0)));
    w = (w + unit - 1) / unit * unit;
  }
  c.validate();
  return c;
}

torch::Tensor mix_eps(MixMode mode, const torch::Tensor& eps_base, const torch::Tensor& g, double r) {
  if (mode == MixMode::Additive) return eps_base + r * g;
  return (1.0 - r) * eps_base + r * g;
}

namespace {
void freeze(torch::nn::Module& m) {
  for (auto& p : m.parameters()) p.set_requires_grad(false);
}
}  // namespace

GuidanceModuleImpl::GuidanceModuleImpl(const GuidanceConfig& c, const UNet& base) : cfg(c) {
  cfg.validate();
  const UNetConfig& bc = base->config();
  torch::Device dev = base->parameters().empty() ? torch::Device(torch::kCPU) : base->parameters().front().device();
  if (cfg.variant == GuidanceVariant::Small) {
    net = register_module("net", UNet(small_guidance_config(bc, cfg.small_channels)));
    zero_module(*net->output_conv());
  } else {
    net = register_module("net", UNet(bc));
    net->to(dev);
    copy_weights(*net, *base);
    if (cfg.variant == GuidanceVariant::Copy) {
      // Additive: G starts at 0. Convex: G starts as the base, output layer included.
      if (cfg.mix == MixMode::Additive) zero_module(*net->output_conv());
    } else {
      freeze(*net);
      // Collect first: add_lora registers new submodules, which would disturb the walk.
      std::vector<std::shared_ptr<torch::nn::Module>> layers;
      for (const auto& m : net->modules(/*include_self=*/false))
        if (m->as<Conv2dLImpl>() || m->as<LinearLImpl>()) layers.push_back(m);
      for (const auto& m : layers) {
        if (auto* conv = m->as<Conv2dLImpl>()) conv->add_lora(cfg.lora_rank, cfg.lora_alpha);
        if (auto* lin = m->as<LinearLImpl>()) lin->add_lora(cfg.lora_rank, cfg.lora_alpha);
      }
    }
  }
  net->to(dev);
}

GuidanceModuleImpl::GuidanceModuleImpl(const GuidanceConfig& c, const DiffusersUNet2D& base) : cfg(c) {
  cfg.validate();
  if (cfg.variant == GuidanceVariant::Lora)
    throw std::invalid_argument(
        "guidance variant lora is not supported on a diffusers base (its layers carry no adapters); use copy or small");
  torch::Device dev = base->parameters().empty() ? torch::Device(torch::kCPU) : base->parameters().front().device();
  if (cfg.variant == GuidanceVariant::Small) {
    dnet = register_module("dnet", DiffusersUNet2D(small_guidance_config(base->config(), cfg.small_channels)));
    zero_module(*dnet->output_conv());
  } else {
    dnet = register_module("dnet", DiffusersUNet2D(base->config()));
    dnet->to(dev);
    copy_weights(*dnet, *base);
    if (cfg.mix == MixMode::Additive) zero_module(*dnet->output_conv());
  }
  dnet->to(dev);
}

torch::Tensor GuidanceModuleImpl::forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y,
                                          const torch::Tensor& eps_base) {
  if (dnet) return dnet->forward(x, t, dnet->class_conditional() ? y : torch::Tensor());
  auto out = net->forward(x, t, y);
  // lora: the adapted network *is* the guided prediction's basis; additive mode needs G = 0 at
  // the start, so G is its difference from the base.
  if (cfg.variant == GuidanceVariant::Lora && cfg.mix == MixMode::Additive) out = out - eps_base;
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> GuidanceModuleImpl::trainable_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& kv : named_parameters(/*recurse=*/true))
    if (kv.value().requires_grad()) out.emplace_back(kv.key(), kv.value());
  return out;
}

int64_t GuidanceModuleImpl::num_trainable() const {
  int64_t n = 0;
  for (const auto& kv : trainable_parameters()) n += kv.second.numel();
  return n;
}

GuidedModel::GuidedModel(UNet b, const GuidanceConfig& c) : base(std::move(b)), cfg(c) {
  freeze(*base);
  base->eval();
  g = GuidanceModule(cfg, base);
}

GuidedModel::GuidedModel(DiffusersUNet2D b, const GuidanceConfig& c) : dbase(std::move(b)), cfg(c) {
  freeze(*dbase);
  dbase->eval();
  g = GuidanceModule(cfg, dbase);
}

torch::Tensor GuidedModel::base_eps(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y) {
  torch::NoGradGuard ng;
  return base ? base->forward(x, t, y) : dbase->forward(x, t, dbase->class_conditional() ? y : torch::Tensor());
}

torch::Tensor GuidedModel::forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y, double r) {
  const torch::Tensor eps_base = base_eps(x, t, y);
  auto G = g->forward(x, t, y, eps_base);
  return mix_eps(cfg.mix, eps_base, G, std::isnan(r) ? ratio() : r);
}

int64_t GuidedModel::num_frozen() const { return base ? base->num_parameters() : dbase->num_parameters(); }

nlohmann::json GuidedModel::parameter_counts() const {
  int64_t copy = 0;  // lora: G's frozen copy of the base (same values; memory, not capacity)
  for (const auto& p : g->parameters())
    if (!p.requires_grad()) copy += p.numel();
  return {{"trainable", num_trainable()}, {"frozen", num_frozen()}, {"frozen_copy_in_g", copy}};
}

}  // namespace invdiff
