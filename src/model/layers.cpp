#include "model/layers.h"

#include <torch/torch.h>

namespace invdiff {

Conv2dLImpl::Conv2dLImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding)
    : in_ch(in), out_ch(out), kernel_size(kernel), stride_(stride), padding_(padding) {
  conv = register_module("conv", torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding)));
}

torch::Tensor Conv2dLImpl::forward(const torch::Tensor& x) {
  auto y = conv->forward(x);
  if (lora_a && lora_enabled) y = y + lora_b->forward(lora_a->forward(x)) * lora_scale;
  return y;
}

void Conv2dLImpl::add_lora(int64_t rank, double alpha) {
  TORCH_CHECK(!has_lora(), "layer already has a LoRA adapter");
  lora_a = register_module("lora_a", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_ch, rank, kernel_size)
                                                          .stride(stride_).padding(padding_).bias(false)));
  lora_b = register_module("lora_b", torch::nn::Conv2d(torch::nn::Conv2dOptions(rank, out_ch, 1).bias(false)));
  torch::NoGradGuard ng;
  lora_b->weight.zero_();
  lora_scale = alpha / static_cast<double>(rank);
}

LinearLImpl::LinearLImpl(int64_t in, int64_t out) : in_f(in), out_f(out) {
  linear = register_module("linear", torch::nn::Linear(in, out));
}

torch::Tensor LinearLImpl::forward(const torch::Tensor& x) {
  auto y = linear->forward(x);
  if (lora_a && lora_enabled) y = y + lora_b->forward(lora_a->forward(x)) * lora_scale;
  return y;
}

void LinearLImpl::add_lora(int64_t rank, double alpha) {
  TORCH_CHECK(!has_lora(), "layer already has a LoRA adapter");
  lora_a = register_module("lora_a", torch::nn::Linear(torch::nn::LinearOptions(in_f, rank).bias(false)));
  lora_b = register_module("lora_b", torch::nn::Linear(torch::nn::LinearOptions(rank, out_f).bias(false)));
  torch::NoGradGuard ng;
  lora_b->weight.zero_();
  lora_scale = alpha / static_cast<double>(rank);
}

void zero_module(torch::nn::Module& m) {
  torch::NoGradGuard ng;
  for (auto& p : m.parameters()) p.zero_();
}

}  // namespace invdiff
