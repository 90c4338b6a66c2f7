// The cfmnist attribute oracle and colour purity. An image is grey * colour on black, so the
// hue of its foreground pixels tells its palette colour exactly; no learned classifier needed.
#pragma once
#include <string>
#include <vector>

#include "data/palette.h"

namespace at { class Tensor; }

namespace invdiff {

// Foreground = pixels whose brightest channel exceeds this share of full scale.
constexpr double kForegroundThreshold = 0.2;

// Per image of [N, 3, H, W] in [-1, 1]: index of the palette colour nearest to the mean
// foreground colour (both scaled to max 1); -1 when the image has no foreground pixel.
at::Tensor oracle_colours(const at::Tensor& images, const std::vector<Colour>& palette);
// Per image: share of foreground pixels whose own nearest palette colour equals the image's
// oracle colour; 0 for an image with no foreground (a blank image is not "pure").
at::Tensor colour_purity(const at::Tensor& images, const std::vector<Colour>& palette);

}  // namespace invdiff
