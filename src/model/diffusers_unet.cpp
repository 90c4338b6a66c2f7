#include "model/diffusers_unet.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/config_file.h"
#include "core/fs.h"
#include "core/safetensors.h"

namespace invdiff {

namespace {

[[noreturn]] void unsupported(const std::string& key, const nlohmann::json& value, const std::string& why) {
  throw std::invalid_argument(key + " " + value.dump() + " is not supported (" + why + ")");
}

void check_class_name(const std::string& c) {
  if (c != "UNet2DModel")
    unsupported("_class_name", c,
                c == "UNet2DConditionModel" ? "a text-conditioned (Stable Diffusion-style) UNet; only UNet2DModel is"
                                            : "only UNet2DModel is");
}

bool is_attn_down(const std::string& s) { return s == "AttnDownBlock2D"; }
bool is_attn_up(const std::string& s) { return s == "AttnUpBlock2D"; }

}  // namespace

int DiffusersUNet2DConfig::image_size() const {
  if (sample_size.is_number_integer()) return sample_size.get<int>();
  if (sample_size.is_array() && sample_size.size() == 2 && sample_size[0].is_number_integer() &&
      sample_size[0] == sample_size[1])
    return sample_size[0].get<int>();
  unsupported("sample_size", sample_size, "invdiff samples square images of a known size: set an int");
}

void DiffusersUNet2DConfig::validate() const {
  check_class_name(_class_name);
  if (image_size() <= 0) unsupported("sample_size", sample_size, "must be positive");
  if (in_channels <= 0) unsupported("in_channels", in_channels, "must be positive");
  if (out_channels != in_channels)
    unsupported("out_channels", out_channels, "a noise predictor has as many output channels as input ones");
  if (time_embedding_type != "positional") unsupported("time_embedding_type", time_embedding_type, "only positional");
  if (act_fn != "silu" && act_fn != "swish") unsupported("act_fn", act_fn, "only silu");
  if (block_out_channels.empty()) unsupported("block_out_channels", block_out_channels, "empty");
  if (down_block_types.size() != block_out_channels.size())
    unsupported("down_block_types", down_block_types, "needs one per block_out_channels entry");
  if (up_block_types.size() != block_out_channels.size())
    unsupported("up_block_types", up_block_types, "needs one per block_out_channels entry");
  for (const auto& b : down_block_types)
    if (b != "DownBlock2D" && !is_attn_down(b)) unsupported("down_block_types", b, "DownBlock2D or AttnDownBlock2D");
  for (const auto& b : up_block_types)
    if (b != "UpBlock2D" && !is_attn_up(b)) unsupported("up_block_types", b, "UpBlock2D or AttnUpBlock2D");
  if (layers_per_block < 1) unsupported("layers_per_block", layers_per_block, "must be >= 1");
  if (downsample_type != "conv") unsupported("downsample_type", downsample_type, "only conv");
  if (upsample_type != "conv") unsupported("upsample_type", upsample_type, "only conv");
  if (downsample_padding < 0) unsupported("downsample_padding", downsample_padding, "must be >= 0");
  if (resnet_time_scale_shift != "default" && resnet_time_scale_shift != "scale_shift")
    unsupported("resnet_time_scale_shift", resnet_time_scale_shift, "default or scale_shift");
  if (class_embed_type) unsupported("class_embed_type", *class_embed_type, "only null with num_class_embeds");
  if (num_class_embeds && *num_class_embeds < 1) unsupported("num_class_embeds", *num_class_embeds, "must be >= 1");
  if (!norm_num_groups) unsupported("norm_num_groups", nullptr, "needs a group count");
  for (int c : block_out_channels) {
    if (c <= 0 || c % *norm_num_groups != 0)
      unsupported("norm_num_groups", *norm_num_groups, "must divide every block_out_channels entry");
    if (attention_head_dim && (*attention_head_dim <= 0 || c % *attention_head_dim != 0))
      unsupported("attention_head_dim", *attention_head_dim, "must divide every block_out_channels entry");
  }
  if (attn_norm_num_groups && block_out_channels.back() % *attn_norm_num_groups != 0)
    unsupported("attn_norm_num_groups", *attn_norm_num_groups, "must divide the last block_out_channels entry");
  if (!(norm_eps > 0)) unsupported("norm_eps", norm_eps, "must be positive");
  if (!(mid_block_scale_factor > 0)) unsupported("mid_block_scale_factor", mid_block_scale_factor, "must be positive");
  const int down = 1 << (block_out_channels.size() - 1);
  if (image_size() % down != 0)
    unsupported("sample_size", sample_size, "must be divisible by 2^(levels-1) = " + std::to_string(down));
}

torch::Tensor diffusers_timestep_embedding(const torch::Tensor& t, int64_t dim, bool flip, double shift,
                                           double max_period) {
  const int64_t half = dim / 2;
  auto exponent = -std::log(max_period) *
                  torch::arange(0, half, torch::TensorOptions().dtype(torch::kFloat32).device(t.device()));
  exponent = exponent / (static_cast<double>(half) - shift);
  auto emb = t.unsqueeze(1).to(torch::kFloat32) * torch::exp(exponent).unsqueeze(0);
  emb = torch::cat({torch::sin(emb), torch::cos(emb)}, -1);
  if (flip) emb = torch::cat({emb.slice(1, half), emb.slice(1, 0, half)}, -1);
  if (dim % 2 == 1) emb = torch::constant_pad_nd(emb, {0, 1, 0, 0});
  return emb;
}

namespace {

namespace nn = torch::nn;

nn::GroupNorm group_norm(int64_t groups, int64_t ch, double eps) {
  return nn::GroupNorm(nn::GroupNormOptions(groups, ch).eps(eps).affine(true));
}
nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(true));
}

