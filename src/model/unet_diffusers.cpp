#include "model/unet_diffusers.h"

#include <torch/torch.h>

#include <map>
#include <stdexcept>

#include "model/layers.h"

namespace invdiff {

namespace {
bool attended(const UNetConfig& cfg, int res) {
  for (int r : cfg.attention_resolutions)
    if (r == res) return true;
  return false;
}

// Every tensor of `net` under its module path with the layer wrappers' level removed
// ("down.0.conv1.conv.weight" -> "down.0.conv1.weight"), adapters merged into their weights.
std::map<std::string, at::Tensor> flat_weights(const UNetImpl& net) {
  std::map<std::string, at::Tensor> out;
  std::map<std::string, bool> wrapped;  // parameter names owned by a Conv2dL / LinearL
  for (const auto& item : net.named_modules("", /*include_self=*/false)) {
    const std::string& p = item.key();
    const auto& m = item.value();
    at::Tensor w, b;
    if (auto* c = m->as<Conv2dLImpl>()) {
      w = c->conv->weight.detach().clone();
      b = c->conv->bias.detach().clone();
      if (c->has_lora() && c->lora_enabled)  // B [o, r, 1, 1] after A [r, i, k, k]
        w += c->lora_scale * torch::einsum("or,rikl->oikl", {c->lora_b->weight.detach().flatten(1), c->lora_a->weight.detach()});
      for (const char* k : {".conv.weight", ".conv.bias", ".lora_a.weight", ".lora_b.weight"}) wrapped[p + k] = true;
    } else if (auto* l = m->as<LinearLImpl>()) {
      w = l->linear->weight.detach().clone();
      b = l->linear->bias.detach().clone();
      if (l->has_lora() && l->lora_enabled) w += l->lora_scale * l->lora_b->weight.detach().matmul(l->lora_a->weight.detach());
      for (const char* k : {".linear.weight", ".linear.bias", ".lora_a.weight", ".lora_b.weight"}) wrapped[p + k] = true;
    } else {
      continue;
    }
    out[p + ".weight"] = w;
    out[p + ".bias"] = b;
  }
  for (const auto& kv : net.named_parameters(/*recurse=*/true))
    if (!wrapped.count(kv.key())) out[kv.key()] = kv.value().detach().clone();  // GroupNorm, Embedding
  return out;
}
}  // namespace

DiffusersUNet2DConfig diffusers_config_of(const UNetConfig& cfg) {
  cfg.validate();
  DiffusersUNet2DConfig d;
  d._diffusers_version = "0.27.2";
  d.sample_size = cfg.image_size;
  d.in_channels = cfg.in_channels;
  d.out_channels = cfg.out_channels;
  d.flip_sin_to_cos = true;
  d.freq_shift = 0;
  d.layers_per_block = cfg.num_res_blocks;
  d.norm_num_groups = cfg.norm_groups;
  d.norm_eps = 1e-5;  // torch's GroupNorm default, which the UNet uses
  d.dropout = cfg.dropout;
  d.num_class_embeds = cfg.num_classes + 1;  // the null class included
  d.block_out_channels.clear();
  d.down_block_types.clear();
  d.up_block_types.clear();
  const size_t L = cfg.channel_mult.size();
  std::vector<int> widths;  // of every attention: the attended levels and the mid block
  for (size_t lvl = 0; lvl < L; ++lvl) {
    const int ch = cfg.base_channels * cfg.channel_mult[lvl];
    const bool a = attended(cfg, cfg.image_size >> lvl);
    d.block_out_channels.push_back(ch);
    d.down_block_types.push_back(a ? "AttnDownBlock2D" : "DownBlock2D");
    if (a) widths.push_back(ch);
  }
  widths.push_back(d.block_out_channels.back());
  for (size_t li = L; li-- > 0;)
    d.up_block_types.push_back(attended(cfg, cfg.image_size >> li) ? "AttnUpBlock2D" : "UpBlock2D");
  if (cfg.num_heads == 1) {
    d.attention_head_dim.reset();  // null: one head of the block's width, as the UNet's
  } else {
    for (int w : widths)
      if (w / cfg.num_heads != widths.front() / cfg.num_heads)
        throw std::invalid_argument("export: num_heads " + std::to_string(cfg.num_heads) +
                                    " gives the attended levels different head widths, which UNet2DModel's single "
                                    "attention_head_dim cannot express");
    d.attention_head_dim = widths.front() / cfg.num_heads;
  }
  d.validate();
  return d;
}

DiffusersUNet2D to_diffusers_unet(const UNetImpl& net) {
  const UNetConfig& cfg = net.config();
  auto ours = flat_weights(net);
  std::map<std::string, at::Tensor> theirs;
  auto take = [&](const std::string& from, const std::string& to) {
    auto it = ours.find(from);
    if (it == ours.end()) throw std::logic_error("export: the UNet has no tensor " + from);
    theirs[to] = it->second.to(torch::kCPU, torch::kFloat32).contiguous();
    ours.erase(it);
  };
  auto layer = [&](const std::string& from, const std::string& to) {
    take(from + ".weight", to + ".weight");
    take(from + ".bias", to + ".bias");
  };
  auto resnet = [&](const std::string& from, const std::string& to) {
    for (const char* k : {"norm1", "conv1", "norm2", "conv2"}) layer(from + "." + k, to + "." + k);
    layer(from + ".emb", to + ".time_emb_proj");
    if (ours.count(from + ".skip.weight")) layer(from + ".skip", to + ".conv_shortcut");
  };
  auto attention = [&](const std::string& from, const std::string& to) {
    layer(from + ".norm", to + ".group_norm");
    auto w = ours.at(from + ".qkv.weight").flatten(1), b = ours.at(from + ".qkv.bias");  // [3C, C], [3C]
    const int64_t C = w.size(1);
    const char* names[] = {"to_q", "to_k", "to_v"};
    for (int j = 0; j < 3; ++j) {
      theirs[to + "." + names[j] + ".weight"] = w.slice(0, j * C, (j + 1) * C).contiguous();
      theirs[to + "." + names[j] + ".bias"] = b.slice(0, j * C, (j + 1) * C).contiguous();
    }
    ours.erase(from + ".qkv.weight");
    ours.erase(from + ".qkv.bias");
    ours[from + ".proj.weight"] = ours.at(from + ".proj.weight").flatten(1);  // 1x1 conv -> linear
    layer(from + ".proj", to + ".to_out.0");
  };
  layer("time_fc1", "time_embedding.linear_1");
  layer("time_fc2", "time_embedding.linear_2");
  take("class_emb.weight", "class_embedding.weight");
  layer("conv_in", "conv_in");
  // The UNet's constructor order (model/unet.cpp), block by block.
  const size_t L = cfg.channel_mult.size();
  int i = 0;
  for (size_t lvl = 0; lvl < L; ++lvl) {
    const std::string blk = "down_blocks." + std::to_string(lvl);
    const bool a = attended(cfg, cfg.image_size >> lvl);
    for (int r = 0; r < cfg.num_res_blocks; ++r) {
      resnet("down." + std::to_string(i++), blk + ".resnets." + std::to_string(r));
      if (a) attention("down." + std::to_string(i++), blk + ".attentions." + std::to_string(r));
    }
    if (lvl + 1 < L) layer("down." + std::to_string(i++), blk + ".downsamplers.0.conv");
  }
  resnet("mid.0", "mid_block.resnets.0");
  attention("mid.1", "mid_block.attentions.0");
  resnet("mid.2", "mid_block.resnets.1");
  int j = 0;
  for (size_t li = L; li-- > 0;) {
    const std::string blk = "up_blocks." + std::to_string(L - 1 - li);
    const bool a = attended(cfg, cfg.image_size >> li);
    for (int r = 0; r < cfg.num_res_blocks + 1; ++r) {
      resnet("up." + std::to_string(j++), blk + ".resnets." + std::to_string(r));
      if (a) attention("up." + std::to_string(j++), blk + ".attentions." + std::to_string(r));
    }
    if (li > 0) layer("up." + std::to_string(j++), blk + ".upsamplers.0.conv");
  }
  layer("norm_out", "conv_norm_out");
  layer("conv_out", "conv_out");
  if (!ours.empty()) throw std::logic_error("export: UNet tensor " + ours.begin()->first + " has no UNet2DModel place");
  DiffusersUNet2D d(diffusers_config_of(cfg));
  load_diffusers_state(*d, theirs, "the exported UNet");  // strict: every parameter of UNet2DModel filled
  d->eval();
  return d;
}

}  // namespace invdiff
