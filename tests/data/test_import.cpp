// The importers of the published benchmarks (data/import.h), on tiny folders written in exactly
// the published formats (data/published_fixture.h): counts per (split, target, attribute), the
// biased and balanced draws, the written layout, and one-line errors for bad input.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <map>

#include "core/csv.h"
#include "core/fs.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "data/image_prep.h"
#include "data/import.h"
#include "data/published_fixture.h"
#include "fixtures.h"

using namespace invdiff;

namespace {
// "split/target/attribute" -> rows of the imported metadata.csv.
std::map<std::string, int> cell_counts(const std::string& out, const std::string& target, const std::string& attr) {
  auto meta = read_csv(join_path(out, "metadata.csv"));
  std::map<std::string, int> n;
  for (const auto& r : meta.rows)
    ++n[r[meta.column("split")] + "/" + r[meta.column(target)] + "/" + r[meta.column(attr)]];
  return n;
}

ImportOptions at16() {
  ImportOptions o;
  o.resolution = 16;
  return o;
}
}  // namespace

TEST(ImagePrep, CentreSquareIsCroppedThenResized) {
  TempDir d;
  // 12 x 8: two red columns each side of an 8 x 8 blue square. The crop keeps only the blue.
  auto img = torch::zeros({3, 8, 12}, torch::kUInt8);
  img.select(0, 2).narrow(1, 2, 8).fill_(200);
  img.select(0, 0).narrow(1, 0, 2).fill_(255);
  img.select(0, 0).narrow(1, 10, 2).fill_(255);
  write_png(join_path(d.path, "wide.png"), img);
  auto sq = read_square_image(join_path(d.path, "wide.png"), 4);
  EXPECT_EQ(sq.sizes(), (std::vector<int64_t>{3, 4, 4}));
  EXPECT_EQ(sq.scalar_type(), torch::kUInt8);
  EXPECT_EQ(sq.select(0, 0).max().item<int>(), 0);   // no red left
  EXPECT_EQ(sq.select(0, 2).min().item<int>(), 200);  // all blue
  // Upscaling a tall image works too, and a missing file names itself.
  write_png(join_path(d.path, "tall.png"), torch::zeros({3, 6, 3}));
  EXPECT_EQ(read_square_image(join_path(d.path, "tall.png"), 9).sizes(), (std::vector<int64_t>{3, 9, 9}));
  EXPECT_EQ(error_of([&] { read_square_image(join_path(d.path, "none.png"), 4); }).rfind(join_path(d.path, "none.png") + ": cannot read image", 0), 0u);
}

