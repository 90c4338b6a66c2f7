// Conv and linear layers with an optional low-rank adapter (LoRA): y = W x + s * B(A(x)), B
// zero-initialised so that adding an adapter leaves the output unchanged. The UNet is built from
// these, so the `lora` guidance module can attach adapters to a frozen base without a rewrite.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

namespace invdiff {

class Conv2dLImpl : public torch::nn::Module {
 public:
  Conv2dLImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0);
  torch::Tensor forward(const torch::Tensor& x);
  // Adds A (k x k conv, in -> rank) and B (1x1 conv, rank -> out, zero) with scale alpha / rank.
  void add_lora(int64_t rank, double alpha);
  bool has_lora() const { return !lora_a.is_empty(); }
  bool lora_enabled = true;
  torch::nn::Conv2d conv{nullptr}, lora_a{nullptr}, lora_b{nullptr};
  double lora_scale = 0.0;
  int64_t in_ch, out_ch, kernel_size, stride_, padding_;
};
TORCH_MODULE(Conv2dL);

class LinearLImpl : public torch::nn::Module {
 public:
  LinearLImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  void add_lora(int64_t rank, double alpha);
  bool has_lora() const { return !lora_a.is_empty(); }
  bool lora_enabled = true;
  torch::nn::Linear linear{nullptr}, lora_a{nullptr}, lora_b{nullptr};
  double lora_scale = 0.0;
  int64_t in_f, out_f;
};
TORCH_MODULE(LinearL);

// Zero a layer's weights and bias (the "zero-initialised output" of guidance modules).
void zero_module(torch::nn::Module& m);

}  // namespace invdiff
