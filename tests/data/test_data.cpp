// The data layer: IDX files (and the synthetic Fashion-MNIST of tests/fixtures.h), cfmnist's
// colour draws and build, the dataset loader, PNG I/O, the batch sampler and reweighting.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/fs.h"
#include "data/cfmnist.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/image_io.h"
#include "data/reweight.h"
#include "eval/colour.h"
#include "fixtures.h"

using namespace invdiff;

// The real Fashion-MNIST, read only where the real garments matter: Debian's dataset-fashion-mnist
// (scripts/setup.sh), or the directory in INVDIFF_FASHION_MNIST (bench/gpu_check.sh's machine,
// which has no apt, carries it in .deps/).
static const std::string kFashion = [] {
  const char* dir = std::getenv("INVDIFF_FASHION_MNIST");
  return std::string(dir && *dir ? dir : "/usr/share/datasets/fashion-mnist");
}();

TEST(Idx, WriteThenReadBackPlainAndGzip) {
  TempDir d;
  IdxArray a;
  a.shape = {3, 2, 4};
  for (int i = 0; i < 24; ++i) a.data.push_back(static_cast<uint8_t>(i * 10));
  for (std::string name : {"x.idx", "x.idx.gz"}) {
    std::string p = join_path(d.path, name);
    write_idx(p, a);
    auto b = read_idx(p);
    EXPECT_EQ(b.shape, a.shape) << name;
    EXPECT_EQ(b.data, a.data) << name;
  }
}