// ResnetBlock2D.
class ResnetImpl : public nn::Module {
 public:
  ResnetImpl(int64_t in, int64_t out, int64_t temb, int groups, double eps, bool scale_shift, double out_scale,
             double dropout)
      : scale_shift_(scale_shift), out_scale_(out_scale), dropout_(dropout) {
    norm1 = register_module("norm1", group_norm(groups, in, eps));
    conv1 = register_module("conv1", conv(in, out, 3, 1, 1));
    time_emb_proj = register_module("time_emb_proj", nn::Linear(temb, scale_shift ? 2 * out : out));
    norm2 = register_module("norm2", group_norm(groups, out, eps));
    conv2 = register_module("conv2", conv(out, out, 3, 1, 1));
    if (in != out) conv_shortcut = register_module("conv_shortcut", conv(in, out, 1, 1, 0));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb) {
    auto h = conv1->forward(torch::silu(norm1->forward(x)));
    auto e = time_emb_proj->forward(torch::silu(temb)).unsqueeze(-1).unsqueeze(-1);
    if (scale_shift_) {
      auto parts = e.chunk(2, 1);
      h = norm2->forward(h) * (1 + parts[0]) + parts[1];
    } else {
      h = norm2->forward(h + e);
    }
    h = torch::silu(h);
    if (dropout_ > 0) h = torch::dropout(h, dropout_, is_training());
    h = conv2->forward(h);
    auto skip = conv_shortcut ? conv_shortcut->forward(x) : x;
    return (skip + h) / out_scale_;
  }
  nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  nn::Linear time_emb_proj{nullptr};

 private:
  bool scale_shift_;
  double out_scale_, dropout_;
};
TORCH_MODULE(Resnet);

// Attention as UNet2DModel's blocks build it (residual, biased projections, AttnProcessor math).
class AttentionImpl : public nn::Module {
 public:
  AttentionImpl(int64_t ch, int64_t head_dim, std::optional<int> groups, double eps, double rescale)
      : heads_(ch / head_dim), head_dim_(head_dim), rescale_(rescale) {
    if (groups) group_norm_ = register_module("group_norm", group_norm(*groups, ch, eps));
    to_q = register_module("to_q", nn::Linear(ch, ch));
    to_k = register_module("to_k", nn::Linear(ch, ch));
    to_v = register_module("to_v", nn::Linear(ch, ch));
    to_out = register_module("to_out", nn::ModuleList());
    to_out->push_back(nn::Linear(ch, ch));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), n = h * w;
    auto hs = x.view({b, c, n}).transpose(1, 2);
    if (group_norm_) hs = group_norm_->forward(hs.transpose(1, 2)).transpose(1, 2);
    auto heads = [&](const torch::Tensor& t) {
      return t.reshape({b, n, heads_, head_dim_}).permute({0, 2, 1, 3}).reshape({b * heads_, n, head_dim_});
    };
    auto q = heads(to_q->forward(hs)), k = heads(to_k->forward(hs)), v = heads(to_v->forward(hs));
    auto scores = torch::baddbmm(torch::empty({b * heads_, n, n}, q.options()), q, k.transpose(-1, -2),
                                 /*beta=*/0, /*alpha=*/1.0 / std::sqrt(static_cast<double>(head_dim_)));
    auto probs = scores.to(torch::kFloat32).softmax(-1).to(q.scalar_type());
    auto o = torch::bmm(probs, v).reshape({b, heads_, n, head_dim_}).permute({0, 2, 1, 3}).reshape({b, n, c});
    o = to_out->at<nn::LinearImpl>(0).forward(o);
    o = o.transpose(-1, -2).reshape({b, c, h, w});
    return (o + x) / rescale_;
  }
  nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  nn::ModuleList to_out{nullptr};

 private:
  nn::GroupNorm group_norm_{nullptr};
  int64_t heads_, head_dim_;
  double rescale_;
};
TORCH_MODULE(Attention);

