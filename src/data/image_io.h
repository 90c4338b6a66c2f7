// PNG/JPEG reading (stb_image) and PNG writing with tEXt metadata chunks (stb_image_write +
// chunk insertion), plus image-grid assembly. Tensors are float CHW in [-1, 1].
#pragma once
#include <map>
#include <string>

namespace at { class Tensor; }

namespace invdiff {

using TextChunks = std::map<std::string, std::string>;

// Reads any stb-supported image as float [C, H, W] in [-1, 1] with C = channels (1 or 3; alpha
// dropped, grey expanded when channels == 3). Throws "<path>: cannot read image (<reason>)".
at::Tensor read_image(const std::string& path, int channels = 3);
// Writes a [C, H, W] tensor in [-1, 1] (clamped) as PNG, atomically, with text chunks.
void write_png(const std::string& path, const at::Tensor& image, const TextChunks& text = {});
// Reads the tEXt chunks of a PNG file.
TextChunks read_png_text(const std::string& path);
// [N, C, H, W] -> [C, H', W'] grid with nrow images per row and `pad` pixels of padding.
at::Tensor make_grid(const at::Tensor& images, int nrow, int pad = 2, double pad_value = -1.0);

}  // namespace invdiff
