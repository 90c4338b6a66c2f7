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

struct Denoiser {
  EpsFn eps;                             // no autograd
  NoiseSchedule schedule;
  std::vector<std::string> class_names;  // condition index -> name
  int64_t channels = 0, image_size = 0;  // square images [channels, image_size, image_size]
  std::string path;                      // the checkpoint it was loaded from (absolute)
  std::string kind;                      // e.g. "diffusion" or "guided"
};

}  // namespace invdiff
