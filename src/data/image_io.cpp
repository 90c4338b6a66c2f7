#include "data/image_io.h"

#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

#include "core/fs.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

namespace invdiff {

at::Tensor read_image_u8(const std::string& path, int channels) {
  if (channels != 1 && channels != 3) throw std::invalid_argument("read_image: channels must be 1 or 3");
  int w = 0, h = 0, n = 0;
  unsigned char* px = stbi_load(path.c_str(), &w, &h, &n, channels);
  if (!px) throw std::runtime_error(path + ": cannot read image (" + stbi_failure_reason() + ")");
  auto t = torch::from_blob(px, {h, w, channels}, torch::kUInt8).permute({2, 0, 1}).contiguous();
  stbi_image_free(px);
  return t;
}

at::Tensor to_unit_range(const at::Tensor& pixels) {
  if (pixels.scalar_type() != torch::kUInt8) return pixels;
  return pixels.to(torch::kFloat32).div_(127.5).sub_(1.0).contiguous();
}

at::Tensor read_image(const std::string& path, int channels) { return to_unit_range(read_image_u8(path, channels)); }

static void put_be32(std::string& s, uint32_t v) {
  s += char(v >> 24); s += char(v >> 16); s += char(v >> 8); s += char(v);
}

void write_png(const std::string& path, const at::Tensor& image, const TextChunks& text) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (ext != ".png")  // a PNG behind another extension misleads every viewer
    throw std::invalid_argument(path + ": images are written as PNG; the file name must end in .png");
  if (image.dim() != 3 || (image.size(0) != 1 && image.size(0) != 3))
    throw std::invalid_argument("write_png: expected a [C, H, W] tensor with C = 1 or 3");
  const auto u8 = image.scalar_type() == torch::kUInt8
                      ? image.detach().cpu()
                      : image.detach().to(torch::kCPU, torch::kFloat32).clamp(-1, 1).add(1).mul(127.5).round().to(torch::kUInt8);
  auto hwc = u8.permute({1, 2, 0}).contiguous();
  int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1)), c = static_cast<int>(hwc.size(2));
  int len = 0;
  unsigned char* png = stbi_write_png_to_mem(hwc.data_ptr<uint8_t>(), w * c, w, h, c, &len);
  if (!png) throw std::runtime_error("write_png: encoding failed for " + path);
  std::string bytes(reinterpret_cast<char*>(png), static_cast<size_t>(len));
  STBIW_FREE(png);
  // Insert tEXt chunks right after IHDR (8-byte signature + 25-byte IHDR chunk).
  std::string chunks;
  for (const auto& [k, v] : text) {
    if (k.empty() || k.size() > 79) throw std::invalid_argument("write_png: bad text key '" + k + "'");
    std::string body = "tEXt" + k + '\0' + v;
    put_be32(chunks, static_cast<uint32_t>(body.size() - 4));
    chunks += body;
    put_be32(chunks, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size())));
  }
  bytes.insert(33, chunks);
  atomic_write_text(path, bytes);
}

TextChunks read_png_text(const std::string& path) {
  std::string b = read_text(path);
  if (b.size() < 8 || std::memcmp(b.data(), "\x89PNG\r\n\x1a\n", 8) != 0)
    throw std::runtime_error(path + ": not a PNG file");
  TextChunks out;
  size_t pos = 8;
  while (pos + 12 <= b.size()) {
    auto u = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(b[i])); };
    uint32_t len = (u(pos) << 24) | (u(pos + 1) << 16) | (u(pos + 2) << 8) | u(pos + 3);
    if (pos + 12 + len > b.size()) throw std::runtime_error(path + ": truncated PNG chunk");
    std::string type = b.substr(pos + 4, 4);
    if (type == "tEXt") {
      std::string body = b.substr(pos + 8, len);
      auto z = body.find('\0');
      if (z != std::string::npos) out[body.substr(0, z)] = body.substr(z + 1);
    }
    if (type == "IEND") break;
    pos += 12 + len;
  }
  return out;
}

