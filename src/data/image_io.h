// PNG/JPEG reading (stb_image) and PNG writing with tEXt metadata chunks (stb_image_write +
// chunk insertion), plus image-grid assembly. Tensors are float CHW in [-1, 1].
#pragma once
#include <map>
#include <string>
#include <vector>

namespace at { class Tensor; }

namespace invdiff {

using TextChunks = std::map<std::string, std::string>;

// Reads any stb-supported image as uint8 [C, H, W] with C = channels (1 or 3; alpha dropped,
// grey expanded when channels == 3). Throws "<path>: cannot read image (<reason>)".
at::Tensor read_image_u8(const std::string& path, int channels = 3);
// The same as float [C, H, W] in [-1, 1]: to_unit_range(read_image_u8(path, channels)).
at::Tensor read_image(const std::string& path, int channels = 3);
// uint8 pixels (any shape) -> float32 p / 127.5 - 1 in [-1, 1], the one conversion every reader
// uses (so a batch converted late equals the image converted on reading, bit for bit); float
// input is returned as it is (sets built in memory, generated images).
at::Tensor to_unit_range(const at::Tensor& pixels);
// Writes a [C, H, W] tensor in [-1, 1] (clamped), or uint8 pixels as they are, as PNG,
// atomically, with text chunks.
void write_png(const std::string& path, const at::Tensor& image, const TextChunks& text = {});
// Reads the tEXt chunks of a PNG file.
TextChunks read_png_text(const std::string& path);
// [N, C, H, W] -> [C, H', W'] grid with nrow images per row and `pad` pixels of padding.
at::Tensor make_grid(const at::Tensor& images, int nrow, int pad = 2, double pad_value = -1.0);
// make_grid with row_labels[r] written left of row r (a 5 x 7 pixel font, upper case, digits and
// - _ / . + ( ) : = ; other characters print as '?'); rows without a label stay blank there.
at::Tensor make_labelled_grid(const at::Tensor& images, int nrow, const std::vector<std::string>& row_labels,
                              int pad = 2, double pad_value = -1.0);
// [C, H, W] -> [C, kH, kW], each pixel a k x k block (nearest neighbour: no blur, no new colours).
at::Tensor upscale_nearest(const at::Tensor& image, int k);
// The text as a [C, 7, 6 * len - 1] image, ink 1 on background `bg`.
at::Tensor render_text(const std::string& text, int64_t channels, double bg = -1.0);

}  // namespace invdiff
