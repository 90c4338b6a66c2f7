#include "invdiff/guided_checkpoint.h"

#include <torch/torch.h>

#include <stdexcept>

#include "core/fs.h"
#include "core/hash.h"

namespace invdiff {

namespace {
// Archive keys may not carry the dots of nested parameter names.
std::string archive_key(std::string name) {
  for (size_t p = 0; (p = name.find('.', p)) != std::string::npos; p += 2) name.replace(p, 1, "__");
  return name;
}
}  // namespace

void save_guided_checkpoint(const std::string& path, const GuidanceModule& g, const std::vector<at::Tensor>& ema,
                            torch::optim::Optimizer* optim, const nlohmann::json& meta) {
  auto named = g->trainable_parameters();
  if (!ema.empty() && ema.size() != named.size()) throw std::invalid_argument("guided checkpoint: EMA size mismatch");
  torch::serialize::OutputArchive root, m, e, o;
  for (size_t i = 0; i < named.size(); ++i) {
    m.write(archive_key(named[i].first), named[i].second.detach().to(torch::kCPU));
    if (!ema.empty()) e.write(archive_key(named[i].first), ema[i].detach().to(torch::kCPU));
  }
  root.write("model", m);
  if (!ema.empty()) root.write("ema", e);
  if (optim) {
    optim->save(o);
    root.write("optim", o);
  }
  root.write("meta", c10::IValue(meta.dump()));
  atomic_write_with(path, [&](const std::string& tmp) { root.save_to(tmp); });
}

void load_guided_tensors(const std::string& path, const std::string& key, const GuidanceModule& g,
                         std::vector<at::Tensor>& dst) {
  auto named = g->trainable_parameters();
  if (dst.size() != named.size()) throw std::invalid_argument("load_guided_tensors: destination size mismatch");
  torch::serialize::InputArchive in, sub;
  if (!file_exists(path)) throw std::runtime_error("checkpoint not found: " + path);
  try {
    in.load_from(path);
  } catch (const c10::Error&) {
    throw std::runtime_error(path + ": not a readable invdiff checkpoint (corrupt or truncated file)");
  }
  if (!in.try_read(key, sub)) throw std::runtime_error(path + ": checkpoint has no '" + key + "' weights");
  torch::NoGradGuard ng;
  for (size_t i = 0; i < named.size(); ++i) {
    at::Tensor t;
    if (!sub.try_read(archive_key(named[i].first), t))
      throw std::runtime_error(path + ": '" + key + "' lacks G_psi tensor '" + named[i].first +
                               "' (checkpoint of another guidance variant or base?)");
    if (t.sizes() != dst[i].sizes())
      throw std::runtime_error(path + ": G_psi tensor '" + named[i].first + "' has a different shape");
    dst[i].copy_(t);
  }
}

nlohmann::json GuidanceBase::unet_config() const {
  return imported ? diffusers->unet_config_json : nlohmann::json(model.unet->config());
}

std::shared_ptr<GuidedModel> GuidanceBase::guided(const GuidanceConfig& cfg) const {
  return imported ? std::make_shared<GuidedModel>(diffusers->net, cfg) : std::make_shared<GuidedModel>(model.unet, cfg);
}

GuidanceBase load_guidance_base(const std::string& dir_or_file, const c10::Device& device, bool use_ema) {
  GuidanceBase b;
  if (is_diffusers_folder(dir_or_file)) {
    b.imported = true;
    b.diffusers = std::make_shared<DiffusersModel>(load_diffusers_model(dir_or_file, device));
    b.path = b.diffusers->folder.root;
    b.fingerprint = diffusers_fingerprint(b.diffusers->folder);
    b.model.schedule = b.diffusers->schedule;
    b.model.class_names = b.diffusers->class_names;
    b.model.meta = b.diffusers->meta();
    b.channels = b.diffusers->unet_config.in_channels;
    b.image_size = b.diffusers->unet_config.image_size();
    return b;
  }
  b.path = absolute_path(checkpoint_path(dir_or_file));
  b.fingerprint = file_fingerprint(b.path);
  b.model = load_diffusion_model(b.path, device, use_ema);
  const auto& u = b.model.unet->config();
  b.channels = u.in_channels;
  b.image_size = u.image_size;
  b.null_class = u.null_class();
  return b;
}

LoadedGuided load_guided_model(const std::string& dir_or_file, const c10::Device& device, bool use_ema) {
  std::string path = checkpoint_path(dir_or_file);
  LoadedGuided out;
  out.meta = read_checkpoint_meta(path);
  if (out.meta.value("kind", std::string()) != "guided") throw std::runtime_error(path + ": not a guided checkpoint");
  const auto& b = out.meta.at("base");
  std::string base_path = b.at("path").get<std::string>();
  if (!file_exists(base_path))
    throw std::runtime_error(path + ": its base checkpoint " + base_path + " is missing");
  auto gb = load_guidance_base(base_path, device, b.value("weights", std::string("ema")) == "ema");
  if (gb.fingerprint != b.value("fingerprint", gb.fingerprint))
    throw std::runtime_error(path + ": base checkpoint " + base_path +
                             " changed since this guided model was trained (fingerprint mismatch)");
  out.base = gb.model;
  out.imported_base = gb.diffusers;
  out.null_class = gb.null_class;
  GuidanceConfig gcfg = out.meta.at("guidance").get<GuidanceConfig>();
  out.model = gb.guided(gcfg);
  auto named = out.model->g->trainable_parameters();
  std::vector<at::Tensor> dst;
  for (auto& kv : named) dst.push_back(kv.second);
  load_guided_tensors(path, use_ema ? "ema" : "model", out.model->g, dst);
  out.model->g->to(device);
  out.model->g->eval();
  return out;
}

}  // namespace invdiff
