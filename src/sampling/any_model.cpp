#include "sampling/any_model.h"

#include <torch/torch.h>


#include "core/fs.h"
#include "invdiff/guided_checkpoint.h"
#include "sampling/generate.h"

namespace invdiff {

const UNetConfig& AnyModel::unet_config() const { return base.unet->config(); }

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
  const auto& u = unet_config();
  return Denoiser{eps, schedule(), class_names(), u.in_channels, u.image_size, path, enum_name(kind)};
}

AnyModel load_any_model(const std::string& dir_or_file, const c10::Device& device, const LoadModelOptions& opt) {
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
  }
  return m;
}

Denoiser load_denoiser(const std::string& dir_or_file, const c10::Device& device, bool use_ema) {
  LoadModelOptions lo;
  lo.use_ema = use_ema;
  return load_any_model(dir_or_file, device, lo).denoiser();
}

}  // namespace invdiff
