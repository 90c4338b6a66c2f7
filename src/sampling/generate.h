// Generation pipeline: a loaded model + a sampler -> images. The only place that joins the
// network (model/) to the samplers (diffusion/).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "diffusion/denoiser.h"
#include "diffusion/samplers.h"
#include "train/checkpoint.h"

namespace invdiff {

// Classifier-free guidance scales outside [0, kMaxCfgScale] are refused (0: unconditional,
// 1: off; a negative w steers away from the prompt, a huge one saturates every pixel).
constexpr double kMaxCfgScale = 50.0;

struct GenerateOptions {
  SamplerOptions sampler;
  double cfg_scale = 1.0;
  int64_t batch_size = 256;  // images per network call (before the CFG doubling)
};

// The model's noise predictor as an EpsFn (no autograd).
EpsFn model_eps_fn(const DiffusionModel& m);
// The same with its bottleneck activation (diffusion/denoiser.h).
EpsHiddenFn model_eps_hidden_fn(const DiffusionModel& m);

// Samples one image per entry of `labels` (condition indices), in chunks of opt.batch_size.
// Image j's noise comes from image_seed(seed, its prompt, its index among that prompt's images):
// the images depend on neither the batch size nor the order of the prompts, and two seeds share
// no image. `prompt_keys` names the conditions (index -> name; empty: the index itself).
at::Tensor generate(const EpsFn& eps_fn, const NoiseSchedule& sch, int64_t null_class, const std::vector<int64_t>& labels,
                    const std::vector<int64_t>& image_shape, const GenerateOptions& opt, const c10::Device& device,
                    bool progress = false, const std::vector<std::string>& prompt_keys = {});

// The seed of the index-th image of a prompt (core/hash.h's keyed_seed of "prompt#index").
uint64_t image_seed(uint64_t seed, const std::string& prompt, int64_t index);

// What names each image of `labels` and its noise: its prompt (prompt_keys[label], or the label
// number when prompt_keys has no name for it), its index among that prompt's images, its seed.
struct ImageKey {
  std::string prompt;
  int64_t index = 0;
  uint64_t seed = 0;
};
std::vector<ImageKey> image_keys(const std::vector<int64_t>& labels, const std::vector<std::string>& prompt_keys,
                                 uint64_t seed);

// The parameters of a generation, as stored in PNG text chunks and reports.
nlohmann::json generation_params(const std::string& model_path, const GenerateOptions& opt);

}  // namespace invdiff