TEST(Idx, TruncatedAndBadMagicAreClearErrors) {
  TempDir d;
  IdxArray a;
  a.shape = {10, 10};
  a.data.assign(100, 7);
  std::string p = join_path(d.path, "x.idx");
  write_idx(p, a);
  std::filesystem::resize_file(p, 50);
  try {
    read_idx(p);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  atomic_write_text(p, std::string("\x01\x02\x08\x01\x00\x00\x00\x01z", 9));
  EXPECT_THROW(read_idx(p), std::runtime_error);
  EXPECT_THROW(read_idx(join_path(d.path, "missing.idx")), std::runtime_error);
}

// The synthetic Fashion-MNIST of tests/fixtures.h reads back through read_idx as the real set's
// format: [N, 28, 28] images and [N] labels, every class equally often, the same bytes on every
// write, and shapes distinct enough that the class means of train classify every t10k image.
TEST(Idx, SyntheticFashionMnistReadsBackInTheRealFormat) {
  const std::string& dir = synthetic_fashion_mnist();
  for (auto [split, per_class] : {std::pair<std::string, int>{"train", kSyntheticTrainPerClass},
                                  std::pair<std::string, int>{"t10k", kSyntheticTestPerClass}}) {
    auto x = read_idx(join_path(dir, split + "-images-idx3-ubyte.gz"));
    auto y = read_idx(join_path(dir, split + "-labels-idx1-ubyte.gz"));
    const int64_t n = 10 * per_class;
    EXPECT_EQ(x.shape, (std::vector<int64_t>{n, 28, 28})) << split;
    EXPECT_EQ(y.shape, (std::vector<int64_t>{n})) << split;
    std::vector<int> per_label(10, 0);
    for (uint8_t l : y.data) {
      ASSERT_LT(l, 10) << split;
      ++per_label[l];
    }
    EXPECT_EQ(per_label, std::vector<int>(10, per_class)) << split;
    for (int64_t i = 0; i < n; ++i)
      EXPECT_GE(*std::max_element(x.data.begin() + i * 784, x.data.begin() + (i + 1) * 784), 170) << split << " " << i;
  }
  TempDir d;
  write_synthetic_fashion_mnist(d.path);
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz"})
    EXPECT_EQ(read_idx(join_path(d.path, f)).data, read_idx(join_path(dir, f)).data) << f;

  auto grey = [&](const std::string& split) {
    auto a = read_idx(join_path(dir, split + "-images-idx3-ubyte.gz"));
    return torch::from_blob(a.data.data(), {a.shape[0], 784}, torch::kUInt8).to(torch::kFloat32);
  };
  auto labels = [&](const std::string& split) {
    auto a = read_idx(join_path(dir, split + "-labels-idx1-ubyte.gz"));
    return torch::from_blob(a.data.data(), {a.shape[0]}, torch::kUInt8).to(torch::kInt64);
  };
  auto train = grey("train"), test = grey("t10k");
  auto train_y = labels("train"), test_y = labels("t10k");
  std::vector<at::Tensor> means;
  for (int c = 0; c < 10; ++c) means.push_back(train.index({train_y == c}).mean(0));
  auto nearest = torch::cdist(test, torch::stack(means)).argmin(1);
  EXPECT_TRUE(torch::equal(nearest, test_y));
}

TEST(Cfmnist, MajorityShareIsRhoWithinTwoPoints) {
  // 6000 images per class, as in the real training split.
  std::vector<int64_t> labels;
  for (int c : {0, 1, 7, 8})
    for (int i = 0; i < 6000; ++i) labels.push_back(c);
  for (int K : {2, 3}) {
    auto col = draw_biased_colours(labels, K, 0.9, 5);
    std::map<int64_t, std::pair<int, int>> cnt;
    std::map<int64_t, std::set<int64_t>> minority_colours;
    for (size_t i = 0; i < labels.size(); ++i) {
      bool major = col[i] == labels[i] % K;
      cnt[labels[i]].first += major;
      cnt[labels[i]].second += 1;
      ASSERT_GE(col[i], 0);
      ASSERT_LT(col[i], K);
      if (!major) minority_colours[labels[i]].insert(col[i]);
    }
    for (auto& [c, v] : cnt) {
      EXPECT_NEAR(double(v.first) / v.second, 0.9, 0.02) << "class " << c << " K " << K;
      EXPECT_EQ(minority_colours[c].size(), size_t(K - 1)) << "every other colour appears";
    }
  }
  // Same seed, same draw; another seed, another draw.
  EXPECT_EQ(draw_biased_colours(labels, 2, 0.9, 5), draw_biased_colours(labels, 2, 0.9, 5));
  EXPECT_NE(draw_biased_colours(labels, 2, 0.9, 5), draw_biased_colours(labels, 2, 0.9, 6));
}

TEST(Cfmnist, BalancedColoursAreExactlyBalanced) {
  std::vector<int64_t> labels;
  for (int c : {0, 1})
    for (int i = 0; i < 1000; ++i) labels.push_back(c);
  auto col = draw_balanced_colours(labels, 2, 1);
  int c0 = 0;
  for (size_t i = 0; i < 1000; ++i) c0 += col[i] == 0;
  EXPECT_EQ(c0, 500);
}

// On the real garments (their grey levels, soft edges and thin parts): the one test that needs
// the real set, so it must be installed (scripts/setup.sh), never skipped.
TEST(Cfmnist, OracleRecoversEveryTrainingColour) {
  ASSERT_TRUE(file_exists(kFashion + "/train-images-idx3-ubyte.gz"))
      << "needs the real Fashion-MNIST in " << kFashion
      << ": Debian's dataset-fashion-mnist (scripts/setup.sh installs it), or set INVDIFF_FASHION_MNIST";
  auto x = read_idx(kFashion + "/train-images-idx3-ubyte.gz");
  auto y = read_idx(kFashion + "/train-labels-idx1-ubyte.gz");
  std::vector<int64_t> idx, labels;
  for (size_t i = 0; i < y.data.size(); ++i)
    if (y.data[i] == 0 || y.data[i] == 1 || y.data[i] == 7 || y.data[i] == 8) {
      idx.push_back(static_cast<int64_t>(i));
      labels.push_back(y.data[i]);
    }
  ASSERT_EQ(idx.size(), 24000u);
  auto col = draw_biased_colours(labels, 2, 0.9, 0);
  auto all = torch::from_blob(x.data.data(), {60000, 28, 28}, torch::kUInt8);
  auto grey = all.index_select(0, torch::tensor(idx));
  auto palette = CfmnistConfig{}.resolved_palette();
  for (int res : {16, 28}) {
    auto imgs = colourise(grey, col, palette, res);
    ASSERT_EQ(imgs.size(2), res);
    auto oracle = oracle_colours(imgs, palette);
    auto truth = torch::tensor(col);
    EXPECT_EQ((oracle != truth).sum().item<int64_t>(), 0) << "resolution " << res;
    EXPECT_GT(colour_purity(imgs, palette).min().item<float>(), 0.99f);
  }
}

TEST(Cfmnist, BuildWritesLoadableDatasetAndOracleMatchesMetadata) {
  TempDir d;
  CfmnistConfig cfg;
  cfg.source_dir = synthetic_fashion_mnist();
  cfg.max_train_per_class = 30;
  cfg.max_ref_per_class = 10;
  build_cfmnist(cfg, d.path, false);
  auto train = load_dataset(d.path, {});
  EXPECT_EQ(train.size(), 120);
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{120, 3, 16, 16}));
  EXPECT_EQ(train.class_names, (std::vector<std::string>{"T-shirt/top", "Trouser", "Sneaker", "Bag"}));
  DatasetOptions ro;
  ro.split = "ref";
  auto ref = load_dataset(d.path, ro);
  EXPECT_EQ(ref.size(), 40);
  // The colour written in metadata.csv is what the oracle reads off the PNG.
  auto meta = load_metadata(d.path, "train");
  auto oracle = oracle_colours(to_unit_range(train.images), cfg.resolved_palette());
  size_t cc = meta.column("colour");
  for (int64_t i = 0; i < train.size(); ++i) EXPECT_EQ(std::to_string(oracle[i].item<int64_t>()), meta.rows[i][cc]);
  // Reference split is balanced per class.
  auto refmeta = load_metadata(d.path, "ref");
  int red = 0;
  for (auto& r : refmeta.rows) red += r[refmeta.column("colour")] == "0";
  EXPECT_EQ(red, 20);
}

