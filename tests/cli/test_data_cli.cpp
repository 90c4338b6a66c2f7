// Datasets through the binary: the one-line errors a user sees for a dataset that cannot be used.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/fs.h"
#include "data/image_io.h"
#include "fixtures.h"

using namespace invdiff;

namespace {
int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}
}  // namespace

TEST(DataCli, MetadataRowOutsideTheDatasetIsOneLineError) {
  TempDir d;
  const std::string ds = join_path(d.path, "ds");
  write_png(join_path(ds, "a.png"), torch::zeros({3, 8, 8}));
  write_png(join_path(d.path, "secret.png"), torch::zeros({3, 8, 8}));
  atomic_write_text(join_path(ds, "metadata.csv"), "file,class\na.png,x\n../secret.png,y\n");
  auto r = run_cli("-q train --data " + ds + " -o " + join_path(d.path, "m") + " --steps 1");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_EQ(lines(r.output), 1) << r.output;
  EXPECT_EQ(r.output, "invdiff: error: " + ds + "/metadata.csv: row 3: file '../secret.png' is outside the dataset "
                      "directory (it leaves it through '..'); files are paths inside " + ds + "\n");
  EXPECT_FALSE(file_exists(join_path(d.path, "m")));  // nothing trained, nothing written
}

