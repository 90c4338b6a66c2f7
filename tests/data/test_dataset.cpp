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
