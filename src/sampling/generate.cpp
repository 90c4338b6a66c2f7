#include "sampling/generate.h"

#include <torch/torch.h>

#include <map>

#include "core/hash.h"
#include "core/json.h"
#include "core/progress.h"

namespace invdiff {

EpsFn model_eps_fn(const DiffusionModel& m) {
  UNet net = m.unet;
  return [net](const at::Tensor& x, const at::Tensor& t, const at::Tensor& y) mutable {
    torch::NoGradGuard ng;
    return net->forward(x, t, y);
  };
}

EpsHiddenFn model_eps_hidden_fn(const DiffusionModel& m) {
  UNet net = m.unet;
  return [net](const at::Tensor& x, const at::Tensor& t, const at::Tensor& y, at::Tensor* hidden) mutable {
    torch::NoGradGuard ng;
    return net->forward(x, t, y, hidden);
  };
}

at::Tensor generate(const EpsFn& eps_fn, const NoiseSchedule& sch, int64_t null_class, const std::vector<int64_t>& labels,
                    const std::vector<int64_t>& image_shape, const GenerateOptions& opt, const c10::Device& device,
                    bool progress, const std::vector<std::string>& prompt_keys) {
  torch::NoGradGuard ng;
  if (!(opt.cfg_scale >= 0 && opt.cfg_scale <= kMaxCfgScale))
    throw std::invalid_argument("classifier-free guidance scale must be in [0, " + human_number(kMaxCfgScale) + "] (got " +
                                human_number(opt.cfg_scale) + ")");
  if (opt.batch_size < 1) throw std::invalid_argument("generation batch size must be >= 1");
  (void)sampling_timesteps(sch.T(), opt.sampler.steps);  // refuses steps outside [1, T] before any work
  if (opt.cfg_scale != 1.0 && null_class < 0)
    throw std::invalid_argument("this model has no unconditional (null) class: classifier-free guidance needs "
                                "--cfg-scale 1");
  EpsFn f = with_cfg(eps_fn, opt.cfg_scale, null_class);
  const int64_t n = static_cast<int64_t>(labels.size());
  std::vector<uint64_t> seeds;
  for (const auto& k : image_keys(labels, prompt_keys, opt.sampler.seed)) seeds.push_back(k.seed);
  std::vector<at::Tensor> out;
  ProgressBar bar("generate", n, 0, progress && n > opt.batch_size);
  for (int64_t start = 0; start < n; start += opt.batch_size) {
    int64_t m = std::min(opt.batch_size, n - start);
    std::vector<int64_t> lab(labels.begin() + start, labels.begin() + start + m);
    auto y = torch::tensor(lab, torch::kInt64).to(device);
    std::vector<int64_t> shape{m};
    shape.insert(shape.end(), image_shape.begin(), image_shape.end());
    SamplerOptions so = opt.sampler;
    so.image_seeds.assign(seeds.begin() + start, seeds.begin() + start + m);
    so.progress = progress && n <= opt.batch_size;
    out.push_back(sample(f, sch, y, shape, so).to(torch::kCPU));
    bar.update(start + m);
  }
  bar.finish();
  return torch::cat(out);
}

uint64_t image_seed(uint64_t seed, const std::string& prompt, int64_t index) {
  return keyed_seed(seed, prompt + "#" + std::to_string(index));
}

std::vector<ImageKey> image_keys(const std::vector<int64_t>& labels, const std::vector<std::string>& prompt_keys,
                                 uint64_t seed) {
  std::vector<ImageKey> out;
  out.reserve(labels.size());
  std::map<int64_t, int64_t> seen;  // images of each prompt so far
  for (int64_t l : labels) {
    ImageKey k;
    k.prompt = l >= 0 && l < static_cast<int64_t>(prompt_keys.size()) ? prompt_keys[l] : std::to_string(l);
    k.index = seen[l]++;
    k.seed = image_seed(seed, k.prompt, k.index);
    out.push_back(std::move(k));
  }
  return out;
}

nlohmann::json generation_params(const std::string& model_path, const GenerateOptions& opt) {
  return {{"model", model_path},
          {"sampling_method", sampler_name(opt.sampler.kind)},
          {"steps", opt.sampler.steps},
          {"eta", opt.sampler.eta},
          {"cfg_scale", opt.cfg_scale},
          {"seed", opt.sampler.seed},
          {"software", "invdiff 0.1.0"}};
}

}  // namespace invdiff
