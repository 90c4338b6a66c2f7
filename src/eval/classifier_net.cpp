#include "eval/classifier_net.h"

#include <torch/torch.h>

#include <stdexcept>
#include <string>

namespace invdiff {

// ---- configuration ---------------------------------------------------------------------------

void ClassifierConfig::validate() const {
  auto bad = [](const std::string& field, int v) {
    throw std::invalid_argument("classifier config: invalid " + field + " = " + std::to_string(v));
  };
  if (in_channels < 1) bad("in_channels", in_channels);
  if (image_size < 1) bad("image_size", image_size);
  if (num_classes < 2) bad("num_classes (need at least 2 classes)", num_classes);
  if (width < 1 || width % norm_groups != 0) bad("width (must be a multiple of norm_groups)", width);
  if (stages < 1 || stages > 6) bad("stages", stages);
  if (blocks < 1) bad("blocks", blocks);
  if (feature_dim < 1) bad("feature_dim", feature_dim);
  if (norm_groups < 1) bad("norm_groups", norm_groups);
}

// ---- network ---------------------------------------------------------------------------------

namespace {

// Pre-activation residual block (GroupNorm, so train and eval behave the same and a checkpoint
// has no running statistics to get wrong); stride 2 halves the resolution.
class ResBlockImpl : public torch::nn::Module {
 public:
  ResBlockImpl(int64_t in, int64_t out, int64_t stride, int64_t groups) {
    n1 = register_module("n1", torch::nn::GroupNorm(groups, in));
    c1 = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1)));
    n2 = register_module("n2", torch::nn::GroupNorm(groups, out));
    c2 = register_module("c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1)));
    if (in != out || stride != 1)
      skip = register_module("skip", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = c1->forward(torch::relu(n1->forward(x)));
    h = c2->forward(torch::relu(n2->forward(h)));
    return h + (skip.is_empty() ? x : skip->forward(x));
  }
  torch::nn::GroupNorm n1{nullptr}, n2{nullptr};
  torch::nn::Conv2d c1{nullptr}, c2{nullptr}, skip{nullptr};
};
TORCH_MODULE(ResBlock);

}  // namespace

ClassifierNetImpl::ClassifierNetImpl(const ClassifierConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  stem_ = register_module("stem", torch::nn::Conv2d(torch::nn::Conv2dOptions(cfg.in_channels, cfg.width, 3).padding(1)));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  int64_t ch = cfg.width;
  for (int s = 0; s < cfg.stages; ++s) {
    int64_t out = static_cast<int64_t>(cfg.width) << s;
    blocks_->push_back(ResBlock(ch, out, s == 0 ? 1 : 2, cfg.norm_groups));
    for (int b = 1; b < cfg.blocks; ++b) blocks_->push_back(ResBlock(out, out, 1, cfg.norm_groups));
    ch = out;
  }
  norm_ = register_module("norm", torch::nn::GroupNorm(cfg.norm_groups, ch));
  feat_ = register_module("feat", torch::nn::Linear(ch, cfg.feature_dim));
  head_ = register_module("head", torch::nn::Linear(cfg.feature_dim, cfg.num_classes));
}

torch::Tensor ClassifierNetImpl::features(const torch::Tensor& x) {
  auto h = stem_->forward(x);
  for (auto& b : *blocks_) h = b->as<ResBlockImpl>()->forward(h);
  h = torch::relu(norm_->forward(h)).mean({2, 3});  // global average pool
  return torch::relu(feat_->forward(h));
}

torch::Tensor ClassifierNetImpl::forward(const torch::Tensor& x) { return head_->forward(features(x)); }

}  // namespace invdiff