TEST(Import, WaterbirdsPublishedTrainAndBalancedRef) {
  TempDir d;
  const std::string from = join_path(d.path, "waterbird_complete95_forest2water2"), out = join_path(d.path, "wb");
  published::WaterbirdsCounts c{};
  c[0] = {{{12, 2}, {1, 5}}};   // train: landbirds mostly on land, waterbirds mostly on water
  c[1] = {{{2, 1}, {1, 2}}};    // val: written as published
  c[2] = {{{4, 4}, {3, 3}}};    // test: place balanced within each bird
  published::write_waterbirds(from, c);
  auto m = import_dataset(read_waterbirds(from), at16(), out, false);
  EXPECT_EQ(cell_counts(out, "bird", "place"),
            (std::map<std::string, int>{{"train/landbird/land", 12}, {"train/landbird/water", 2},
                                        {"train/waterbird/land", 1}, {"train/waterbird/water", 5},
                                        {"val/landbird/land", 2}, {"val/landbird/water", 1},
                                        {"val/waterbird/land", 1}, {"val/waterbird/water", 2},
                                        {"ref/landbird/land", 3}, {"ref/landbird/water", 3},
                                        {"ref/waterbird/land", 3}, {"ref/waterbird/water", 3}}));
  EXPECT_EQ(m["counts"]["train"], 20);
  EXPECT_EQ(m["counts"]["ref"], 12);
  EXPECT_EQ(m["counts"]["val"], 6);
  EXPECT_EQ(m["cell_counts"]["ref"]["waterbird"]["land"], 3);
  DatasetOptions val;
  val.split = "val";  // what the stage commands' --split val reads
  EXPECT_EQ(load_dataset(out, val).size(), 6);
  EXPECT_EQ(m["target_column"], "bird");
  EXPECT_EQ(m["attribute_columns"], (std::vector<std::string>{"place", "minority"}));
  // The generic loader reads it: manifest class order, 16 x 16 images.
  auto train = load_dataset(out, {});
  EXPECT_EQ(train.size(), 20);
  EXPECT_EQ(train.class_names, (std::vector<std::string>{"landbird", "waterbird"}));
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{20, 3, 16, 16}));
  // minority: a bird away from its class's majority place (landbird on water, waterbird on land).
  auto meta = load_metadata(out, "train");
  int minority = 0;
  for (const auto& r : meta.rows) minority += r[meta.column("minority")] == "1";
  EXPECT_EQ(minority, 3);
  // The published file name travels as `source`.
  EXPECT_EQ(meta.rows[0][meta.column("source")].rfind("001.Black_footed_Albatross/", 0), 0u);
  // --ref-as-published keeps every test image.
  ImportOptions all = at16();
  all.balanced_ref = false;
  EXPECT_EQ(import_dataset(read_waterbirds(from), all, join_path(d.path, "wb2"), false)["counts"]["ref"], 14);
  // --max-val caps the val split (drawn at random, published proportions not redrawn); 0 leaves it out.
  ImportOptions capped = at16();
  capped.max_val = 4;
  EXPECT_EQ(import_dataset(read_waterbirds(from), capped, join_path(d.path, "wb3"), false)["counts"]["val"], 4);
  capped.max_val = 0;
  auto m0 = import_dataset(read_waterbirds(from), capped, join_path(d.path, "wb4"), false);
  EXPECT_FALSE(m0["counts"].contains("val"));
  EXPECT_FALSE(file_exists(join_path(d.path, "wb4/images/val")));
}

TEST(Import, CelebaGenderByHairAtGivenRatios) {
  TempDir d;
  const std::string from = join_path(d.path, "celeba"), out = join_path(d.path, "out");
  published::CelebaCounts c{};
  c[0] = {{{6, 8, 4, 2}, {8, 2, 6, 2}}};  // train: female, male x black, blond, brown, gray
  c[1] = {{{1, 0, 0, 0}, {0, 1, 0, 0}}};  // val: written as published, not at the ratios
  c[2] = {{{2, 2, 2, 3}, {2, 2, 2, 2}}};  // test
  published::write_celeba(from, c, {3, 0, 1});
  auto pub = read_celeba(from);
  ImportOptions o = at16();
  o.ratios = parse_ratios("1:2:1:0:2:1:1:0");  // s = 2: the blond women and black-haired men bind
  auto m = import_dataset(pub, o, out, false);
  EXPECT_EQ(cell_counts(out, "gender", "hair"),
            (std::map<std::string, int>{{"train/female/black", 2}, {"train/female/blond", 4},
                                        {"train/female/brown", 2}, {"train/male/black", 4},
                                        {"train/male/blond", 2}, {"train/male/brown", 2},
                                        {"val/female/black", 1}, {"val/male/blond", 1},
                                        {"ref/female/black", 2}, {"ref/female/blond", 2}, {"ref/female/brown", 2},
                                        {"ref/female/gray", 2}, {"ref/male/black", 2}, {"ref/male/blond", 2},
                                        {"ref/male/brown", 2}, {"ref/male/gray", 2}}));
  EXPECT_EQ(m["left_out"]["hair"], 4);  // three train faces and one test face with no single hair colour
  EXPECT_EQ(m["train_ratios"], (std::vector<double>{1, 2, 1, 0, 2, 1, 1, 0}));
  // Any published attribute as target or attribute, here Smiling by gender, the published split as it is.
  ImportOptions s = at16();
  s.target = "Smiling";
  s.attributes = std::vector<std::string>{"gender"};
  s.balanced_ref = false;
  const std::string out2 = join_path(d.path, "smiling");
  auto m2 = import_dataset(pub, s, out2, false);
  EXPECT_EQ(m2["class_names"], (std::vector<std::string>{"not_Smiling", "Smiling"}));
  EXPECT_EQ(m2["counts"]["train"], 38 + 3);  // every train face: no hair column, none left out
  EXPECT_EQ(m2["counts"]["ref"], 17 + 1);
}

