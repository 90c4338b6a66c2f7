// The benchmark suite's appearance attributes (data/appearance.h): what each value does to a
// known garment, and a cfmnist built with non-colour attributes (columns, manifest, draws).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/csv.h"
#include "core/fs.h"
#include "data/appearance.h"
#include "data/cfmnist.h"
#include "data/dataset.h"
#include "fixtures.h"

using namespace invdiff;

namespace {
// One 28 x 28 garment: a filled 12 x 12 square at full intensity in the middle.
at::Tensor square(int64_t n = 1) {
  auto g = torch::zeros({n, 28, 28}, torch::kUInt8);
  g.slice(1, 8, 20).slice(2, 8, 20).fill_(255);
  return g;
}
at::Tensor render(AppearanceKind kind, int64_t value, int K = 2) {
  return render_appearance(square(), {kind}, {{value}}, K, default_palette())[0];  // [3, 28, 28]
}
double foreground(const at::Tensor& img) { return (img.amax(0) > 0.2).sum().item<double>(); }
double centroid_x(const at::Tensor& img) {
  auto m = img.amax(0);
  auto xs = torch::arange(28, torch::kFloat32).view({1, 28});
  return ((m * xs).sum() / m.sum()).item<double>();
}
}  // namespace

TEST(Appearance, ColourIsThePaletteTintOfTheGarment) {
  auto red = render(AppearanceKind::Colour, 0);
  const auto& p = default_palette();
  EXPECT_FLOAT_EQ(red[0][14][14].item<float>(), p[0].r);
  EXPECT_FLOAT_EQ(red[1][14][14].item<float>(), p[0].g);
  EXPECT_FLOAT_EQ(red[0][2][2].item<float>(), 0.0f);  // black background
  // Without colour the garment is white.
  auto white = render(AppearanceKind::Scale, 0);
  EXPECT_FLOAT_EQ(white[0][14][14].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(white[2][14][14].item<float>(), 1.0f);
}

TEST(Appearance, EachKindChangesWhatItNames) {
  // brightness: the dim value scales intensity to 0.4, the mask stays.
  EXPECT_FLOAT_EQ(render(AppearanceKind::Brightness, 0)[0][14][14].item<float>(), 1.0f);
  EXPECT_NEAR(render(AppearanceKind::Brightness, 1)[0][14][14].item<float>(), 0.4f, 1e-6);
  EXPECT_EQ(foreground(render(AppearanceKind::Brightness, 1)), 144);
  // scale: the small value shrinks a 12-pixel square to about 0.55 x 12 = 6.6 pixels a side.
  EXPECT_EQ(foreground(render(AppearanceKind::Scale, 0)), 144);
  double small = foreground(render(AppearanceKind::Scale, 1));
  EXPECT_GE(small, 36);  // 6.6 px a side: 6 x 6 pixels above the threshold
  EXPECT_LT(small, 64);
  // position: left of centre, right of centre, mirrored (the square is centred at 13.5).
  double left = centroid_x(render(AppearanceKind::Position, 0)), right = centroid_x(render(AppearanceKind::Position, 1));
  EXPECT_LT(left, 10);
  EXPECT_GT(right, 17);
  EXPECT_NEAR(left + right, 27.0, 0.5);
  // background: plain is black behind the garment; stripes light every other pair of rows.
  EXPECT_FLOAT_EQ(render(AppearanceKind::Background, 0)[0][0][0].item<float>(), 0.0f);
  auto striped = render(AppearanceKind::Background, 1);
  EXPECT_NEAR(striped[0][0][3].item<float>(), 0.45f, 1e-6);
  EXPECT_FLOAT_EQ(striped[0][2][3].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(striped[0][14][14].item<float>(), 1.0f);  // the garment covers it
  // blur: the same mass, a softer edge.
  auto sharp = render(AppearanceKind::Blur, 0), blurred = render(AppearanceKind::Blur, 1);
  EXPECT_NEAR(blurred.sum().item<double>(), sharp.sum().item<double>(), 1e-2 * sharp.sum().item<double>());
  EXPECT_FLOAT_EQ(sharp[0][14][7].item<float>(), 0.0f);
  EXPECT_GT(blurred[0][14][7].item<float>(), 0.05f);
  EXPECT_LT(blurred[0][14][8].item<float>(), 0.9f);
  // stroke: thick grows the square by two pixels on every side (12 -> 16).
  EXPECT_EQ(foreground(render(AppearanceKind::Stroke, 0)), 144);
  EXPECT_EQ(foreground(render(AppearanceKind::Stroke, 1)), 256);
  // K = 3: three distinct sizes in order.
  double s0 = foreground(render(AppearanceKind::Scale, 0, 3)), s1 = foreground(render(AppearanceKind::Scale, 1, 3)),
         s2 = foreground(render(AppearanceKind::Scale, 2, 3));
  EXPECT_GT(s0, s1);
  EXPECT_GT(s1, s2);
}

TEST(Appearance, TwoAttributesComposeAndBadInputsAreRefused) {
  auto img = render_appearance(square(2), {AppearanceKind::Colour, AppearanceKind::Brightness}, {{1, 1}, {0, 1}}, 2,
                               default_palette());
  const auto& green = default_palette()[1];
  EXPECT_FLOAT_EQ(img[0][1][14][14].item<float>(), green.g);
  EXPECT_NEAR(img[1][1][14][14].item<float>(), 0.4 * green.g, 1e-6);
  EXPECT_EQ(error_of([] { render_appearance(square(), {AppearanceKind::Blur}, {{0}}, 7, default_palette()); }),
            "attribute blur: K must be between 2 and 6 (got 7)");
  EXPECT_EQ(error_of([] {
              render_appearance(square(), {AppearanceKind::Blur, AppearanceKind::Blur}, {{0}, {1}}, 2, default_palette());
            }),
            "attribute blur given twice");
  EXPECT_THROW(render_appearance(square(), {AppearanceKind::Blur}, {{2}}, 2, default_palette()), std::invalid_argument);
  EXPECT_THROW(render_appearance(square(2), {AppearanceKind::Blur}, {{0}}, 2, default_palette()), std::invalid_argument);
  EXPECT_EQ(appearance_value_names(AppearanceKind::Scale, 2, {}), (std::vector<std::string>{"large", "small"}));
  EXPECT_EQ(appearance_value_names(AppearanceKind::Scale, 3, {}), (std::vector<std::string>{"size0", "size1", "size2"}));
  EXPECT_EQ(appearance_value_names(AppearanceKind::Background, 3, {}),
            (std::vector<std::string>{"plain", "hstripes", "vstripes"}));
}

TEST(Cfmnist, NonColourAttributesWriteTheirColumnsAndNoPalette) {
  TempDir d;
  CfmnistConfig cfg;
  cfg.source_dir = synthetic_fashion_mnist();
  cfg.max_train_per_class = 40;
  cfg.max_ref_per_class = 10;
  cfg.attributes = {AppearanceKind::Scale, AppearanceKind::Background};
  build_cfmnist(cfg, d.path, false);
  auto m = nlohmann::json::parse(read_text(join_path(d.path, "manifest.json")));
  EXPECT_FALSE(m.contains("palette"));  // no colour oracle for a dataset without colour
  EXPECT_EQ(m["attributes"][0]["column"], "scale_name");
  EXPECT_EQ(m["attributes"][1]["values"], (std::vector<std::string>{"plain", "hstripes"}));
  auto meta = load_metadata(d.path, "train");
  EXPECT_EQ(meta.header, (std::vector<std::string>{"file", "split", "class", "class_name", "scale", "scale_name",
                                                   "background", "background_name", "minority"}));
  // minority = some attribute off its majority (class mod K); the two are drawn independently.
  int both_major = 0, scale_major = 0, bg_major = 0, same = 0;
  for (const auto& r : meta.rows) {
    int c = std::stoi(r[meta.column("class")]) % 2;
    bool s = std::stoi(r[meta.column("scale")]) == c, b = std::stoi(r[meta.column("background")]) == c;
    EXPECT_EQ(r[meta.column("minority")], (s && b) ? "0" : "1");
    both_major += s && b;
    scale_major += s;
    bg_major += b;
    same += r[meta.column("scale")] == r[meta.column("background")];
  }
  EXPECT_GT(scale_major, 0.8 * 160);
  EXPECT_GT(bg_major, 0.8 * 160);
  EXPECT_LT(same, 160);  // not one draw used twice
  // The reference split is balanced in each attribute within each class.
  auto ref = load_metadata(d.path, "ref");
  int small = 0, striped = 0;
  for (const auto& r : ref.rows) {
    small += r[ref.column("scale_name")] == "small";
    striped += r[ref.column("background_name")] == "hstripes";
  }
  EXPECT_EQ(small, 20);
  EXPECT_EQ(striped, 20);
  auto train = load_dataset(d.path, {});
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{160, 3, 16, 16}));
}
