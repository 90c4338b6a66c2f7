#include "sampling/any_model.h"

#include <torch/torch.h>


#include <filesystem>

#include "core/fs.h"
#include "invdiff/guided_checkpoint.h"
#include "sampling/generate.h"

namespace invdiff {

const UNetConfig& AnyModel::unet_config() const {
  if (!base.unet) throw std::logic_error(path + ": a diffusers model has no invdiff UNet config");
  return base.unet->config();
}

nlohmann::json AnyModel::describe() const {
  nlohmann::json j{{"model_kind", kind}};
  if (guided) {
    const auto& g = meta.at("guidance");
    j["guidance"] = {{"variant", g.value("variant", std::string())},
                     {"mix", g.value("mix", std::string())},
                     {"ratio", guidance_ratio},
                     {"trained_ratio", guided->ratio()},
                     {"base", meta.at("base").value("path", std::string())},
                     {"groups", meta.value("groups", nlohmann::json::object()).value("mode", std::string())},
                     {"parameters", meta.value("parameters", nlohmann::json::object())}};
  }
  return j;
}

Denoiser AnyModel::denoiser() const {
  return Denoiser{eps, schedule(), class_names(), channels, image_size, path, enum_name(kind), eps_hidden};
}

namespace {
AnyModel load_imported(const std::string& dir, const c10::Device& device, const LoadModelOptions& opt) {
  if (opt.guidance_ratio)
    throw std::invalid_argument(dir + " is a base model: --guidance-ratio applies to guided models only");
  AnyModel m;
  m.kind = ModelKind::Diffusers;
  m.imported = std::make_shared<DiffusersModel>(load_diffusers_model(dir, device));
  m.path = m.imported->folder.root;
  m.meta = m.imported->meta();
  m.base.meta = m.meta;
  m.base.schedule = m.imported->schedule;
  m.base.class_names = m.imported->class_names;
  m.channels = m.imported->unet_config.in_channels;
  m.image_size = m.imported->unet_config.image_size();
  m.eps = diffusers_eps_fn(*m.imported);
  m.eps_hidden = diffusers_eps_hidden_fn(*m.imported);
  m.null_class = m.imported->null_class;
  return m;
}
}  // namespace

EpsFn diffusers_eps_fn(const DiffusersModel& m) {
  DiffusersUNet2D net = m.net;
  const bool cond = net->class_conditional();
  return [net, cond](const at::Tensor& x, const at::Tensor& t, const at::Tensor& y) mutable {
    torch::NoGradGuard ng;
    return net->forward(x, t, cond ? y : at::Tensor());
  };
}

EpsHiddenFn diffusers_eps_hidden_fn(const DiffusersModel& m) {
  DiffusersUNet2D net = m.net;
  const bool cond = net->class_conditional();
  return [net, cond](const at::Tensor& x, const at::Tensor& t, const at::Tensor& y, at::Tensor* hidden) mutable {
    torch::NoGradGuard ng;
    return net->forward(x, t, cond ? y : at::Tensor(), hidden);
  };
}

nlohmann::json read_model_meta(const std::string& dir_or_file) {
  const std::string sched = join_path(dir_or_file, "scheduler_config.json");
  if (!is_diffusers_folder(dir_or_file) && std::filesystem::is_directory(dir_or_file) && file_exists(sched))
    return {{"kind", "diffusers scheduler"}, {"path", absolute_path(sched)},
            {"scheduler", read_diffusers_scheduler_config(sched)}};
  if (!is_diffusers_folder(dir_or_file)) return read_checkpoint_meta(checkpoint_path(dir_or_file));
  try {
    return load_diffusers_model(dir_or_file, torch::kCPU).meta();
  } catch (const std::invalid_argument& e) {
    // A folder invdiff does not run (UNet2DConditionModel, AutoencoderKL, ...): described, with why.
    auto f = resolve_diffusers_folder(dir_or_file);
    nlohmann::json j{{"kind", "diffusers"}, {"path", f.root}, {"supported", false}, {"reason", e.what()}};
    const std::string cfg = join_path(f.unet_dir, "config.json");
    if (file_exists(cfg)) j["config"] = nlohmann::json::parse(read_text(cfg));
    return j;
  }
}

AnyModel load_any_model(const std::string& dir_or_file, const c10::Device& device, const LoadModelOptions& opt) {
  if (is_diffusers_folder(dir_or_file)) return load_imported(dir_or_file, device, opt);
  std::string path = checkpoint_path(dir_or_file);
  AnyModel m;
  m.path = absolute_path(path);
  m.meta = read_checkpoint_meta(path);
  try {
    m.kind = parse_enum<ModelKind>(m.meta.value("kind", std::string("diffusion")));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what() + "; a diffusion model or a guided one is needed here");
  }
  if (m.kind == ModelKind::Guided) {
    auto lg = load_guided_model(path, device, opt.use_ema);
    m.base = std::move(lg.base);
    m.guided = lg.model;
    m.imported = lg.imported_base;  // the base's network when it is a diffusers folder
    m.guidance_ratio = opt.guidance_ratio.value_or(m.guided->ratio());
    GuidanceConfig check = m.guided->cfg;
    check.ratio = m.guidance_ratio;
    check.validate();  // e.g. a convex mix refuses r > 1
    auto gm = m.guided;
    double r = m.guidance_ratio;
    m.eps = [gm, r](const at::Tensor& x, const at::Tensor& t, const at::Tensor& y) {
      torch::NoGradGuard ng;
      return gm->forward(x, t, y, r);
    };
  } else {
    if (opt.guidance_ratio)
      throw std::invalid_argument(path + " is a base model: --guidance-ratio applies to guided models only");
    m.base = load_diffusion_model(path, device, opt.use_ema);
    m.eps = model_eps_fn(m.base);
    m.eps_hidden = model_eps_hidden_fn(m.base);
  }
  if (m.base.unet) {
    const auto& u = m.base.unet->config();
    m.channels = u.in_channels;
    m.image_size = u.image_size;
    m.null_class = u.null_class();
  } else {  // a guided model over a diffusers base
    m.channels = m.imported->unet_config.in_channels;
    m.image_size = m.imported->unet_config.image_size();
    m.null_class = m.imported->null_class;
  }
  return m;
}

Denoiser load_denoiser(const std::string& dir_or_file, const c10::Device& device, bool use_ema) {
  LoadModelOptions lo;
  lo.use_ema = use_ema;
  return load_any_model(dir_or_file, device, lo).denoiser();
}

}  // namespace invdiff
