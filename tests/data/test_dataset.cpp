// The dataset loader's guarantees beyond parsing: metadata rows cannot reach outside the
// dataset directory, and images are held as uint8 (one byte per pixel) with batches converted
// to the model's [-1, 1] floats exactly as the former float32 loader produced them.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "core/fs.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "fixtures.h"

using namespace invdiff;
namespace fs = std::filesystem;

namespace {
// d/ds: a dataset of one good image (a.png) plus the row under test; d/secret.png: a readable
// image outside it, so only the path check can stop the read.
struct EscapeFixture {
  TempDir d;
  std::string ds = join_path(d.path, "ds"), secret = join_path(d.path, "secret.png");
  EscapeFixture() {
    write_png(join_path(ds, "a.png"), torch::zeros({3, 4, 4}));
    write_png(secret, torch::ones({3, 4, 4}));
  }
  std::string load_with(const std::string& file) {
    atomic_write_text(join_path(ds, "metadata.csv"), "file,class\na.png,x\n" + file + ",y\n");
    return error_of([&] { load_dataset(ds, {}); });
  }
  std::string expected(const std::string& file, const std::string& why) const {
    return ds + "/metadata.csv: row 3: file '" + file + "' is outside the dataset directory (it " + why +
           "); files are paths inside " + ds;
  }
};
}  // namespace

TEST(DatasetPaths, DotDotAbsoluteAndSymlinkEscapesAreRefusedNamingTheRow) {
  EscapeFixture f;
  EXPECT_EQ(f.load_with("../secret.png"), f.expected("../secret.png", "leaves it through '..'"));
  EXPECT_EQ(f.load_with("sub/../../secret.png"), f.expected("sub/../../secret.png", "leaves it through '..'"));
  EXPECT_EQ(f.load_with(f.secret), f.expected(f.secret, "is an absolute path"));
  // A symlinked file and a symlinked folder that point out.
  fs::create_symlink(f.secret, join_path(f.ds, "link.png"));
  const std::string real_secret = fs::canonical(f.secret).string();
  EXPECT_EQ(f.load_with("link.png"), f.expected("link.png", "resolves through a symlink to " + real_secret));
  fs::create_directories(join_path(f.d.path, "outside"));
  write_png(join_path(f.d.path, "outside/b.png"), torch::ones({3, 4, 4}));
  fs::create_directory_symlink(join_path(f.d.path, "outside"), join_path(f.ds, "sub"));
  EXPECT_EQ(f.load_with("sub/b.png"),
            f.expected("sub/b.png", "resolves through a symlink to " + fs::canonical(join_path(f.d.path, "outside/b.png")).string()));
}

TEST(DatasetPaths, PathsThatStayInsideLoad) {
  EscapeFixture f;
  write_png(join_path(f.ds, "imgs/b.png"), torch::ones({3, 4, 4}));
  EXPECT_EQ(f.load_with("imgs/../imgs/b.png"), "<no error>");
  // A symlink inside the directory that points inside it is fine.
  fs::create_symlink(join_path(f.ds, "imgs/b.png"), join_path(f.ds, "alias.png"));
  EXPECT_EQ(f.load_with("alias.png"), "<no error>");
  // The directory itself may be reached through a symlink.
  fs::create_directory_symlink(f.ds, join_path(f.d.path, "ds_link"));
  EXPECT_EQ(load_dataset(join_path(f.d.path, "ds_link"), {}).size(), 2);
}

TEST(DatasetPaths, EscapeReasonHelper) {
  TempDir d;
  EXPECT_EQ(path_escape_reason(d.path, "a/b.png"), "");
  EXPECT_EQ(path_escape_reason(d.path, ""), "is empty");
  EXPECT_EQ(path_escape_reason(d.path, "/etc/passwd"), "is an absolute path");
  EXPECT_EQ(path_escape_reason(d.path, ".."), "leaves it through '..'");
  EXPECT_EQ(path_escape_reason(d.path, "a/../../../etc/passwd"), "leaves it through '..'");
}

namespace {
// Three 4 x 4 images of distinct pixel values (every rounding case of p / 127.5 - 1 in play).
void write_pattern_dataset(const std::string& dir) {
  std::string csv = "file,class\n";
  for (int k = 0; k < 3; ++k) {
    auto img = torch::empty({3, 4, 4}, torch::kUInt8);
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) {
        img[0][y][x] = (k * 97 + y * 31 + x * 7) % 256;
        img[1][y][x] = (k * 13 + y * 5 + x * 61) % 256;
        img[2][y][x] = (255 - k * 40 - y * x * 3) % 256;
      }
    write_png(join_path(dir, std::to_string(k) + ".png"), img);
    csv += std::to_string(k) + ".png," + (k % 2 ? "b" : "a") + "\n";
  }
  atomic_write_text(join_path(dir, "metadata.csv"), csv);
}
}  // namespace

// The fingerprint hashes the [-1, 1] floats as the float32 loader did, so groups and classifiers
// recorded before images were kept as uint8 still match their datasets. The value is what the
// float32 loader (commit 1e71631, `groups --oracle class`) recorded for exactly these pixels.
TEST(DatasetMemory, FingerprintIsTheOneTheFloatLoaderRecorded) {
  TempDir d;
  write_pattern_dataset(d.path);
  EXPECT_EQ(dataset_fingerprint(load_dataset(d.path, {}))["content"], "23743709eb4346ee");
}

TEST(DatasetMemory, ImagesAreUint8AndBatchesAreTheFloatImages) {
  TempDir d;
  write_pattern_dataset(d.path);
  auto ds = load_dataset(d.path, {});
  EXPECT_EQ(ds.images.scalar_type(), torch::kUInt8);  // one byte per pixel
  EXPECT_EQ(ds.images.sizes(), (std::vector<int64_t>{3, 3, 4, 4}));
  auto b = ds.batch(torch::tensor({2, 0}, torch::kInt64));
  EXPECT_EQ(b.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(b[0], read_image(join_path(d.path, "2.png"))));
  EXPECT_TRUE(torch::equal(b[1], read_image(join_path(d.path, "0.png"))));
  EXPECT_EQ(b[0][0][0][0].item<float>(), 194.0f / 127.5f - 1.0f);  // image 2, red (0, 0): 2 * 97 = 194
  // Float sets built in memory pass through unchanged.
  auto f = torch::rand({2, 3, 4, 4});
  EXPECT_TRUE(torch::equal(to_unit_range(f), f));
}