// Downsample2D / Upsample2D with use_conv: their one conv is called `conv`.
class SampleConvImpl : public nn::Module {
 public:
  SampleConvImpl(int64_t ch, bool down, int padding) : down_(down), padding_(padding) {
    conv = register_module("conv", down ? ::invdiff::conv(ch, ch, 3, 2, padding) : ::invdiff::conv(ch, ch, 3, 1, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    if (down_) return conv->forward(padding_ == 0 ? torch::constant_pad_nd(x, {0, 1, 0, 1}, 0) : x);
    return conv->forward(torch::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2}));
  }
  nn::Conv2d conv{nullptr};

 private:
  bool down_;
  int padding_;
};
TORCH_MODULE(SampleConv);

// A down or up block: resnets, optional attentions after each, optional resampler.
class BlockImpl : public nn::Module {
 public:
  BlockImpl() {
    resnets = register_module("resnets", nn::ModuleList());
  }
  nn::ModuleList resnets{nullptr}, attentions{nullptr}, samplers{nullptr};
};
TORCH_MODULE(Block);

class MidImpl : public nn::Module {
 public:
  MidImpl() { resnets = register_module("resnets", nn::ModuleList()); }
  nn::ModuleList resnets{nullptr}, attentions{nullptr};
};
TORCH_MODULE(Mid);

}  // namespace

DiffusersUNet2DImpl::DiffusersUNet2DImpl(const DiffusersUNet2DConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  const auto& boc = cfg_.block_out_channels;
  const int64_t c0 = boc[0], temb = c0 * 4, levels = static_cast<int64_t>(boc.size());
  const int groups = *cfg_.norm_num_groups;
  const double eps = cfg_.norm_eps;
  const bool ss = cfg_.resnet_time_scale_shift == "scale_shift";
  auto head_dim = [&](int64_t ch) { return cfg_.attention_head_dim ? *cfg_.attention_head_dim : ch; };

  conv_in_ = register_module("conv_in", conv(cfg_.in_channels, c0, 3, 1, 1));
  auto te = register_module("time_embedding", std::make_shared<nn::Module>());
  time_linear_1_ = te->register_module("linear_1", nn::Linear(c0, temb));
  time_linear_2_ = te->register_module("linear_2", nn::Linear(temb, temb));
  if (cfg_.num_class_embeds) class_embedding_ = register_module("class_embedding", nn::Embedding(*cfg_.num_class_embeds, temb));

  down_blocks_ = register_module("down_blocks", nn::ModuleList());
  int64_t out = c0;
  for (int64_t i = 0; i < levels; ++i) {
    const int64_t in = out;
    out = boc[i];
    Block b;
    const bool attn = is_attn_down(cfg_.down_block_types[i]);
    if (attn) b->attentions = b->register_module("attentions", nn::ModuleList());
    for (int j = 0; j < cfg_.layers_per_block; ++j) {
      b->resnets->push_back(Resnet(j == 0 ? in : out, out, temb, groups, eps, ss, 1.0, cfg_.dropout));
      if (attn) b->attentions->push_back(Attention(out, head_dim(out), groups, eps, 1.0));
    }
    if (i + 1 < levels) {
      b->samplers = b->register_module("downsamplers", nn::ModuleList());
      b->samplers->push_back(SampleConv(out, true, cfg_.downsample_padding));
    }
    down_blocks_->push_back(b);
  }

  const int64_t cl = boc.back();
  Mid mid;
  mid->resnets->push_back(Resnet(cl, cl, temb, groups, eps, ss, cfg_.mid_block_scale_factor, cfg_.dropout));
  if (cfg_.add_attention) {
    // UNetMidBlock2D: the attention's norm groups are attn_norm_num_groups, or the resnets' with
    // the default time shift and none (no group_norm at all) otherwise.
    std::optional<int> ag = cfg_.attn_norm_num_groups;
    if (!ag && !ss) ag = groups;
    mid->attentions = mid->register_module("attentions", nn::ModuleList());
    mid->attentions->push_back(Attention(cl, head_dim(cl), ag, eps, cfg_.mid_block_scale_factor));
  }
  mid->resnets->push_back(Resnet(cl, cl, temb, groups, eps, ss, cfg_.mid_block_scale_factor, cfg_.dropout));
  mid_block_ = register_module("mid_block", mid.ptr());

  up_blocks_ = register_module("up_blocks", nn::ModuleList());
  out = boc.back();
  for (int64_t i = 0; i < levels; ++i) {
    const int64_t prev = out;
    out = boc[levels - 1 - i];
    const int64_t in = boc[std::max<int64_t>(levels - 2 - i, 0)];
    Block b;
    const bool attn = is_attn_up(cfg_.up_block_types[i]);
    if (attn) b->attentions = b->register_module("attentions", nn::ModuleList());
    const int n = cfg_.layers_per_block + 1;
    for (int j = 0; j < n; ++j) {
      const int64_t skip = j == n - 1 ? in : out;
      const int64_t rin = j == 0 ? prev : out;
      b->resnets->push_back(Resnet(rin + skip, out, temb, groups, eps, ss, 1.0, cfg_.dropout));
      if (attn) b->attentions->push_back(Attention(out, head_dim(out), groups, eps, 1.0));
    }
    if (i + 1 < levels) {
      b->samplers = b->register_module("upsamplers", nn::ModuleList());
      b->samplers->push_back(SampleConv(out, false, 1));
    }
    up_blocks_->push_back(b);
  }
  conv_norm_out_ = register_module("conv_norm_out", group_norm(groups, c0, eps));
  conv_out_ = register_module("conv_out", conv(c0, cfg_.out_channels, 3, 1, 1));
}