TEST(Dataset, ClearErrorsForMissingFileColumnAndBadImage) {
  TempDir d;
  auto expect_error = [&](const std::string& needle) {
    try {
      load_dataset(d.path, {});
      FAIL() << "expected error containing " << needle;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("no metadata.csv");
  write_png(join_path(d.path, "a.png"), torch::zeros({3, 4, 4}));
  atomic_write_text(join_path(d.path, "metadata.csv"), "file,label\na.png,x\n");
  expect_error("missing column 'class'");
  atomic_write_text(join_path(d.path, "metadata.csv"), "file,class\na.png,x\nb.png,y\n");
  expect_error("missing: b.png");
  atomic_write_text(join_path(d.path, "b.png"), "not a png");
  expect_error("b.png: cannot read image");
  write_png(join_path(d.path, "b.png"), torch::zeros({3, 8, 8}));
  expect_error("differ in size");
  write_png(join_path(d.path, "b.png"), torch::zeros({3, 4, 4}));
  auto ds = load_dataset(d.path, {});
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(ds.labels[1].item<int64_t>(), 1);
  EXPECT_THROW(load_dataset(join_path(d.path, "nope"), {}), std::runtime_error);
}

// What groups, classifiers and fine-tunes are checked against: a copy of the directory matches;
// another target column, a --limit or one changed pixel does not, and the message names both.
TEST(Dataset, FingerprintFollowsContentNotPlace) {
  TempDir d;
  std::string a = join_path(d.path, "a"), b = join_path(d.path, "b");
  write_png(join_path(a, "0.png"), torch::zeros({3, 4, 4}));
  write_png(join_path(a, "1.png"), torch::ones({3, 4, 4}));
  atomic_write_text(join_path(a, "metadata.csv"), "file,class,other\n0.png,x,p\n1.png,y,p\n");
  std::filesystem::copy(a, b, std::filesystem::copy_options::recursive);
  auto da = load_dataset(a, {}), db = load_dataset(b, {});
  auto fa = dataset_fingerprint(da);
  EXPECT_EQ(fa["content"], dataset_fingerprint(db)["content"]);
  EXPECT_EQ(fa["root"], absolute_path(a));
  EXPECT_EQ(fa["size"].get<int64_t>(), 2);
  EXPECT_NO_THROW(check_dataset_fingerprint(fa, db, "groups"));
  EXPECT_NO_THROW(check_dataset_fingerprint(nlohmann::json{{"root", a}}, db, "old groups"));  // no content: passes
  DatasetOptions other;
  other.target_column = "other";
  DatasetOptions limit;
  limit.limit = 1;
  EXPECT_NE(fa["content"], dataset_fingerprint(load_dataset(a, other))["content"]);
  EXPECT_NE(fa["content"], dataset_fingerprint(load_dataset(a, limit))["content"]);
  write_png(join_path(b, "1.png"), torch::full({3, 4, 4}, 0.5));
  auto changed = load_dataset(b, {});
  std::string e = error_of([&] { check_dataset_fingerprint(fa, changed, "the groups in g.csv"); });
  EXPECT_EQ(e.rfind("the groups in g.csv: made from " + absolute_path(a) + " (split 'train', target 'class', 2 rows, content " +
                        fa["content"].get<std::string>() + "), but the dataset here is " + absolute_path(b),
                    0),
            0u)
      << e;
  EXPECT_EQ(error_of([&] { check_class_names({"y", "x"}, "the model m.pt", da, "groups"); }),
            "groups: the model m.pt has classes y,x but the dataset " + a +
                " ('class') has x,y (the same names in the same order are needed)");
}

TEST(ImageIo, WritesOnlyPngNames) {
  TempDir d;
  EXPECT_EQ(error_of([&] { write_png(join_path(d.path, "s.jpg"), torch::zeros({3, 2, 2})); }),
            join_path(d.path, "s.jpg") + ": images are written as PNG; the file name must end in .png");
  EXPECT_FALSE(file_exists(join_path(d.path, "s.jpg")));
  EXPECT_NO_THROW(write_png(join_path(d.path, "S.PNG"), torch::zeros({3, 2, 2})));
}

TEST(ImageIo, NearestUpscaleAndLabelledGrid) {
  auto img = torch::tensor({-1.0f, 1.0f}).view({1, 1, 2});
  auto up = upscale_nearest(img, 2);
  EXPECT_EQ(up.sizes(), (std::vector<int64_t>{1, 2, 4}));
  EXPECT_TRUE(torch::equal(up[0][1], torch::tensor({-1.0f, -1.0f, 1.0f, 1.0f})));
  EXPECT_THROW(upscale_nearest(img, 0), std::invalid_argument);
  auto dash = render_text("-", 1);  // one 5-px bar in row 3
  EXPECT_EQ(dash.sizes(), (std::vector<int64_t>{1, 7, 5}));
  EXPECT_FLOAT_EQ(dash.sum().item<float>(), 5 * 1.0f + 30 * -1.0f);
  EXPECT_TRUE(torch::equal(dash[0][3], torch::ones({5})));
  EXPECT_TRUE(torch::equal(render_text("a", 1), render_text("A", 1)));  // upper case
  auto tiles = torch::zeros({4, 3, 8, 8});
  auto g = make_labelled_grid(tiles, 2, {"AB", ""});
  auto plain = make_grid(tiles, 2);
  const int64_t margin = 6 * 2 + 2;
  EXPECT_EQ(g.size(2), plain.size(2) + margin);
  EXPECT_TRUE(torch::equal(g.narrow(2, margin, plain.size(2)), plain));
  EXPECT_GT(g.narrow(1, 2, 8).narrow(2, 0, margin).max().item<float>(), 0.5f);       // row 0: "AB"
  EXPECT_FLOAT_EQ(g.narrow(1, 12, 8).narrow(2, 0, margin).max().item<float>(), -1.0f);  // row 1: none
}

TEST(ImageIo, PngPixelsAndTextRoundTrip) {
  TempDir d;
  auto img = torch::linspace(-1, 1, 3 * 5 * 7).view({3, 5, 7});
  std::string p = join_path(d.path, "x.png");
  write_png(p, img, {{"parameters", "{\"seed\": 1}"}, {"prompt", "Trouser"}});
  auto back = read_image(p);
  EXPECT_EQ(back.sizes(), img.sizes());
  EXPECT_LE((back - img).abs().max().item<float>(), 1.0f / 127.5f + 1e-6f);  // 8-bit quantisation
  auto text = read_png_text(p);
  EXPECT_EQ(text["parameters"], "{\"seed\": 1}");
  EXPECT_EQ(text["prompt"], "Trouser");
}

TEST(ImageIo, GridPlacesImagesRowMajor) {
  auto imgs = torch::stack({torch::full({1, 2, 2}, 0.1), torch::full({1, 2, 2}, 0.2), torch::full({1, 2, 2}, 0.3)});
  auto g = make_grid(imgs, 2, 1, -1.0);
  EXPECT_EQ(g.sizes(), (std::vector<int64_t>{1, 7, 7}));
  EXPECT_FLOAT_EQ(g[0][1][1].item<float>(), 0.1f);
  EXPECT_FLOAT_EQ(g[0][1][4].item<float>(), 0.2f);
  EXPECT_FLOAT_EQ(g[0][4][1].item<float>(), 0.3f);
  EXPECT_FLOAT_EQ(g[0][4][4].item<float>(), -1.0f);  // empty cell keeps the pad value
}

TEST(BatchSampler, DependsOnlyOnSeedAndStep) {
  BatchSampler a(10, 3, 42), b(10, 3, 42);
  EXPECT_EQ(a.steps_per_epoch(), 3);
  // Every epoch is a permutation: the 9 indices of the first epoch are distinct.
  std::set<int64_t> seen;
  for (int s = 0; s < 3; ++s)
    for (auto i : a.batch(s)) seen.insert(i);
  EXPECT_EQ(seen.size(), 9u);
  // Random access (as after a resume) equals sequential access.
  auto late = b.batch(7);
  for (int s = 0; s < 7; ++s) a.batch(s);
  EXPECT_EQ(a.batch(7), late);
  EXPECT_NE(BatchSampler(10, 3, 43).batch(0), BatchSampler(10, 3, 42).batch(0));
}

TEST(Reweight, InverseGroupFrequencyNormalisedToMeanOne) {
  auto meta = parse_csv("file,colour,class\na,red,0\nb,red,0\nc,red,0\nd,green,0\n", "m.csv");
  auto w = inverse_frequency_weights(meta, {"a", "b", "c", "d"}, {"colour"});
  // raw 1/3, 1/3, 1/3, 1 -> mean 1/2 -> 2/3, 2/3, 2/3, 2: each group sums to 2.
  EXPECT_NEAR(w[0].item<float>(), 2.0f / 3, 1e-6);
  EXPECT_NEAR(w[3].item<float>(), 2.0f, 1e-6);
  EXPECT_THROW(inverse_frequency_weights(meta, {"z"}, {"colour"}), std::runtime_error);
  EXPECT_THROW(inverse_frequency_weights(meta, {"a"}, {"shade"}), std::runtime_error);
}
