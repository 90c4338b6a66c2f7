#include "data/published_fixture.h"

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include <stb_image_write.h>  // implemented in invdiff_lib (data/image_io.cpp)

#include "core/fs.h"

using invdiff::atomic_write_text;
using invdiff::join_path;

namespace published {

void write_jpg(const std::string& path, int w, int h, int r, int g, int b) {
  std::vector<unsigned char> px(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const bool border = x == 0 || y == 0 || x == w - 1 || y == h - 1;
      unsigned char* p = &px[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<unsigned char>(border ? 255 - r : r);
      p[1] = static_cast<unsigned char>(border ? 255 - g : g);
      p[2] = static_cast<unsigned char>(border ? 255 - b : b);
    }
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  if (!stbi_write_jpg(path.c_str(), w, h, 3, px.data(), 95)) throw std::runtime_error("cannot write " + path);
}

namespace {
// Varied sizes: landscape, portrait and square in turn.
int width_of(int i) { return 24 + (i % 3) * 10; }
int height_of(int i) { return 20 + (i % 4) * 7; }
}  // namespace

void write_waterbirds(const std::string& dir, const WaterbirdsCounts& count) {
  std::string csv = "img_id,img_filename,y,split,place\n";
  const char* species[2] = {"001.Black_footed_Albatross", "002.Laysan_Albatross"};
  int id = 1;
  for (int s = 0; s < 3; ++s)
    for (int y = 0; y < 2; ++y)
      for (int p = 0; p < 2; ++p)
        for (int k = 0; k < count[s][y][p]; ++k, ++id) {
          char file[96];
          std::snprintf(file, sizeof file, "%s/%s_%04d_%d.jpg", species[y], species[y] + 4, id, 100 + id);
          write_jpg(join_path(dir, file), width_of(id), height_of(id), p ? 30 : 60, p ? 60 : 160, p ? 200 : 40);
          csv += std::to_string(id) + "," + file + "," + std::to_string(y) + "," + std::to_string(s) + "," +
                 std::to_string(p) + "\n";
        }
  atomic_write_text(join_path(dir, "metadata.csv"), csv);
}

const std::vector<std::string>& celeba_attribute_names() {
  static const std::vector<std::string> names{
      "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
      "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses",
      "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
      "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
      "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick",
      "Wearing_Necklace", "Wearing_Necktie", "Young"};
  return names;
}

void write_celeba(const std::string& dir, const CelebaCounts& count, const std::array<int, 3>& no_hair) {
  const auto& names = celeba_attribute_names();
  auto index = [&](const std::string& n) {
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == n) return i;
    throw std::logic_error(n);
  };
  const size_t hair_at[4] = {index("Black_Hair"), index("Blond_Hair"), index("Brown_Hair"), index("Gray_Hair")};
  std::string rows, part;
  int n = 0;
  auto face = [&](int partition, int male, int hair) {
    ++n;
    char file[16];
    std::snprintf(file, sizeof file, "%06d.jpg", n);
    // The aligned faces are 178 x 218; smaller here, but portrait like them.
    write_jpg(join_path(dir, std::string("img_align_celeba/") + file), 18 + n % 5, 22 + n % 7, male ? 40 : 200,
              hair == 1 ? 220 : 90, 120);
    std::vector<int> v(names.size(), -1);
    v[index("Male")] = male ? 1 : -1;
    if (hair >= 0) v[hair_at[hair]] = 1;
    v[index("Smiling")] = n % 2 ? 1 : -1;
    rows += file;
    for (int x : v) rows += x > 0 ? "  1" : " -1";
    rows += "\n";
    part += std::string(file) + " " + std::to_string(partition) + "\n";
  };
  for (int p = 0; p < 3; ++p) {
    for (int m = 0; m < 2; ++m)
      for (int h = 0; h < 4; ++h)
        for (int k = 0; k < count[p][m][h]; ++k) face(p, m, h);
    for (int k = 0; k < no_hair[p]; ++k) face(p, k % 2, -1);
  }
  std::string header;
  for (const auto& a : names) header += a + " ";  // the published header ends in a space
  atomic_write_text(join_path(dir, "list_attr_celeba.txt"), std::to_string(n) + "\n" + header + "\n" + rows);
  atomic_write_text(join_path(dir, "list_eval_partition.txt"), part);
}

void write_fairface(const std::string& dir, const FairfaceCounts& count) {
  const char* race7[7] = {"White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian", "Indian",
                          "Middle Eastern"};
  const char* ages[3] = {"20-29", "3-9", "more than 70"};
  const char* split[2] = {"train", "val"};
  for (int s = 0; s < 2; ++s) {
    std::string csv = "file,age,gender,race,service_test\n";
    int n = 0;
    for (int g = 0; g < 2; ++g)
      for (int r = 0; r < 7; ++r)
        for (int k = 0; k < count[s][g][r]; ++k) {
          const std::string file = std::string(split[s]) + "/" + std::to_string(++n) + ".jpg";
          write_jpg(join_path(dir, file), 20 + n % 6, 20 + n % 4, 30 * r, g ? 50 : 200, 100);
          csv += file + "," + ages[n % 3] + "," + (g ? "Male" : "Female") + "," + race7[r] + "," +
                 (n % 2 ? "True" : "False") + "\n";
        }
    atomic_write_text(join_path(dir, std::string("fairface_label_") + split[s] + ".csv"), csv);
  }
}

}  // namespace published
