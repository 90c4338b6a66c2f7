#include "train/checkpoint.h"

#include <torch/torch.h>

#include <filesystem>
#include <stdexcept>

#include "core/fs.h"

namespace invdiff {

std::string checkpoint_path(const std::string& p) {
  if (std::filesystem::is_directory(p)) return join_path(p, "checkpoint.pt");
  return p;
}

void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::nn::Module* ema,
                     torch::optim::Optimizer* optim, const nlohmann::json& meta) {
  torch::serialize::OutputArchive root, m, e, o;
  model.save(m);
  root.write("model", m);
  if (ema) {
    ema->save(e);
    root.write("ema", e);
  }
  if (optim) {
    optim->save(o);
    root.write("optim", o);
  }
  root.write("meta", c10::IValue(meta.dump()));
  atomic_write_with(path, [&](const std::string& tmp) { root.save_to(tmp); });
}

static void open_archive(const std::string& path, torch::serialize::InputArchive& in) {
  if (!file_exists(path)) throw std::runtime_error("checkpoint not found: " + path);
  try {
    in.load_from(path);
  } catch (const c10::Error& e) {
    throw std::runtime_error(path + ": not a readable invdiff checkpoint (corrupt or truncated file)");
  }
}

nlohmann::json read_checkpoint_meta(const std::string& path) {
  torch::serialize::InputArchive in;
  open_archive(path, in);
  c10::IValue v;
  if (!in.try_read("meta", v) || !v.isString()) throw std::runtime_error(path + ": checkpoint has no metadata");
  return nlohmann::json::parse(v.toStringRef());
}

void load_module(const std::string& path, const std::string& key, torch::nn::Module& module) {
  torch::serialize::InputArchive in, sub;
  open_archive(path, in);
  if (!in.try_read(key, sub)) throw std::runtime_error(path + ": checkpoint has no '" + key + "' weights");
  try {
    module.load(sub);
  } catch (const c10::Error& e) {
    throw std::runtime_error(path + ": weights '" + key + "' do not match the model structure (" +
                             e.msg().substr(0, e.msg().find('\n')) + ")");
  }
}

void load_optimizer(const std::string& path, torch::optim::Optimizer& optim) {
  torch::serialize::InputArchive in, sub;
  open_archive(path, in);
  if (!in.try_read("optim", sub)) throw std::runtime_error(path + ": checkpoint has no optimiser state");
  optim.load(sub);
}

int64_t DiffusionModel::class_index(const std::string& name) const {
  auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (size_t i = 0; i < class_names.size(); ++i)
    if (lower(class_names[i]) == lower(name)) return static_cast<int64_t>(i);
  std::string all;
  for (const auto& n : class_names) all += (all.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown class '" + name + "' (this model knows: " + all + ")");
}

DiffusionModel load_diffusion_model(const std::string& dir_or_file, const c10::Device& device, bool use_ema) {
  std::string path = checkpoint_path(dir_or_file);
  DiffusionModel dm;
  dm.meta = read_checkpoint_meta(path);
  if (dm.meta.value("kind", std::string()) == "guided")
    throw std::runtime_error(path + ": a guided model (base + G_psi), not a base diffusion model; load it with load_any_model");
  if (!dm.meta.contains("unet")) throw std::runtime_error(path + ": not a diffusion model checkpoint (no 'unet' config)");
  UNetConfig cfg = dm.meta["unet"].get<UNetConfig>();
  dm.unet = UNet(cfg);
  load_module(path, use_ema ? "ema" : "model", *dm.unet);
  dm.unet->to(device);
  dm.unet->eval();
  auto sch = dm.meta.value("schedule", nlohmann::json::object());
  dm.schedule = NoiseSchedule::make(sch.value("kind", std::string("linear")), sch.value("T", 1000),
                                    sch.value("beta_start", 1e-4), sch.value("beta_end", 0.02));
  dm.class_names = dm.meta.value("class_names", std::vector<std::string>{});
  return dm;
}

}  // namespace invdiff
