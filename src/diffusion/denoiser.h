// A loaded noise predictor as the layers below sampling/ see it: the eps function, its schedule,
// the conditions it knows and the image shape it takes, plus where it came from. The max step
// (invdiff/infer_groups) scores with one of these, so it never opens a checkpoint itself;
// sampling/any_model.h makes one from any model kind.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "diffusion/samplers.h"
#include "diffusion/schedule.h"

namespace invdiff {

// eps, and the network's bottleneck activation [B, C, h, w] (its middle block's output, the
// "h-space" known to carry semantic attributes) written to *hidden: what the max step clusters
// on besides the error. No autograd.
using EpsHiddenFn =
    std::function<at::Tensor(const at::Tensor& x, const at::Tensor& t, const at::Tensor& y, at::Tensor* hidden)>;

struct Denoiser {
  EpsFn eps;                             // no autograd
  NoiseSchedule schedule;
  std::vector<std::string> class_names;  // condition index -> name
  int64_t channels = 0, image_size = 0;  // square images [channels, image_size, image_size]
  std::string path;                      // the checkpoint it was loaded from (absolute)
  std::string kind;                      // e.g. "diffusion" or "guided"
  EpsHiddenFn eps_hidden;                // empty when the model exposes no bottleneck (guided)
};

}  // namespace invdiff
