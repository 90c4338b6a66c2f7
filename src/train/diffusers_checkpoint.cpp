#include "train/diffusers_checkpoint.h"

#include <torch/torch.h>

#include <filesystem>
#include <stdexcept>

#include "core/fs.h"
#include "core/hash.h"

namespace invdiff {

namespace fs = std::filesystem;

namespace {
nlohmann::json read_json(const std::string& path) {
  try {
    return nlohmann::json::parse(read_text(path));
  } catch (const nlohmann::json::exception&) {
    throw std::runtime_error(path + ": not valid JSON");
  }
}
bool is_file(const std::string& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}
}  // namespace

bool is_diffusers_folder(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return false;
  if (is_file(join_path(path, "model_index.json"))) return true;
  const std::string cfg = join_path(path, "config.json");
  if (!is_file(cfg)) return false;
  try {
    auto j = nlohmann::json::parse(read_text(cfg));
    return j.is_object() && j.contains("_class_name");
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

DiffusersFolder resolve_diffusers_folder(const std::string& path) {
  DiffusersFolder f;
  f.root = absolute_path(path);
  const std::string index = join_path(f.root, "model_index.json");
  if (is_file(index)) {
    auto j = read_json(index);
    f.pipeline_class = j.value("_class_name", std::string());
    for (const char* part : {"vae", "text_encoder", "tokenizer", "vqvae"})
      if (j.contains(part) && !j[part].is_null())
        throw std::invalid_argument(index + ": _class_name \"" + f.pipeline_class + "\" is not supported (it has a " +
                                    part + "; invdiff runs pixel-space UNet2DModel pipelines such as DDPMPipeline)");
    if (!j.contains("unet")) throw std::runtime_error(index + ": names no unet");
    f.unet_dir = join_path(f.root, "unet");
    if (j.contains("scheduler")) f.scheduler_config = join_path(join_path(f.root, "scheduler"), "scheduler_config.json");
  } else {
    f.unet_dir = f.root;
    const std::string s = join_path(f.root, "scheduler_config.json");
    if (is_file(s)) f.scheduler_config = s;
  }
  if (!f.scheduler_config.empty() && !is_file(f.scheduler_config))
    throw std::runtime_error(f.scheduler_config + ": not found");
  for (const auto& dir : {f.unet_dir, f.root}) {
    const std::string c = join_path(dir, "class_names.json");
    if (f.class_names_file.empty() && is_file(c)) f.class_names_file = c;
  }
  return f;
}

int64_t DiffusersModel::class_index(const std::string& name) const {
  for (size_t i = 0; i < class_names.size(); ++i)
    if (class_names[i] == name) return static_cast<int64_t>(i);
  std::string all;
  for (const auto& n : class_names) all += (all.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown class '" + name + "' (this model knows: " + all + ")");
}

nlohmann::json DiffusersModel::meta() const {
  return {{"kind", "diffusers"},
          {"path", folder.root},
          {"pipeline", folder.pipeline_class.empty() ? nlohmann::json(nullptr) : nlohmann::json(folder.pipeline_class)},
          {"unet", unet_config_json},
          {"scheduler", scheduler},
          {"scheduler_file", folder.scheduler_config.empty() ? nlohmann::json("(none: DDPMScheduler defaults)")
                                                            : nlohmann::json(folder.scheduler_config)},
          {"class_names", class_names},
          {"image_shape", {unet_config.in_channels, unet_config.image_size(), unet_config.image_size()}},
          {"parameters", net ? net->num_parameters() : 0}};
}

DiffusersModel load_diffusers_model(const std::string& path, const c10::Device& device) {
  DiffusersModel m;
  m.folder = resolve_diffusers_folder(path);
  auto u = load_diffusers_unet(m.folder.unet_dir);
  m.net = u.net;
  m.unet_config = u.config;
  m.unet_config_json = u.config_json;
  if (!m.folder.scheduler_config.empty()) {
    m.scheduler = read_diffusers_scheduler_config(m.folder.scheduler_config);
  } else if (m.unet_config.num_train_timesteps) {
    m.scheduler.num_train_timesteps = *m.unet_config.num_train_timesteps;
  }
  m.schedule = DiffusersScheduler(m.scheduler).schedule();
  const int n = m.unet_config.num_class_embeds.value_or(0);
  if (!m.folder.class_names_file.empty()) {
    auto j = read_json(m.folder.class_names_file);
    if (!j.is_array() || static_cast<int>(j.size()) != std::max(n, 1))
      throw std::runtime_error(m.folder.class_names_file + ": needs a list of " + std::to_string(std::max(n, 1)) +
                               " names (num_class_embeds)");
    for (size_t i = 0; i < j.size(); ++i) {
      if (j[i].is_null() && i + 1 == j.size() && j.size() >= 2) {  // the unconditional class
        m.null_class = static_cast<int64_t>(i);
        continue;
      }
      if (!j[i].is_string())
        throw std::runtime_error(m.folder.class_names_file + ": names must be strings (null only last, for the "
                                 "unconditional class)");
      m.class_names.push_back(j[i].get<std::string>());
    }
  } else if (n > 0) {
    for (int i = 0; i < n; ++i) m.class_names.push_back(std::to_string(i));
  } else {
    m.class_names = {"unconditional"};
  }
  m.net->to(device);
  m.net->eval();
  return m;
}

std::string diffusers_fingerprint(const DiffusersFolder& f) {
  std::string all;
  for (const auto& p : {join_path(f.unet_dir, "config.json"), join_path(f.unet_dir, "diffusion_pytorch_model.safetensors"),
                        f.scheduler_config, f.class_names_file})
    if (!p.empty()) all += file_fingerprint(p);
  return all;  // the per-file fingerprints, concatenated
}

void save_diffusers_model(const std::string& dir, DiffusersUNet2DImpl& net, const DiffusersSchedulerConfig& scheduler,
                          const std::vector<std::string>& class_names, bool null_class) {
  save_diffusers_unet(dir, net);
  nlohmann::json s = scheduler;
  s["_diffusers_version"] = "0.27.2";
  atomic_write_text(join_path(dir, "scheduler_config.json"), s.dump(2) + "\n");
  if (!class_names.empty()) {
    nlohmann::json names = class_names;
    if (null_class) names.push_back(nullptr);
    atomic_write_text(join_path(dir, "class_names.json"), names.dump(2) + "\n");
  }
}

}  // namespace invdiff
