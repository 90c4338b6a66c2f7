#include "data/image_io.h"

#include <torch/torch.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

#include "core/fs.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

namespace invdiff {

at::Tensor read_image(const std::string& path, int channels) {
  if (channels != 1 && channels != 3) throw std::invalid_argument("read_image: channels must be 1 or 3");
  int w = 0, h = 0, n = 0;
  unsigned char* px = stbi_load(path.c_str(), &w, &h, &n, channels);
  if (!px) throw std::runtime_error(path + ": cannot read image (" + stbi_failure_reason() + ")");
  auto t = torch::from_blob(px, {h, w, channels}, torch::kUInt8).clone();
  stbi_image_free(px);
  return t.permute({2, 0, 1}).to(torch::kFloat32).div_(127.5).sub_(1.0).contiguous();
}

static void put_be32(std::string& s, uint32_t v) {
  s += char(v >> 24); s += char(v >> 16); s += char(v >> 8); s += char(v);
}

void write_png(const std::string& path, const at::Tensor& image, const TextChunks& text) {
  if (image.dim() != 3 || (image.size(0) != 1 && image.size(0) != 3))
    throw std::invalid_argument("write_png: expected a [C, H, W] tensor with C = 1 or 3");
  auto hwc = image.detach().to(torch::kCPU, torch::kFloat32).clamp(-1, 1).add(1).mul(127.5).round()
                 .to(torch::kUInt8).permute({1, 2, 0}).contiguous();
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

}  // namespace invdiff