at::Tensor make_grid(const at::Tensor& images, int nrow, int pad, double pad_value) {
  if (images.dim() != 4) throw std::invalid_argument("make_grid: expected [N, C, H, W]");
  int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  nrow = std::max<int>(1, std::min<int64_t>(nrow, std::max<int64_t>(n, 1)));
  int64_t rows = (n + nrow - 1) / nrow;
  auto grid = torch::full({c, rows * (h + pad) + pad, nrow * (w + pad) + pad}, pad_value, images.options());
  for (int64_t i = 0; i < n; ++i) {
    int64_t r = i / nrow, col = i % nrow;
    grid.narrow(1, pad + r * (h + pad), h).narrow(2, pad + col * (w + pad), w).copy_(images[i]);
  }
  return grid;
}

namespace {
// 5 x 7 glyphs, one 5-bit row each (bit 4: the leftmost pixel).
const std::map<char, std::array<uint8_t, 7>>& glyphs() {
  static const std::map<char, std::array<uint8_t, 7>> g{
    {'A', {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}},
    {'B', {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e}},
    {'C', {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e}},
    {'D', {0x1e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1e}},
    {'E', {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f}},
    {'F', {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10}},
    {'G', {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f}},
    {'H', {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}},
    {'I', {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f}},
    {'M', {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}},
    {'P', {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10}},
    {'Q', {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d}},
    {'R', {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11}},
    {'S', {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e}},
    {'T', {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a}},
    {'X', {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04}},
    {'Z', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f}},
    {'0', {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}},
    {'1', {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'2', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}},
    {'3', {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e}},
    {'4', {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}},
    {'5', {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}},
    {'6', {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}},
    {'7', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}},
    {'9', {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}},
    {'-', {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f}},
    {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}},
    {'+', {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {':', {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}},
    {'=', {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00}},
    {'?', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
    {' ', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},

  };
  return g;
}
}  // namespace

at::Tensor render_text(const std::string& text, int64_t channels, double bg) {
  const int64_t w = text.empty() ? 0 : 6 * static_cast<int64_t>(text.size()) - 1;
  auto out = torch::full({channels, 7, w}, bg);
  const auto& g = glyphs();
  for (size_t i = 0; i < text.size(); ++i) {
    char c = static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
    auto it = g.find(c);
    const auto& rows = (it != g.end() ? it : g.find('?'))->second;
    for (int y = 0; y < 7; ++y)
      for (int x = 0; x < 5; ++x)
        if (rows[y] >> (4 - x) & 1) out.select(1, y).select(1, static_cast<int64_t>(i) * 6 + x).fill_(1.0);
  }
  return out;
}

at::Tensor make_labelled_grid(const at::Tensor& images, int nrow, const std::vector<std::string>& row_labels, int pad,
                              double pad_value) {
  auto grid = make_grid(images, nrow, pad, pad_value);
  const int64_t c = images.size(1), h = images.size(2);
  size_t longest = 0;
  for (const auto& l : row_labels) longest = std::max(longest, l.size());
  if (longest == 0) return grid;
  const int64_t margin = 6 * static_cast<int64_t>(longest) + pad;
  auto out = torch::full({c, grid.size(1), grid.size(2) + margin}, pad_value, grid.options());
  out.narrow(2, margin, grid.size(2)).copy_(grid);
  const int64_t rows = (grid.size(1) - pad) / (h + pad);
  for (int64_t r = 0; r < rows && r < static_cast<int64_t>(row_labels.size()); ++r) {
    if (row_labels[r].empty()) continue;
    auto t = render_text(row_labels[r], c, pad_value).to(grid.options());
    const int64_t th = std::min<int64_t>(7, h), y = pad + r * (h + pad) + (h - th) / 2;
    out.narrow(1, y, th).narrow(2, pad, t.size(2)).copy_(t.narrow(1, 0, th));
  }
  return out;
}

at::Tensor upscale_nearest(const at::Tensor& image, int k) {
  if (image.dim() != 3) throw std::invalid_argument("upscale_nearest: expected a [C, H, W] tensor");
  if (k < 1) throw std::invalid_argument("upscale_nearest: the factor must be >= 1 (got " + std::to_string(k) + ")");
  if (k == 1) return image;
  return image.repeat_interleave(k, 1).repeat_interleave(k, 2);
}

}  // namespace invdiff
