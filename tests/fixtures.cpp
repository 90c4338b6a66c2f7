#include "fixtures.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstdlib>

#include "core/fs.h"
#include "data/cfmnist.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/image_io.h"
#include "train/diffusers_checkpoint.h"
#include "train/trainer.h"

using namespace invdiff;

UNetConfig tiny_unet(int base_channels, std::optional<int> image_size, std::optional<int> num_classes) {
  UNetConfig u;
  if (image_size) u.image_size = *image_size;
  u.base_channels = base_channels;
  u.channel_mult = {1, 2};
  u.norm_groups = 4;
  if (num_classes) u.num_classes = *num_classes;
  return u;
}

UNetConfig one_level_unet(int num_classes) {
  UNetConfig u;
  u.base_channels = 8;
  u.channel_mult = {1};
  u.num_classes = num_classes;
  return u;
}

namespace {

// A 28 x 28 grey canvas; shapes are drawn at (row, col) + (dy, dx), clipped to the frame.
struct Canvas {
  uint8_t* px;
  int dy, dx;
  uint8_t v;
  // Fills rows [r0, r1) x cols [c0, c1).
  void rect(int r0, int r1, int c0, int c1) const {
    for (int r = std::max(0, r0 + dy); r < std::min(28, r1 + dy); ++r)
      for (int c = std::max(0, c0 + dx); c < std::min(28, c1 + dx); ++c) px[r * 28 + c] = v;
  }
  // The outline of rows [r0, r1) x cols [c0, c1), `w` pixels thick.
  void frame(int r0, int r1, int c0, int c1, int w) const {
    rect(r0, r0 + w, c0, c1);
    rect(r1 - w, r1, c0, c1);
    rect(r0, r1, c0, c0 + w);
    rect(r0, r1, c1 - w, c1);
  }
};

// One shape per Fashion-MNIST class, loosely after the garment.
void draw_class(int label, const Canvas& k) {
  switch (label) {
    case 0:  // T-shirt/top: a T (sleeves over a body)
      k.rect(5, 10, 3, 25);
      k.rect(10, 24, 9, 19);
      break;
    case 1:  // Trouser: two long legs under a waistband
      k.rect(3, 6, 8, 20);
      k.rect(6, 26, 8, 12);
      k.rect(6, 26, 16, 20);
      break;
    case 2:  // Pullover: a large solid block
      k.rect(5, 23, 5, 23);
      break;
    case 3:  // Dress: a triangle widening downwards
      for (int r = 3; r < 25; ++r) k.rect(r, r + 1, 13 - (r - 3) / 2, 15 + (r - 3) / 2);
      break;
    case 4:  // Coat: a tall block with an open slit down the middle
      k.rect(3, 25, 6, 22);
      {
        Canvas slit = k;
        slit.v = 0;
        slit.rect(9, 25, 13, 15);
      }
      break;
    case 5:  // Sandal: three thin straps
      k.rect(11, 13, 3, 25);
      k.rect(15, 17, 3, 25);
      k.rect(19, 21, 3, 25);
      break;
    case 6:  // Shirt: a hollow rectangle
      k.frame(5, 24, 6, 22, 2);
      break;
    case 7:  // Sneaker: a low wedge, higher at the back
      k.rect(17, 23, 2, 26);
      k.rect(12, 17, 14, 26);
      break;
    case 8:  // Bag: a block under a handle
      k.rect(12, 24, 5, 23);
      k.frame(5, 13, 9, 19, 2);
      break;
    default:  // 9, Ankle boot: an L
      k.rect(4, 24, 6, 13);
      k.rect(18, 24, 6, 25);
      break;
  }
}

void write_split(const std::string& dir, const std::string& prefix, int per_class, uint32_t seed) {
  const int n = 10 * per_class;
  IdxArray x, y;
  x.shape = {n, 28, 28};
  x.data.assign(static_cast<size_t>(n) * 784, 0);
  y.shape = {n};
  std::mt19937 g(seed);  // the engine's output is fixed by the standard; no distributions used
  for (int i = 0; i < n; ++i) {
    const int label = i % 10;
    y.data.push_back(static_cast<uint8_t>(label));
    Canvas k{&x.data[static_cast<size_t>(i) * 784], static_cast<int>(g() % 3) - 1, static_cast<int>(g() % 3) - 1,
             static_cast<uint8_t>(170 + g() % 86)};
    draw_class(label, k);
  }
  write_idx(join_path(dir, prefix + "-images-idx3-ubyte.gz"), x);
  write_idx(join_path(dir, prefix + "-labels-idx1-ubyte.gz"), y);
}

}  // namespace

