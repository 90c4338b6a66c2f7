#include "model/unet.h"

#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace invdiff {

void UNetConfig::validate() const {
  auto bad = [](const std::string& m) { throw std::invalid_argument("UNet config: " + m); };
  if (in_channels <= 0 || out_channels <= 0) bad("channels must be positive");
  if (base_channels <= 0) bad("base_channels must be positive");
  if (channel_mult.empty()) bad("channel_mult is empty");
  if (num_res_blocks < 1) bad("num_res_blocks must be >= 1");
  if (num_classes < 1) bad("num_classes must be >= 1");
  int down = 1 << (channel_mult.size() - 1);
  if (image_size % down != 0)
    bad("image_size " + std::to_string(image_size) + " is not divisible by 2^(levels-1) = " + std::to_string(down));
  for (int m : channel_mult) {
    if (m <= 0) bad("channel_mult entries must be positive");
    if ((base_channels * m) % norm_groups != 0)
      bad("norm_groups " + std::to_string(norm_groups) + " does not divide " + std::to_string(base_channels * m) + " channels");
    if ((base_channels * m) % num_heads != 0) bad("num_heads does not divide the channel count");
  }
}

torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, double max_period) {
  int64_t half = dim / 2;
  auto freqs = torch::exp(-std::log(max_period) *
                          torch::arange(half, torch::TensorOptions().dtype(torch::kFloat32).device(t.device())) / half);
  auto args = t.to(torch::kFloat32).unsqueeze(1) * freqs.unsqueeze(0);
  auto emb = torch::cat({torch::cos(args), torch::sin(args)}, 1);
  if (dim % 2) emb = torch::cat({emb, torch::zeros({emb.size(0), 1}, emb.options())}, 1);
  return emb;
}

