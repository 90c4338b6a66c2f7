// Turning a published photo of any size into a dataset image: the largest centred square,
// resized to R x R (stb_image_resize: Mitchell filter when shrinking, Catmull-Rom when growing).
// Kept as uint8: the importers write it straight to PNG with no float round trip.
#pragma once
#include <string>

namespace at { class Tensor; }

namespace invdiff {

// Reads any stb-supported image (PNG, JPEG, ...) and returns its centre square resized to
// resolution x resolution as uint8 [channels, R, R] (channels 1 or 3). Throws
// "<path>: cannot read image (<reason>)".
at::Tensor read_square_image(const std::string& path, int resolution, int channels = 3);

}  // namespace invdiff