torch::Tensor DiffusersUNet2DImpl::forward(const torch::Tensor& x_in, const torch::Tensor& t_in,
                                           const torch::Tensor& class_labels, torch::Tensor* bottleneck) {
  auto x = cfg_.center_input_sample ? 2 * x_in - 1.0 : x_in;
  auto t = t_in.dim() == 0 ? t_in.expand({x.size(0)}) : t_in;
  auto emb = diffusers_timestep_embedding(t.to(x.device()), cfg_.block_out_channels[0], cfg_.flip_sin_to_cos,
                                          cfg_.freq_shift)
                 .to(x.scalar_type());
  emb = time_linear_2_->forward(torch::silu(time_linear_1_->forward(emb)));
  if (class_embedding_) {
    if (!class_labels.defined()) throw std::invalid_argument("this UNet2DModel is class-conditional: class labels needed");
    emb = emb + class_embedding_->forward(class_labels.to(x.device(), torch::kInt64)).to(emb.scalar_type());
  }
  auto h = conv_in_->forward(x);
  std::vector<torch::Tensor> skips{h};
  for (const auto& m : *down_blocks_) {
    auto* b = m->as<BlockImpl>();
    for (size_t j = 0; j < b->resnets->size(); ++j) {
      h = b->resnets->at<ResnetImpl>(j).forward(h, emb);
      if (b->attentions) h = b->attentions->at<AttentionImpl>(j).forward(h);
      skips.push_back(h);
    }
    if (b->samplers) {
      h = b->samplers->at<SampleConvImpl>(0).forward(h);
      skips.push_back(h);
    }
  }
  auto* mid = mid_block_->as<MidImpl>();
  h = mid->resnets->at<ResnetImpl>(0).forward(h, emb);
  if (mid->attentions) h = mid->attentions->at<AttentionImpl>(0).forward(h);
  h = mid->resnets->at<ResnetImpl>(1).forward(h, emb);
  if (bottleneck) *bottleneck = h;
  for (const auto& m : *up_blocks_) {
    auto* b = m->as<BlockImpl>();
    for (size_t j = 0; j < b->resnets->size(); ++j) {
      h = torch::cat({h, skips.back()}, 1);
      skips.pop_back();
      h = b->resnets->at<ResnetImpl>(j).forward(h, emb);
      if (b->attentions) h = b->attentions->at<AttentionImpl>(j).forward(h);
    }
    if (b->samplers) h = b->samplers->at<SampleConvImpl>(0).forward(h);
  }
  return conv_out_->forward(torch::silu(conv_norm_out_->forward(h)));
}

