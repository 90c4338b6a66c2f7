#include "data/image_prep.h"

#include <torch/torch.h>

#include <stdexcept>

#include <stb_image.h>  // implemented in image_io.cpp
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image_resize.h>

namespace invdiff {

at::Tensor read_square_image(const std::string& path, int resolution, int channels) {
  if (channels != 1 && channels != 3) throw std::invalid_argument("read_square_image: channels must be 1 or 3");
  if (resolution < 1) throw std::invalid_argument("read_square_image: the resolution must be >= 1");
  int w = 0, h = 0, n = 0;
  unsigned char* px = stbi_load(path.c_str(), &w, &h, &n, channels);
  if (!px) throw std::runtime_error(path + ": cannot read image (" + std::string(stbi_failure_reason()) + ")");
  const int side = std::min(w, h), x0 = (w - side) / 2, y0 = (h - side) / 2;
  auto out = torch::empty({resolution, resolution, channels}, torch::kUInt8);
  const unsigned char* crop = px + (static_cast<size_t>(y0) * w + x0) * channels;
  const int ok = stbir_resize_uint8(crop, side, side, w * channels, out.data_ptr<uint8_t>(), resolution, resolution, 0,
                                    channels);
  stbi_image_free(px);
  if (!ok) throw std::runtime_error(path + ": cannot resize the image to " + std::to_string(resolution) + " px");
  return out.permute({2, 0, 1}).contiguous();
}

}  // namespace invdiff