TEST(Import, FairfacePaperSplitCollapsesRaceToFourClasses) {
  TempDir d;
  const std::string from = join_path(d.path, "fairface"), out = join_path(d.path, "out");
  published::FairfaceCounts c{};
  // White, Black, Latino_Hispanic, East Asian, Southeast Asian, Indian, Middle Eastern
  c[0][0] = c[0][1] = {10, 10, 4, 5, 5, 10, 3};  // train: 10 per (gender, race4) cell
  c[1][0] = c[1][1] = {2, 2, 1, 2, 2, 2, 1};     // val -> ref
  published::write_fairface(from, c);
  auto m = import_dataset(read_fairface(from), at16(), out, false);
  // The default: 3:2:1:1 (female) 1:1:2:3 (male); s = 10/3 -> floor(3.33 r).
  EXPECT_EQ(cell_counts(out, "gender", "race"),
            (std::map<std::string, int>{{"train/female/white", 10}, {"train/female/black", 6},
                                        {"train/female/asian", 3}, {"train/female/indian", 3},
                                        {"train/male/white", 3}, {"train/male/black", 3},
                                        {"train/male/asian", 6}, {"train/male/indian", 10},
                                        {"ref/female/white", 2}, {"ref/female/black", 2}, {"ref/female/asian", 2},
                                        {"ref/female/indian", 2}, {"ref/male/white", 2}, {"ref/male/black", 2},
                                        {"ref/male/asian", 2}, {"ref/male/indian", 2}}));
  EXPECT_EQ(m["left_out"]["race"], 14 + 4);  // Latino_Hispanic and Middle Eastern faces
  EXPECT_EQ(m["class_names"], (std::vector<std::string>{"female", "male"}));
  // A cap keeps the ratios: 28 images over ratios summing to 14 -> s = 2: 6, 4, 2, 2 : 2, 2, 4, 6.
  ImportOptions capped = at16();
  capped.max_train = 28;
  EXPECT_EQ(import_dataset(read_fairface(from), capped, join_path(d.path, "c"), false)["cell_counts"]["train"]["male"]["indian"], 6);
  // Another target drops the default ratios (they are of gender x race): race7 as published.
  ImportOptions r7 = at16();
  r7.target = "race7";
  r7.attributes = std::vector<std::string>{};
  auto m3 = import_dataset(read_fairface(from), r7, join_path(d.path, "r7"), false);
  EXPECT_EQ(m3["counts"]["train"], 94);
  EXPECT_EQ(m3["attribute_columns"], nlohmann::json::array());
}