void write_synthetic_fashion_mnist(const std::string& dir, int train_per_class, int test_per_class) {
  ensure_dir(dir);
  write_split(dir, "train", train_per_class, 1);
  write_split(dir, "t10k", test_per_class, 2);
}

const std::string& synthetic_fashion_mnist() {
  static const TempDir dir;
  static const std::string path = [] {
    std::string p = join_path(dir.path, "fashion-mnist");
    write_synthetic_fashion_mnist(p);
    return p;
  }();
  return path;
}

void tiny_cfmnist(const std::string& dir, int64_t train, int64_t ref) {
  CfmnistConfig cc;
  cc.source_dir = synthetic_fashion_mnist();
  cc.max_train_per_class = train;
  cc.max_ref_per_class = ref;
  build_cfmnist(cc, dir, false);
}

void tiny_base(const std::string& data_dir, const std::string& dir, int64_t steps) {
  TrainConfig tc;
  tc.steps = steps;
  tc.batch_size = 16;
  tc.warmup = 2;
  train_diffusion(load_dataset(data_dir), tiny_unet(16), tc, dir, false, torch::kCPU, false);
}

void write_tiny_unet2d(const std::string& dir, const std::vector<std::string>& classes) {
  invdiff::DiffusersUNet2DConfig c;
  c.sample_size = 16;
  c.block_out_channels = {8, 16};
  c.layers_per_block = 1;
  c.norm_num_groups = 4;
  c.attention_head_dim = std::nullopt;
  c.down_block_types = {"DownBlock2D", "AttnDownBlock2D"};
  c.up_block_types = {"AttnUpBlock2D", "UpBlock2D"};
  c.num_class_embeds = static_cast<int>(classes.size());
  torch::manual_seed(0);
  invdiff::DiffusersUNet2D net(c);
  invdiff::save_diffusers_model(dir, *net, invdiff::DiffusersSchedulerConfig{}, classes);
}

void write_generic_dataset(const std::string& dir, int train, int ref) {
  std::string csv = "file,split,class,shade\n";
  auto gen = at::detail::createCPUGenerator(11);
  int n = 0;
  for (const char* split : {"train", "ref"})
    for (int c = 0; c < 2; ++c)
      for (int a = 0; a < 2; ++a) {
        const bool tr = std::string(split) == "train";
        // train: the majority shade (class index) gets 3 images for each 1 of the other.
        const int count = tr ? (a == c ? 3 * train : train) : ref;
        for (int k = 0; k < count; ++k, ++n) {
          auto img = torch::full({3, 16, 16}, a ? 190 : 40, torch::kInt64);
          img += torch::randint(0, 24, {3, 16, 16}, gen, torch::kInt64);
          if (c == 0) img.select(0, 0).narrow(0, 4, 8).narrow(1, 4, 8).fill_(250);
          else img.select(0, 2).narrow(0, 3, 10).narrow(1, 5, 6).fill_(250);
          char f[32];
          std::snprintf(f, sizeof f, "img/%s_%04d.png", split, n);
          invdiff::write_png(invdiff::join_path(dir, f), img.clamp(0, 255).to(torch::kUInt8));
          csv += std::string(f) + "," + split + "," + (c ? "b" : "a") + "," + (a ? "light" : "dark") + "\n";
        }
      }
  invdiff::atomic_write_text(invdiff::join_path(dir, "metadata.csv"), csv);
}