namespace {

class ResBlockImpl : public torch::nn::Module {
 public:
  ResBlockImpl(int64_t in, int64_t out, int64_t emb_dim, int groups, double dropout) : dropout_(dropout) {
    norm1 = register_module("norm1", torch::nn::GroupNorm(groups, in));
    conv1 = register_module("conv1", Conv2dL(in, out, 3, 1, 1));
    emb = register_module("emb", LinearL(emb_dim, out));
    norm2 = register_module("norm2", torch::nn::GroupNorm(groups, out));
    conv2 = register_module("conv2", Conv2dL(out, out, 3, 1, 1));
    if (in != out) skip = register_module("skip", Conv2dL(in, out, 1));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& e) {
    auto h = conv1->forward(torch::silu(norm1->forward(x)));
    h = h + emb->forward(torch::silu(e)).unsqueeze(-1).unsqueeze(-1);
    h = torch::silu(norm2->forward(h));
    if (dropout_ > 0) h = torch::dropout(h, dropout_, is_training());
    h = conv2->forward(h);
    return (skip ? skip->forward(x) : x) + h;
  }
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  Conv2dL conv1{nullptr}, conv2{nullptr}, skip{nullptr};
  LinearL emb{nullptr};
  double dropout_;
};
TORCH_MODULE(ResBlock);

class AttnBlockImpl : public torch::nn::Module {
 public:
  AttnBlockImpl(int64_t ch, int groups, int heads) : heads_(heads) {
    norm = register_module("norm", torch::nn::GroupNorm(groups, ch));
    qkv = register_module("qkv", Conv2dL(ch, 3 * ch, 1));
    proj = register_module("proj", Conv2dL(ch, ch, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    auto qkv_ = qkv->forward(norm->forward(x)).reshape({B, 3, heads_, C / heads_, H * W});
    auto q = qkv_.select(1, 0), k = qkv_.select(1, 1), v = qkv_.select(1, 2);  // [B, h, d, L]
    double scale = 1.0 / std::sqrt(static_cast<double>(C / heads_));
    auto attn = torch::softmax(torch::matmul(q.transpose(-1, -2), k) * scale, -1);  // [B, h, L, L]
    auto out = torch::matmul(v, attn.transpose(-1, -2)).reshape({B, C, H, W});
    return x + proj->forward(out);
  }
  torch::nn::GroupNorm norm{nullptr};
  Conv2dL qkv{nullptr}, proj{nullptr};
  int64_t heads_;
};
TORCH_MODULE(AttnBlock);

enum Kind { kRes = 0, kAttn = 1, kResample = 2 };

}  // namespace

UNetImpl::UNetImpl(const UNetConfig& cfg) : cfg_(cfg) {
  cfg.validate();
  const int64_t ch0 = cfg.base_channels, emb_dim = 4 * ch0;
  const int G = cfg.norm_groups;
  time_fc1_ = register_module("time_fc1", LinearL(ch0, emb_dim));
  time_fc2_ = register_module("time_fc2", LinearL(emb_dim, emb_dim));
  class_emb_ = register_module("class_emb", torch::nn::Embedding(cfg.num_classes + 1, emb_dim));
  conv_in_ = register_module("conv_in", Conv2dL(cfg.in_channels, ch0, 3, 1, 1));

  auto has_attn = [&](int res) {
    for (int r : cfg.attention_resolutions)
      if (r == res) return true;
    return false;
  };
  down_ = register_module("down", torch::nn::ModuleList());
  std::vector<int64_t> skip_ch{ch0};
  int64_t ch = ch0;
  int res = cfg.image_size;
  const size_t L = cfg.channel_mult.size();
  for (size_t lvl = 0; lvl < L; ++lvl) {
    int64_t out = ch0 * cfg.channel_mult[lvl];
    for (int b = 0; b < cfg.num_res_blocks; ++b) {
      down_->push_back(ResBlock(ch, out, emb_dim, G, cfg.dropout));
      down_kind_.push_back(kRes);
      ch = out;
      if (has_attn(res)) {
        down_->push_back(AttnBlock(ch, G, cfg.num_heads));
        down_kind_.push_back(kAttn);
      }
      skip_ch.push_back(ch);
    }
    if (lvl + 1 < L) {
      down_->push_back(Conv2dL(ch, ch, 3, 2, 1));
      down_kind_.push_back(kResample);
      skip_ch.push_back(ch);
      res /= 2;
    }
  }
  mid_ = register_module("mid", torch::nn::ModuleList());
  mid_->push_back(ResBlock(ch, ch, emb_dim, G, cfg.dropout));
  mid_->push_back(AttnBlock(ch, G, cfg.num_heads));
  mid_->push_back(ResBlock(ch, ch, emb_dim, G, cfg.dropout));

  up_ = register_module("up", torch::nn::ModuleList());
  for (size_t li = L; li-- > 0;) {
    int64_t out = ch0 * cfg.channel_mult[li];
    for (int b = 0; b < cfg.num_res_blocks + 1; ++b) {
      int64_t s = skip_ch.back();
      skip_ch.pop_back();
      up_->push_back(ResBlock(ch + s, out, emb_dim, G, cfg.dropout));
      up_kind_.push_back(kRes);
      ch = out;
      if (has_attn(res)) {
        up_->push_back(AttnBlock(ch, G, cfg.num_heads));
        up_kind_.push_back(kAttn);
      }
    }
    if (li > 0) {
      up_->push_back(Conv2dL(ch, ch, 3, 1, 1));  // applied after nearest 2x upsampling
      up_kind_.push_back(kResample);
      res *= 2;
    }
  }
  norm_out_ = register_module("norm_out", torch::nn::GroupNorm(G, ch));
  conv_out_ = register_module("conv_out", Conv2dL(ch, cfg.out_channels, 3, 1, 1));
}

torch::Tensor UNetImpl::forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& y,
                                torch::Tensor* bottleneck) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == cfg_.in_channels && x.size(2) == cfg_.image_size &&
                  x.size(3) == cfg_.image_size,
              "UNet expects [B, ", cfg_.in_channels, ", ", cfg_.image_size, ", ", cfg_.image_size, "] input, got ",
              x.sizes());
  TORCH_CHECK(t.dim() == 1 && t.size(0) == x.size(0), "UNet: t must be [B]");
  TORCH_CHECK(y.dim() == 1 && y.size(0) == x.size(0), "UNet: y must be [B]");
  auto emb = time_fc2_->forward(torch::silu(time_fc1_->forward(timestep_embedding(t, cfg_.base_channels))));
  emb = emb + class_emb_->forward(y);

  std::vector<torch::Tensor> skips;
  auto h = conv_in_->forward(x);
  skips.push_back(h);
  for (size_t i = 0; i < down_kind_.size(); ++i) {
    if (down_kind_[i] == kRes) {
      h = down_[i]->as<ResBlockImpl>()->forward(h, emb);
      // The skip is pushed after the attention block when one follows.
      if (i + 1 >= down_kind_.size() || down_kind_[i + 1] != kAttn) skips.push_back(h);
    } else if (down_kind_[i] == kAttn) {
      h = down_[i]->as<AttnBlockImpl>()->forward(h);
      skips.push_back(h);
    } else {
      h = down_[i]->as<Conv2dLImpl>()->forward(h);
      skips.push_back(h);
    }
  }
  h = mid_[0]->as<ResBlockImpl>()->forward(h, emb);
  h = mid_[1]->as<AttnBlockImpl>()->forward(h);
  h = mid_[2]->as<ResBlockImpl>()->forward(h, emb);
  if (bottleneck) *bottleneck = h;
  for (size_t i = 0; i < up_kind_.size(); ++i) {
    if (up_kind_[i] == kRes) {
      h = up_[i]->as<ResBlockImpl>()->forward(torch::cat({h, skips.back()}, 1), emb);
      skips.pop_back();
    } else if (up_kind_[i] == kAttn) {
      h = up_[i]->as<AttnBlockImpl>()->forward(h);
    } else {
      h = torch::nn::functional::interpolate(
          h, torch::nn::functional::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
      h = up_[i]->as<Conv2dLImpl>()->forward(h);
    }
  }
  return conv_out_->forward(torch::silu(norm_out_->forward(h)));
}

int64_t UNetImpl::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (const auto& p : parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

}  // namespace invdiff