TEST(Import, BadInputIsOneLineNamingFileAndRow) {
  TempDir d;
  const std::string wb = join_path(d.path, "wb"), cel = join_path(d.path, "cel"), ff = join_path(d.path, "ff");
  published::WaterbirdsCounts w{};
  w[0] = {{{2, 1}, {1, 2}}};
  w[2] = {{{1, 1}, {1, 1}}};
  published::write_waterbirds(wb, w);
  auto meta = read_text(join_path(wb, "metadata.csv"));
  // A missing image is found before anything is written.
  auto t = read_csv(join_path(wb, "metadata.csv"));
  const std::string first = t.rows[0][t.column("img_filename")];
  std::filesystem::remove(join_path(wb, first));
  EXPECT_EQ(error_of([&] { import_dataset(read_waterbirds(wb), at16(), join_path(d.path, "o1"), false); }),
            wb + ": image listed in the labels is missing: " + first);
  EXPECT_FALSE(file_exists(join_path(d.path, "o1")));
  // A path out of the folder, a bad code, a missing column.
  atomic_write_text(join_path(wb, "metadata.csv"), "img_id,img_filename,y,split,place\n1,../x.jpg,0,0,0\n");
  EXPECT_EQ(error_of([&] { read_waterbirds(wb); }),
            wb + "/metadata.csv: row 2: file '../x.jpg' is outside " + wb + " (it leaves it through '..')");
  atomic_write_text(join_path(wb, "metadata.csv"), "img_id,img_filename,y,split,place\n1,a.jpg,0,3,0\n");
  EXPECT_EQ(error_of([&] { read_waterbirds(wb); }), wb + "/metadata.csv: row 2, column 'split': '3' is not one of 0..2");
  atomic_write_text(join_path(wb, "metadata.csv"), "img_id,img_filename,y,split\n1,a.jpg,0,0\n");
  EXPECT_EQ(error_of([&] { read_waterbirds(wb); }), wb + "/metadata.csv: missing column 'place'");

  published::CelebaCounts c{};
  c[0] = {{{1, 1, 1, 1}, {1, 1, 1, 1}}};
  c[2] = c[0];
  published::write_celeba(cel, c, {0, 0, 0});
  const std::string attr = join_path(cel, "list_attr_celeba.txt");
  auto text = read_text(attr);
  // Line 5 (the third face) loses its last value.
  size_t line5 = 0;
  for (int k = 0; k < 4; ++k) line5 = text.find('\n', line5) + 1;
  const size_t end5 = text.find('\n', line5);
  atomic_write_text(attr, text.substr(0, end5 - 3) + text.substr(end5));
  EXPECT_EQ(error_of([&] { read_celeba(cel); }), attr + ": line 5 has 39 values but the header names 40 attributes");
  atomic_write_text(attr, text.substr(0, end5 - 2) + "2" + text.substr(end5));
  EXPECT_EQ(error_of([&] { read_celeba(cel); }), attr + ": line 5: value '2' of Young is not 1 or -1");
  atomic_write_text(attr, "17\n" + text.substr(text.find('\n') + 1));
  EXPECT_EQ(error_of([&] { read_celeba(cel); }), attr + ": line 1 says 17 images but the file lists 16");
  atomic_write_text(attr, text);
  // Ratios of the wrong length; an attribute that is the target; an unknown column.
  ImportOptions o = at16();
  o.ratios = parse_ratios("1:2");
  EXPECT_EQ(error_of([&] { import_dataset(read_celeba(cel), o, join_path(d.path, "o2"), false); }),
            "celeba: --ratios has 2 values but gender x hair has 8 cells (target major)");
  o = at16();
  o.attributes = std::vector<std::string>{"gender"};
  EXPECT_EQ(error_of([&] { import_dataset(read_celeba(cel), o, join_path(d.path, "o2"), false); }),
            "celeba: 'gender' is the target; it cannot also be an attribute");
  o.attributes = std::vector<std::string>{"Hair"};
  EXPECT_EQ(error_of([&] { import_dataset(read_celeba(cel), o, join_path(d.path, "o2"), false); }).rfind(
                "celeba: no column 'Hair' (columns: gender, hair, 5_o_Clock_Shadow, ", 0),
            0u);
  EXPECT_EQ(error_of([] { parse_ratios("3:x:1"); }), "'x' in '3:x:1' is not a non-negative number (write e.g. 3:2:1:1, or none)");

  published::FairfaceCounts f{};
  f[0][0] = f[0][1] = f[1][0] = f[1][1] = {1, 1, 0, 1, 0, 1, 0};
  published::write_fairface(ff, f);
  // A ref cell the balanced draw needs is empty: say which.
  f[1][1] = {1, 1, 0, 1, 0, 0, 0};
  published::write_fairface(ff, f);
  EXPECT_EQ(error_of([&] { import_dataset(read_fairface(ff), at16(), join_path(d.path, "o3"), false); }),
            "fairface: the ref split has no image of gender male with race indian, which its ratios need");
  atomic_write_text(join_path(ff, "fairface_label_val.csv"), "file,age,gender,race,service_test\nval/1.jpg,20-29,Male,Martian,True\n");
  EXPECT_EQ(error_of([&] { read_fairface(ff); }),
            join_path(ff, "fairface_label_val.csv") + ": row 2, column 'race': 'Martian' is not one of White, Black, "
                                                       "Latino_Hispanic, East Asian, Southeast Asian, Indian, Middle Eastern");
}