int64_t DiffusersUNet2DImpl::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

std::string modern_attention_name(const std::string& key) {
  static const std::vector<std::pair<std::string, std::string>> renames{
      {"query", "to_q"}, {"key", "to_k"}, {"value", "to_v"}, {"proj_attn", "to_out.0"}};
  const auto at = key.find("attentions.");
  if (at == std::string::npos) return key;
  const auto dot = key.find('.', at + 11);  // after the attention's index
  if (dot == std::string::npos) return key;
  const auto leaf = key.rfind('.');
  if (leaf <= dot) return key;
  const std::string mid = key.substr(dot + 1, leaf - dot - 1);
  for (const auto& [old, now] : renames)
    if (mid == old) return key.substr(0, dot + 1) + now + key.substr(leaf);
  return key;
}

void load_diffusers_state(torch::nn::Module& module, const std::map<std::string, at::Tensor>& tensors_in,
                          const std::string& what) {
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [k, v] : tensors_in) {
    std::string m = modern_attention_name(k);
    if (!tensors.emplace(m, v).second)
      throw std::runtime_error(what + ": holds both '" + k + "' and its modern name '" + m + "'");
  }
  torch::NoGradGuard ng;
  std::set<std::string> used;
  auto params = module.named_parameters(/*recurse=*/true);
  for (auto& kv : params) {
    auto it = tensors.find(kv.key());
    if (it == tensors.end()) throw std::runtime_error(what + ": missing tensor '" + kv.key() + "'");
    const auto& src = it->second;
    if (!at::isFloatingType(src.scalar_type()))
      throw std::runtime_error(what + ": tensor '" + kv.key() + "' is not floating point");
    if (src.sizes() != kv.value().sizes()) {
      std::ostringstream ss;
      ss << what << ": tensor '" << kv.key() << "' has shape " << src.sizes() << ", the config gives "
         << kv.value().sizes();
      throw std::runtime_error(ss.str());
    }
    kv.value().copy_(src);
    used.insert(kv.key());
  }
  for (const auto& [k, v] : tensors)
    if (!used.count(k))
      throw std::runtime_error(what + ": unexpected tensor '" + k + "' (not in the network config.json describes)");
}

DiffusersUNet2DConfig read_diffusers_unet_config(const std::string& folder) {
  const std::string path = join_path(folder, "config.json");
  if (!file_exists(path)) throw std::runtime_error(folder + ": no config.json (not a diffusers model folder)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text(path));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": not valid JSON");
  }
  try {
    // The class first: another model's config need not even have UNet2DModel's key types.
    if (j.is_object() && j.contains("_class_name") && j["_class_name"].is_string())
      check_class_name(j["_class_name"].get<std::string>());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  }
  return config_from_json<DiffusersUNet2DConfig>(j, path);
}

LoadedDiffusersUNet load_diffusers_unet(const std::string& folder) {
  LoadedDiffusersUNet out;
  out.config = read_diffusers_unet_config(folder);
  out.config_json = nlohmann::json::parse(read_text(join_path(folder, "config.json")));
  const std::string weights = join_path(folder, "diffusion_pytorch_model.safetensors");
  if (!file_exists(weights)) {
    const std::string bin = join_path(folder, "diffusion_pytorch_model.bin");
    if (file_exists(bin))
      throw std::runtime_error(bin + ": pickle checkpoints are not read (they can run code); convert it once in "
                                     "Python: UNet2DModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)");
    throw std::runtime_error(folder + ": no diffusion_pytorch_model.safetensors");
  }
  out.net = DiffusersUNet2D(out.config);
  load_diffusers_state(*out.net, read_safetensors(weights).tensors, weights);
  out.net->eval();
  return out;
}

void save_diffusers_unet(const std::string& folder, DiffusersUNet2DImpl& net) {
  ensure_dir(folder);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& kv : net.named_parameters(/*recurse=*/true)) tensors.emplace_back(kv.key(), kv.value().detach());
  write_safetensors(join_path(folder, "diffusion_pytorch_model.safetensors"), tensors, {{"format", "pt"}});
  nlohmann::json j = net.config();
  if (j.value("_diffusers_version", std::string()).empty()) j["_diffusers_version"] = "0.27.2";
  atomic_write_text(join_path(folder, "config.json"), j.dump(2) + "\n");
}

}  // namespace invdiff
